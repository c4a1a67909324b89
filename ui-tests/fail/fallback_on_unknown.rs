use breaker::circuit;

fn cached() -> std::io::Result<()> {
    Ok(())
}

#[circuit(fallback = cached, fallback_on = "failure")]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
