use breaker::circuit;

#[circuit(slow_call = "2s")]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
