use breaker::circuit;

#[circuit(max_failures = 3)]
#[circuit(cooldown = "10s")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    let _ = fetch();
}
