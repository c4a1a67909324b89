use breaker::circuit;

#[circuit(cooldown = 30)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
