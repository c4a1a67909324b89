//! Listeners on a breaker and on a registry: transition order, outcome events, re-entrancy,
//! and a panicking listener.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker::{Breaker, Event, Registry, Settings, State, clock::ManualClock};
use common::{AppError, within};

const LIMIT: Duration = Duration::from_secs(10);

/// One recorded event, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Change(String, State, State),
    Success(String),
    Failure(String),
    Neutral(String),
    Rejected(String, breaker::Error),
}

fn record(sink: &Arc<Mutex<Vec<Seen>>>) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
    let sink = Arc::clone(sink);
    move |event: &Event<'_>| {
        let name = event.name().to_owned();
        let seen = match *event {
            Event::StateChange { from, to, .. } => Seen::Change(name, from, to),
            Event::Success { .. } => Seen::Success(name),
            Event::Failure { .. } => Seen::Failure(name),
            Event::Neutral { .. } => Seen::Neutral(name),
            Event::Rejected { error, .. } => Seen::Rejected(name, error.clone()),
            _ => return,
        };
        sink.lock().unwrap().push(seen);
    }
}

#[test]
fn open_half_open_close_are_reported_in_order_on_the_breaker() {
    let breaker = Breaker::builder("listen-order").build().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    breaker.on_state_change(move |from, to| sink.lock().unwrap().push((from, to)));
    breaker.open();
    breaker.half_open();
    breaker.close();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed),
        ]
    );
}

#[test]
fn open_half_open_close_are_reported_in_order_on_the_registry() {
    let registry = Registry::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    registry.on_state_change(move |name, from, to| {
        sink.lock().unwrap().push((name.to_owned(), from, to))
    });
    let db = registry.get_or_create("db", Settings::default()).unwrap();
    let cache = registry
        .get_or_create("cache", Settings::default())
        .unwrap();
    db.open();
    cache.force_open();
    db.half_open();
    db.close();
    let db = |from, to| ("db".to_owned(), from, to);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            db(State::Closed, State::Open),
            ("cache".to_owned(), State::Closed, State::ForcedOpen),
            db(State::Open, State::HalfOpen),
            db(State::HalfOpen, State::Closed),
        ]
    );
}

#[test]
fn a_registry_listener_hears_breakers_created_before_and_after_it() {
    let registry = Registry::new();
    let early = registry
        .get_or_create("early", Settings::default())
        .unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    registry.on_state_change(move |_, _, _| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let late = registry.get_or_create("late", Settings::default()).unwrap();
    let inserted = registry.insert(Breaker::builder("inserted").build().unwrap());
    early.open();
    late.open();
    inserted.open();
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn a_natural_cycle_fires_each_transition_exactly_once_with_outcomes_around_it() {
    let clock = ManualClock::new();
    let breaker = Breaker::builder("listen-cycle")
        .max_failures(2)
        .cooldown(Duration::from_secs(5))
        .ignore::<std::fmt::Error>()
        .clock(clock.clone())
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    breaker.on_event(record(&seen));

    let ok = || Ok::<_, AppError>(());
    let down = || Err::<(), _>(AppError::Down("x"));
    breaker.call(ok).unwrap();
    breaker.call(down).unwrap_err();
    breaker
        .call(|| Err::<(), std::io::Error>(std::io::Error::other(std::fmt::Error)))
        .unwrap_err();
    breaker.call(down).unwrap_err();
    let rejection = common::circuit_error(breaker.call(ok));
    clock.advance(Duration::from_secs(5));
    breaker.call(ok).unwrap();

    let name = || "listen-cycle".to_owned();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            Seen::Success(name()),
            Seen::Failure(name()),
            Seen::Neutral(name()),
            // The tripping failure: the state change first, then the outcome that caused it.
            Seen::Change(name(), State::Closed, State::Open),
            Seen::Failure(name()),
            Seen::Rejected(name(), rejection),
            Seen::Change(name(), State::Open, State::HalfOpen),
            Seen::Change(name(), State::HalfOpen, State::Closed),
            Seen::Success(name()),
        ]
    );
}

#[test]
fn dropped_permits_and_ignored_errors_are_neutral_events() {
    let breaker = Breaker::builder("listen-neutral").build().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    breaker.on_event(record(&seen));
    drop(breaker.acquire().unwrap());
    breaker.acquire().unwrap().neutral();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            Seen::Neutral("listen-neutral".into()),
            Seen::Neutral("listen-neutral".into())
        ]
    );
}

#[test]
fn breaker_and_registry_listeners_both_hear_every_event() {
    let registry = Registry::new();
    let on_registry = Arc::new(Mutex::new(Vec::new()));
    registry.on_event(record(&on_registry));
    let breaker = registry
        .get_or_create("both", Settings::default().max_failures(1))
        .unwrap();
    let on_breaker = Arc::new(Mutex::new(Vec::new()));
    breaker.on_event(record(&on_breaker));
    breaker.acquire().unwrap().failure();
    let _ = breaker.acquire();
    let seen = on_breaker.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(*on_registry.lock().unwrap(), seen);
}

#[test]
fn a_state_listener_may_read_the_breaker_and_sees_the_new_state() {
    within(LIMIT, || {
        let breaker = Arc::new(
            Breaker::builder("listen-reentrant")
                .max_failures(1)
                .build()
                .unwrap(),
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (sink, inner) = (Arc::clone(&seen), Arc::downgrade(&breaker));
        breaker.on_state_change(move |_, to| {
            let breaker = inner.upgrade().unwrap();
            let report = breaker.report();
            sink.lock().unwrap().push((
                to,
                breaker.state(),
                report.state(),
                breaker.retry_after().is_some(),
            ));
        });
        breaker.acquire().unwrap().failure();
        breaker.half_open();
        breaker.close();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                (State::Open, State::Open, State::Open, true),
                (State::HalfOpen, State::HalfOpen, State::HalfOpen, false),
                (State::Closed, State::Closed, State::Closed, false),
            ]
        );
    });
}

#[test]
fn a_listener_may_drive_the_breaker_and_add_listeners() {
    within(LIMIT, || {
        let breaker = Arc::new(
            Breaker::builder("listen-drive")
                .max_failures(1)
                .build()
                .unwrap(),
        );
        let inner = Arc::downgrade(&breaker);
        let added = Arc::new(AtomicUsize::new(0));
        let added_in = Arc::clone(&added);
        breaker.on_event(move |event| {
            let Some(breaker) = inner.upgrade() else {
                return;
            };
            if let Event::StateChange {
                to: State::Open, ..
            } = event
            {
                // An operator policy: never stay open, go straight to trials.
                breaker.half_open();
                let added = Arc::clone(&added_in);
                breaker.on_event(move |_| {
                    added.fetch_add(1, Ordering::SeqCst);
                });
                // A guarded call from inside a listener.
                let _ = breaker.call(|| Ok::<_, breaker::Error>(()));
            }
        });
        breaker.acquire().unwrap().failure();
        assert_eq!(
            breaker.state(),
            State::Closed,
            "the listener's trial call closed it"
        );
        breaker.acquire().unwrap().success();
        assert!(added.load(Ordering::SeqCst) >= 1);
    });
}

#[test]
fn a_registry_listener_may_read_the_report_and_create_breakers() {
    within(LIMIT, || {
        let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&reports);
        registry.on_state_change(move |name, _, to| {
            let report = registry.report();
            let state = report.get(name).map(|b| b.state());
            let side = registry
                .get_or_create("created-by-listener", Settings::default())
                .unwrap();
            assert_eq!(side.state(), State::Closed);
            sink.lock().unwrap().push((to, state, report.is_healthy()));
        });
        let db = registry.get_or_create("db", Settings::default()).unwrap();
        db.open();
        db.close();
        assert_eq!(
            *reports.lock().unwrap(),
            vec![
                (State::Open, Some(State::Open), false),
                (State::Closed, Some(State::Closed), true)
            ]
        );
        assert!(registry.get("created-by-listener").is_some());
    });
}

#[test]
fn a_panicking_listener_poisons_nothing() {
    let breaker = Breaker::builder("listen-panic")
        .max_failures(1)
        .build()
        .unwrap();
    breaker.on_event(|_| panic!("listener bug (expected in this test)"));
    let after = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&after);
    breaker.on_event(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(breaker.call(|| Ok::<_, AppError>(5)).unwrap(), 5);
    assert!(matches!(
        breaker.call(|| Err::<(), _>(AppError::Down("x"))),
        Err(AppError::Down(_))
    ));
    assert_eq!(breaker.state(), State::Open);
    assert!(breaker.call(|| Ok::<_, AppError>(5)).is_err());
    breaker.close();
    assert_eq!(breaker.call(|| Ok::<_, AppError>(6)).unwrap(), 6);
    // success, state change, failure, rejection, state change, success
    assert_eq!(after.load(Ordering::SeqCst), 6, "later listeners still run");
}

#[breaker::circuit(name = "listen-global-macro", max_failures = 1)]
fn guarded(fail: bool) -> std::io::Result<()> {
    if fail {
        Err(std::io::Error::other("down"))
    } else {
        Ok(())
    }
}

#[test]
fn the_global_registry_reports_transitions_of_macro_breakers() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    breaker::registry().on_state_change(move |name, from, to| {
        if name == "listen-global-macro" {
            sink.lock().unwrap().push((from, to));
        }
    });
    guarded(true).unwrap_err();
    guarded(false).unwrap_err();
    let breaker = breaker::registry().get("listen-global-macro").unwrap();
    breaker.half_open();
    guarded(false).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed),
        ]
    );
}
