use breaker::circuit;

#[circuit(name = db)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
