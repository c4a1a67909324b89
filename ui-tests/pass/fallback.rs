//! `fallback`: a free function or `Self::method` with the same parameters (receiver included)
//! and return type; awaited for an `async fn`. With a fallback that answers rejections, a sync
//! function's error type needs no `From<breaker::Error>`.

use breaker::circuit;

#[derive(Debug)]
struct Down;

fn cached(id: u32, _label: &str) -> Result<u32, Down> {
    Ok(id + 1000)
}

#[circuit(fallback = cached)]
fn fetch(id: u32, label: &str) -> Result<u32, Down> {
    if label.is_empty() { Err(Down) } else { Ok(id) }
}

#[circuit(fallback = cached, fallback_on = "any")]
fn fetch_or_cached(mut id: u32, label: &str) -> Result<u32, Down> {
    id += 1;
    if label.is_empty() { Err(Down) } else { Ok(id) }
}

#[derive(Clone)]
struct Client {
    prefix: String,
}

impl Client {
    #[circuit(fallback = Self::stale)]
    fn get(&mut self, key: String) -> Result<String, Down> {
        self.prefix.push('!');
        Ok(format!("{}{key}", self.prefix))
    }

    fn stale(&mut self, key: String) -> Result<String, Down> {
        Ok(format!("stale {key}"))
    }

    #[circuit(fallback = Self::stale_async, fallback_on = "any")]
    async fn get_async(&self, key: &str) -> Result<String, Down> {
        if key.is_empty() {
            Err(Down)
        } else {
            Ok(format!("{}{key}", self.prefix))
        }
    }

    async fn stale_async(&self, key: &str) -> Result<String, Down> {
        Ok(format!("stale {}{key}", self.prefix))
    }

    #[circuit(fallback = Self::by_value_fallback, fallback_on = "any")]
    fn by_value(self, n: u8) -> Result<u8, Down> {
        if self.prefix.is_empty() {
            Err(Down)
        } else {
            Ok(n)
        }
    }

    fn by_value_fallback(self, n: u8) -> Result<u8, Down> {
        Ok(n + u8::try_from(self.prefix.len()).unwrap_or(0))
    }
}

async fn generic_fallback<T: std::fmt::Display + Clone>(value: T) -> std::io::Result<String> {
    Ok(format!("fallback {value}"))
}

#[circuit(fallback = generic_fallback, fallback_on = "any")]
async fn generic<T: std::fmt::Display + Clone>(value: T) -> std::io::Result<String> {
    Ok(value.to_string())
}

#[tokio::main]
pub async fn main() {
    assert_eq!(fetch(1, "a").ok(), Some(1));
    assert_eq!(fetch_or_cached(1, "a").ok(), Some(2));
    assert_eq!(fetch_or_cached(1, "").ok(), Some(1001));
    let mut client = Client {
        prefix: "p".to_owned(),
    };
    assert_eq!(client.get("k".to_owned()).ok().as_deref(), Some("p!k"));
    assert_eq!(client.get_async("").await.ok().as_deref(), Some("stale p!"));
    assert_eq!(client.clone().by_value(1).ok(), Some(1));
    assert_eq!(generic(5).await.ok().as_deref(), Some("5"));
}
