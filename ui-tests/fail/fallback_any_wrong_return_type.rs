use breaker::circuit;

fn cached(_id: u32) -> Result<u64, std::io::Error> {
    Ok(0)
}

// With `fallback_on = "any"`, the fallback is called through a closure typed with the
// function's return type: the mismatch is still reported at the path.
#[circuit(fallback = cached, fallback_on = "any")]
fn fetch(id: u32) -> Result<u32, std::io::Error> {
    Ok(id)
}

fn main() {}
