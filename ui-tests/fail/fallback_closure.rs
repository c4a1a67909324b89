use breaker::circuit;

// Keys that name a function take its path, not a closure.
#[circuit(fallback = || Ok(0))]
fn fetch() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {}
