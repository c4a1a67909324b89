use breaker::circuit;

#[circuit(half_open_calls = 0)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
