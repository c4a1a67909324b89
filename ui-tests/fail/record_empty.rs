use breaker::circuit;

#[circuit(record = [])]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
