use breaker::circuit;

// `reset_timeout` is what other libraries call the cooldown; edit distance alone would not find it.
#[circuit(reset_timeout = "30s")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
