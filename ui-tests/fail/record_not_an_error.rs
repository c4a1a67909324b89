use breaker::circuit;

struct Timeout;

#[circuit(record = [Timeout])]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
