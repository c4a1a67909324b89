//! Many threads and many tokio tasks hammering one breaker: no count is lost, each transition
//! is announced exactly once, and half-open never runs more than `half_open_calls` trials.

mod common;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use breaker::{Breaker, Event, Settings, State, circuit, registry};
use common::{AppError, manual};

const THREADS: usize = 8;
const CALLS: usize = 10_000;

/// A small deterministic generator, one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: usize) -> Rng {
        Rng(0x9E37_79B9_7F4A_7C15 ^ (seed as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9))
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the callers saw, added up.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    ran: AtomicU64,
}

impl Tally {
    fn add(&self, result: &Result<(), AppError>) {
        let counter = match result {
            Ok(()) => &self.ok,
            Err(AppError::Down(_)) => &self.failed,
            Err(AppError::Circuit(_)) => &self.rejected,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    fn get(&self) -> (u64, u64, u64) {
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
            self.rejected.load(Ordering::SeqCst),
        )
    }
}

/// Counts of every event kind and of every transition, from a listener.
#[derive(Default)]
struct EventCounts {
    success: AtomicU64,
    failure: AtomicU64,
    rejected: AtomicU64,
    neutral: AtomicU64,
    closed_open: AtomicU64,
    open_half: AtomicU64,
    half_open: AtomicU64,
    half_closed: AtomicU64,
    other: AtomicU64,
}

impl EventCounts {
    fn listen(breaker: &Breaker) -> Arc<EventCounts> {
        let counts = Arc::new(EventCounts::default());
        let sink = Arc::clone(&counts);
        breaker.on_event(move |event| {
            let counter = match *event {
                Event::Success { .. } => &sink.success,
                Event::Failure { .. } => &sink.failure,
                Event::Rejected { .. } => &sink.rejected,
                Event::Neutral { .. } => &sink.neutral,
                Event::StateChange {
                    from: State::Closed,
                    to: State::Open,
                    ..
                } => &sink.closed_open,
                Event::StateChange {
                    from: State::Open,
                    to: State::HalfOpen,
                    ..
                } => &sink.open_half,
                Event::StateChange {
                    from: State::HalfOpen,
                    to: State::Open,
                    ..
                } => &sink.half_open,
                Event::StateChange {
                    from: State::HalfOpen,
                    to: State::Closed,
                    ..
                } => &sink.half_closed,
                _ => &sink.other,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        });
        counts
    }

    /// Every state entered was left at most once, and only the final state is still entered.
    fn assert_transitions_consistent(&self, final_state: State) {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        let (co, oh, ho, hc) = (
            get(&self.closed_open),
            get(&self.open_half),
            get(&self.half_open),
            get(&self.half_closed),
        );
        assert_eq!(get(&self.other), 0, "unexpected transitions");
        let entered_closed = 1 + hc;
        let entered_open = co + ho;
        let entered_half = oh;
        let still = |state| u64::from(final_state == state);
        assert_eq!(
            entered_closed,
            co + still(State::Closed),
            "closed: in {entered_closed}, out {co}"
        );
        assert_eq!(
            entered_open,
            oh + still(State::Open),
            "open: in {entered_open}, out {oh}"
        );
        assert_eq!(
            entered_half,
            ho + hc + still(State::HalfOpen),
            "half-open: in {entered_half}, out {}",
            ho + hc
        );
    }
}

/// `THREADS` threads making `CALLS` calls each through `breaker`, one in `fail_one_in` failing
/// at random, tallied in `tally`; `between(thread, i)` runs after each call.
fn hammer(
    breaker: &Breaker,
    tally: &Tally,
    fail_one_in: u64,
    between: impl Fn(usize, usize) + Sync,
) {
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let between = &between;
            s.spawn(move || {
                let mut rng = Rng::new(t);
                for i in 0..CALLS {
                    let fail = rng.below(fail_one_in) == 0;
                    let result = breaker.call(|| {
                        tally.ran.fetch_add(1, Ordering::Relaxed);
                        if fail {
                            Err(AppError::Down("x"))
                        } else {
                            Ok(())
                        }
                    });
                    tally.add(&result);
                    between(t, i);
                }
            });
        }
    });
}

#[test]
fn threads_hammering_one_breaker_lose_no_count() {
    let (breaker, clock) = manual("conc-threads", |b| {
        b.max_failures(3)
            .cooldown(Duration::from_millis(1))
            .half_open_calls(2)
    });
    let events = EventCounts::listen(&breaker);
    let tally = Tally::default();
    hammer(&breaker, &tally, 4, |_, i| {
        if i % 50 == 0 {
            clock.advance(Duration::from_millis(1));
        }
    });
    let (ok, failed, rejected) = tally.get();
    assert_eq!(ok + failed + rejected, (THREADS * CALLS) as u64);
    assert_eq!(
        tally.ran.load(Ordering::SeqCst),
        ok + failed,
        "only admitted calls ran"
    );
    let report = breaker.report();
    assert_eq!(
        (
            report.successes(),
            report.failures(),
            report.rejections(),
            report.neutral()
        ),
        (ok, failed, rejected, 0)
    );
    assert!(
        rejected > 0 && events.closed_open.load(Ordering::SeqCst) > 0,
        "the mix should trip it sometimes"
    );
    assert_eq!(events.success.load(Ordering::SeqCst), ok);
    assert_eq!(events.failure.load(Ordering::SeqCst), failed);
    assert_eq!(events.rejected.load(Ordering::SeqCst), rejected);
    events.assert_transitions_consistent(breaker.state());
}

#[test]
fn a_stampede_of_failures_opens_the_breaker_exactly_once() {
    let (breaker, _clock) = manual("conc-stampede", |b| b.max_failures(5));
    let events = EventCounts::listen(&breaker);
    let tally = Tally::default();
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..1_000 {
                    let result = breaker.call(|| {
                        tally.ran.fetch_add(1, Ordering::Relaxed);
                        Err::<(), _>(AppError::Down("x"))
                    });
                    tally.add(&result);
                }
            });
        }
    });
    assert_eq!(
        events.closed_open.load(Ordering::SeqCst),
        1,
        "exactly one closed->open"
    );
    assert_eq!(events.open_half.load(Ordering::SeqCst), 0);
    let (ok, failed, rejected) = tally.get();
    assert_eq!(ok, 0);
    assert!(failed >= 5, "{failed}");
    assert!(
        failed <= 5 + THREADS as u64,
        "at most one in-flight call per thread past the trip: {failed}"
    );
    assert_eq!(failed + rejected, (THREADS * 1_000) as u64);
    let report = breaker.report();
    assert_eq!((report.failures(), report.rejections()), (failed, rejected));
    assert_eq!(breaker.state(), State::Open);
}

/// A time window counts its successes on each thread that made them, like the lifetime totals:
/// every one of them, from threads still running and from threads gone, is in the window.
#[test]
fn a_time_window_counts_the_successes_of_every_thread() {
    const SUCCESSES: usize = 1_000;
    let calls = (2 * THREADS * SUCCESSES) as u32;
    let (breaker, clock) = manual("conc-window-threads", |b| {
        b.failure_rate(0.5)
            .window(Duration::from_secs(60))
            .min_calls(calls)
    });
    let ok = || breaker.call(|| Ok::<(), AppError>(()));
    let fail = || breaker.call(|| Err::<(), _>(AppError::Down("x")));
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (barrier, clock, ok) = (&barrier, &clock, &ok);
            s.spawn(move || {
                barrier.wait();
                for i in 0..SUCCESSES {
                    // Two threads move the window's buckets on while the others count.
                    if t < 2 && i % 100 == 99 {
                        clock.advance(Duration::from_secs(1));
                    }
                    ok().unwrap();
                }
            });
        }
    });
    // 20 of the window's 60 s have passed: every success is still in it.
    for _ in 1..THREADS * SUCCESSES {
        assert!(fail().is_err());
    }
    assert_eq!(
        breaker.state(),
        State::Closed,
        "one call short of min_calls"
    );
    assert_eq!(breaker.failure_count(), (THREADS * SUCCESSES - 1) as u64);
    // The failure that makes it half of `calls` opens it; without the other threads' successes
    // the rate would have opened it long before.
    assert!(fail().is_err());
    assert_eq!(breaker.state(), State::Open);
}

/// Threads racing a time-window breaker to `min_calls` at a rate that trips: nothing is
/// rejected before the window holds `min_calls` outcomes, and the breaker is open once they
/// are in, at the latest after one more call (a success that raced the last judgement is
/// judged at the next one).
#[test]
fn threads_racing_to_min_calls_open_a_time_window_breaker() {
    const EACH: usize = 1_000;
    let (breaker, _clock) = manual("conc-window-race", |b| {
        b.failure_rate(0.5)
            .window(Duration::from_secs(60))
            .min_calls((THREADS * EACH) as u32)
    });
    let rejected = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                barrier.wait();
                for i in 0..EACH {
                    // Three in five fail, spread through the run.
                    let result = breaker.call(|| {
                        if i % 5 < 3 {
                            Err(AppError::Down("x"))
                        } else {
                            Ok(())
                        }
                    });
                    if matches!(result, Err(AppError::Circuit(_))) {
                        rejected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(rejected.into_inner(), 0, "opened before min_calls");
    let _ = breaker.call(|| Ok::<(), AppError>(()));
    assert_eq!(breaker.state(), State::Open);
}

/// Threads hammering a time-window breaker with a failure rate under its limit: it stays
/// closed, and counts every outcome.
#[test]
fn a_time_window_under_its_rate_stays_closed_under_contention() {
    // Enough calls that one in ten failing at random stays far below three in ten (the first
    // thousand outcomes are 30 standard deviations away).
    let (breaker, clock) = manual("conc-window-rate", |b| {
        b.failure_rate(0.3)
            .window(Duration::from_secs(1))
            .min_calls(1_000)
    });
    let events = EventCounts::listen(&breaker);
    let tally = Tally::default();
    // The window slides about thirty times during the run.
    hammer(&breaker, &tally, 10, |t, i| {
        if t == 0 && i % 100 == 0 {
            clock.advance(Duration::from_millis(30));
        }
    });
    assert_eq!(
        events.closed_open.load(Ordering::SeqCst),
        0,
        "10 % never trips 30 %"
    );
    let (ok, failed, rejected) = tally.get();
    assert_eq!(rejected, 0);
    assert_eq!(ok + failed, (THREADS * CALLS) as u64);
    let report = breaker.report();
    assert_eq!((report.successes(), report.failures()), (ok, failed));
}

/// Threads calling a time-window breaker in bursts of quiet and busy traffic, failing in
/// waves, while the clock moves on and one thread closes, opens, half-opens and reconfigures it:
/// nothing panics (the window checks its own state in debug builds), every outcome is in the
/// lifetime totals, and once the storm is over the breaker judges like a fresh one.
#[test]
fn a_time_window_breaker_weathers_a_storm_of_traffic_and_transitions() {
    let settings = || {
        Settings::default()
            .failure_rate(0.5)
            .window(Duration::from_millis(100))
            .min_calls(20)
            .cooldown(Duration::from_millis(5))
            .half_open_calls(3)
    };
    let (breaker, clock) = manual("conc-window-storm", |b| b.settings(settings()));
    let tally = Tally::default();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (breaker, clock, tally) = (&breaker, &clock, &tally);
            s.spawn(move || {
                let mut rng = Rng::new(t);
                for i in 0..CALLS {
                    // Waves of failures a thousand calls long, at 0 to 90 %.
                    let fail = rng.below(10) < (i / 1_000 + t) as u64 % 10;
                    let result = breaker.call(|| {
                        if fail {
                            Err(AppError::Down("x"))
                        } else {
                            Ok(())
                        }
                    });
                    tally.add(&result);
                    // Stretches of 500 calls: quiet ones, where the clock moves on after every
                    // call, and busy ones, where one thread moves it a millisecond at a time.
                    if i / 500 % 2 == 0 {
                        clock.advance(Duration::from_millis(rng.below(12)));
                    } else if t == 1 && i % 100 == 0 {
                        clock.advance(Duration::from_millis(1));
                    }
                    if t == 0 && i % 250 == 0 {
                        match rng.below(4) {
                            0 => breaker.close(),
                            1 => breaker.open(),
                            2 => breaker.half_open(),
                            _ => breaker.reconfigure(settings()).unwrap(),
                        }
                    }
                }
            });
        }
    });
    let (ok, failed, rejected) = tally.get();
    assert_eq!(ok + failed + rejected, (THREADS * CALLS) as u64);
    let report = breaker.report();
    assert_eq!((report.successes(), report.failures()), (ok, failed));

    // Closed after the storm, at the same moment: a fresh period, 20 successes, then failures
    // until half the calls.
    breaker.close();
    for _ in 0..20 {
        breaker.call(|| Ok::<(), AppError>(())).unwrap();
    }
    for n in 1..=20 {
        assert_eq!(breaker.state(), State::Closed, "after {} failures", n - 1);
        let _ = breaker.call(|| Err::<(), AppError>(AppError::Down("x")));
    }
    assert_eq!(breaker.state(), State::Open, "20 failures in 40 calls");
}

/// Runs `attempts` half-open admissions per thread; returns (max trials in flight, admitted).
fn hammer_half_open(breaker: &Breaker, attempts: usize) -> (usize, u64) {
    let in_flight = AtomicUsize::new(0);
    let max = AtomicUsize::new(0);
    let admitted = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (in_flight, max, admitted, barrier) = (&in_flight, &max, &admitted, &barrier);
            s.spawn(move || {
                let mut rng = Rng::new(t + 100);
                barrier.wait();
                for _ in 0..attempts {
                    let Ok(permit) = breaker.acquire() else {
                        continue;
                    };
                    admitted.fetch_add(1, Ordering::Relaxed);
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    if rng.below(4) == 0 {
                        std::thread::yield_now();
                    }
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    match rng.below(3) {
                        0 => permit.success(),
                        1 => permit.neutral(),
                        _ => drop(permit),
                    }
                }
            });
        }
    });
    (max.load(Ordering::SeqCst), admitted.load(Ordering::SeqCst))
}

#[test]
fn half_open_never_runs_more_than_half_open_calls_trials_at_once() {
    for trials in [1_u32, 3] {
        let (breaker, _clock) = manual("conc-half-open", |b| {
            b.half_open_calls(trials).success_threshold(1_000_000)
        });
        breaker.half_open();
        let (max, admitted) = hammer_half_open(&breaker, 5_000);
        assert!(
            (1..=trials as usize).contains(&max),
            "{max} trials ran at once; the limit is {trials}"
        );
        assert_eq!(breaker.state(), State::HalfOpen);
        let report = breaker.report();
        assert_eq!(report.successes() + report.neutral(), admitted);
        assert_eq!(report.rejections() + admitted, (THREADS * 5_000) as u64);
        // No slot leaked: all of them are free again, and no more.
        let permits: Vec<_> = (0..trials)
            .map(|_| breaker.acquire().expect("a slot leaked"))
            .collect();
        assert!(matches!(
            breaker.acquire(),
            Err(breaker::Error::HalfOpenFull { .. })
        ));
        drop(permits);
    }
}

#[test]
fn half_open_hammered_through_reopenings_never_wedges() {
    let (breaker, clock) = manual("conc-half-open-cycles", |b| {
        b.max_failures(1)
            .half_open_calls(2)
            .success_threshold(3)
            .cooldown(Duration::from_millis(1))
    });
    let events = EventCounts::listen(&breaker);
    let tally = Tally::default();
    breaker.half_open();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (breaker, clock, tally) = (&breaker, &clock, &tally);
            s.spawn(move || {
                let mut rng = Rng::new(t + 200);
                for i in 0..5_000 {
                    let fail = rng.below(8) == 0;
                    let result = breaker.call(|| {
                        tally.ran.fetch_add(1, Ordering::Relaxed);
                        if fail {
                            Err(AppError::Down("x"))
                        } else {
                            Ok(())
                        }
                    });
                    tally.add(&result);
                    if i % 20 == 0 {
                        clock.advance(Duration::from_millis(1));
                    }
                    if i % 500 == 0 {
                        breaker.half_open();
                    }
                }
            });
        }
    });
    let (ok, failed, rejected) = tally.get();
    let report = breaker.report();
    assert_eq!(
        (report.successes(), report.failures(), report.rejections()),
        (ok, failed, rejected)
    );
    assert_eq!(ok + failed + rejected, (THREADS * 5_000) as u64);
    assert_eq!(events.success.load(Ordering::SeqCst), ok);
    assert_eq!(events.failure.load(Ordering::SeqCst), failed);
    // Nothing is in flight now: whatever the state, a call must get through once the cooldown is over.
    clock.advance(Duration::from_secs(1));
    let permit = breaker.acquire().expect("the breaker is wedged");
    drop(permit);
}

#[circuit(name = "conc-macro-threads", max_failures = 1_000_000)]
fn guarded(fail: bool) -> io::Result<()> {
    if fail {
        Err(io::Error::other("x"))
    } else {
        Ok(())
    }
}

#[test]
fn threads_that_exit_keep_their_counts() {
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut failed = 0_u64;
                for i in 0..2_000 {
                    let fail = (i + t) % 10 == 0;
                    failed += u64::from(fail);
                    let _ = guarded(fail);
                }
                failed
            })
        })
        .collect();
    let failed: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let report = registry().report();
    let entry = report.get("conc-macro-threads").unwrap();
    assert_eq!(entry.failures(), failed);
    assert_eq!(entry.successes(), (THREADS * 2_000) as u64 - failed);
    assert_eq!(entry.rejections(), 0);
}

const TASKS: usize = 64;
const TASK_CALLS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokio_tasks_hammering_one_breaker_lose_no_count() {
    let (breaker, clock) = manual("conc-tasks", |b| {
        b.max_failures(3)
            .cooldown(Duration::from_millis(1))
            .half_open_calls(2)
    });
    let breaker = Arc::new(breaker);
    let events = EventCounts::listen(&breaker);
    let tally = Arc::new(Tally::default());
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (breaker, clock, tally) = (Arc::clone(&breaker), clock.clone(), Arc::clone(&tally));
            tokio::spawn(async move {
                let mut rng = Rng::new(t + 300);
                for i in 0..TASK_CALLS {
                    let fail = rng.below(4) == 0;
                    let pause = rng.below(8) == 0;
                    let result = breaker
                        .call_async(async {
                            tally.ran.fetch_add(1, Ordering::Relaxed);
                            if pause {
                                tokio::task::yield_now().await;
                            }
                            if fail {
                                Err(AppError::Down("x"))
                            } else {
                                Ok(())
                            }
                        })
                        .await;
                    tally.add(&result);
                    if i % 25 == 0 {
                        clock.advance(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let (ok, failed, rejected) = tally.get();
    assert_eq!(ok + failed + rejected, (TASKS * TASK_CALLS) as u64);
    assert_eq!(tally.ran.load(Ordering::SeqCst), ok + failed);
    let report = breaker.report();
    assert_eq!(
        (
            report.successes(),
            report.failures(),
            report.rejections(),
            report.neutral()
        ),
        (ok, failed, rejected, 0)
    );
    assert_eq!(events.success.load(Ordering::SeqCst), ok);
    assert_eq!(events.failure.load(Ordering::SeqCst), failed);
    events.assert_transitions_consistent(breaker.state());
}

#[circuit(name = "conc-macro-tasks", max_failures = 2, cooldown = "1h")]
async fn guarded_async(fail: bool) -> io::Result<()> {
    tokio::task::yield_now().await;
    if fail {
        Err(io::Error::other("x"))
    } else {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokio_tasks_calling_a_macro_async_fn_lose_no_count() {
    let reopen = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let reopen = Arc::clone(&reopen);
            tokio::spawn(async move {
                let (mut ok, mut failed, mut rejected) = (0_u64, 0_u64, 0_u64);
                let mut rng = Rng::new(t + 400);
                for _ in 0..200 {
                    let fail = rng.below(3) == 0;
                    match guarded_async(fail).await {
                        Ok(()) => ok += 1,
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                            rejected += 1;
                            // Someone closes it again now and then, so calls keep running.
                            if !reopen.swap(true, Ordering::SeqCst) {
                                registry().get("conc-macro-tasks").unwrap().close();
                                reopen.store(false, Ordering::SeqCst);
                            }
                        }
                        Err(_) => failed += 1,
                    }
                }
                (ok, failed, rejected)
            })
        })
        .collect();
    let (mut ok, mut failed, mut rejected) = (0, 0, 0);
    for task in tasks {
        let (o, f, r) = task.await.unwrap();
        (ok, failed, rejected) = (ok + o, failed + f, rejected + r);
    }
    assert_eq!(ok + failed + rejected, (TASKS * 200) as u64);
    let report = registry().report();
    let entry = report.get("conc-macro-tasks").unwrap();
    assert_eq!(
        (entry.successes(), entry.failures(), entry.rejections()),
        (ok, failed, rejected)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokio_tasks_never_run_more_than_half_open_calls_trials_even_when_cancelled() {
    const TRIALS: usize = 2;
    let (breaker, _clock) = manual("conc-tasks-half-open", |b| {
        b.half_open_calls(TRIALS as u32)
            .success_threshold(1_000_000)
    });
    let breaker = Arc::new(breaker);
    breaker.half_open();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (breaker, in_flight, max) = (
                Arc::clone(&breaker),
                Arc::clone(&in_flight),
                Arc::clone(&max),
            );
            tokio::spawn(async move {
                let mut rng = Rng::new(t + 500);
                let mut cancelled = 0_u64;
                for _ in 0..200 {
                    let cancel = rng.below(4) == 0;
                    /// Decrements the in-flight count however the trial ends.
                    struct Leave<'a>(&'a AtomicUsize);
                    impl Drop for Leave<'_> {
                        fn drop(&mut self) {
                            self.0.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let trial = breaker.call_async(async {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        let _leave = Leave(&in_flight);
                        max.fetch_max(now, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        Ok::<_, AppError>(())
                    });
                    if cancel {
                        // Polled once (admitted or rejected), then dropped mid-call.
                        if tokio::time::timeout(Duration::ZERO, trial).await.is_err() {
                            cancelled += 1;
                        }
                    } else {
                        let _ = trial.await;
                    }
                }
                cancelled
            })
        })
        .collect();
    let mut cancelled = 0;
    for task in tasks {
        cancelled += task.await.unwrap();
    }
    let max = max.load(Ordering::SeqCst);
    assert!(
        (1..=TRIALS).contains(&max),
        "{max} trials ran at once; the limit is {TRIALS}"
    );
    assert_eq!(breaker.state(), State::HalfOpen);
    let report = breaker.report();
    assert_eq!(
        report.neutral(),
        cancelled,
        "every cancelled trial is neutral"
    );
    assert_eq!(
        report.successes() + report.neutral() + report.rejections(),
        (TASKS * 200) as u64
    );
    let permits: Vec<_> = (0..TRIALS)
        .map(|_| {
            breaker
                .acquire()
                .expect("a cancelled trial leaked its slot")
        })
        .collect();
    assert!(breaker.acquire().is_err());
    drop(permits);
}

#[test]
fn a_new_breaker_starts_from_zero_on_threads_that_counted_for_a_dropped_one() {
    let go = Barrier::new(2);
    let done = Barrier::new(2);
    let slot: std::sync::Mutex<Option<Arc<Breaker>>> = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        s.spawn(|| {
            // A long-lived thread: it counts for the first breaker, then for the second.
            for _ in 0..2 {
                go.wait();
                let breaker = slot.lock().unwrap().clone().unwrap();
                for _ in 0..1_000 {
                    breaker.acquire().unwrap().success();
                }
                let _ = breaker.acquire().map(|p| p.neutral());
                drop(breaker);
                done.wait();
            }
        });
        for round in 0..2 {
            let breaker = Arc::new(Breaker::builder("conc-slot-reuse").build().unwrap());
            breaker.force_open();
            let _ = breaker.acquire();
            breaker.close();
            *slot.lock().unwrap() = Some(Arc::clone(&breaker));
            go.wait();
            done.wait();
            slot.lock().unwrap().take();
            let report = breaker.report();
            assert_eq!(
                (report.successes(), report.rejections(), report.neutral()),
                (1_000, 1, 1),
                "round {round}: counts of a dropped breaker leaked into a new one"
            );
        }
    });
}

#[test]
fn counts_stay_exact_when_breakers_outnumber_the_per_thread_slots() {
    // More breakers alive at once than the per-thread tables hold (64 Ki): the last ones count
    // through shared atomics instead.
    let many: Vec<Breaker> = (0..66_000)
        .map(|i| Breaker::builder(format!("conc-many-{i}")).build().unwrap())
        .collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for breaker in many.iter().step_by(997).chain(many.iter().rev().take(3)) {
                    for _ in 0..100 {
                        breaker.acquire().unwrap().success();
                    }
                }
            });
        }
    });
    for breaker in many.iter().step_by(997) {
        assert_eq!(breaker.report().successes(), 400, "{}", breaker.name());
    }
    for breaker in many.iter().rev().take(2) {
        assert_eq!(breaker.report().successes(), 400, "{}", breaker.name());
    }
}
