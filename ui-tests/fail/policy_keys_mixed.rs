use breaker::circuit;

// Two failure policies: the later key is the one reported.
#[circuit(max_failures = 5, failure_rate = 0.5)]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
