//! The open state: the tripping call returns its own error, later calls are rejected with
//! `Error::Open` without running, and rejections are counted but never as failures.

mod common;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use breaker::{Event, State};
use common::{AppError, circuit_error, fail, io_circuit_error, manual, succeed};

#[test]
fn the_tripping_call_returns_its_own_error_and_the_next_is_rejected_without_running() {
    let (breaker, _clock) = manual("trip-next", |b| {
        b.max_failures(3).cooldown(Duration::from_secs(10))
    });
    let runs = AtomicUsize::new(0);
    fail(&breaker, &runs).unwrap_err();
    fail(&breaker, &runs).unwrap_err();
    let tripping = fail(&breaker, &runs).unwrap_err();
    assert!(matches!(tripping, AppError::Down("boom")), "{tripping:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    let err = circuit_error(succeed(&breaker, &runs));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "a rejected call must not run"
    );
    match &err {
        breaker::Error::Open { name, retry_after } => {
            assert_eq!(name, "trip-next");
            assert_eq!(*retry_after, Duration::from_secs(10));
        }
        other => panic!("expected Error::Open, got {other:?}"),
    }
    assert_eq!(err.name(), "trip-next");
    assert!(err.is_rejection());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(10)));
}

#[test]
fn many_rejections_never_run_the_body_and_never_count_as_failures() {
    let (breaker, _clock) = manual("trip-many", |b| b.max_failures(2));
    let runs = AtomicUsize::new(0);
    fail(&breaker, &runs).unwrap_err();
    fail(&breaker, &runs).unwrap_err();
    for _ in 0..100 {
        circuit_error(fail(&breaker, &runs));
        circuit_error(succeed(&breaker, &runs));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let report = breaker.report();
    assert_eq!(report.failures(), 2);
    assert_eq!(report.successes(), 0);
    assert_eq!(report.rejections(), 200);
    assert_eq!(report.state(), State::Open);
    assert_eq!(report.failure_count(), 0, "no failure count while open");
}

#[test]
fn acquire_is_rejected_too() {
    let (breaker, _clock) = manual("trip-acquire", |b| {
        b.max_failures(1).cooldown(Duration::from_secs(5))
    });
    breaker.acquire().unwrap().failure();
    let err = breaker.acquire().unwrap_err();
    assert!(matches!(err, breaker::Error::Open { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(breaker.report().rejections(), 1);
}

#[test]
fn a_rejection_converts_into_an_io_error_refusing_the_connection() {
    let (breaker, _clock) = manual("trip-io", |b| b.max_failures(1));
    let runs = AtomicUsize::new(0);
    let own = breaker
        .call(|| -> io::Result<()> {
            runs.fetch_add(1, Ordering::SeqCst);
            Err(io::Error::new(io::ErrorKind::TimedOut, "slow"))
        })
        .unwrap_err();
    assert_eq!(
        own.kind(),
        io::ErrorKind::TimedOut,
        "the tripping call keeps its own error"
    );
    let err = breaker
        .call(|| -> io::Result<()> {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert!(matches!(
        io_circuit_error(&err),
        breaker::Error::Open { .. }
    ));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn rejections_are_announced_to_listeners_with_the_error() {
    let (breaker, _clock) = manual("trip-events", |b| b.max_failures(1));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    breaker.on_event(move |event| {
        if let Event::Rejected { name, error } = event {
            sink.lock()
                .unwrap()
                .push((name.to_string(), (*error).clone()));
        }
    });
    let runs = AtomicUsize::new(0);
    fail(&breaker, &runs).unwrap_err();
    let err = circuit_error(succeed(&breaker, &runs));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "trip-events");
    assert_eq!(seen[0].1, err);
}

/// A future that notes whether it was ever polled.
struct Probe(Arc<AtomicBool>);

impl Future for Probe {
    type Output = Result<(), AppError>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.store(true, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn an_open_breaker_never_polls_the_future_it_is_given() {
    let (breaker, _clock) = manual("trip-async-unpolled", |b| b.max_failures(1));
    breaker
        .call_async(async { Err::<(), _>(AppError::Down("boom")) })
        .await
        .unwrap_err();
    let polled = Arc::new(AtomicBool::new(false));
    let result = breaker.call_async(Probe(Arc::clone(&polled))).await;
    assert!(
        matches!(result, Err(AppError::Circuit(breaker::Error::Open { .. }))),
        "{result:?}"
    );
    assert!(
        !polled.load(Ordering::SeqCst),
        "the guarded future was polled while open"
    );
    assert_eq!(breaker.report().rejections(), 1);
    assert_eq!(breaker.report().failures(), 1);
}
