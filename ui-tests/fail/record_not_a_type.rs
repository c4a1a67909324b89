use breaker::circuit;

#[circuit(record = [std::io::Error, 404])]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
