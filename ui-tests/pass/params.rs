//! `mut` parameters and pattern parameters are moved into the guarded body as they are.

use breaker::circuit;

#[circuit]
fn sum(mut acc: u32, (a, b): (u32, u32), Pair { left, .. }: Pair) -> Result<u32, std::io::Error> {
    acc += a + b + left;
    Ok(acc)
}

#[circuit]
async fn push(mut items: Vec<u8>, _unused: u8) -> Result<Vec<u8>, std::io::Error> {
    items.push(1);
    Ok(items)
}

struct Pair {
    left: u32,
    #[allow(dead_code)]
    right: u32,
}

#[tokio::main]
pub async fn main() {
    assert_eq!(sum(1, (2, 3), Pair { left: 4, right: 0 }).ok(), Some(10));
    assert_eq!(push(vec![0], 9).await.ok(), Some(vec![0, 1]));
}
