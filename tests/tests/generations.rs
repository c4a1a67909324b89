//! Outcomes of calls admitted before a transition do not drive the new state (generations).

mod common;

use std::time::Duration;

use breaker::{Breaker, State, clock::ManualClock};
use common::manual;

const COOLDOWN: Duration = Duration::from_secs(10);

fn breaker(name: &'static str, trials: u32) -> (Breaker, ManualClock) {
    manual(name, |b| {
        b.max_failures(2).cooldown(COOLDOWN).half_open_calls(trials)
    })
}

#[test]
fn a_slow_failure_from_the_closed_state_does_not_reopen_a_half_open_breaker() {
    let (breaker, clock) = breaker("gen-slow-failure", 1);
    let slow = breaker.acquire().unwrap(); // admitted while closed
    breaker.acquire().unwrap().failure();
    breaker.acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    clock.advance(COOLDOWN);
    let trial = breaker.acquire().unwrap();
    assert_eq!(breaker.state(), State::HalfOpen);

    slow.failure();
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a stale failure must not re-open"
    );
    assert!(
        matches!(breaker.acquire(), Err(breaker::Error::HalfOpenFull { .. })),
        "and must not free the trial's slot either"
    );
    trial.success();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(
        breaker.failure_count(),
        0,
        "nor count in the new closed period"
    );
}

#[test]
fn a_slow_success_from_the_closed_state_does_not_close_a_half_open_breaker() {
    let (breaker, clock) = breaker("gen-slow-success", 1);
    let slow = breaker.acquire().unwrap();
    breaker.acquire().unwrap().failure();
    breaker.acquire().unwrap().failure();
    clock.advance(COOLDOWN);
    let trial = breaker.acquire().unwrap();
    slow.success();
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a stale success must not close"
    );
    assert!(matches!(
        breaker.acquire(),
        Err(breaker::Error::HalfOpenFull { .. })
    ));
    trial.failure();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_slow_outcome_while_open_changes_nothing() {
    let (breaker, _clock) = breaker("gen-while-open", 1);
    let slow_ok = breaker.acquire().unwrap();
    let slow_err = breaker.acquire().unwrap();
    breaker.acquire().unwrap().failure();
    breaker.acquire().unwrap().failure();
    slow_ok.success();
    slow_err.failure();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        breaker.retry_after(),
        Some(COOLDOWN),
        "a stale failure does not restart the cooldown"
    );
}

#[test]
fn a_slow_failure_from_an_earlier_closed_period_does_not_count_in_a_later_one() {
    let (breaker, _clock) = breaker("gen-earlier-closed", 1);
    let slow = breaker.acquire().unwrap();
    breaker.open();
    breaker.close();
    breaker.acquire().unwrap().failure();
    slow.failure();
    assert_eq!(
        breaker.failure_count(),
        1,
        "only the failure of this closed period counts"
    );
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_slow_success_from_an_earlier_closed_period_does_not_reset_a_later_count() {
    let (breaker, _clock) = breaker("gen-earlier-success", 1);
    let slow = breaker.acquire().unwrap();
    breaker.close(); // a new closed period
    breaker.acquire().unwrap().failure();
    slow.success();
    assert_eq!(breaker.failure_count(), 1);
    breaker.acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_trial_from_an_earlier_half_open_period_does_not_decide_the_next() {
    let (breaker, clock) = breaker("gen-earlier-trial", 2);
    breaker.acquire().unwrap().failure();
    breaker.acquire().unwrap().failure();
    clock.advance(COOLDOWN);
    let old_trial = breaker.acquire().unwrap();
    breaker.acquire().unwrap().failure(); // the other trial fails: re-open
    assert_eq!(breaker.state(), State::Open);
    clock.advance(COOLDOWN);
    let new_a = breaker.acquire().unwrap();
    let new_b = breaker.acquire().unwrap();
    old_trial.success();
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "the old trial's success must not close"
    );
    assert!(
        matches!(breaker.acquire(), Err(breaker::Error::HalfOpenFull { .. })),
        "nor free a slot of the new period"
    );
    new_a.failure();
    assert_eq!(breaker.state(), State::Open);
    drop(new_b);
}

#[test]
fn a_dropped_permit_from_an_earlier_half_open_period_frees_no_slot_of_the_next() {
    let (breaker, _clock) = breaker("gen-stale-drop", 1);
    breaker.half_open();
    let old = breaker.acquire().unwrap();
    breaker.half_open(); // a new half-open period, its one slot free
    let new = breaker.acquire().unwrap();
    drop(old);
    assert!(
        matches!(breaker.acquire(), Err(breaker::Error::HalfOpenFull { .. })),
        "dropping the old permit must not free the new period's slot"
    );
    new.success();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_slow_call_admitted_while_disabled_does_not_count_after_close() {
    let (breaker, _clock) = breaker("gen-disabled", 1);
    breaker.disable();
    let slow = breaker.acquire().unwrap();
    breaker.close();
    breaker.acquire().unwrap().failure();
    slow.failure();
    assert_eq!(breaker.failure_count(), 1);
    assert_eq!(breaker.state(), State::Closed);
}
