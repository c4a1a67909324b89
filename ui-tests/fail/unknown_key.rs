use breaker::circuit;

#[circuit(max_failure = 3)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
