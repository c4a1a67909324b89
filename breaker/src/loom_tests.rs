//! Model checks of the state machine: every interleaving of a few threads' admissions, outcomes
//! and transitions, explored by loom. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p breaker --lib --release loom`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use loom::thread;

use crate::clock::ManualClock;
use crate::{Breaker, Event, Settings, State};

/// A breaker that outlives the model's threads, so they can share it and its permits. Each
/// explored interleaving leaks one; they are small and the model is bounded.
fn breaker(settings: Settings) -> &'static Breaker {
    Box::leak(Box::new(
        Breaker::builder("loom")
            .settings(settings)
            .clock(ManualClock::new())
            .seed(1)
            .build()
            .unwrap(),
    ))
}

/// Two callers race for one half-open trial slot: at most one gets it, and once it is given back
/// (a cancelled call) the slot can be taken again.
#[test]
fn loom_half_open_admits_at_most_the_permitted_trials_and_frees_them() {
    loom::model(|| {
        let b = breaker(Settings::default().half_open_calls(1));
        b.half_open();
        let admitted = loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let admitted = loom::sync::Arc::clone(&admitted);
                thread::spawn(move || {
                    if let Ok(permit) = b.acquire() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        drop(permit); // cancelled: neutral, the slot is freed
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let admitted = admitted.load(Ordering::SeqCst);
        assert!((1..=2).contains(&admitted), "admitted {admitted}");
        assert_eq!(b.state(), State::HalfOpen);
        assert!(b.acquire().is_ok(), "a freed slot is never leaked");
    });
}

/// Two failures racing at the threshold open the breaker exactly once.
#[test]
fn loom_concurrent_failures_trip_exactly_once() {
    loom::model(|| {
        let b = breaker(Settings::default().max_failures(2));
        let opened = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = std::sync::Arc::clone(&opened);
        b.on_event(move |e| {
            if matches!(
                e,
                Event::StateChange {
                    to: State::Open,
                    ..
                }
            ) {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        let threads: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    if let Ok(permit) = b.acquire() {
                        permit.failure();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.state(), State::Open);
        assert_eq!(opened.load(Ordering::SeqCst), 1);
    });
}

/// A trial success and a trial failure race: the breaker ends open or closed, never half-open
/// with a slot stuck in flight.
#[test]
fn loom_racing_trial_outcomes_settle_the_breaker() {
    loom::model(|| {
        let b = breaker(
            Settings::default()
                .half_open_calls(2)
                .success_threshold(1)
                .cooldown(Duration::from_secs(1)),
        );
        b.half_open();
        let first = b.acquire().unwrap();
        let second = b.acquire().unwrap();
        let t1 = thread::spawn(move || first.success());
        let t2 = thread::spawn(move || second.failure());
        t1.join().unwrap();
        t2.join().unwrap();
        assert!(matches!(b.state(), State::Open | State::Closed));
    });
}

/// A call admitted while closed finishes after the breaker re-opened and half-opened: its success
/// must not close the new half-open state.
#[test]
fn loom_stale_outcomes_never_drive_a_newer_state() {
    loom::model(|| {
        let b = breaker(Settings::default().max_failures(1));
        let stale = b.acquire().unwrap();
        let flipper = thread::spawn(move || {
            b.open();
            b.half_open();
        });
        let late = thread::spawn(move || stale.success());
        flipper.join().unwrap();
        late.join().unwrap();
        assert_eq!(b.state(), State::HalfOpen);
    });
}

/// A trial admitted in one half-open period finishes in the next one: it must neither close the
/// breaker nor free a slot it does not hold.
#[test]
fn loom_stale_trials_never_settle_a_newer_half_open_period() {
    loom::model(|| {
        let b = breaker(Settings::default().half_open_calls(1));
        b.half_open();
        let stale = b.acquire().unwrap();
        let flipper = thread::spawn(move || {
            b.open();
            b.half_open();
            b.acquire().map(std::mem::forget).is_ok()
        });
        let late = thread::spawn(move || stale.success());
        let took_new_slot = flipper.join().unwrap();
        late.join().unwrap();
        assert!(took_new_slot);
        assert_eq!(b.state(), State::HalfOpen);
        assert!(
            b.acquire().is_err(),
            "the new period's only slot is still taken"
        );
    });
}
