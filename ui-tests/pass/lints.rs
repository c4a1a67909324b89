//! The expansion adds no warnings to user code, under strict rustc and clippy lints, and
//! emits no `#[allow]` that a user's `forbid` would reject.
//! (`cargo clippy --all-targets` lints this file through `tests/pass_cases.rs`.)

#![forbid(unreachable_code, unsafe_code)]
#![deny(
    warnings,
    unused_qualifications,
    unused_results,
    clippy::pedantic,
    clippy::nursery
)]
#![deny(
    clippy::absolute_paths,
    clippy::allow_attributes,
    clippy::allow_attributes_without_reason,
    clippy::missing_docs_in_private_items,
    clippy::std_instead_of_core,
    clippy::redundant_closure_call,
    clippy::semicolon_if_nothing_returned,
    clippy::needless_return,
    clippy::used_underscore_binding,
    clippy::shadow_unrelated,
    clippy::min_ident_chars
)]

use core::error::Error;
use core::fmt;
use std::io;

use tokio::runtime::Builder;
use tokio::task::yield_now;

use breaker::circuit;

/// A type with guarded methods.
struct Service {
    /// A value to return.
    value: u32,
}

impl Service {
    /// `&self`, classification, explicit settings.
    #[circuit(
        name = "lints.service",
        max_failures = 3,
        cooldown = "1s",
        half_open_calls = 2,
        success_threshold = 2,
        record = [io::Error]
    )]
    fn value(&self) -> io::Result<u32> {
        Ok(self.value)
    }

    /// `async`, default name.
    #[circuit]
    async fn value_async(&self) -> io::Result<u32> {
        Ok(self.value)
    }

    /// A fallback after any failure: arguments cloned, fallback closure, judge with predicates.
    #[circuit(
        fallback = Self::cached,
        fallback_on = "any",
        failure_if = is_empty,
        record_if = is_transient,
        ignore = [fmt::Error]
    )]
    fn lookup(&self, key: String) -> io::Result<Vec<u8>> {
        let mut bytes = key.into_bytes();
        bytes.push(u8::try_from(self.value).map_err(io::Error::other)?);
        Ok(bytes)
    }

    /// The fallback of `lookup`.
    fn cached(&self, key: String) -> io::Result<Vec<u8>> {
        let mut bytes = key.into_bytes();
        bytes.truncate(usize::try_from(self.value).map_err(io::Error::other)?);
        Ok(bytes)
    }

    /// A timeout, a fallback on rejection and a keyed name, on an `async fn`.
    #[circuit(
        name = "lints.shard:{shard}",
        timeout = "1s",
        idle_ttl = "10m",
        fallback = Self::cached_async,
        failure_rate = 0.5,
        window_calls = 10,
        min_calls = 5,
        slow_call = "1s",
        slow_rate = 0.8,
        max_cooldown = "1m",
        jitter = 0.1,
        ramp_up = "10s"
    )]
    async fn shard(&self, shard: u8) -> io::Result<u32> {
        Ok(self.value + u32::from(shard))
    }

    /// The fallback of `shard`.
    async fn cached_async(&self, shard: u8) -> io::Result<u32> {
        yield_now().await;
        self.value
            .checked_sub(u32::from(shard))
            .ok_or_else(|| io::Error::other("underflow"))
    }
}

/// `failure_if` of `lookup`: takes `&[u8]` for the `&Vec<u8>` it is given (deref coercion).
const fn is_empty(value: &[u8]) -> bool {
    value.is_empty()
}

/// `record_if` of `lookup`.
fn is_transient(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::TimedOut
}

/// A net-failures policy and a fallback on rejection, on a free function.
#[circuit(net_failures = 3, fallback = zero)]
fn count(items: &[u8]) -> Result<usize, Box<dyn Error + Send + Sync>> {
    Ok(items.len())
}

/// The fallback of `count`.
fn zero(items: &[u8]) -> Result<usize, Box<dyn Error + Send + Sync>> {
    items.len().checked_sub(1).ok_or_else(|| "no items".into())
}

/// A free function with `?`.
#[circuit]
fn parse(text: &str) -> Result<u32, Box<dyn Error + Send + Sync>> {
    let number: u32 = text.parse()?;
    Ok(number)
}

/// A sync keyed name: a string, an integer and a `Display` key, assembled on the stack, with
/// a fallback, and the rest of the body run with the breaker the lookup lends.
#[circuit(name = "lints.host:{host}:{port}/{kind}", idle_ttl = "10m", fallback = refuse)]
fn connect(host: &str, port: u16, kind: io::ErrorKind) -> io::Result<u16> {
    if host.is_empty() {
        Err(io::Error::from(kind))
    } else {
        Ok(port)
    }
}

/// The fallback of `connect`.
fn refuse(host: &str, port: u16, kind: io::ErrorKind) -> io::Result<u16> {
    Err(io::Error::new(kind, format!("{host}:{port} is refused")))
}

/// Runs each shape once.
/// `async` with a one-expression body: the expansion must not nest it in braces of its own,
/// which `unused_braces` would flag.
#[circuit]
async fn echo(value: u32) -> io::Result<u32> {
    Ok(value)
}

pub fn main() {
    let service = Service { value: 1 };
    assert_eq!(service.value().ok(), Some(1));
    assert_eq!(parse("2").ok(), Some(2));
    assert_eq!(
        service.lookup("ab".to_owned()).ok(),
        Some(vec![b'a', b'b', 1])
    );
    assert_eq!(count(&[1, 2]).ok(), Some(2));
    assert_eq!(connect("a", 80, io::ErrorKind::Other).ok(), Some(80));
    let runtime = Builder::new_current_thread().enable_time().build();
    if let Ok(runtime) = runtime {
        assert_eq!(runtime.block_on(service.value_async()).ok(), Some(1));
        assert_eq!(runtime.block_on(service.shard(2)).ok(), Some(3));
        assert_eq!(runtime.block_on(echo(4)).ok(), Some(4));
    }
}
