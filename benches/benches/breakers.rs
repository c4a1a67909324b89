//! `breaker` side by side with the best Rust circuit breakers.
//!
//! Every group measures its own `baseline`: a direct call to the same `#[inline(never)]` function
//! the breakers guard, in the same run, so that `added cost = median - baseline` does not depend on
//! the machine's mood. Names tell who is who: `baseline`, `ours_*`, `peer_*`.
//! `python3 benches/report.py` turns the results into the table of `BENCHMARKS.md`.

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::io;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use breaker::{Breaker, Settings};
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use failsafe::futures::CircuitBreaker as FailsafeAsync;
use failsafe::{CircuitBreaker as FailsafeSync, StateMachine, backoff, failure_policy};
use recloser::{AsyncRecloser, Recloser};
use tower::{Layer as _, Service, ServiceExt as _, service_fn};
use tower_resilience_circuitbreaker::CircuitBreakerLayer;

const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------------
// The guarded work, and the error type a user would give it.

use breaker_benches::{AppError, work};

/// `work` with the commonest error type.
#[inline(never)]
fn work_io(x: u64) -> io::Result<u64> {
    Ok(black_box(x))
}

#[breaker::circuit(max_failures = 5, cooldown = "30s", name = "bench.closed.io.macro")]
fn macro_work_io(x: u64) -> io::Result<u64> {
    work_io(x)
}

/// Fails every tenth call (`i % 10 == 0`).
#[inline(never)]
fn work_sometimes_failing(i: u64) -> Result<u64, AppError> {
    if black_box(i).is_multiple_of(10) {
        Err(AppError::Down)
    } else {
        Ok(i)
    }
}

async fn work_async(x: u64) -> Result<u64, AppError> {
    work(x)
}

async fn work_async_io(x: u64) -> io::Result<u64> {
    work_io(x)
}

#[breaker::circuit(max_failures = 5, cooldown = "30s", name = "bench.closed.macro")]
fn macro_work(x: u64) -> Result<u64, AppError> {
    work(x)
}

#[breaker::circuit(max_failures = 5, cooldown = "1h", name = "bench.open.macro")]
fn macro_open_work(x: u64) -> Result<u64, AppError> {
    work(x)
}

#[breaker::circuit(max_failures = 5, cooldown = "30s", name = "bench.async.macro")]
async fn macro_work_async(x: u64) -> Result<u64, AppError> {
    work(x)
}

#[breaker::circuit(max_failures = 5, cooldown = "30s", name = "bench.async.io.macro")]
async fn macro_work_async_io(x: u64) -> io::Result<u64> {
    work_io(x)
}

// ---------------------------------------------------------------------------------------------
// The breakers under test, configured alike: 5 consecutive failures open them for a cooldown.

fn ours(name: &'static str, settings: Settings) -> Breaker {
    Breaker::builder(name).settings(settings).build().unwrap()
}

fn ours_consecutive(name: &'static str) -> Breaker {
    ours(name, Settings::default().max_failures(5))
}

/// Ours, opened for an hour.
fn ours_open(name: &'static str) -> Breaker {
    let b = ours(name, Settings::default().max_failures(5).cooldown(HOUR));
    b.open();
    b
}

type Failsafe<P> = StateMachine<P, ()>;

fn failsafe_consecutive(
    cooldown: Duration,
) -> Failsafe<failure_policy::ConsecutiveFailures<backoff::Constant>> {
    failsafe::Config::new()
        .failure_policy(failure_policy::consecutive_failures(
            5,
            backoff::constant(cooldown),
        ))
        .build()
}

fn failsafe_open() -> Failsafe<failure_policy::ConsecutiveFailures<backoff::Constant>> {
    let f = failsafe_consecutive(HOUR);
    for _ in 0..5 {
        let _ = FailsafeSync::call(&f, || Err::<(), _>(AppError::Down));
    }
    assert!(!FailsafeSync::is_call_permitted(&f));
    f
}

/// failsafe's time-window policy: success rate over 60 s.
fn failsafe_time_window() -> Failsafe<failure_policy::SuccessRateOverTimeWindow<backoff::Constant>>
{
    failsafe::Config::new()
        .failure_policy(failure_policy::success_rate_over_time_window(
            0.5,
            20,
            Duration::from_secs(60),
            backoff::constant(Duration::from_secs(30)),
        ))
        .build()
}

/// recloser has no consecutive policy; its default is a failure rate over the last 100 calls.
fn recloser() -> Recloser {
    Recloser::default()
}

fn recloser_open() -> Recloser {
    let r = Recloser::custom()
        .closed_len(5)
        .error_rate(0.5)
        .open_wait(HOUR)
        .build();
    for _ in 0..10 {
        let _ = r.call(|| Err::<(), _>(AppError::Down));
    }
    assert!(matches!(r.call(|| work(1)), Err(recloser::Error::Rejected)));
    r
}

// ---------------------------------------------------------------------------------------------
// A minimal executor: every future here is ready at its first poll, so no runtime is involved.

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// tower-resilience's breaker around `work`, as a tower service.
fn tower_breaker(
    open: bool,
) -> impl Service<
    u64,
    Response = u64,
    Error = tower_resilience_circuitbreaker::CircuitBreakerError<AppError>,
    Future: Future,
> {
    let service = tower_layer(open).layer(service_fn(work_async));
    if open {
        block_on(service.force_open());
        assert!(service.is_open());
    }
    service
}

/// [`tower_breaker`] around `work_async_io`, closed.
fn tower_breaker_io() -> impl Service<
    u64,
    Response = u64,
    Error = tower_resilience_circuitbreaker::CircuitBreakerError<io::Error>,
    Future: Future,
> {
    tower_layer(false).layer(service_fn(work_async_io))
}

fn tower_layer(open: bool) -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .wait_duration_in_open(if open { HOUR } else { Duration::from_secs(30) })
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The groups.

fn baseline(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.bench_function("baseline", |b| b.iter(|| black_box(work(black_box(1)))));
}

fn closed(c: &mut Criterion) {
    let mut g = c.benchmark_group("closed");
    baseline(&mut g);
    let ours = ours_consecutive("bench.closed");
    g.bench_function("ours_builder", |b| {
        b.iter(|| black_box(ours.call(|| work(black_box(1)))))
    });
    g.bench_function("ours_macro", |b| {
        b.iter(|| black_box(macro_work(black_box(1))))
    });
    let failsafe = failsafe_consecutive(Duration::from_secs(30));
    g.bench_function("peer_failsafe", |b| {
        b.iter(|| black_box(FailsafeSync::call(&failsafe, || work(black_box(1)))))
    });
    let recloser = recloser();
    g.bench_function("peer_recloser", |b| {
        b.iter(|| black_box(recloser.call(|| work(black_box(1)))))
    });
    g.finish();
}

/// The same as `closed` with `io::Result<u64>`, the commonest error type: 16 bytes, returned in
/// registers, where `Result<u64, AppError>` (48 bytes, since it holds a `breaker::Error`) is
/// returned through memory and copied by every layer that wraps the call.
fn closed_io(c: &mut Criterion) {
    let mut g = c.benchmark_group("closed_io");
    g.bench_function("baseline", |b| b.iter(|| black_box(work_io(black_box(1)))));
    let ours = ours_consecutive("bench.closed.io");
    g.bench_function("ours_builder", |b| {
        b.iter(|| black_box(ours.call(|| work_io(black_box(1)))))
    });
    g.bench_function("ours_macro", |b| {
        b.iter(|| black_box(macro_work_io(black_box(1))))
    });
    let failsafe = failsafe_consecutive(Duration::from_secs(30));
    g.bench_function("peer_failsafe", |b| {
        b.iter(|| black_box(FailsafeSync::call(&failsafe, || work_io(black_box(1)))))
    });
    let recloser = recloser();
    g.bench_function("peer_recloser", |b| {
        b.iter(|| black_box(recloser.call(|| work_io(black_box(1)))))
    });
    g.finish();
}

fn open(c: &mut Criterion) {
    let mut g = c.benchmark_group("open");
    baseline(&mut g);
    let ours = ours_open("bench.open");
    g.bench_function("ours_builder", |b| {
        b.iter(|| black_box(ours.call(|| work(black_box(1)))))
    });
    let _ = macro_open_work(0);
    breaker::registry().get("bench.open.macro").unwrap().open();
    g.bench_function("ours_macro", |b| {
        b.iter(|| black_box(macro_open_work(black_box(1))))
    });
    let failsafe = failsafe_open();
    g.bench_function("peer_failsafe", |b| {
        b.iter(|| black_box(FailsafeSync::call(&failsafe, || work(black_box(1)))))
    });
    let recloser = recloser_open();
    g.bench_function("peer_recloser", |b| {
        b.iter(|| black_box(recloser.call(|| work(black_box(1)))))
    });
    g.finish();
}

/// One call in ten fails; the breakers stay closed.
fn failing_10pct(c: &mut Criterion) {
    let mut g = c.benchmark_group("failing_10pct");
    let mut i = 0u64;
    g.bench_function("baseline", |b| {
        b.iter(|| {
            i += 1;
            black_box(work_sometimes_failing(i))
        })
    });
    let ours = ours_consecutive("bench.failing");
    g.bench_function("ours_builder", |b| {
        b.iter(|| {
            i += 1;
            black_box(ours.call(|| work_sometimes_failing(i)))
        })
    });
    assert_eq!(ours.state(), breaker::State::Closed);
    let failsafe = failsafe_consecutive(Duration::from_secs(30));
    g.bench_function("peer_failsafe", |b| {
        b.iter(|| {
            i += 1;
            black_box(FailsafeSync::call(&failsafe, || work_sometimes_failing(i)))
        })
    });
    assert!(FailsafeSync::is_call_permitted(&failsafe));
    let recloser = recloser();
    g.bench_function("peer_recloser", |b| {
        b.iter(|| {
            i += 1;
            black_box(recloser.call(|| work_sometimes_failing(i)))
        })
    });
    g.finish();
}

/// Times `iters` awaits of `call(i)` inside one task, as a service's handler awaits its calls:
/// each future is made in the task's own state and polled in place.
fn in_task<F: Future>(iters: u64, mut call: impl FnMut(u64) -> F) -> Duration {
    block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            black_box(call(black_box(i)).await);
        }
        start.elapsed()
    })
}

/// [`in_task`] through a tower service: `ready`, then `call`, as tower's users write it.
fn tower_in_task<S: Service<u64>>(iters: u64, service: &mut S) -> Duration {
    block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            let ready = service.ready().await;
            let _ = black_box(match ready {
                Ok(ready) => ready.call(black_box(i)).await,
                Err(error) => Err(error),
            });
        }
        start.elapsed()
    })
}

fn async_closed(c: &mut Criterion) {
    let mut g = c.benchmark_group("async_closed");
    g.bench_function("baseline", |b| b.iter_custom(|n| in_task(n, work_async)));
    let ours = ours_consecutive("bench.async");
    g.bench_function("ours_builder", |b| {
        b.iter_custom(|n| in_task(n, |i| ours.call_async(work_async(i))))
    });
    g.bench_function("ours_macro", |b| {
        b.iter_custom(|n| in_task(n, macro_work_async))
    });
    let failsafe = failsafe_consecutive(Duration::from_secs(30));
    g.bench_function("peer_failsafe", |b| {
        b.iter_custom(|n| in_task(n, |i| FailsafeAsync::call(&failsafe, work_async(i))))
    });
    let recloser = AsyncRecloser::from(recloser());
    g.bench_function("peer_recloser", |b| {
        b.iter_custom(|n| in_task(n, |i| recloser.call(work_async(i))))
    });
    let mut tower = tower_breaker(false);
    g.bench_function("peer_tower_resilience", |b| {
        b.iter_custom(|n| tower_in_task(n, &mut tower))
    });
    g.finish();
}

/// `async_closed` with `io::Result<u64>`, returned in registers.
fn async_closed_io(c: &mut Criterion) {
    let mut g = c.benchmark_group("async_closed_io");
    g.bench_function("baseline", |b| b.iter_custom(|n| in_task(n, work_async_io)));
    let ours = ours_consecutive("bench.async.io");
    g.bench_function("ours_builder", |b| {
        b.iter_custom(|n| in_task(n, |i| ours.call_async(work_async_io(i))))
    });
    g.bench_function("ours_macro", |b| {
        b.iter_custom(|n| in_task(n, macro_work_async_io))
    });
    let failsafe = failsafe_consecutive(Duration::from_secs(30));
    g.bench_function("peer_failsafe", |b| {
        b.iter_custom(|n| in_task(n, |i| FailsafeAsync::call(&failsafe, work_async_io(i))))
    });
    let recloser = AsyncRecloser::from(recloser());
    g.bench_function("peer_recloser", |b| {
        b.iter_custom(|n| in_task(n, |i| recloser.call(work_async_io(i))))
    });
    let mut tower = tower_breaker_io();
    g.bench_function("peer_tower_resilience", |b| {
        b.iter_custom(|n| tower_in_task(n, &mut tower))
    });
    g.finish();
}

fn async_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("async_open");
    g.bench_function("baseline", |b| b.iter_custom(|n| in_task(n, work_async)));
    let ours = ours_open("bench.async.open");
    g.bench_function("ours_builder", |b| {
        b.iter_custom(|n| in_task(n, |i| ours.call_async(work_async(i))))
    });
    let failsafe = failsafe_open();
    g.bench_function("peer_failsafe", |b| {
        b.iter_custom(|n| in_task(n, |i| FailsafeAsync::call(&failsafe, work_async(i))))
    });
    let recloser = AsyncRecloser::from(recloser_open());
    g.bench_function("peer_recloser", |b| {
        b.iter_custom(|n| in_task(n, |i| recloser.call(work_async(i))))
    });
    let mut tower = tower_breaker(true);
    g.bench_function("peer_tower_resilience", |b| {
        b.iter_custom(|n| tower_in_task(n, &mut tower))
    });
    g.finish();
}

/// Runs `call(thread, i)` for `i` in `0..iters` on each of two threads (`thread` 0 and 1) started
/// together, and returns the time per thread (the slower one): per call per thread, the figure
/// that shows contention.
fn on_two_threads(iters: u64, call: impl Fn(usize, u64) + Sync) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let run = |thread| {
            let (barrier, call) = (&barrier, &call);
            move || {
                barrier.wait();
                let start = Instant::now();
                for i in 0..iters {
                    call(thread, i);
                }
                start.elapsed()
            }
        };
        let a = s.spawn(run(0));
        let b = s.spawn(run(1));
        a.join().unwrap().max(b.join().unwrap())
    })
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads");
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(work(black_box(i)).is_ok());
            })
        })
    });
    let ours = ours_consecutive("bench.threads");
    g.bench_function("ours_builder", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(ours.call(|| work(black_box(i))).is_ok());
            })
        })
    });
    // A breaker per thread: nothing shared, so this is what two threads cost on this machine
    // without any contention; `ours_builder` on one shared breaker should match it.
    let separate = [
        ours_consecutive("bench.threads.0"),
        ours_consecutive("bench.threads.1"),
    ];
    g.bench_function("ours_builder_separate", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |thread, i| {
                black_box(separate[thread].call(|| work(black_box(i))).is_ok());
            })
        })
    });
    g.bench_function("ours_macro", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(macro_work(black_box(i)).is_ok());
            })
        })
    });
    let failsafe = failsafe_consecutive(Duration::from_secs(30));
    g.bench_function("peer_failsafe", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(FailsafeSync::call(&failsafe, || work(black_box(i))).is_ok());
            })
        })
    });
    let recloser = recloser();
    g.bench_function("peer_recloser", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(recloser.call(|| work(black_box(i))).is_ok());
            })
        })
    });
    g.finish();
}

/// The time-window rate policy on two threads sharing one breaker, beside the peers' policies
/// under the same load: its successes count per thread, like the lifetime totals.
fn two_threads_time_window(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads_time_window");
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(work(black_box(i)).is_ok());
            })
        })
    });
    let ours = ours(
        "bench.threads.window",
        Settings::default()
            .failure_rate(0.5)
            .window(Duration::from_secs(60)),
    );
    g.bench_function("ours_rate_time_window", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(ours.call(|| work(black_box(i))).is_ok());
            })
        })
    });
    let failsafe = failsafe_consecutive(Duration::from_secs(30));
    g.bench_function("peer_failsafe_consecutive", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(FailsafeSync::call(&failsafe, || work(black_box(i))).is_ok());
            })
        })
    });
    let failsafe = failsafe_time_window();
    g.bench_function("peer_failsafe_time_window", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(FailsafeSync::call(&failsafe, || work(black_box(i))).is_ok());
            })
        })
    });
    g.finish();
}

/// `two_threads` with `io::Result<u64>`, returned in registers.
fn two_threads_io(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads_io");
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(work_io(black_box(i)).is_ok());
            })
        })
    });
    let ours = ours_consecutive("bench.threads.io");
    g.bench_function("ours_builder", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(ours.call(|| work_io(black_box(i))).is_ok());
            })
        })
    });
    let failsafe = failsafe_consecutive(Duration::from_secs(30));
    g.bench_function("peer_failsafe", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(FailsafeSync::call(&failsafe, || work_io(black_box(i))).is_ok());
            })
        })
    });
    let recloser = recloser();
    g.bench_function("peer_recloser", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |_, i| {
                black_box(recloser.call(|| work_io(black_box(i))).is_ok());
            })
        })
    });
    g.finish();
}

/// A keyed breaker per host, as `#[circuit(name = "http:{host}")]` writes it.
#[breaker::circuit(max_failures = 5, cooldown = "30s", name = "http:{host}")]
fn keyed_work(host: &str, x: u64) -> Result<u64, AppError> {
    work(x)
}

/// Keyed breakers (`name = "http:{host}"`): looking up existing keys among 1 000, a different key
/// each call (`*_scattered`: every lookup misses the caches), or the same key every call.
fn keyed(c: &mut Criterion) {
    let mut g = c.benchmark_group("keyed");
    baseline(&mut g);
    let registry = breaker::registry();
    let per_host = || Settings::default().max_failures(5);
    let hosts: Vec<String> = (0..1000).map(|i| format!("host-{i}.example")).collect();
    let names: Vec<String> = hosts.iter().map(|h| format!("http:{h}")).collect();
    for (host, name) in hosts.iter().zip(&names) {
        registry.get_or_create_with(name, per_host).unwrap();
        keyed_work(host, 1).unwrap();
    }
    // Visits every key in a scattered order.
    let mut i = 0usize;
    let mut next = move || {
        i = (i + 617) % 1000;
        i
    };
    g.bench_function("ours_with_or_create_one_key", |b| {
        b.iter(|| {
            registry.with_or_create(black_box(&names[417]), per_host, |b| {
                black_box(b);
            })
        })
    });
    g.bench_function("ours_with_or_create_scattered", |b| {
        b.iter(|| {
            let name = names[next()].as_str();
            registry.with_or_create(black_box(name), per_host, |b| {
                black_box(b);
            })
        })
    });
    g.bench_function("ours_get_or_create_with_scattered", |b| {
        b.iter(|| {
            let name = names[next()].as_str();
            black_box(registry.get_or_create_with(black_box(name), per_host))
        })
    });
    // The floor: the same lookups in a plain `HashMap` with a fast hasher, on one thread, with
    // no synchronisation at all and nothing to create or count. It owns its keys, as a
    // registry must.
    let plain: HashMap<String, Arc<Breaker>, foldhash::fast::RandomState> = names
        .iter()
        .map(|name| {
            (
                name.clone(),
                Arc::new(ours("bench.keyed.plain", per_host())),
            )
        })
        .collect();
    g.bench_function("reference_hashmap_one_key", |b| {
        b.iter(|| black_box(plain.get(black_box(names[417].as_str()))).is_some())
    });
    g.bench_function("reference_hashmap_scattered", |b| {
        b.iter(|| {
            let name = names[next()].as_str();
            black_box(plain.get(black_box(name))).is_some()
        })
    });
    g.bench_function("ours_macro_call_one_key", |b| {
        b.iter(|| black_box(keyed_work(black_box(&hosts[417]), black_box(1))))
    });
    g.bench_function("ours_macro_call_scattered", |b| {
        b.iter(|| {
            let host = hosts[next()].as_str();
            black_box(keyed_work(black_box(host), black_box(1)))
        })
    });
    g.finish();
}

/// Each failure policy, closed and succeeding, beside the peers' own policies.
fn policies(c: &mut Criterion) {
    let mut g = c.benchmark_group("policies");
    baseline(&mut g);
    let secs = Duration::from_secs;
    for (policy, settings) in breaker_benches::policies() {
        let id = format!("ours_{policy}");
        let ours = ours("bench.policy", settings);
        g.bench_function(&id, |b| {
            b.iter(|| black_box(ours.call(|| work(black_box(1)))))
        });
    }
    let failsafe = failsafe_consecutive(secs(30));
    g.bench_function("peer_failsafe_consecutive", |b| {
        b.iter(|| black_box(FailsafeSync::call(&failsafe, || work(black_box(1)))))
    });
    let failsafe = failsafe_time_window();
    g.bench_function("peer_failsafe_time_window", |b| {
        b.iter(|| black_box(FailsafeSync::call(&failsafe, || work(black_box(1)))))
    });
    let recloser = recloser();
    g.bench_function("peer_recloser_call_window", |b| {
        b.iter(|| black_box(recloser.call(|| work(black_box(1)))))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .noise_threshold(0.05)
}

criterion_group! {
    name = benches;
    config = config();
    targets = closed, closed_io, open, failing_10pct, async_closed, async_closed_io, async_open, two_threads, two_threads_io, two_threads_time_window, keyed, policies
}
criterion_main!(benches);
