//! A free function: `?` converts errors into the declared error type, `return` leaves the
//! guarded body early, and `io::Result` works as it is.

use std::io;

use breaker::circuit;

#[derive(Debug)]
enum AppError {
    Parse(std::num::ParseIntError),
    Circuit(breaker::Error),
}

impl From<std::num::ParseIntError> for AppError {
    fn from(error: std::num::ParseIntError) -> Self {
        AppError::Parse(error)
    }
}

impl From<breaker::Error> for AppError {
    fn from(error: breaker::Error) -> Self {
        AppError::Circuit(error)
    }
}

#[circuit]
fn parse(text: &str) -> Result<u32, AppError> {
    if text.is_empty() {
        return Ok(0);
    }
    let n: u32 = text.parse()?;
    Ok(n * 2)
}

#[circuit(name = "free_fn::read", max_failures = 2, cooldown = "1m30s")]
pub fn read(ok: bool) -> io::Result<&'static str> {
    if ok {
        Ok("data")
    } else {
        Err(io::Error::other("down"))
    }
}

pub fn main() {
    assert_eq!(parse("21").ok(), Some(42));
    assert_eq!(parse("").ok(), Some(0));
    assert!(matches!(parse("x"), Err(AppError::Parse(e)) if !e.to_string().is_empty()));
    assert_eq!(read(true).ok(), Some("data"));
    assert!(read(false).is_err());
    assert!(read(false).is_err());
    // Two failures opened it: the body does not run and the rejection converts to io::Error.
    assert!(read(true).is_err());
    if let Err(AppError::Circuit(error)) = parse("1") {
        panic!("a closed breaker rejected a call: {error}");
    }
}
