//! Each thread caches the breakers it looked up recently. The cache must never lend a breaker
//! the registry no longer has, nor one of another registry, and its hits must count as lookups
//! for the idle sweep.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use breaker::clock::ManualClock;
use breaker::{Breaker, Registry, Settings, State};

/// Enough lookups for the name to be served from this thread's cache, however its slot is
/// shared.
const WARM: usize = 64;

fn lookup(registry: &Registry, name: &str) -> Arc<Breaker> {
    let mut found = None;
    for _ in 0..WARM {
        let by_ref = registry
            .with_or_create(name, Settings::default, |b| b as *const Breaker)
            .unwrap();
        let arc = registry
            .get_or_create_with(name, Settings::default)
            .unwrap();
        assert!(std::ptr::eq(by_ref, &*arc), "both lookups agree");
        found = Some(arc);
    }
    found.unwrap()
}

#[test]
fn a_removed_breaker_is_not_lent_again() {
    let registry = Registry::new();
    let first = lookup(&registry, "cache:removed");
    first.force_open();
    assert!(registry.remove("cache:removed").is_some());
    let second = lookup(&registry, "cache:removed");
    assert!(!Arc::ptr_eq(&first, &second), "a fresh breaker");
    assert_eq!(second.state(), State::Closed);
}

#[test]
fn a_breaker_removed_by_another_thread_is_not_lent_again() {
    let registry = Registry::new();
    let first = lookup(&registry, "cache:elsewhere");
    thread::scope(|s| {
        s.spawn(|| assert!(registry.remove("cache:elsewhere").is_some()));
    });
    let second = lookup(&registry, "cache:elsewhere");
    assert!(!Arc::ptr_eq(&first, &second));
}

#[test]
fn an_evicted_breaker_is_not_lent_again() {
    let clock = ManualClock::new();
    let registry = Registry::with_clock(clock.clone());
    let ttl = Duration::from_secs(60);
    let per_key = || Settings::default().idle_ttl(ttl);
    let first = registry.get_or_create_with("cache:idle", per_key).unwrap();
    for _ in 0..WARM {
        registry.get_or_create_with("cache:idle", per_key).unwrap();
    }
    for _ in 0..3 {
        clock.advance(ttl);
        registry.evict_idle();
    }
    assert!(registry.get("cache:idle").is_none(), "evicted");
    let second = registry.get_or_create_with("cache:idle", per_key).unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
}

#[test]
fn lookups_served_by_the_cache_keep_a_breaker_from_idling_out() {
    let clock = ManualClock::new();
    let registry = Registry::with_clock(clock.clone());
    let ttl = Duration::from_secs(60);
    let per_key = || Settings::default().idle_ttl(ttl);
    let first = registry.get_or_create_with("cache:busy", per_key).unwrap();
    for _ in 0..5 {
        // Looked up from the cache only: the map is not asked once the name is warm.
        for _ in 0..WARM {
            registry
                .with_or_create("cache:busy", per_key, |_| ())
                .unwrap();
        }
        clock.advance(ttl);
        assert_eq!(registry.evict_idle(), 0);
    }
    let still = registry.get("cache:busy").expect("kept");
    assert!(Arc::ptr_eq(&first, &still));
}

#[test]
fn registries_with_the_same_names_are_kept_apart() {
    let a = Registry::new();
    let b = Registry::new();
    for _ in 0..4 {
        let from_a = lookup(&a, "cache:shared-name");
        let from_b = lookup(&b, "cache:shared-name");
        assert!(!Arc::ptr_eq(&from_a, &from_b));
    }
}

#[test]
fn a_dropped_registrys_breakers_are_not_lent_to_a_new_one() {
    let old = Registry::new();
    lookup(&old, "cache:dropped").force_open();
    drop(old);
    let new = Registry::new();
    assert_eq!(lookup(&new, "cache:dropped").state(), State::Closed);
}

#[test]
fn a_breaker_removed_during_its_own_call_stays_usable() {
    let registry = Registry::new();
    lookup(&registry, "cache:self-removing");
    let answer = registry
        .with_or_create("cache:self-removing", Settings::default, |b| {
            drop(registry.remove("cache:self-removing"));
            // Lookups inside the call, of this name and of others, work and do not disturb
            // the breaker in use.
            let fresh = lookup(&registry, "cache:self-removing");
            assert!(!std::ptr::eq(b, &*fresh));
            for i in 0..WARM {
                lookup(&registry, &format!("cache:inner-{i}"));
            }
            b.call(|| Ok::<_, breaker::Error>(b.name().len()))
        })
        .unwrap();
    assert_eq!(answer, Ok("cache:self-removing".len()));
}

/// Threads look up a few names while another removes them again and again: every lookup gets
/// a breaker of the name it asked for, and never one the registry removed before the lookup
/// began.
#[test]
fn lookups_racing_with_removals_get_the_right_breaker() {
    let registry = Registry::new();
    let names: Vec<String> = (0..8).map(|i| format!("cache:race-{i}")).collect();
    let done = AtomicBool::new(false);
    let start = Barrier::new(4);
    /// Stops the lookups also when an assertion below fails, so the test fails, not hangs.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    thread::scope(|s| {
        for t in 0..3 {
            let (registry, names, done, start) = (&registry, &names, &done, &start);
            s.spawn(move || {
                start.wait();
                let mut i = t;
                while !done.load(Ordering::Relaxed) {
                    i = (i + 5) % names.len();
                    let name = &names[i];
                    registry
                        .with_or_create(name, Settings::default, |b| assert_eq!(b.name(), name))
                        .unwrap();
                }
            });
        }
        start.wait();
        let _stop = StopOnDrop(&done);
        for round in 0..2_000 {
            let name = &names[round % names.len()];
            if let Some(removed) = registry.remove(name) {
                removed.force_open();
            }
            // A lookup after the removal never sees the removed breaker, which is now held
            // open; a fresh one is closed.
            registry
                .with_or_create(name, Settings::default, |b| {
                    assert_eq!(b.state(), State::Closed, "round {round}")
                })
                .unwrap();
        }
    });
}

#[derive(Debug, Clone)]
enum Op {
    WithOrCreate { registry: usize, key: usize },
    GetOrCreateWith { registry: usize, key: usize },
    Remove { registry: usize, key: usize },
}

/// Names enough to share the cache's 64 slots, a few too long to be cached.
fn name(key: usize) -> String {
    if key % 10 == 9 {
        format!("cache:prop:a-name-too-long-to-be-cached-{key}")
    } else {
        format!("cache:prop:{key}")
    }
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let target = (0..2usize, 0..150usize);
    prop_oneof![
        4 => target.clone().prop_map(|(registry, key)| Op::WithOrCreate { registry, key }),
        2 => target.clone().prop_map(|(registry, key)| Op::GetOrCreateWith { registry, key }),
        1 => target.prop_map(|(registry, key)| Op::Remove { registry, key }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 64, ..Default::default() })]

    /// Against a model of what each registry holds: every lookup gets the very breaker the
    /// registry has for the name (or creates one when it has none), whatever the cache held.
    #[test]
    fn lookups_always_agree_with_the_registry(ops in proptest::collection::vec(op(), 1..600)) {
        use std::collections::HashMap;
        let registries = [Registry::new(), Registry::new()];
        let mut model: [HashMap<usize, Arc<Breaker>>; 2] = Default::default();
        for op in ops {
            match op {
                Op::WithOrCreate { registry, key } => {
                    let found = registries[registry]
                        .with_or_create(&name(key), Settings::default, |b| b as *const Breaker)
                        .unwrap();
                    let expected = model[registry]
                        .entry(key)
                        .or_insert_with(|| registries[registry].get(&name(key)).unwrap());
                    proptest::prop_assert!(std::ptr::eq(found, &**expected), "{op:?}");
                }
                Op::GetOrCreateWith { registry, key } => {
                    let found = registries[registry]
                        .get_or_create_with(&name(key), Settings::default)
                        .unwrap();
                    let expected = model[registry].entry(key).or_insert_with(|| found.clone());
                    proptest::prop_assert!(Arc::ptr_eq(&found, expected), "{op:?}");
                }
                Op::Remove { registry, key } => {
                    let removed = registries[registry].remove(&name(key));
                    let expected = model[registry].remove(&key);
                    proptest::prop_assert_eq!(removed.is_some(), expected.is_some());
                    if let (Some(removed), Some(expected)) = (removed, expected) {
                        proptest::prop_assert!(Arc::ptr_eq(&removed, &expected));
                    }
                }
            }
        }
    }
}

/// A thread's cache keeps its breakers alive after their registry is gone, until the thread
/// exits (or reuses their slots).
#[test]
fn a_thread_releases_its_cached_breakers_when_it_exits() {
    let registry = Arc::new(Registry::new());
    let in_thread = Arc::clone(&registry);
    // `join` returns once the thread's thread-locals are destroyed (a scoped thread's end is
    // signalled before).
    thread::spawn(move || drop(lookup(&in_thread, "cache:exits")))
        .join()
        .unwrap();
    let exited = Arc::downgrade(&registry.get("cache:exits").unwrap());
    let here = Arc::downgrade(&lookup(&registry, "cache:stays"));
    drop(registry);
    assert!(exited.upgrade().is_none(), "freed with the registry");
    assert!(here.upgrade().is_some(), "still in this thread's cache");
}
