//! The future of a guarded async call, written by hand so that it is one small state machine:
//! it asks for a permit at its first poll, polls the caller's future in place, watches for
//! panics and the time limit, and records the verdict.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::breaker::{Breaker, Permit};
use crate::classify::Outcome;
use crate::error::Error;
use crate::timeout::Timer;

pin_project_lite::pin_project! {
    /// The future returned by [`Breaker::call_async`] and [`Breaker::call_async_with`].
    ///
    /// If it is dropped before it finishes (cancelled, timed out by the caller), the call counts
    /// as neither success nor failure and its half-open slot is freed. A panic inside a poll of
    /// the guarded future counts as a failure.
    #[must_use = "futures do nothing unless polled"]
    pub struct CallAsync<'a, Fut, J, X> {
        breaker: &'a Breaker,
        permit: Option<Permit<'a>>,
        polled: bool,
        judge: Option<J>,
        convert: Option<X>,
        timer: Option<Timer>,
        #[pin]
        future: Fut,
    }
}

impl<'a, Fut, J, X> CallAsync<'a, Fut, J, X> {
    /// A call that asks `breaker` for a permit at its first poll, or runs under `permit`.
    /// `convert` turns a rejection or a timeout into the caller's error type.
    pub(crate) fn new(
        breaker: &'a Breaker,
        permit: Option<Permit<'a>>,
        future: Fut,
        judge: J,
        convert: X,
    ) -> Self {
        CallAsync {
            breaker,
            polled: false,
            permit: permit.map(Permit::watching_polls),
            judge: Some(judge),
            convert: Some(convert),
            timer: None,
            future,
        }
    }
}

impl<T, E, Fut, J, X> Future for CallAsync<'_, Fut, J, X>
where
    Fut: Future<Output = Result<T, E>>,
    J: FnOnce(&Result<T, E>) -> Outcome,
    X: FnOnce(Error) -> E,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let this = self.project();
        if !*this.polled {
            *this.polled = true;
            if this.permit.is_none() {
                match this.breaker.acquire() {
                    Ok(permit) => *this.permit = Some(permit.watching_polls()),
                    Err(rejected) => return Poll::Ready(Err(convert(this.convert, rejected))),
                }
            }
            if let Some(limit) = this.breaker.settings().get_timeout() {
                *this.timer = Timer::start(limit);
            }
        }
        let Some(permit) = this.permit.as_mut() else {
            panic!("`CallAsync` polled after completion");
        };
        // Marks the permit failed if the poll unwinds; forgotten otherwise.
        let bomb = MarkFailed(permit);
        let poll = this.future.poll(cx);
        std::mem::forget(bomb);
        match poll {
            Poll::Ready(result) => {
                let verdict = this.judge.take().map_or(Outcome::Neutral, |j| j(&result));
                if let Some(permit) = this.permit.take() {
                    permit.outcome(verdict);
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                if let Some(timer) = this.timer.as_mut()
                    && timer.expired(cx)
                {
                    if let Some(permit) = this.permit.take() {
                        permit.failure();
                    }
                    let limit = this.breaker.settings().get_timeout().unwrap_or_default();
                    let timeout = Error::Timeout {
                        name: this.breaker.shared_name().clone(),
                        limit,
                    };
                    return Poll::Ready(Err(convert(this.convert, timeout)));
                }
                Poll::Pending
            }
        }
    }
}

fn convert<E, X: FnOnce(Error) -> E>(convert: &mut Option<X>, error: Error) -> E {
    match convert.take() {
        Some(convert) => convert(error),
        None => panic!("`CallAsync` polled after completion"),
    }
}

/// Dropped only while unwinding out of a poll: whenever the permit is dropped (now, or after
/// an executor caught the panic), it records a failure.
pub(crate) struct MarkFailed<'p, 'a>(pub(crate) &'p mut Permit<'a>);

impl Drop for MarkFailed<'_, '_> {
    fn drop(&mut self) {
        self.0.mark_failed();
    }
}
