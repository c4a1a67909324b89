//! Generic functions and methods with bounds, `where` clauses and const generics, including
//! a method of a generic impl (the cached breaker's static must not mention `T`).

use std::fmt::Display;
use std::str::FromStr;

use breaker::circuit;

#[circuit]
fn parse_all<T, const N: usize>(items: [&str; N]) -> Result<Vec<T>, std::io::Error>
where
    T: FromStr,
    T::Err: Display,
{
    items
        .iter()
        .map(|item| {
            item.parse()
                .map_err(|e: T::Err| std::io::Error::other(e.to_string()))
        })
        .collect()
}

struct Wrapper<T> {
    inner: T,
}

impl<T: Clone + Send> Wrapper<T> {
    #[circuit]
    fn get(&self) -> Result<T, std::io::Error> {
        Ok(self.inner.clone())
    }

    #[circuit]
    async fn get_async<U>(&self, extra: U) -> Result<(T, U), std::io::Error>
    where
        U: Send,
    {
        Ok((self.inner.clone(), extra))
    }
}

#[tokio::main]
pub async fn main() {
    assert_eq!(parse_all::<u8, 2>(["1", "2"]).ok(), Some(vec![1, 2]));
    assert_eq!(Wrapper { inner: 'x' }.get().ok(), Some('x'));
    assert_eq!(Wrapper { inner: 1u8 }.get().ok(), Some(1));
    assert_eq!(
        Wrapper { inner: 1u8 }.get_async("y").await.ok(),
        Some((1, "y"))
    );
}
