//! The cooldown boundary, on a manual clock: still open 1 ms before the end, half-open at the
//! end, and `retry_after` counting down in between. Nothing here sleeps.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use breaker::{Breaker, State};
use common::{circuit_error, fail, manual, succeed};

const COOLDOWN: Duration = Duration::from_secs(30);
const MS: Duration = Duration::from_millis(1);

#[test]
fn still_open_one_millisecond_before_the_cooldown_ends_and_half_open_at_its_end() {
    let (breaker, clock) = manual("cooldown-boundary", |b| {
        b.max_failures(1).cooldown(COOLDOWN)
    });
    let runs = AtomicUsize::new(0);
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(breaker.state(), State::Open);

    clock.advance(COOLDOWN - MS);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.retry_after(), Some(MS));
    let err = circuit_error(succeed(&breaker, &runs));
    assert_eq!(
        err,
        breaker::Error::Open {
            name: "cooldown-boundary".into(),
            retry_after: MS
        }
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "rejected at cooldown - 1ms");

    clock.advance(MS);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "half-open as soon as the cooldown is over, without a call"
    );
    assert_eq!(breaker.retry_after(), None);
    assert_eq!(breaker.report().state(), State::HalfOpen);
    assert_eq!(succeed(&breaker, &runs).unwrap(), 7, "the trial call runs");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn the_boundary_holds_when_the_trip_happens_off_the_millisecond() {
    let (breaker, clock) = manual("cooldown-offset", |b| b.max_failures(1).cooldown(COOLDOWN));
    clock.advance(Duration::from_micros(12_345_678));
    breaker.acquire().unwrap().failure();
    clock.advance(COOLDOWN - MS);
    assert_eq!(breaker.state(), State::Open);
    assert!(breaker.acquire().is_err());
    clock.advance(MS + MS);
    assert_eq!(breaker.state(), State::HalfOpen);
    assert!(breaker.acquire().is_ok());
}

#[test]
fn retry_after_counts_down_as_the_clock_advances() {
    let (breaker, clock) = manual("cooldown-countdown", |b| {
        b.max_failures(1).cooldown(COOLDOWN)
    });
    let runs = AtomicUsize::new(0);
    fail(&breaker, &runs).unwrap_err();
    let mut last = breaker.retry_after().unwrap();
    assert_eq!(last, COOLDOWN);
    for step in 1..30 {
        clock.advance(Duration::from_secs(1));
        let now = breaker.retry_after().unwrap();
        assert!(now < last, "step {step}: {now:?} after {last:?}");
        assert_eq!(now, COOLDOWN - Duration::from_secs(step));
        let err = circuit_error(succeed(&breaker, &runs));
        assert_eq!(
            err.retry_after(),
            Some(now),
            "the error carries the time left"
        );
        assert_eq!(
            breaker.report().retry_after(),
            Some(now),
            "so does the report"
        );
        last = now;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_long_pause_past_the_cooldown_still_half_opens() {
    let (breaker, clock) = manual("cooldown-long-pause", |b| {
        b.max_failures(1).cooldown(COOLDOWN)
    });
    breaker.acquire().unwrap().failure();
    clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert_eq!(breaker.state(), State::HalfOpen);
    breaker.acquire().unwrap().success();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn short_cooldowns_work_at_millisecond_resolution() {
    let (breaker, clock) = manual("cooldown-short", |b| {
        b.max_failures(1).cooldown(Duration::from_millis(5))
    });
    breaker.acquire().unwrap().failure();
    clock.advance(Duration::from_millis(4));
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.retry_after(), Some(MS));
    clock.advance(MS);
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn clones_of_a_manual_clock_drive_the_same_breaker() {
    let (breaker, clock) = manual("cooldown-clone", |b| b.max_failures(1).cooldown(COOLDOWN));
    let other = clock.clone();
    breaker.acquire().unwrap().failure();
    other.set(COOLDOWN);
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn retry_after_never_exceeds_the_cooldown_on_the_system_clock() {
    let breaker = Breaker::builder("cooldown-system-clock")
        .max_failures(1)
        .cooldown(COOLDOWN)
        .build()
        .unwrap();
    for _ in 0..200 {
        breaker.close();
        breaker.acquire().unwrap().failure();
        let retry = breaker.retry_after().unwrap();
        assert!(
            retry <= COOLDOWN,
            "retry_after {retry:?} is longer than the cooldown {COOLDOWN:?}"
        );
        let err = breaker.acquire().unwrap_err();
        let retry = err.retry_after().unwrap();
        assert!(
            retry <= COOLDOWN,
            "Error::Open says retry in {retry:?}, cooldown is {COOLDOWN:?}"
        );
    }
}

/// A user's own clock, driven by hand: exercises the `Clock` trait path.
#[derive(Clone, Default)]
struct TestClock(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl breaker::clock::Clock for TestClock {
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[test]
fn a_custom_clock_drives_the_cooldown() {
    let clock = TestClock::default();
    let breaker = Breaker::builder("cooldown-custom-clock")
        .max_failures(1)
        .cooldown(COOLDOWN)
        .clock(clock.clone())
        .build()
        .unwrap();
    clock.0.store(1_000, std::sync::atomic::Ordering::SeqCst);
    breaker.acquire().unwrap().failure();
    clock
        .0
        .store(1_000 + 29_999, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.retry_after(), Some(MS));
    clock
        .0
        .store(1_000 + 30_000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(breaker.state(), State::HalfOpen);
}
