use breaker::circuit;

#[circuit(max_failures = 0)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
