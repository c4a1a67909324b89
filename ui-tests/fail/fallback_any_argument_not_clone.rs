use breaker::circuit;

struct Request;

fn cached(_request: Request) -> std::io::Result<u32> {
    Ok(0)
}

// With `fallback_on = "any"` the arguments are cloned before the call: the parameter whose
// type is not `Clone` is underlined.
#[circuit(fallback = cached, fallback_on = "any")]
fn fetch(request: Request) -> std::io::Result<u32> {
    let Request = request;
    Ok(1)
}

fn main() {}
