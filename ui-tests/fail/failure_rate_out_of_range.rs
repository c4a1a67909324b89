use breaker::circuit;

#[circuit(failure_rate = 1.5)]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
