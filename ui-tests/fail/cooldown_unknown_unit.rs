use breaker::circuit;

#[circuit(cooldown = "30sec")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
