use breaker::circuit;

fn cached(pair: (u32, u32)) -> std::io::Result<u32> {
    Ok(pair.0)
}

// A destructured parameter has no name to pass on to the fallback.
#[circuit(fallback = cached)]
fn fetch((a, b): (u32, u32)) -> std::io::Result<u32> {
    Ok(a + b)
}

fn main() {}
