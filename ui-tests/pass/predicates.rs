//! `failure_if` on the `Ok` value and `record_if` on the error: free functions and associated
//! functions, alone and with `ignore`.

use std::io;

use breaker::circuit;

struct Response {
    status: u16,
}

impl Response {
    const fn is_server_error(&self) -> bool {
        self.status >= 500
    }
}

fn is_transient(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::TimedOut
}

#[derive(Debug)]
struct Unused;

impl std::fmt::Display for Unused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unused")
    }
}

impl std::error::Error for Unused {}

struct Api;

impl Api {
    fn is_bad(response: &Response) -> bool {
        response.status == 429
    }

    #[circuit(failure_if = Self::is_bad, record_if = is_transient)]
    fn get(&self, status: u16) -> io::Result<Response> {
        Ok(Response { status })
    }
}

#[circuit(failure_if = Response::is_server_error)]
fn fetch(status: u16) -> io::Result<Response> {
    Ok(Response { status })
}

#[circuit(record_if = is_transient, ignore = [Unused])]
async fn fetch_async() -> io::Result<Response> {
    Err(io::Error::from(io::ErrorKind::NotFound))
}

#[tokio::main]
pub async fn main() {
    assert_eq!(fetch(503).map(|r| r.status).ok(), Some(503));
    assert_eq!(Api.get(200).map(|r| r.status).ok(), Some(200));
    assert!(fetch_async().await.is_err());
}
