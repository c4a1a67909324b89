//! Operators' controls: open, close, half_open, force_open, disable.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use breaker::State;
use common::{circuit_error, fail, manual, succeed};

const COOLDOWN: Duration = Duration::from_secs(20);

#[test]
fn open_rejects_for_a_cooldown_then_half_opens() {
    let (breaker, clock) = manual("manual-open", |b| b.cooldown(COOLDOWN));
    breaker.open();
    assert_eq!(breaker.state(), State::Open);
    let runs = AtomicUsize::new(0);
    let err = circuit_error(succeed(&breaker, &runs));
    assert_eq!(
        err,
        breaker::Error::Open {
            name: "manual-open".into(),
            retry_after: COOLDOWN
        }
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    clock.advance(COOLDOWN);
    assert_eq!(breaker.state(), State::HalfOpen);
    succeed(&breaker, &runs).unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn open_while_open_restarts_the_cooldown() {
    let (breaker, clock) = manual("manual-open-again", |b| b.cooldown(COOLDOWN));
    breaker.open();
    clock.advance(COOLDOWN / 2);
    breaker.open();
    assert_eq!(breaker.retry_after(), Some(COOLDOWN));
}

#[test]
fn close_resets_the_failure_count() {
    let (breaker, _clock) = manual("manual-close-count", |b| b.max_failures(3));
    let runs = AtomicUsize::new(0);
    fail(&breaker, &runs).unwrap_err();
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(breaker.failure_count(), 2);
    breaker.close();
    assert_eq!(breaker.failure_count(), 0);
    fail(&breaker, &runs).unwrap_err();
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(
        breaker.state(),
        State::Closed,
        "two failures after close() must not trip a max of 3"
    );
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn close_ends_an_open_period_at_once() {
    let (breaker, _clock) = manual("manual-close-open", |b| {
        b.max_failures(1).cooldown(COOLDOWN)
    });
    let runs = AtomicUsize::new(0);
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(breaker.state(), State::Open);
    breaker.close();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.retry_after(), None);
    assert_eq!(succeed(&breaker, &runs).unwrap(), 7);
    // Lifetime totals survive a close.
    let report = breaker.report();
    assert_eq!((report.successes(), report.failures()), (1, 1));
}

#[test]
fn half_open_lets_trials_through_without_waiting() {
    let (breaker, _clock) = manual("manual-half-open", |b| {
        b.max_failures(1).cooldown(COOLDOWN).half_open_calls(2)
    });
    breaker.acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    breaker.half_open();
    assert_eq!(breaker.state(), State::HalfOpen);
    let a = breaker.acquire().unwrap();
    let b = breaker.acquire().unwrap();
    assert!(matches!(
        breaker.acquire(),
        Err(breaker::Error::HalfOpenFull { .. })
    ));
    a.success();
    assert_eq!(breaker.state(), State::Closed);
    drop(b);
}

#[test]
fn half_open_from_closed_works_too() {
    let (breaker, _clock) = manual("manual-half-open-closed", |b| b.cooldown(COOLDOWN));
    breaker.half_open();
    assert_eq!(breaker.state(), State::HalfOpen);
    breaker.acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.retry_after(), Some(COOLDOWN));
}

#[test]
fn force_open_rejects_regardless_of_time_until_closed() {
    let (breaker, clock) = manual("manual-forced", |b| b.cooldown(COOLDOWN));
    breaker.force_open();
    assert_eq!(breaker.state(), State::ForcedOpen);
    assert!(breaker.state().is_open());
    assert_eq!(
        breaker.retry_after(),
        None,
        "no cooldown ends a forced open"
    );
    let runs = AtomicUsize::new(0);
    for hours in [0, 1, 24, 24 * 365] {
        clock.set(Duration::from_secs(hours * 3600));
        let err = circuit_error(succeed(&breaker, &runs));
        assert_eq!(
            err,
            breaker::Error::ForcedOpen {
                name: "manual-forced".into()
            },
            "after {hours}h"
        );
        assert!(err.is_rejection());
        assert_eq!(err.retry_after(), None);
        assert!(matches!(
            breaker.acquire(),
            Err(breaker::Error::ForcedOpen { .. })
        ));
        assert_eq!(breaker.state(), State::ForcedOpen);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let report = breaker.report();
    assert_eq!((report.rejections(), report.failures()), (8, 0));
    assert_eq!(report.state(), State::ForcedOpen);
    breaker.close();
    assert_eq!(breaker.state(), State::Closed);
    succeed(&breaker, &runs).unwrap();
}

#[test]
fn force_open_overrides_a_half_open_trial_in_flight() {
    let (breaker, _clock) = manual("manual-forced-trial", |b| b.max_failures(1));
    breaker.half_open();
    let trial = breaker.acquire().unwrap();
    breaker.force_open();
    trial.success();
    assert_eq!(
        breaker.state(),
        State::ForcedOpen,
        "a trial admitted before force_open must not close it"
    );
}

#[test]
fn disable_lets_everything_through_and_never_trips_until_closed() {
    let (breaker, clock) = manual("manual-disabled", |b| b.max_failures(1).cooldown(COOLDOWN));
    breaker.disable();
    assert_eq!(breaker.state(), State::Disabled);
    assert!(!breaker.state().is_open());
    let runs = AtomicUsize::new(0);
    for _ in 0..100 {
        fail(&breaker, &runs).unwrap_err();
        assert_eq!(breaker.state(), State::Disabled);
    }
    clock.advance(COOLDOWN * 10);
    assert_eq!(succeed(&breaker, &runs).unwrap(), 7);
    assert_eq!(runs.load(Ordering::SeqCst), 101);
    let report = breaker.report();
    assert_eq!(
        (report.failures(), report.successes(), report.rejections()),
        (100, 1, 0)
    );
    assert_eq!(breaker.failure_count(), 0);
    breaker.close();
    assert_eq!(breaker.state(), State::Closed);
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(
        breaker.state(),
        State::Open,
        "closed again, it trips as configured"
    );
}

#[test]
fn disable_overrides_an_open_breaker() {
    let (breaker, _clock) = manual("manual-disable-open", |b| b.max_failures(1));
    breaker.acquire().unwrap().failure();
    breaker.disable();
    let runs = AtomicUsize::new(0);
    succeed(&breaker, &runs).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn manual_transitions_are_reported_to_listeners() {
    let (breaker, _clock) = manual("manual-events", |b| b);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    breaker.on_state_change(move |from, to| sink.lock().unwrap().push((from, to)));
    breaker.force_open();
    breaker.close();
    breaker.disable();
    breaker.close();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (State::Closed, State::ForcedOpen),
            (State::ForcedOpen, State::Closed),
            (State::Closed, State::Disabled),
            (State::Disabled, State::Closed),
        ]
    );
}

#[test]
fn reconfigure_keeps_the_state_and_the_count() {
    let (breaker, _clock) = manual("manual-reconfigure", |b| b.max_failures(5));
    let runs = AtomicUsize::new(0);
    fail(&breaker, &runs).unwrap_err();
    fail(&breaker, &runs).unwrap_err();
    breaker
        .reconfigure(
            breaker::Settings::default()
                .max_failures(3)
                .cooldown(COOLDOWN),
        )
        .unwrap();
    assert_eq!(breaker.failure_count(), 2);
    assert_eq!(breaker.settings().get_cooldown(), COOLDOWN);
    fail(&breaker, &runs).unwrap_err();
    assert_eq!(
        breaker.state(),
        State::Open,
        "the third failure trips the new max of 3"
    );
    assert_eq!(
        breaker.retry_after(),
        Some(COOLDOWN),
        "the new cooldown is used"
    );
    assert_eq!(breaker.report().failures(), 3);
}

#[test]
fn states_have_short_lower_case_names() {
    let names = [
        (State::Closed, "closed"),
        (State::Open, "open"),
        (State::HalfOpen, "half-open"),
        (State::ForcedOpen, "forced-open"),
        (State::Disabled, "disabled"),
    ];
    for (state, name) in names {
        assert_eq!(state.as_str(), name);
        assert_eq!(state.to_string(), name);
    }
    assert_eq!(
        format!("[{:>8}]", State::Open),
        "[    open]",
        "Display honours width"
    );
    assert_eq!(format!("[{:<8}]", State::Closed), "[closed  ]");
}
