use breaker::circuit;

#[circuit(slow_rate = 0.8)]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
