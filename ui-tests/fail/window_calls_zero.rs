use breaker::circuit;

#[circuit(failure_rate = 0.5, window_calls = 0)]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
