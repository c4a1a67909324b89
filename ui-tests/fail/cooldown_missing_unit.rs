use breaker::circuit;

#[circuit(cooldown = "1m30")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
