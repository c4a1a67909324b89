//! Return types that borrow, with named, elided and `'_` lifetimes, sync and async. Their
//! lifetimes appear in the annotation the macro gives the guarded body, and must still infer.

use std::cell::{Ref, RefCell};
use std::io;

use breaker::circuit;

struct Config {
    name: String,
    values: RefCell<Vec<u32>>,
}

impl Config {
    #[circuit]
    fn values(&self) -> io::Result<Ref<'_, Vec<u32>>> {
        Ok(self.values.borrow())
    }

    #[circuit]
    fn first_word<'a>(&self, text: &'a str) -> Result<&'a str, io::Error> {
        text.split(' ')
            .next()
            .ok_or_else(|| io::Error::other("empty"))
    }

    #[circuit]
    async fn name(&self) -> Result<&str, io::Error> {
        Ok(&self.name)
    }

    #[circuit]
    async fn name_mut(&mut self) -> Result<&mut String, io::Error> {
        Ok(&mut self.name)
    }
}

#[tokio::main]
pub async fn main() {
    let mut config = Config {
        name: "db".to_owned(),
        values: RefCell::new(vec![1]),
    };
    assert_eq!(config.values().map(|v| v.len()).ok(), Some(1));
    assert_eq!(config.first_word("a b").ok(), Some("a"));
    assert_eq!(config.name().await.ok(), Some("db"));
    if let Ok(name) = config.name_mut().await {
        name.push('2');
    }
    assert_eq!(config.name, "db2");
}
