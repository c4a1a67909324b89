use breaker::circuit;

// The cooldown doubles up to `max_cooldown`, which cannot be below where it starts.
#[circuit(cooldown = "1m", max_cooldown = "30s")]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
