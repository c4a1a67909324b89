//! The future of a guarded async call, written by hand so that it is one small state machine:
//! it asks for admission at its first poll, polls the caller's future in place, watches for
//! panics and the time limit, and records the verdict.
//!
//! A call carries its admission [`Ticket`] (two words, `Copy`), not a [`Permit`] and its drop
//! logic; only the macro's fallback path, which acquires its permit before making the future,
//! brings one. A panic inside a poll of the guarded future is recorded as a failure at once, by
//! a guard that is forgotten when the poll returns; a call dropped unfinished afterwards is
//! neutral. All of this lives in [`Flight`], which does not depend on the caller's types, so
//! that its drop inlines where the future is dropped.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::breaker::{Breaker, Permit, Rejection, Ticket};
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
        // First, so that a call dropped unfinished is recorded before its future is dropped.
        flight: Flight<'a>,
        // The verdict on the result and the conversion of a rejection or a timeout: one of
        // them is used, once.
        ends: Option<(J, X)>,
        #[pin]
        future: Fut,
    }
}

/// Where a call stands.
enum Stage<'a> {
    /// Not polled yet: asks for admission at its first poll.
    Fresh,
    /// Admitted and not finished: its outcome is still owed.
    Admitted(Ticket),
    /// Runs under a permit its creator acquired just before making the future (which it then
    /// awaits at once), so its timer (if any) started with the future.
    Given(Permit<'a>),
    /// The outcome is recorded (or the call was rejected): nothing is owed.
    Done,
}

impl Stage<'_> {
    /// Moves on from a stage that owns nothing (`Fresh`, `Admitted`, `Done`): a plain store,
    /// without the drop check of a permit that the compiler cannot always rule out.
    #[inline(always)]
    fn leave_unowned(&mut self, next: Self) {
        debug_assert!(!matches!(self, Stage::Given(_)));
        std::mem::forget(std::mem::replace(self, next));
    }
}

/// What a call owes its breaker, and its timer.
struct Flight<'a> {
    breaker: &'a Breaker,
    // Dropped by hand, in one match with the outcome it owes.
    stage: ManuallyDrop<Stage<'a>>,
    // Dropped by hand, so that the common `None` costs one inline test.
    timer: ManuallyDrop<Option<Timer>>,
}

impl Flight<'_> {
    /// Asks for admission at the first poll; starts the timer if the breaker has a time limit.
    #[inline(always)]
    fn admit(&mut self) -> Result<(), Rejection> {
        match self.breaker.admit() {
            Ok(ticket) => {
                self.stage.leave_unowned(Stage::Admitted(ticket));
                self.start_timer();
                Ok(())
            }
            Err(rejected) => {
                self.stage.leave_unowned(Stage::Done);
                Err(rejected)
            }
        }
    }

    #[inline(always)]
    fn start_timer(&mut self) {
        if let Some(limit) = self.breaker.settings().get_timeout() {
            self.start_timer_with(limit);
        }
    }

    #[cold]
    #[inline(never)]
    fn start_timer_with(&mut self, limit: std::time::Duration) {
        *self.timer = Timer::start(limit);
    }

    /// Records the outcome of an admitted call.
    #[inline(always)]
    fn finish(&mut self, ticket: Ticket, outcome: Outcome) {
        self.stage.leave_unowned(Stage::Done);
        self.breaker.complete(ticket, outcome);
    }

    /// After a pending poll: whether the time limit has passed (the task is woken when it does).
    #[inline(always)]
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        match self.timer.as_mut() {
            Some(timer) => timer.expired(cx),
            None => false,
        }
    }

    /// The error of a call cut short by the breaker's time limit.
    #[cold]
    #[inline(never)]
    fn timed_out(&self) -> Error {
        Error::Timeout {
            name: self.breaker.shared_name().clone(),
            limit: self.breaker.settings().get_timeout().unwrap_or_default(),
        }
    }

    #[cold]
    #[inline(never)]
    fn drop_timer(&mut self) {
        *self.timer = None;
    }

    #[inline(never)]
    fn dropped_unfinished(&mut self) {
        self.end(Outcome::Neutral);
    }

    /// Ends the call with `outcome`, whatever its stage.
    fn end(&mut self, outcome: Outcome) {
        match std::mem::replace(&mut *self.stage, Stage::Done) {
            Stage::Admitted(ticket) => self.breaker.complete(ticket, outcome),
            Stage::Given(permit) => permit.outcome(outcome),
            Stage::Fresh | Stage::Done => {}
        }
    }
}

impl Drop for Flight<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if !matches!(*self.stage, Stage::Done) {
            // Cancelled, or its owner unwound for reasons of its own (a panic inside a poll of
            // the guarded future was recorded by then).
            self.dropped_unfinished();
        }
        if self.timer.is_some() {
            self.drop_timer();
        }
    }
}

impl<'a, Fut, J, X> CallAsync<'a, Fut, J, X> {
    /// A call that asks `breaker` for admission at its first poll, or runs under `permit` (its
    /// timer, if any, starts now: the macro awaits the future as soon as it makes it). `convert`
    /// turns a rejection or a timeout into the caller's error type.
    #[inline]
    pub(crate) fn new(
        breaker: &'a Breaker,
        permit: Option<Permit<'a>>,
        future: Fut,
        judge: J,
        convert: X,
    ) -> Self {
        let mut flight = Flight {
            breaker,
            stage: ManuallyDrop::new(Stage::Fresh),
            timer: ManuallyDrop::new(None),
        };
        if let Some(permit) = permit {
            flight
                .stage
                .leave_unowned(Stage::Given(permit.watching_polls()));
            flight.start_timer();
        }
        CallAsync {
            flight,
            ends: Some((judge, convert)),
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

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let this = self.project();
        let flight = this.flight;
        if let Stage::Fresh = *flight.stage
            && let Err(rejected) = flight.admit()
        {
            return Poll::Ready(Err(convert(
                this.ends,
                flight.breaker.rejection_error(rejected),
            )));
        }
        let Stage::Admitted(ticket) = *flight.stage else {
            return poll_given(flight, this.ends, this.future, cx);
        };
        let guard = FailOnUnwind(&mut *flight);
        let poll = this.future.poll(cx);
        std::mem::forget(guard);
        if let Poll::Ready(result) = &poll {
            let verdict = match this.ends.take() {
                Some((judge, _)) => judge(result),
                None => Outcome::Neutral,
            };
            flight.finish(ticket, verdict);
            // Returned as it came, so that the result is not moved once more.
            return poll;
        }
        if flight.expired(cx) {
            flight.finish(ticket, Outcome::Failure);
            return Poll::Ready(Err(convert(this.ends, flight.timed_out())));
        }
        Poll::Pending
    }
}

/// The calls of the macro's fallback path, which acquired their permit before the future was
/// made (to choose between the call and the fallback); and polls after completion, which panic.
#[inline(never)]
fn poll_given<T, E, Fut, J, X>(
    flight: &mut Flight<'_>,
    ends: &mut Option<(J, X)>,
    future: Pin<&mut Fut>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, E>>
where
    Fut: Future<Output = Result<T, E>>,
    J: FnOnce(&Result<T, E>) -> Outcome,
    X: FnOnce(Error) -> E,
{
    if !matches!(*flight.stage, Stage::Given(_)) {
        panic!("`CallAsync` polled after completion");
    }
    let guard = FailOnUnwind(&mut *flight);
    let poll = future.poll(cx);
    std::mem::forget(guard);
    let outcome = match &poll {
        Poll::Ready(result) => match ends.take() {
            Some((judge, _)) => judge(result),
            None => Outcome::Neutral,
        },
        Poll::Pending if flight.expired(cx) => Outcome::Failure,
        Poll::Pending => return Poll::Pending,
    };
    flight.end(outcome);
    match poll {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => Poll::Ready(Err(convert(ends, flight.timed_out()))),
    }
}

fn convert<E, J, X: FnOnce(Error) -> E>(ends: &mut Option<(J, X)>, error: Error) -> E {
    match ends.take() {
        Some((_, convert)) => convert(error),
        None => panic!("`CallAsync` polled after completion"),
    }
}

/// Alive only during a poll of the guarded future, and dropped only if that poll unwinds: the
/// call is a failure, recorded now (the executor may catch the panic and drop the future much
/// later, or never).
struct FailOnUnwind<'f, 'a>(&'f mut Flight<'a>);

impl Drop for FailOnUnwind<'_, '_> {
    fn drop(&mut self) {
        self.0.end(Outcome::Failure);
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
