//! Cancelled async calls count as nothing and give their half-open slot back; a panic in a
//! guarded call (sync or async) is a failure, keeps unwinding, and never wedges the breaker.

mod common;

use std::future::pending;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use breaker::{Breaker, State, circuit, clock::ManualClock, registry};
use common::{AppError, manual, poll_once};

const COOLDOWN: Duration = Duration::from_secs(10);

/// A breaker that has tripped once and whose cooldown is over.
fn half_open(name: &'static str, threshold: u32) -> (Breaker, ManualClock) {
    let (breaker, clock) = manual(name, |b| {
        b.max_failures(1)
            .cooldown(COOLDOWN)
            .success_threshold(threshold)
    });
    breaker.acquire().unwrap().failure();
    clock.advance(COOLDOWN);
    assert_eq!(breaker.state(), State::HalfOpen);
    (breaker, clock)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<not a string>")
}

#[tokio::test]
async fn a_trial_cancelled_by_a_timeout_frees_its_slot_and_counts_as_nothing() {
    let (breaker, _clock) = half_open("cancel-timeout", 1);
    let slow = breaker.call_async(pending::<Result<(), AppError>>());
    let timed_out = tokio::time::timeout(Duration::from_millis(5), slow).await;
    assert!(timed_out.is_err(), "the pending trial must time out");

    let report = breaker.report();
    assert_eq!(report.neutral(), 1, "the cancelled trial is neutral");
    assert_eq!(
        (report.successes(), report.failures()),
        (0, 1),
        "only the tripping failure"
    );
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a cancellation decides nothing"
    );
    breaker
        .call_async(async { Ok::<_, AppError>(()) })
        .await
        .expect("the next call is admitted as a trial");
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_trial_dropped_after_its_first_poll_frees_its_slot() {
    let (breaker, _clock) = half_open("cancel-drop", 2);
    for round in 0..100 {
        let mut trial = Box::pin(breaker.call_async(pending::<Result<(), AppError>>()));
        assert!(poll_once(trial.as_mut()).is_pending());
        assert!(
            matches!(breaker.acquire(), Err(breaker::Error::HalfOpenFull { .. })),
            "round {round}: the polled trial holds the only slot"
        );
        drop(trial);
        assert_eq!(breaker.state(), State::HalfOpen);
    }
    assert_eq!(breaker.report().neutral(), 100);
    // The slot is free, and the success count was not disturbed: two successes still close it.
    breaker.acquire().expect("slot free").success();
    assert_eq!(breaker.state(), State::HalfOpen);
    breaker.acquire().unwrap().success();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_future_dropped_before_its_first_poll_takes_nothing() {
    let (breaker, _clock) = half_open("cancel-unpolled", 1);
    let never_polled = breaker.call_async(async { Ok::<_, AppError>(()) });
    drop(never_polled);
    assert_eq!(breaker.report().neutral(), 0);
    assert_eq!(breaker.report().rejections(), 0);
    drop(breaker.acquire().expect("no slot was taken"));
}

#[test]
fn a_cancelled_call_while_closed_neither_counts_nor_resets() {
    let (breaker, _clock) = manual("cancel-closed", |b| b.max_failures(2));
    breaker.acquire().unwrap().failure();
    let mut call = Box::pin(breaker.call_async(pending::<Result<(), AppError>>()));
    assert!(poll_once(call.as_mut()).is_pending());
    drop(call);
    assert_eq!(breaker.failure_count(), 1);
    assert_eq!(breaker.report().neutral(), 1);
    breaker.acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
}

#[circuit(name = "cancel-macro", max_failures = 1)]
async fn maybe_hang(hang: bool, fail: bool) -> io::Result<()> {
    if hang {
        pending::<()>().await;
    }
    if fail {
        Err(io::Error::other("down"))
    } else {
        Ok(())
    }
}

#[tokio::test]
async fn cancelling_a_macro_async_fn_in_half_open_frees_the_permit() {
    maybe_hang(false, true).await.unwrap_err();
    let breaker = registry().get("cancel-macro").unwrap();
    assert_eq!(breaker.state(), State::Open);
    breaker.half_open();
    for _ in 0..3 {
        let cancelled =
            tokio::time::timeout(Duration::from_millis(2), maybe_hang(true, false)).await;
        assert!(cancelled.is_err());
        assert_eq!(breaker.state(), State::HalfOpen);
    }
    assert_eq!(breaker.report().neutral(), 3);
    maybe_hang(false, false).await.expect("admitted as a trial");
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_panic_in_a_sync_call_is_a_failure_and_keeps_unwinding() {
    let (breaker, _clock) = manual("panic-sync", |b| b.max_failures(2));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        breaker.call(|| -> Result<(), AppError> { panic!("boom in the guarded call") })
    }));
    let payload = caught.expect_err("the panic reaches the caller");
    assert_eq!(panic_message(&*payload), "boom in the guarded call");
    assert_eq!(breaker.failure_count(), 1);
    assert_eq!(breaker.report().failures(), 1);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        breaker.call(|| -> Result<(), AppError> { panic!("again") })
    }));
    assert_eq!(
        breaker.state(),
        State::Open,
        "two panics in a row trip a max of 2"
    );
}

#[test]
fn a_panic_while_holding_a_permit_is_a_failure() {
    let (breaker, _clock) = manual("panic-permit", |b| b.max_failures(1));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _permit = breaker.acquire().unwrap();
        panic!("boom while holding the permit");
    }));
    assert!(caught.is_err());
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_panicking_trial_reopens_and_does_not_wedge_the_breaker() {
    let (breaker, clock) = half_open("panic-trial", 1);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        breaker.call(|| -> Result<(), AppError> { panic!("trial panicked") })
    }));
    assert!(caught.is_err());
    assert_eq!(
        breaker.state(),
        State::Open,
        "a panicking trial is a failed trial"
    );
    assert_eq!(breaker.retry_after(), Some(COOLDOWN));
    clock.advance(COOLDOWN);
    breaker
        .call(|| Ok::<_, AppError>(()))
        .expect("the panicked trial's slot was given back");
    assert_eq!(breaker.state(), State::Closed);
}

#[circuit(name = "panic-macro-sync", max_failures = 1)]
fn explode(really: bool) -> io::Result<u8> {
    if really {
        panic!("kaboom");
    }
    Ok(1)
}

#[test]
fn a_panic_in_a_macro_fn_is_a_failure_and_keeps_unwinding() {
    let caught = catch_unwind(|| explode(true));
    assert_eq!(panic_message(&*caught.unwrap_err()), "kaboom");
    let breaker = registry().get("panic-macro-sync").unwrap();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        explode(false).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
    breaker.half_open();
    assert!(catch_unwind(|| explode(true)).is_err());
    assert_eq!(breaker.state(), State::Open, "a panicking trial re-opens");
    breaker.half_open();
    assert_eq!(explode(false).unwrap(), 1, "and its slot is free");
}

#[test]
fn a_panic_inside_a_polled_future_is_a_failure_and_keeps_unwinding() {
    let (breaker, _clock) = half_open("panic-poll", 1);
    let mut call = Box::pin(breaker.call_async(async {
        if true {
            panic!("async boom");
        }
        Ok::<(), AppError>(())
    }));
    let caught = catch_unwind(AssertUnwindSafe(|| poll_once(call.as_mut())));
    assert_eq!(panic_message(&*caught.unwrap_err()), "async boom");
    drop(call);
    let report = breaker.report();
    assert_eq!(report.failures(), 2, "the trip and the panic");
    assert_eq!(report.neutral(), 0, "a panic is not a cancellation");
    assert_eq!(breaker.state(), State::Open);
}

#[circuit(name = "panic-macro-async", max_failures = 1)]
async fn explode_later(really: bool) -> io::Result<u8> {
    tokio::task::yield_now().await;
    if really {
        panic!("async kaboom");
    }
    Ok(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_spawned_async_fn_is_a_failure_and_frees_the_trial_slot() {
    let joined = tokio::spawn(explode_later(true)).await;
    let err = joined.expect_err("the task panicked");
    assert!(err.is_panic());
    assert_eq!(panic_message(&*err.into_panic()), "async kaboom");
    let breaker = registry().get("panic-macro-async").unwrap();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.report().failures(), 1);

    breaker.half_open();
    let err = tokio::spawn(explode_later(true)).await.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(
        breaker.state(),
        State::Open,
        "a panicking async trial re-opens"
    );
    assert_eq!(breaker.report().failures(), 2);
    breaker.half_open();
    assert_eq!(
        tokio::spawn(explode_later(false)).await.unwrap().unwrap(),
        1
    );
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_future_dropped_while_its_owner_panics_is_a_cancellation() {
    let (breaker, _clock) = half_open("cancel-owner-panics", 1);
    let mut trial = Box::pin(breaker.call_async(pending::<Result<(), AppError>>()));
    assert!(poll_once(trial.as_mut()).is_pending());
    let caught = catch_unwind(AssertUnwindSafe(move || {
        let _owned = trial;
        panic!("a bug in the caller, not in the guarded call");
    }));
    assert!(caught.is_err());
    let report = breaker.report();
    assert_eq!(
        (report.failures(), report.neutral()),
        (1, 1),
        "the dropped trial counted as a failure: the guarded future never panicked"
    );
    assert_eq!(breaker.state(), State::HalfOpen);
}
