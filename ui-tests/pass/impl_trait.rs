//! `impl Trait` in argument position and inside the `Result` of the return type.

use std::fmt::Display;

use breaker::circuit;

#[circuit]
fn render(value: impl Display, times: usize) -> Result<String, std::io::Error> {
    Ok(value.to_string().repeat(times))
}

#[circuit]
fn evens(limit: u32) -> Result<impl Iterator<Item = u32>, std::io::Error> {
    Ok((0..limit).filter(|n| n % 2 == 0))
}

#[circuit]
async fn total(values: impl IntoIterator<Item = u32>) -> Result<u32, std::io::Error> {
    Ok(values.into_iter().sum())
}

#[tokio::main]
pub async fn main() {
    assert_eq!(render(7, 2).ok().as_deref(), Some("77"));
    assert_eq!(evens(5).map(Iterator::count).ok(), Some(3));
    assert_eq!(total(vec![1, 2]).await.ok(), Some(3));
}
