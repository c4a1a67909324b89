use breaker::circuit;

fn is_transient(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::TimedOut
}

#[circuit(record = [std::io::Error], record_if = is_transient)]
fn fetch() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
