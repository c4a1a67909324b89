use breaker::circuit;

#[circuit(record = ["std::io::Error"])]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
