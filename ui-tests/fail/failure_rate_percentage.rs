use breaker::circuit;

// A percentage where a share is expected gets a hint with the share.
#[circuit(failure_rate = 50)]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
