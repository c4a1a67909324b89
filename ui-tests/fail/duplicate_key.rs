use breaker::circuit;

#[circuit(cooldown = "10s", max_failures = 3, cooldown = "20s")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
