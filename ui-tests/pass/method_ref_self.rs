//! A method taking `&self`, returning data borrowed from `self` and from an argument.

use breaker::circuit;

struct Cache {
    prefix: String,
}

impl Cache {
    #[circuit]
    fn prefix(&self) -> Result<&str, std::io::Error> {
        Ok(&self.prefix)
    }

    #[circuit(name = "cache.longer")]
    fn longer<'a>(&'a self, other: &'a str) -> Result<&'a str, std::io::Error> {
        Ok(if other.len() > self.prefix.len() {
            other
        } else {
            &self.prefix
        })
    }
}

pub fn main() {
    let cache = Cache {
        prefix: "ab".to_owned(),
    };
    assert_eq!(cache.prefix().ok(), Some("ab"));
    assert_eq!(cache.longer("abc").ok(), Some("abc"));
}
