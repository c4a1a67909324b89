use breaker::circuit;

#[circuit(slow_call = "2s", slow_rate = 0.0)]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
