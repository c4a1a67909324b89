//! An `async fn`: `?` infers its error type inside the guarded future, `return` works, and
//! the returned future is `Send`, so it can be spawned.

use breaker::circuit;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[circuit(cooldown = "250ms")]
async fn fetch(key: &str) -> Result<u32, BoxError> {
    if key.is_empty() {
        return Err("empty key".into());
    }
    let n: u32 = key.parse()?;
    tokio::task::yield_now().await;
    Ok(n)
}

#[circuit]
async fn owned(key: String) -> anyhow::Result<usize> {
    anyhow::ensure!(!key.is_empty(), "empty key");
    Ok(key.len())
}

#[tokio::main]
pub async fn main() {
    assert_eq!(fetch("7").await.ok(), Some(7));
    assert!(fetch("").await.is_err());
    assert!(fetch("x").await.is_err());
    let spawned = tokio::spawn(owned("four".to_owned()));
    assert_eq!(spawned.await.ok().and_then(Result::ok), Some(4));
}
