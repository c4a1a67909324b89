//! Edges of `CallAsync`: a panicking verdict, a first poll longer than the time limit, a timer
//! that cannot be armed, and a call that finishes at once without arming one.

use std::future::{Future, pending};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use breaker::clock::ManualClock;
use breaker::{Breaker, Outcome, State};

fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_panicking_async_verdict_is_a_failure_and_frees_the_trial_slot() {
    let breaker = Breaker::builder("edge-verdict").build().unwrap();
    breaker.half_open();
    let mut call = Box::pin(breaker.call_async_with(
        async { Ok::<u32, io::Error>(1) },
        |_: &io::Result<u32>| -> Outcome { panic!("verdict") },
    ));
    let caught = catch_unwind(AssertUnwindSafe(|| poll_once(call.as_mut())));
    assert!(caught.is_err());
    drop(call);
    let report = breaker.report();
    assert_eq!((report.failures(), report.neutral()), (1, 0));
    assert_eq!(breaker.state(), State::Open, "the trial failed");
}

#[tokio::test]
async fn a_first_poll_longer_than_the_limit_times_out_at_once() {
    let breaker = Breaker::builder("edge-slow-first-poll")
        .timeout(Duration::from_millis(20))
        .build()
        .unwrap();
    let err = breaker
        .call_async(async {
            // Blocks the thread past the limit before its first await.
            std::thread::sleep(Duration::from_millis(40));
            pending::<()>().await;
            Ok::<u32, io::Error>(1)
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(breaker.report().failures(), 1);
}

#[test]
fn a_timed_call_that_finishes_at_once_needs_no_runtime() {
    let breaker = Breaker::builder("edge-timed-ready")
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut call = Box::pin(breaker.call_async(async { Ok::<u32, io::Error>(7) }));
    assert!(matches!(poll_once(call.as_mut()), Poll::Ready(Ok(7))));
    assert_eq!(breaker.report().successes(), 1);
}

#[test]
fn a_timer_that_cannot_be_armed_gives_the_trial_slot_back() {
    let breaker = Breaker::builder("edge-no-runtime")
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    breaker.half_open();
    let mut call = Box::pin(breaker.call_async(pending::<io::Result<u32>>()));
    // Pending outside a runtime: arming tokio's timer panics.
    let caught = catch_unwind(AssertUnwindSafe(|| poll_once(call.as_mut())));
    assert!(caught.is_err());
    drop(call);
    let report = breaker.report();
    assert_eq!((report.failures(), report.neutral()), (0, 1));
    assert!(breaker.acquire().is_ok(), "the slot came back");
}

#[tokio::test]
async fn a_clock_at_its_latest_reading_still_enforces_the_time_limit() {
    // A start time equal to one of the marks for untimed calls would skip the limit.
    let clock = ManualClock::new();
    clock.set(Duration::MAX);
    let breaker = Breaker::builder("edge-latest-clock")
        .clock(clock)
        .slow_call(Duration::from_secs(1))
        .slow_rate(0.5)
        .timeout(Duration::from_millis(10))
        .build()
        .unwrap();
    let call = breaker.call_async(async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, io::Error>(1)
    });
    let outcome = tokio::time::timeout(Duration::from_secs(5), call).await;
    let err = outcome.expect("the limit cut the call short").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn a_call_cut_short_reports_the_limit_it_started_with() {
    let breaker = Breaker::builder("edge-limit-removed")
        .timeout(Duration::from_millis(10))
        .build()
        .unwrap();
    let mut call = Box::pin(breaker.call_async(async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, io::Error>(1)
    }));
    assert!(poll_once(call.as_mut()).is_pending());
    // The limit goes away while the call runs; the call keeps the one it started with.
    breaker.reconfigure(breaker::Settings::default()).unwrap();
    let err = call.await.unwrap_err();
    let err = err
        .into_inner()
        .unwrap()
        .downcast::<breaker::Error>()
        .unwrap();
    assert!(
        matches!(*err, breaker::Error::Timeout { limit, .. } if limit == Duration::from_millis(10)),
        "{err:?}"
    );
}
