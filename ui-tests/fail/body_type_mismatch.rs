use breaker::circuit;

// A type error in the body points at the user's expression, not at the attribute.
#[circuit]
async fn count() -> Result<u32, std::io::Error> {
    Ok("three")
}

#[tokio::main]
async fn main() {
    let _ = count().await;
}
