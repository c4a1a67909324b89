//! Cutting async calls short.

use std::task::Context;
#[cfg(feature = "tokio")]
use std::time::Duration;

/// The timer of one call that has a time limit. Boxed, so that calls without a limit (most of
/// them) carry one pointer instead of tokio's timer entry in their future.
#[cfg(feature = "tokio")]
pub(crate) struct Timer(std::pin::Pin<Box<tokio::time::Sleep>>);

#[cfg(feature = "tokio")]
impl Timer {
    pub(crate) fn start(limit: Duration) -> Option<Timer> {
        Some(Timer(Box::pin(tokio::time::sleep(limit))))
    }

    /// Whether the limit has passed; otherwise the task is woken when it does.
    pub(crate) fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.0.as_mut().poll(cx).is_ready()
    }
}

/// Without a timer there is nothing to cut calls short with; validation rejects settings with a
/// timeout, so no call asks for one.
#[cfg(not(feature = "tokio"))]
pub(crate) enum Timer {}

#[cfg(not(feature = "tokio"))]
impl Timer {
    pub(crate) fn start(_limit: std::time::Duration) -> Option<Timer> {
        None
    }

    pub(crate) fn expired(&mut self, _cx: &mut Context<'_>) -> bool {
        match *self {}
    }
}

/// Runs `future` for at most `limit`; `None` if it did not finish in time (it is dropped).
#[cfg(feature = "tokio")]
pub(crate) async fn within<F: std::future::Future>(
    limit: Duration,
    future: F,
) -> Option<F::Output> {
    tokio::time::timeout(limit, future).await.ok()
}

/// Without the `tokio` feature no settings carry a timeout; this only runs the future.
#[cfg(not(feature = "tokio"))]
pub(crate) async fn within<F: std::future::Future>(
    _limit: std::time::Duration,
    future: F,
) -> Option<F::Output> {
    Some(future.await)
}

#[cfg(feature = "tokio")]
use std::future::Future as _;
