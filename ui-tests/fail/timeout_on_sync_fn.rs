use breaker::circuit;

// A sync call cannot be cut short: the error says so, at the key.
#[circuit(timeout = "2s")]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
