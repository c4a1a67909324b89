use breaker::circuit;

fn is_transient(error: &std::fmt::Error) -> bool {
    let _ = error;
    true
}

// `record_if` takes `&E`, the function's error type.
#[circuit(record_if = is_transient)]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
