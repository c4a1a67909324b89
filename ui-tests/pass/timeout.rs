//! `timeout` on `async fn`s: free, methods, with a fallback answering the timeout.

use std::time::Duration;

use breaker::circuit;

#[circuit(timeout = "1s")]
async fn fetch(delay: Duration) -> std::io::Result<u32> {
    tokio::time::sleep(delay).await;
    Ok(1)
}

struct Client;

impl Client {
    async fn cached(&self, _delay: Duration) -> anyhow::Result<u32> {
        Ok(0)
    }

    #[circuit(timeout = "10ms", fallback = Self::cached, fallback_on = "any")]
    async fn get(&self, delay: Duration) -> anyhow::Result<u32> {
        tokio::time::sleep(delay).await;
        Ok(1)
    }
}

#[tokio::main(flavor = "current_thread")]
pub async fn main() {
    assert_eq!(fetch(Duration::ZERO).await.ok(), Some(1));
    // Cut short after 10ms of real time; the sleep would last a minute.
    assert_eq!(Client.get(Duration::from_secs(60)).await.ok(), Some(0));
}
