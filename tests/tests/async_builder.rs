//! `Breaker::call_async` without the macro: rejection without polling, timeouts, cancellation.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use breaker::{Breaker, Error, State};

#[tokio::test]
async fn a_rejected_call_never_polls_the_guarded_future() {
    let breaker = Breaker::builder("async-builder-reject").build().unwrap();
    breaker.force_open();
    let polled = AtomicBool::new(false);
    let err = breaker
        .call_async(async {
            polled.store(true, Ordering::SeqCst);
            Ok::<_, Error>(1)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ForcedOpen { .. }));
    assert!(!polled.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_builder_timeout_cuts_the_call_short_and_counts_a_failure() {
    let breaker = Breaker::builder("async-builder-timeout")
        .max_failures(1)
        .timeout(Duration::from_millis(10))
        .build()
        .unwrap();
    let err = breaker
        .call_async(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, io::Error>(1)
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(err.to_string().contains("async-builder-timeout"), "{err}");
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.report().failures(), 1);
}

#[test]
fn a_call_dropped_after_its_first_poll_frees_the_trial_slot_and_counts_nothing() {
    let breaker = Breaker::builder("async-builder-cancel").build().unwrap();
    breaker.half_open();
    let mut call = Box::pin(breaker.call_async(std::future::pending::<Result<(), io::Error>>()));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert!(breaker.acquire().is_err(), "the only trial slot is taken");
    drop(call);
    let report = breaker.report();
    assert_eq!((report.neutral(), report.failures()), (1, 0));
    assert!(breaker.acquire().is_ok(), "the slot came back");
}
