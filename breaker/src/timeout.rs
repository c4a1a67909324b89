//! Cutting async calls short.

use std::future::Future;
use std::time::Duration;

/// Runs `future` for at most `limit`; `None` if it did not finish in time (it is dropped).
#[cfg(feature = "tokio")]
pub(crate) async fn within<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    tokio::time::timeout(limit, future).await.ok()
}

/// Without a timer there is nothing to cut calls short with; settings with a timeout are
/// rejected by validation, so this only runs the future.
#[cfg(not(feature = "tokio"))]
pub(crate) async fn within<F: Future>(_limit: Duration, future: F) -> Option<F::Output> {
    Some(future.await)
}
