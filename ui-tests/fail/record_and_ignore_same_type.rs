use breaker::circuit;

#[derive(Debug)]
struct NotFound;

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not found")
    }
}

impl std::error::Error for NotFound {}

#[circuit(record = [std::io::Error, NotFound], ignore = [NotFound])]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
