//! Cutting async calls short.

use std::task::Context;
#[cfg(feature = "tokio")]
use std::time::Duration;

/// The timer of one call that has a time limit. Boxed, so that calls without a limit (most of
/// them) carry one pointer instead of tokio's timer entry in their future.
#[cfg(feature = "tokio")]
pub(crate) struct Timer(std::pin::Pin<Box<Armed>>);

#[cfg(feature = "tokio")]
pin_project_lite::pin_project! {
    struct Armed {
        #[pin]
        sleep: tokio::time::Sleep,
        // The limit the call started with, for its error: the settings may have changed since.
        limit: Duration,
    }
}

/// When a call with a time limit must have finished. Taken when the call starts; the timer is
/// made from it only if the call's first poll is pending, so a call that finishes at once
/// never arms one.
#[cfg(feature = "tokio")]
pub(crate) struct Deadline {
    at: tokio::time::Instant,
    limit: Duration,
}

#[cfg(feature = "tokio")]
impl Deadline {
    /// `limit` from now.
    #[cold]
    #[inline(never)]
    pub(crate) fn after(limit: Duration) -> Option<Deadline> {
        let now = tokio::time::Instant::now();
        // As `tokio::time::sleep` does with a limit too long to add: about 30 years.
        let far = || now + Duration::from_secs(86400 * 365 * 30);
        let at = now.checked_add(limit).unwrap_or_else(far);
        Some(Deadline { at, limit })
    }
}

#[cfg(feature = "tokio")]
impl Timer {
    #[cold]
    #[inline(never)]
    pub(crate) fn at(deadline: Deadline) -> Option<Timer> {
        Some(Timer(Box::pin(Armed {
            sleep: tokio::time::sleep_until(deadline.at),
            limit: deadline.limit,
        })))
    }

    /// Whether the limit has passed; otherwise the task is woken when it does. Inline, so that
    /// the call's future is not borrowed by an opaque call.
    #[inline]
    pub(crate) fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.0.as_mut().project().sleep.poll(cx).is_ready()
    }

    /// The limit the call started with.
    pub(crate) fn limit(&self) -> Duration {
        self.0.limit
    }
}

/// Without a timer there is nothing to cut calls short with; validation rejects settings with a
/// timeout, so no call asks for one.
#[cfg(not(feature = "tokio"))]
pub(crate) enum Timer {}

/// See [`Timer`].
#[cfg(not(feature = "tokio"))]
pub(crate) enum Deadline {}

#[cfg(not(feature = "tokio"))]
impl Deadline {
    pub(crate) fn after(_limit: std::time::Duration) -> Option<Deadline> {
        None
    }
}

#[cfg(not(feature = "tokio"))]
impl Timer {
    pub(crate) fn at(deadline: Deadline) -> Option<Timer> {
        match deadline {}
    }

    pub(crate) fn expired(&mut self, _cx: &mut Context<'_>) -> bool {
        match *self {}
    }

    pub(crate) fn limit(&self) -> std::time::Duration {
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
