//! A native `async fn` in a trait impl, including one whose trait requires a `Send` future.

use std::future::Future;

use breaker::circuit;

trait Fetch {
    async fn fetch(&self, id: u32) -> Result<String, std::io::Error>;
}

trait SendFetch {
    fn fetch_send(&self, id: u32) -> impl Future<Output = Result<String, std::io::Error>> + Send;
}

struct Api {
    base: String,
}

impl Fetch for Api {
    #[circuit(name = "api")]
    async fn fetch(&self, id: u32) -> Result<String, std::io::Error> {
        tokio::task::yield_now().await;
        Ok(format!("{}/{id}", self.base))
    }
}

impl SendFetch for Api {
    #[circuit(name = "api")]
    async fn fetch_send(&self, id: u32) -> Result<String, std::io::Error> {
        let url = self.fetch(id).await?;
        Ok(url)
    }
}

#[tokio::main]
pub async fn main() {
    let api = std::sync::Arc::new(Api {
        base: "http://x".to_owned(),
    });
    assert_eq!(api.fetch(1).await.ok().as_deref(), Some("http://x/1"));
    let task = tokio::spawn(async move { api.fetch_send(2).await });
    assert_eq!(
        task.await.ok().and_then(Result::ok).as_deref(),
        Some("http://x/2")
    );
}
