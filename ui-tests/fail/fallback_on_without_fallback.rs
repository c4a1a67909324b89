use breaker::circuit;

#[circuit(fallback_on = "any")]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
