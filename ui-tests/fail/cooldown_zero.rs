use breaker::circuit;

#[circuit(cooldown = "0s")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
