use breaker::circuit;

struct Host;

// Each key is formatted with `Display`; a parameter without it is reported at the name.
#[circuit(name = "http:{host}")]
fn fetch(host: Host) -> std::io::Result<()> {
    let Host = host;
    Ok(())
}

fn main() {}
