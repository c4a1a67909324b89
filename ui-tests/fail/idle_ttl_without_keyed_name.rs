use breaker::circuit;

// Only breakers created per key are evicted.
#[circuit(name = "db", idle_ttl = "10m")]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
