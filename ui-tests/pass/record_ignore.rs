//! `record` and `ignore` with a concrete error type, `Box<dyn Error>` and `anyhow::Error`.

use std::io;

use breaker::circuit;

#[derive(Debug)]
struct NotFound;

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not found")
    }
}

impl std::error::Error for NotFound {}

#[circuit(max_failures = 1, record = [io::Error])]
fn concrete(fail: bool) -> io::Result<()> {
    if fail {
        Err(io::Error::other("down"))
    } else {
        Ok(())
    }
}

#[circuit(max_failures = 1, ignore = [NotFound])]
fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(NotFound))
}

#[circuit(max_failures = 1, record = [io::Error], ignore = [NotFound])]
async fn with_anyhow() -> anyhow::Result<()> {
    Err(NotFound.into())
}

#[tokio::main]
pub async fn main() {
    assert!(concrete(false).is_ok());
    // `NotFound` is ignored: however often it happens, the breaker stays closed.
    for _ in 0..3 {
        let error = boxed().err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("not found"));
        let error = with_anyhow().await.err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("not found"));
    }
}
