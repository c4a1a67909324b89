//! Keyed names: one breaker per value of the named parameters, for free functions, methods and
//! `async fn`s, with `idle_ttl` and escaped braces.

use std::io;

use breaker::circuit;

#[circuit(name = "pass-keyed:{host}:{port}", max_failures = 1, idle_ttl = "10m")]
fn connect(host: &str, port: u16) -> io::Result<u16> {
    if host.is_empty() {
        Err(io::Error::other("no host"))
    } else {
        Ok(port)
    }
}

struct Tenants;

impl Tenants {
    #[circuit(name = "pass-keyed-tenant:{{{tenant}}}")]
    async fn load(&self, tenant: String) -> io::Result<usize> {
        Ok(tenant.len())
    }
}

#[tokio::main]
pub async fn main() {
    assert_eq!(connect("a", 1).ok(), Some(1));
    assert!(connect("", 2).is_err());
    // Another key is another breaker: the failure above did not open it.
    assert_eq!(connect("b", 2).ok(), Some(2));
    assert_eq!(Tenants.load("acme".to_owned()).await.ok(), Some(4));
    assert!(
        breaker::registry()
            .get("pass-keyed-tenant:{acme}")
            .is_some()
    );
}
