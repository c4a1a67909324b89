//! Each thread caches the breakers it looked up recently in the process-wide registry. The
//! cache must never lend a breaker the registry has removed, its hits must count as lookups for
//! the idle sweep, and other registries are not cached at all. Every test uses names of its own
//! in the shared registry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use breaker::{Breaker, Registry, Settings, State, registry};

/// Enough lookups for the name to be served from this thread's cache, however its slot is
/// shared.
const WARM: usize = 64;

/// Slots in the first level of a thread's cache.
const SLOTS: usize = 64;

fn lookup(registry: &Registry, name: &str) -> Arc<Breaker> {
    lookup_with(registry, name, Settings::default)
}

fn lookup_with(registry: &Registry, name: &str, make: fn() -> Settings) -> Arc<Breaker> {
    let mut found = None;
    for _ in 0..WARM {
        let by_ref = registry
            .with_or_create(name, make, |b| b as *const Breaker)
            .unwrap();
        let arc = registry.get_or_create_with(name, make).unwrap();
        assert!(std::ptr::eq(by_ref, &*arc), "both lookups agree");
        found = Some(arc);
    }
    found.unwrap()
}

#[test]
fn a_removed_breaker_is_not_lent_again() {
    let first = lookup(registry(), "cache:removed");
    first.force_open();
    assert!(registry().remove("cache:removed").is_some());
    let second = lookup(registry(), "cache:removed");
    assert!(!Arc::ptr_eq(&first, &second), "a fresh breaker");
    assert_eq!(second.state(), State::Closed);
}

#[test]
fn a_breaker_removed_by_another_thread_is_not_lent_again() {
    let first = lookup(registry(), "cache:elsewhere");
    thread::scope(|s| {
        s.spawn(|| assert!(registry().remove("cache:elsewhere").is_some()));
    });
    let second = lookup(registry(), "cache:elsewhere");
    assert!(!Arc::ptr_eq(&first, &second));
}

/// Both idle tests in one, so that no other test sweeps meanwhile.
#[test]
fn idle_eviction_sees_cached_lookups_and_evicted_breakers_are_not_lent_again() {
    let ttl = Duration::from_millis(20);
    let per_key: fn() -> Settings = || Settings::default().idle_ttl(Duration::from_millis(20));

    // Looked up from this thread's cache only, once the name is warm: still not idle.
    let busy = lookup_with(registry(), "cache:busy", per_key);
    for _ in 0..5 {
        lookup_with(registry(), "cache:busy", per_key);
        thread::sleep(ttl + ttl / 4);
        registry().evict_idle();
    }
    let still = registry().get("cache:busy").expect("kept");
    assert!(Arc::ptr_eq(&busy, &still));

    let idle = lookup_with(registry(), "cache:idle", per_key);
    for _ in 0..3 {
        thread::sleep(ttl + ttl / 4);
        registry().evict_idle();
    }
    assert!(registry().get("cache:idle").is_none(), "evicted");
    let fresh = lookup_with(registry(), "cache:idle", per_key);
    assert!(!Arc::ptr_eq(&idle, &fresh));
}

#[test]
fn other_registries_are_not_cached() {
    let own = Registry::new();
    let from_own = lookup(&own, "cache:own");
    let from_global = lookup(registry(), "cache:own");
    assert!(!Arc::ptr_eq(&from_own, &from_global));
    // Dropping a registry drops its listeners at once, although this thread looked its
    // breakers up: nothing cached keeps them.
    let (tx, rx) = mpsc::channel::<()>();
    own.on_event(move |_| {
        let _ = tx.send(());
    });
    lookup(&own, "cache:own");
    drop(own);
    drop(from_own);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
}

#[test]
fn a_thread_releases_its_cached_breakers_when_it_exits() {
    let breaker = registry()
        .get_or_create_with("cache:exits", Settings::default)
        .unwrap();
    assert_eq!(
        Arc::strong_count(&breaker),
        2,
        "the registry's and this one"
    );
    let (cached, exit) = (Barrier::new(2), Barrier::new(2));
    thread::scope(|s| {
        s.spawn(|| {
            drop(lookup(registry(), "cache:exits"));
            cached.wait();
            exit.wait();
        });
        cached.wait();
        assert_eq!(
            Arc::strong_count(&breaker),
            3,
            "and the other thread's cache"
        );
        exit.wait();
    });
    // The scope returns before the thread's thread-locals are destroyed: wait for them.
    for _ in 0..1_000 {
        if Arc::strong_count(&breaker) == 2 {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    panic!("the exited thread's cache still holds the breaker");
}

#[test]
fn a_breaker_removed_during_its_own_call_stays_usable() {
    lookup(registry(), "cache:self-removing");
    let answer = registry()
        .with_or_create("cache:self-removing", Settings::default, |b| {
            drop(registry().remove("cache:self-removing"));
            // Lookups inside the call, of this name and of others, work and do not disturb
            // the breaker in use.
            let fresh = lookup(registry(), "cache:self-removing");
            assert!(!std::ptr::eq(b, &*fresh));
            for i in 0..WARM {
                lookup(registry(), &format!("cache:inner-{i}"));
            }
            b.call(|| Ok::<_, breaker::Error>(b.name().len()))
        })
        .unwrap();
    assert_eq!(answer, Ok("cache:self-removing".len()));
}

/// Threads look up names while another removes them again and again: every lookup gets a
/// breaker of the name it asked for, and never one the registry removed before the lookup
/// began. Enough names that each thread serves most from its cache's second level.
#[test]
fn lookups_racing_with_removals_get_the_right_breaker() {
    let names: Vec<String> = (0..500).map(|i| format!("cache:race-{i}")).collect();
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
            let (names, done, start) = (&names, &done, &start);
            s.spawn(move || {
                start.wait();
                let mut i = t;
                while !done.load(Ordering::Relaxed) {
                    i = (i + 5) % names.len();
                    let name = &names[i];
                    registry()
                        .with_or_create(name, Settings::default, |b| assert_eq!(b.name(), name))
                        .unwrap();
                }
            });
        }
        start.wait();
        let _stop = StopOnDrop(&done);
        for round in 0..5_000 {
            let name = &names[round % names.len()];
            if let Some(removed) = registry().remove(name) {
                removed.force_open();
            }
            // A lookup after the removal never sees the removed breaker, which is now held
            // open; a fresh one is closed. The second lookup caches the fresh one, for the
            // name's next removal to retire.
            for _ in 0..2 {
                registry()
                    .with_or_create(name, Settings::default, |b| {
                        assert_eq!(b.state(), State::Closed, "round {round}")
                    })
                    .unwrap();
            }
        }
    });
}

/// A thread looking up more names than its cache's first level holds: none the registry removed
/// is lent again, and the cache lets them go.
#[test]
fn a_thread_with_many_names_lends_none_the_registry_removed_and_lets_them_go() {
    let with_or_create = |name: &String| {
        registry()
            .with_or_create(name, Settings::default, |_| ())
            .unwrap()
    };
    let names: Vec<String> = (0..1_000).map(|i| format!("cache:many-{i}")).collect();
    let others: Vec<String> = (0..3_000).map(|i| format!("cache:other-{i}")).collect();
    // On a thread of its own, whose cache holds only these names.
    thread::scope(|s| {
        s.spawn(|| {
            let first: Vec<Arc<Breaker>> = names
                .iter()
                .map(|name| {
                    registry()
                        .get_or_create_with(name, Settings::default)
                        .unwrap()
                })
                .collect();
            for _ in 0..10 {
                names.iter().for_each(with_or_create);
            }
            for (name, breaker) in names.iter().zip(&first) {
                let removed = registry().remove(name).unwrap();
                assert!(Arc::ptr_eq(&removed, breaker));
                removed.force_open();
            }
            for (name, removed) in names.iter().zip(&first) {
                registry()
                    .with_or_create(name, Settings::default, |b| {
                        assert!(!std::ptr::eq(b, &**removed), "{name}");
                        assert_eq!(b.state(), State::Closed);
                    })
                    .unwrap();
            }
            // The map lets removed entries go in batches, once no thread may still read them:
            // removals of other names (which leave this thread's cache alone) push them out.
            let held_at_most = |most: usize| {
                for round in 0.. {
                    let held: Vec<&String> = names
                        .iter()
                        .zip(&first)
                        .filter(|(_, removed)| Arc::strong_count(removed) > 1)
                        .map(|(name, _)| name)
                        .collect();
                    if held.len() <= most {
                        break;
                    }
                    assert!(round < 200, "{} still held: {held:?}", held.len());
                    for i in 0..100 {
                        let name = format!("cache:push-{most}-{round}-{i}");
                        registry().insert(Breaker::builder(name.clone()).build().unwrap());
                        registry().remove(&name);
                    }
                    thread::sleep(Duration::from_millis(5));
                }
            };
            // Misses on other names (new, so not cached: nothing is refilled) make the second
            // level drop the removed breakers, by a scrub or as it grows. The first keeps those
            // its slots hold until their names are looked up again.
            others.iter().for_each(with_or_create);
            held_at_most(SLOTS);
            // Found in the map now (the lookups above created them), the names take back
            // their slots of the first level.
            names.iter().for_each(with_or_create);
            held_at_most(0);
        });
    });
}

#[derive(Debug, Clone)]
enum Op {
    WithOrCreate { registry: usize, key: usize },
    GetOrCreateWith { registry: usize, key: usize },
    Remove { registry: usize, key: usize },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let target = (0..2usize, 0..300usize);
    prop_oneof![
        4 => target.clone().prop_map(|(registry, key)| Op::WithOrCreate { registry, key }),
        2 => target.clone().prop_map(|(registry, key)| Op::GetOrCreateWith { registry, key }),
        1 => target.prop_map(|(registry, key)| Op::Remove { registry, key }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 64, ..Default::default() })]

    /// Against a model of what the process-wide registry (cached) and another one (not) hold:
    /// every lookup gets the very breaker the registry has for the name, or creates one when it
    /// has none, whatever the cache held. Enough names to outgrow the cache's first level (64
    /// slots; the cases share one thread, whose second level soon serves most), a few too long
    /// to be cached.
    #[test]
    fn lookups_always_agree_with_the_registry(ops in proptest::collection::vec(op(), 1..1_000)) {
        use std::collections::HashMap;
        use std::sync::atomic::AtomicUsize;
        // Names of this case only: the process-wide registry outlives it.
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let case = CASE.fetch_add(1, Ordering::Relaxed);
        let name = |key: usize| {
            if key % 10 == 9 {
                format!("cache:prop:{case}:a-name-too-long-to-be-cached-{key}")
            } else {
                format!("c:{case}:{key}")
            }
        };
        let own = Registry::new();
        let registries = [registry(), &own];
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
