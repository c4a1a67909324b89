use breaker::circuit;

// `max_failures` counts failures in a row; a window means nothing to it.
#[circuit(max_failures = 3, window = "60s")]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
