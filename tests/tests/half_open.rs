//! The half-open state: exactly `half_open_calls` trials at once, a failure re-opens with a fresh
//! cooldown, `success_threshold` successes close and reset the counters.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use breaker::{Breaker, State, clock::ManualClock};
use common::{AppError, circuit_error, fail, manual, succeed};

const COOLDOWN: Duration = Duration::from_secs(10);

/// A breaker that has tripped and whose cooldown is over.
fn half_open(name: &'static str, trials: u32, threshold: u32) -> (Breaker, ManualClock) {
    let (breaker, clock) = manual(name, |b| {
        b.max_failures(2)
            .cooldown(COOLDOWN)
            .half_open_calls(trials)
            .success_threshold(threshold)
    });
    breaker.acquire().unwrap().failure();
    breaker.acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    clock.advance(COOLDOWN);
    assert_eq!(breaker.state(), State::HalfOpen);
    (breaker, clock)
}

#[test]
fn exactly_half_open_calls_trials_are_let_through_at_once() {
    for trials in [1_u32, 2, 3, 8] {
        let (breaker, _clock) = half_open("half-open-admission", trials, 100);
        let permits: Vec<_> = (0..trials)
            .map(|i| {
                breaker
                    .acquire()
                    .unwrap_or_else(|e| panic!("trial {i} of {trials} rejected: {e}"))
            })
            .collect();
        for _ in 0..3 {
            let err = breaker.acquire().unwrap_err();
            assert_eq!(
                err,
                breaker::Error::HalfOpenFull {
                    name: "half-open-admission".into()
                },
                "the extra caller is told the trials are taken, not that the breaker is open"
            );
            assert!(err.is_rejection());
            assert_eq!(err.retry_after(), Some(Duration::ZERO));
        }
        assert_eq!(breaker.report().rejections(), 3);
        let runs = AtomicUsize::new(0);
        circuit_error(succeed(&breaker, &runs));
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "a call beyond the trials must not run"
        );
        drop(permits);
    }
}

#[test]
fn a_released_or_unused_permit_is_reusable() {
    let (breaker, _clock) = half_open("half-open-reuse", 2, 100);
    let a = breaker.acquire().unwrap();
    let b = breaker.acquire().unwrap();
    assert!(breaker.acquire().is_err());
    drop(a); // unreported: frees its slot, records nothing
    let c = breaker
        .acquire()
        .expect("the dropped permit's slot is free again");
    assert!(breaker.acquire().is_err());
    b.neutral();
    let d = breaker.acquire().expect("a neutral outcome frees the slot");
    c.success();
    let e = breaker
        .acquire()
        .expect("a success below the threshold frees the slot");
    assert!(breaker.acquire().is_err());
    assert_eq!(breaker.state(), State::HalfOpen);
    drop((d, e));
    let report = breaker.report();
    assert_eq!(
        (report.successes(), report.failures(), report.neutral()),
        (1, 2, 4)
    );
}

#[test]
fn a_failure_in_half_open_reopens_with_a_fresh_cooldown() {
    let (breaker, clock) = half_open("half-open-reopen", 1, 1);
    let runs = AtomicUsize::new(0);
    let err = fail(&breaker, &runs).unwrap_err();
    assert!(
        matches!(err, AppError::Down(_)),
        "the trial returns its own error: {err:?}"
    );
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        breaker.retry_after(),
        Some(COOLDOWN),
        "the cooldown starts again from the failure"
    );
    clock.advance(COOLDOWN - Duration::from_millis(1));
    assert_eq!(breaker.state(), State::Open);
    let rejected = circuit_error(succeed(&breaker, &runs));
    assert!(
        matches!(rejected, breaker::Error::Open { .. }),
        "{rejected:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_millis(1));
    assert_eq!(breaker.state(), State::HalfOpen);
    succeed(&breaker, &runs).unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_failure_reopens_even_while_other_trials_are_in_flight() {
    let (breaker, _clock) = half_open("half-open-reopen-in-flight", 3, 3);
    let a = breaker.acquire().unwrap();
    let b = breaker.acquire().unwrap();
    a.success();
    b.failure();
    assert_eq!(breaker.state(), State::Open);
    assert!(matches!(
        breaker.acquire(),
        Err(breaker::Error::Open { .. })
    ));
}

#[test]
fn a_successful_trial_closes_and_resets_the_failure_count() {
    let (breaker, _clock) = half_open("half-open-close", 1, 1);
    let runs = AtomicUsize::new(0);
    assert_eq!(succeed(&breaker, &runs).unwrap(), 7);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.failure_count(), 0);
    assert_eq!(breaker.retry_after(), None);
    // Back to a full budget of max_failures (2), not one failure from re-opening.
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(breaker.state(), State::Closed);
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn success_threshold_above_one_needs_that_many_successes() {
    let (breaker, _clock) = half_open("half-open-threshold", 1, 3);
    let runs = AtomicUsize::new(0);
    succeed(&breaker, &runs).unwrap();
    assert_eq!(breaker.state(), State::HalfOpen);
    succeed(&breaker, &runs).unwrap();
    assert_eq!(breaker.state(), State::HalfOpen);
    succeed(&breaker, &runs).unwrap();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[test]
fn success_threshold_counts_concurrent_trials() {
    let (breaker, _clock) = half_open("half-open-threshold-concurrent", 3, 3);
    let permits: Vec<_> = (0..3).map(|_| breaker.acquire().unwrap()).collect();
    let mut permits = permits.into_iter();
    permits.next().unwrap().success();
    permits.next().unwrap().success();
    assert_eq!(breaker.state(), State::HalfOpen);
    permits.next().unwrap().success();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_failure_after_some_successes_resets_the_success_count() {
    let (breaker, clock) = half_open("half-open-threshold-reset", 1, 3);
    let runs = AtomicUsize::new(0);
    succeed(&breaker, &runs).unwrap();
    succeed(&breaker, &runs).unwrap();
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(breaker.state(), State::Open);
    clock.advance(COOLDOWN);
    // The two earlier successes are forgotten: three more are needed.
    succeed(&breaker, &runs).unwrap();
    succeed(&breaker, &runs).unwrap();
    assert_eq!(breaker.state(), State::HalfOpen);
    succeed(&breaker, &runs).unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn the_breaker_goes_around_the_cycle_many_times() {
    let (breaker, clock) = manual("half-open-cycles", |b| b.max_failures(1).cooldown(COOLDOWN));
    let transitions = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&transitions);
    breaker.on_state_change(move |from, to| sink.lock().unwrap().push((from, to)));
    for _ in 0..50 {
        breaker.acquire().unwrap().failure();
        clock.advance(COOLDOWN);
        breaker.acquire().unwrap().failure();
        clock.advance(COOLDOWN);
        breaker.acquire().unwrap().success();
    }
    let expected: Vec<_> = [
        (State::Closed, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
    ]
    .repeat(50);
    assert_eq!(*transitions.lock().unwrap(), expected);
}
