use breaker::circuit;

fn cached(_id: u32) -> Result<String, std::io::Error> {
    Ok(String::new())
}

// The fallback answers in the function's place, so it must return the same type.
#[circuit(fallback = cached)]
fn fetch(id: u32) -> Result<u32, std::io::Error> {
    Ok(id)
}

fn main() {}
