use breaker::circuit;

fn cached(id: u32) -> Result<u32, std::io::Error> {
    Ok(id)
}

// The fallback of an `async fn` is awaited, so it must be an `async fn` too.
#[circuit(fallback = cached)]
async fn fetch(id: u32) -> Result<u32, std::io::Error> {
    Ok(id)
}

fn main() {}
