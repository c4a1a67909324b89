use breaker::circuit;

#[circuit(max_failures = "5")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
