//! The closed state: calls pass, consecutive failures are counted, a success resets the count,
//! and the breaker trips exactly at `max_failures`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use breaker::{Breaker, Settings, State};
use common::{AppError, fail, manual, succeed};

#[test]
fn a_new_breaker_is_closed_and_a_success_keeps_it_closed() {
    let (breaker, _clock) = manual("closed-success", |b| b.max_failures(1));
    assert_eq!(breaker.state(), State::Closed);
    let runs = AtomicUsize::new(0);
    assert_eq!(succeed(&breaker, &runs).unwrap(), 7);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.failure_count(), 0);
    let report = breaker.report();
    assert_eq!(
        (report.successes(), report.failures(), report.rejections()),
        (1, 0, 0)
    );
    assert_eq!(report.retry_after(), None);
    assert_eq!(breaker.retry_after(), None);
}

#[test]
fn one_failure_keeps_it_closed_and_is_counted() {
    let (breaker, _clock) = manual("closed-one-failure", |b| b.max_failures(2));
    let runs = AtomicUsize::new(0);
    let err = fail(&breaker, &runs).unwrap_err();
    assert!(matches!(err, AppError::Down("boom")), "{err:?}");
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.failure_count(), 1);
    let report = breaker.report();
    assert_eq!(
        (
            report.successes(),
            report.failures(),
            report.failure_count()
        ),
        (0, 1, 1)
    );
    assert_eq!(report.state(), State::Closed);
}

#[test]
fn a_success_resets_the_consecutive_count() {
    let (breaker, _clock) = manual("closed-reset", |b| b.max_failures(3));
    let runs = AtomicUsize::new(0);
    for round in 0..5 {
        fail(&breaker, &runs).unwrap_err();
        fail(&breaker, &runs).unwrap_err();
        assert_eq!(breaker.failure_count(), 2, "round {round}");
        succeed(&breaker, &runs).unwrap();
        assert_eq!(breaker.failure_count(), 0, "round {round}");
        assert_eq!(breaker.state(), State::Closed, "round {round}");
    }
    // Ten failures in all, never three in a row: still closed. Three in a row now trip it.
    fail(&breaker, &runs).unwrap_err();
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(breaker.state(), State::Closed);
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.report().failures(), 13);
}

#[test]
fn it_trips_exactly_at_max_failures() {
    for max in [1_u32, 2, 3, 5, 10] {
        let (breaker, _clock) = manual("closed-exact", |b| b.max_failures(max));
        let runs = AtomicUsize::new(0);
        for n in 1..max {
            fail(&breaker, &runs).unwrap_err();
            assert_eq!(breaker.state(), State::Closed, "max {max}: {n} failures");
            assert_eq!(breaker.failure_count(), u64::from(n));
        }
        let err = fail(&breaker, &runs).unwrap_err();
        assert!(
            matches!(err, AppError::Down("boom")),
            "the tripping call returns its own error: {err:?}"
        );
        assert_eq!(breaker.state(), State::Open, "max {max}");
        assert_eq!(runs.load(Ordering::SeqCst), max as usize);
    }
}

#[test]
fn ok_values_never_count_as_failures() {
    let (breaker, _clock) = manual("closed-ok", |b| b.max_failures(1));
    let runs = AtomicUsize::new(0);
    for _ in 0..1000 {
        succeed(&breaker, &runs).unwrap();
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.report().successes(), 1000);
    assert_eq!(breaker.report().failures(), 0);
}

#[test]
fn defaults_are_five_failures_thirty_seconds_one_trial_one_success() {
    let settings = Settings::default();
    assert_eq!(settings.get_cooldown(), Duration::from_secs(30));
    assert_eq!(settings.get_half_open_calls(), 1);
    assert_eq!(settings.get_success_threshold(), 1);
    assert!(settings.get_record().is_empty() && settings.get_ignore().is_empty());
    assert_eq!(
        settings,
        Settings::default().max_failures(5),
        "the default policy is five consecutive failures"
    );

    let breaker = Breaker::builder("closed-defaults").build().unwrap();
    assert_eq!(breaker.settings(), &Settings::default());
    assert_eq!(breaker.name(), "closed-defaults");
    let runs = AtomicUsize::new(0);
    for _ in 0..4 {
        fail(&breaker, &runs).unwrap_err();
    }
    assert_eq!(breaker.state(), State::Closed);
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(breaker.state(), State::Open);
    let retry = breaker.retry_after().expect("open with a cooldown");
    // The system clock's coarse reading may trail by a tick; see `cooldown.rs` for the exact bound.
    assert!(
        retry > Duration::from_secs(29) && retry <= Duration::from_millis(30_050),
        "{retry:?}"
    );
}

#[test]
fn the_permit_api_counts_like_call() {
    let (breaker, _clock) = manual("closed-permit", |b| b.max_failures(2));
    breaker.acquire().unwrap().success();
    breaker.acquire().unwrap().failure();
    assert_eq!(breaker.failure_count(), 1);
    breaker.acquire().unwrap().success();
    assert_eq!(breaker.failure_count(), 0);
    let failed: Result<(), std::io::Error> = Err(std::io::Error::other("x"));
    breaker.acquire().unwrap().record(&failed);
    breaker.acquire().unwrap().record(&failed);
    assert_eq!(breaker.state(), State::Open);
    let report = breaker.report();
    assert_eq!((report.successes(), report.failures()), (2, 3));
}

#[test]
fn an_unreported_permit_records_nothing_in_the_closed_state() {
    let (breaker, _clock) = manual("closed-dropped-permit", |b| b.max_failures(2));
    breaker.acquire().unwrap().failure();
    drop(breaker.acquire().unwrap());
    breaker.acquire().unwrap().neutral();
    assert_eq!(
        breaker.failure_count(),
        1,
        "neutral outcomes neither count nor reset"
    );
    let report = breaker.report();
    assert_eq!(
        (report.successes(), report.failures(), report.neutral()),
        (0, 1, 2)
    );
}
