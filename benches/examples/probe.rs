//! Runs one scenario of the benchmark `n` times in a plain loop, for instruction counts under
//! callgrind (the benchmark machines expose no hardware counters):
//!
//! ```text
//! cargo build --release -p breaker-benches --example probe
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/examples/probe closed_builder 1000000
//! callgrind_annotate --inclusive=yes /tmp/cg.out | head -40
//! ```
//!
//! Without valgrind it prints ns per call, for a quick look (`probe closed_builder 20000000`).
//! Scenarios: baseline, closed_builder, closed_macro, baseline_io, closed_builder_io,
//! open_builder, open_macro, net_failures, rate_time_window, window_begins_1, window_begins_16,
//! window_begins_256 (a time window whose every call begins a bucket, after so many threads
//! counted), rate_call_window, slow_calls, async_baseline,
//! async_builder,
//! async_macro, task_baseline, task_builder, task_macro, task_failsafe and their `_io` twins
//! (awaits inside one task), hashmap_one and hashmap_scattered (a plain `HashMap`, the floor of
//! the keyed lookups), keyed_str, keyed_macro (lookup and call), keyed_one and keyed_scattered
//! (`with_or_create` of one key, of 1 000 in turn), keyed_spread (lookup cost per key position), coarse_clock,
//! instant, sizes, and on two threads at once: two_threads_baseline, two_threads_shared (one
//! breaker), two_threads_window (one breaker with a time window) and two_threads_separate (a
//! breaker each, so nothing is shared).

use std::hint::black_box;
use std::time::{Duration, Instant};

use breaker::{Breaker, Settings};
use failsafe::futures::CircuitBreaker as _;

use breaker_benches::{AppError, work};

#[breaker::circuit(max_failures = 5, cooldown = "30s", name = "probe.macro")]
fn macro_work(x: u64) -> Result<u64, AppError> {
    work(x)
}

fn ours(settings: Settings) -> Breaker {
    Breaker::builder("probe")
        .settings(settings)
        .build()
        .unwrap()
}

#[inline(never)]
fn work_io(x: u64) -> std::io::Result<u64> {
    Ok(black_box(x))
}

#[inline(never)]
fn loop_baseline_io(n: u64) {
    for i in 0..n {
        black_box(work_io(black_box(i)).is_ok());
    }
}

#[inline(never)]
fn loop_breaker_io(b: &Breaker, n: u64) {
    for i in 0..n {
        black_box(b.call(|| work_io(black_box(i))).is_ok());
    }
}

#[inline(never)]
fn loop_baseline(n: u64) {
    for i in 0..n {
        black_box(work(black_box(i)).is_ok());
    }
}

#[inline(never)]
fn loop_breaker(b: &Breaker, n: u64) {
    for i in 0..n {
        black_box(b.call(|| work(black_box(i))).is_ok());
    }
}

#[breaker::circuit(max_failures = 5, cooldown = "1h", name = "probe.macro.open")]
fn macro_open_work(x: u64) -> Result<u64, AppError> {
    work(x)
}

#[inline(never)]
fn loop_macro_open(n: u64) {
    for i in 0..n {
        black_box(macro_open_work(black_box(i)).is_ok());
    }
}

#[inline(never)]
fn loop_macro(n: u64) {
    for i in 0..n {
        black_box(macro_work(black_box(i)).is_ok());
    }
}

#[inline(never)]
fn loop_keyed_str(name: &str, n: u64) {
    let registry = breaker::registry();
    for _ in 0..n {
        let _ = black_box(registry.get_or_create_with(black_box(name), Settings::default));
    }
}

#[breaker::circuit(max_failures = 5, cooldown = "30s", name = "http:{host}")]
fn keyed_work(host: &str, x: u64) -> Result<u64, AppError> {
    work(x)
}

/// `with_or_create` over `names`, visiting them in a scattered order.
#[inline(never)]
fn loop_with_or_create(names: &[String], n: u64) {
    let registry = breaker::registry();
    let mut i = 0;
    for _ in 0..n {
        i = (i + 617) % names.len();
        let _ = registry.with_or_create(black_box(&names[i]), Settings::default, |b| {
            black_box(b);
        });
    }
}

type FastMap =
    std::collections::HashMap<String, std::sync::Arc<Breaker>, foldhash::fast::RandomState>;

/// `HashMap::get` over `names` in the order of [`loop_with_or_create`], as the benchmark's
/// `reference_hashmap_*` rows do.
#[inline(never)]
fn loop_hashmap(map: &FastMap, names: &[String], n: u64) {
    let mut i = 0;
    for _ in 0..n {
        i = (i + 617) % names.len();
        black_box(map.get(black_box(names[i].as_str())).is_some());
    }
}

#[inline(never)]
fn loop_keyed_macro(host: &str, n: u64) {
    for i in 0..n {
        black_box(keyed_work(black_box(host), black_box(i)).is_ok());
    }
}

#[inline(never)]
fn loop_async_baseline(n: u64) {
    for i in 0..n {
        black_box(block_on(async move { work(black_box(i)) }).is_ok());
    }
}

#[inline(never)]
fn loop_async(b: &Breaker, n: u64) {
    for i in 0..n {
        black_box(block_on(b.call_async(async move { work(black_box(i)) })).is_ok());
    }
}

#[breaker::circuit(max_failures = 5, cooldown = "30s", name = "probe.macro.async")]
async fn macro_work_async(x: u64) -> Result<u64, AppError> {
    work(x)
}

#[inline(never)]
fn loop_macro_async(n: u64) {
    for i in 0..n {
        black_box(block_on(macro_work_async(black_box(i))).is_ok());
    }
}

/// failsafe configured as the benchmark's peer: 5 consecutive failures, a 30 s cooldown.
fn failsafe_consecutive() -> impl failsafe::futures::CircuitBreaker {
    failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            5,
            failsafe::backoff::constant(Duration::from_secs(30)),
        ))
        .build()
}

/// `n` awaits of `call(i)` inside one task, as the benchmark's async groups run them.
#[inline(never)]
fn loop_in_task<F: std::future::Future>(n: u64, mut call: impl FnMut(u64) -> F) {
    block_on(async {
        for i in 0..n {
            black_box(call(black_box(i)).await);
        }
    })
}

async fn work_async(x: u64) -> Result<u64, AppError> {
    work(x)
}

async fn work_async_io(x: u64) -> std::io::Result<u64> {
    work_io(x)
}

#[inline(never)]
fn loop_coarse_clock(n: u64) {
    let mut ts = Timespec::default();
    for _ in 0..n {
        // SAFETY: `ts` is a valid timespec.
        unsafe { clock_gettime(6, &mut ts) }; // CLOCK_MONOTONIC_COARSE
        black_box(&ts);
    }
}

#[inline(never)]
fn loop_instant(n: u64) {
    for _ in 0..n {
        black_box(Instant::now());
    }
}

#[repr(C)]
#[derive(Default)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

unsafe extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// Runs `run` on two threads at once; the figure printed is per call of each thread.
fn on_two_threads(run: impl Fn() + Sync) {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                barrier.wait();
                run();
            });
        }
    });
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| "closed_builder".into());
    let n: u64 = args.next().map_or(1_000_000, |s| s.parse().unwrap());
    let secs = Duration::from_secs;
    let start = Instant::now();
    match scenario.as_str() {
        "baseline" => loop_baseline(n),
        "closed_builder" => loop_breaker(&ours(Settings::default()), n),
        "closed_macro" => loop_macro(n),
        "open_builder" => {
            let b = ours(Settings::default().cooldown(secs(3600)));
            b.open();
            loop_breaker(&b, n)
        }
        "open_macro" => {
            let _ = macro_open_work(0);
            breaker::registry().get("probe.macro.open").unwrap().open();
            loop_macro_open(n)
        }
        "net_failures" => loop_breaker(&ours(Settings::default().net_failures(5)), n),
        "rate_time_window" => loop_breaker(
            &ours(Settings::default().failure_rate(0.5).window(secs(60))),
            n,
        ),
        // Every call begins a new bucket of a time window, which sums the success counts of
        // every thread that ever counted: the cost for a breaker called once per tenth of its
        // window, with 1, 16 or 256 other threads having counted before.
        "window_begins_1" | "window_begins_16" | "window_begins_256" => {
            let threads: usize = scenario.rsplit('_').next().unwrap().parse().unwrap();
            let clock = breaker::clock::ManualClock::new();
            let b = Breaker::builder("probe.begins")
                .clock(clock.clone())
                .settings(Settings::default().failure_rate(0.5).window(secs(1)))
                .build()
                .unwrap();
            // Threads alive together, so that each counts in a table of its own.
            let barrier = std::sync::Barrier::new(threads);
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        black_box(b.call(|| work(1)).is_ok());
                        barrier.wait();
                    });
                }
            });
            for i in 0..n {
                clock.advance(Duration::from_millis(100));
                black_box(b.call(|| work(black_box(i))).is_ok());
            }
        }
        "rate_call_window" => loop_breaker(
            &ours(Settings::default().failure_rate(0.5).window_calls(100)),
            n,
        ),
        "slow_calls" => loop_breaker(
            &ours(Settings::default().slow_call(secs(1)).slow_rate(0.5)),
            n,
        ),
        "hashmap_scattered" | "hashmap_one" => {
            // The floor: a plain single-threaded `HashMap` of the same names, no breaker.
            let names: Vec<String> = (0..1000).map(|i| format!("http:host-{i}")).collect();
            let map: FastMap = names
                .iter()
                .map(|n| (n.clone(), std::sync::Arc::new(ours(Settings::default()))))
                .collect();
            let names = if scenario == "hashmap_one" {
                &names[417..418]
            } else {
                &names[..]
            };
            loop_hashmap(&map, names, n)
        }
        "keyed_str" | "keyed_macro" | "keyed_one" | "keyed_scattered" => {
            let names: Vec<String> = (0..1000).map(|i| format!("http:host-{i}")).collect();
            for name in &names {
                breaker::registry()
                    .get_or_create_with(name, Settings::default)
                    .unwrap();
            }
            match scenario.as_str() {
                "keyed_str" => loop_keyed_str("http:host-417", n),
                "keyed_macro" => loop_keyed_macro("host-417", n),
                "keyed_one" => loop_with_or_create(&names[417..418], n),
                _ => loop_with_or_create(&names, n),
            }
        }
        "async_baseline" => loop_async_baseline(n),
        "async_builder" => {
            let b = ours(Settings::default());
            println!(
                "size_of_val(call_async future) = {} B",
                std::mem::size_of_val(&b.call_async(async { work(1) }))
            );
            loop_async(&b, n)
        }
        "async_macro" => {
            println!(
                "size_of_val(macro async future) = {} B",
                std::mem::size_of_val(&macro_work_async(1))
            );
            loop_macro_async(n)
        }
        "task_baseline" => loop_in_task(n, work_async),
        "task_builder" => {
            let b = ours(Settings::default());
            loop_in_task(n, |i| b.call_async(work_async(i)))
        }
        "task_macro" => loop_in_task(n, macro_work_async),
        "task_baseline_io" => loop_in_task(n, work_async_io),
        "task_builder_io" => {
            let b = ours(Settings::default());
            loop_in_task(n, |i| b.call_async(work_async_io(i)))
        }
        "task_failsafe_io" => {
            let f = failsafe_consecutive();
            loop_in_task(n, |i| f.call(work_async_io(i)))
        }
        "task_failsafe" => {
            let f = failsafe_consecutive();
            loop_in_task(n, |i| f.call(work_async(i)))
        }
        "keyed_spread" => {
            let r = breaker::Registry::new();
            for i in 0..1000 {
                r.get_or_create_with(&format!("http:host-{i}"), Settings::default)
                    .unwrap();
            }
            let g = breaker::registry();
            for i in 0..1000 {
                g.get_or_create_with(&format!("http:host-{i}"), Settings::default)
                    .unwrap();
            }
            for (label, reg) in [("own registry", &r), ("global registry", g)] {
                for k in [0, 1, 417, 999] {
                    let name = format!("http:host-{k}");
                    let t = Instant::now();
                    for _ in 0..n {
                        black_box(reg.get(black_box(&name)));
                    }
                    let get = t.elapsed().as_nanos() as f64 / n as f64;
                    let t = Instant::now();
                    for _ in 0..n {
                        let _ =
                            black_box(reg.get_or_create_with(black_box(&name), Settings::default));
                    }
                    let goc = t.elapsed().as_nanos() as f64 / n as f64;
                    println!(
                        "{label} {name}: get {get:.1} ns, get_or_create_with {goc:.1} ns, len {}",
                        reg.len()
                    );
                }
            }
        }
        "two_threads_baseline" => on_two_threads(|| loop_baseline(n)),
        "two_threads_shared" => {
            let b = ours(Settings::default());
            on_two_threads(|| loop_breaker(&b, n))
        }
        "two_threads_window" => {
            let b = ours(Settings::default().failure_rate(0.5).window(secs(60)));
            on_two_threads(|| loop_breaker(&b, n))
        }
        "two_threads_separate" => {
            let (a, b) = (ours(Settings::default()), ours(Settings::default()));
            let next = std::sync::atomic::AtomicBool::new(false);
            on_two_threads(|| {
                let mine = if next.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    &a
                } else {
                    &b
                };
                loop_breaker(mine, n)
            })
        }
        "baseline_io" => loop_baseline_io(n),
        "closed_builder_io" => loop_breaker_io(&ours(Settings::default()), n),
        "sizes" => println!(
            "Error {} B, Result<u64, AppError> {} B, Name {} B",
            std::mem::size_of::<breaker::Error>(),
            std::mem::size_of::<Result<u64, AppError>>(),
            std::mem::size_of::<breaker::Name>()
        ),
        "coarse_clock" => loop_coarse_clock(n),
        "instant" => loop_instant(n),
        other => panic!("unknown scenario {other}"),
    }
    let elapsed = start.elapsed();
    println!(
        "{scenario}: {:.2} ns/call over {n} calls",
        elapsed.as_nanos() as f64 / n as f64
    );
}
