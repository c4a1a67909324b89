use breaker::circuit;

#[circuit(success_threshold = 0)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
