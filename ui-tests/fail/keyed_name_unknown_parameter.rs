use breaker::circuit;

// A placeholder must name a parameter; the error lists the ones there are.
#[circuit(name = "http:{hots}")]
fn fetch(host: &str, port: u16) -> std::io::Result<u16> {
    Ok(port + u16::try_from(host.len()).unwrap_or(0))
}

fn main() {}
