use breaker::circuit;

#[derive(Debug)]
struct AppError;

#[circuit]
async fn fetch() -> Result<u32, AppError> {
    Ok(1)
}

#[tokio::main]
async fn main() {
    let _ = fetch().await;
}
