//! Helpers shared by the integration tests. Each test file compiles this module on its own and
//! uses only part of it.
#![allow(dead_code)]

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use breaker::clock::ManualClock;
use breaker::{Breaker, Builder};

/// A guarded call's own error, as opposed to the breaker's rejection.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The dependency failed.
    #[error("dependency failed: {0}")]
    Down(&'static str),
    /// The breaker said no.
    #[error(transparent)]
    Circuit(#[from] breaker::Error),
}

/// A breaker on a manual clock, so tests cross cooldowns without sleeping.
pub fn manual(
    name: &'static str,
    configure: impl FnOnce(Builder) -> Builder,
) -> (Breaker, ManualClock) {
    let clock = ManualClock::new();
    let breaker = configure(Breaker::builder(name).clock(clock.clone()))
        .build()
        .expect("valid settings");
    (breaker, clock)
}

/// Runs one failing call through `breaker`, counting the body's runs in `runs`.
pub fn fail(breaker: &Breaker, runs: &AtomicUsize) -> Result<(), AppError> {
    breaker.call(|| {
        runs.fetch_add(1, Ordering::SeqCst);
        Err(AppError::Down("boom"))
    })
}

/// Runs one succeeding call through `breaker`, counting the body's runs in `runs`.
pub fn succeed(breaker: &Breaker, runs: &AtomicUsize) -> Result<u32, AppError> {
    breaker.call(|| {
        runs.fetch_add(1, Ordering::SeqCst);
        Ok(7)
    })
}

/// A failing call whose error is an `io::Error`.
pub fn io_fail(breaker: &Breaker) -> io::Result<()> {
    breaker.call(|| Err(io::Error::other("connection reset")))
}

/// A succeeding call whose error type is `io::Error`.
pub fn io_ok(breaker: &Breaker) -> io::Result<()> {
    breaker.call(|| Ok(()))
}

/// The breaker's own error inside an `AppError`, or a panic saying what came instead.
pub fn circuit_error(result: Result<impl std::fmt::Debug, AppError>) -> breaker::Error {
    match result {
        Err(AppError::Circuit(err)) => err,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// The breaker's own error inside an `io::Error`, or a panic saying what came instead.
pub fn io_circuit_error(err: &io::Error) -> &breaker::Error {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<breaker::Error>())
        .unwrap_or_else(|| panic!("expected a breaker::Error inside {err:?}"))
}

/// Runs `f` on another thread and fails the test if it does not finish within `limit` (a
/// deadlock shows up as a failure instead of a hung test run).
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("did not finish within {limit:?}: deadlock?"),
    }
}

/// Polls `future` exactly once with a waker that does nothing, and returns whether it finished.
pub fn poll_once<F: std::future::Future>(
    future: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    future.poll(&mut cx)
}
