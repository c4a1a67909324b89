use breaker::circuit;

fn cached(_id: u32) -> Result<u32, std::io::Error> {
    Ok(0)
}

// The fallback gets the same arguments as the function.
#[circuit(fallback = cached, fallback_on = "any")]
fn fetch(id: u32, name: &str) -> Result<u32, std::io::Error> {
    Ok(id + u32::try_from(name.len()).unwrap_or(0))
}

fn main() {}
