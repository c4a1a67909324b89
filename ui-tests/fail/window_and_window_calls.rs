use breaker::circuit;

#[circuit(failure_rate = 0.5, window = "60s", window_calls = 100)]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
