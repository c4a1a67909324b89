#![deny(dead_code)]

use breaker::circuit;

// The macro keeps the function's own span, so rustc still sees that nothing calls it.
#[circuit]
fn never_called() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
