//! No call path allocates: a counting global allocator watches each one after a warm-up.
//!
//! Counts are per thread, so the tests of this file can run in parallel. Each path is warmed up
//! first (a thread's first call through a breaker registers its counter table; a keyed name's
//! first lookup creates the breaker), then run many times with the count expected to stay at 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use breaker::clock::ManualClock;
use breaker::{Breaker, Settings, State};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn note(allocations: u64, bytes: i64) {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + allocations));
    let _ = LIVE_BYTES.try_with(|c| c.set(c.get() + bytes));
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as i64);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as i64);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(1, new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, -(layout.size() as i64));
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const CALLS: u64 = 1_000;

/// Runs `call` a few times to warm up, then `CALLS` times, and fails if those allocated.
#[track_caller]
fn assert_no_allocation(path: &str, mut call: impl FnMut(u64)) {
    for i in 0..3 {
        call(i);
    }
    let before = allocations();
    for i in 0..CALLS {
        call(i);
    }
    let allocated = allocations() - before;
    assert_eq!(
        allocated, 0,
        "{path}: {allocated} allocations in {CALLS} calls"
    );
}

use breaker_benches::AppError;

fn ok(x: u64) -> Result<u64, AppError> {
    Ok(x)
}

fn fail() -> Result<u64, AppError> {
    Err(AppError::Down)
}

/// Fails one call in ten.
fn sometimes(i: u64) -> Result<u64, AppError> {
    if i.is_multiple_of(10) { fail() } else { ok(i) }
}

fn rejected(result: Result<u64, AppError>) -> bool {
    matches!(result, Err(AppError::Circuit(_)))
}

/// Polls a future that is ready at once, with no runtime and so no allocation of its own.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn breaker(name: &'static str, settings: Settings) -> Breaker {
    Breaker::builder(name).settings(settings).build().unwrap()
}

#[breaker::circuit(max_failures = 5, name = "allocations.macro")]
fn guarded(x: u64) -> Result<u64, AppError> {
    ok(x)
}

#[breaker::circuit(max_failures = 1000, name = "allocations.macro.sometimes")]
fn guarded_sometimes(i: u64) -> Result<u64, AppError> {
    sometimes(i)
}

#[breaker::circuit(max_failures = 5, cooldown = "1h", name = "allocations.macro.open")]
fn guarded_open(x: u64) -> Result<u64, AppError> {
    ok(x)
}

#[breaker::circuit(max_failures = 5, name = "allocations:{host}")]
fn guarded_keyed(host: &str, x: u64) -> Result<u64, AppError> {
    ok(x)
}

#[breaker::circuit(max_failures = 5, name = "allocations:async:{host}")]
async fn guarded_keyed_async(host: &str, x: u64) -> Result<u64, AppError> {
    ok(x)
}

#[breaker::circuit(max_failures = 5, name = "allocations.macro.async")]
async fn guarded_async(x: u64) -> Result<u64, AppError> {
    ok(x)
}

#[test]
fn closed_calls_allocate_nothing() {
    let b = breaker("allocations.closed", Settings::default());
    assert_no_allocation("builder, success", |i| assert!(b.call(|| ok(i)).is_ok()));
    assert_no_allocation("macro, success", |i| assert!(guarded(i).is_ok()));
    let b = breaker(
        "allocations.sometimes",
        Settings::default().max_failures(1000),
    );
    assert_no_allocation("builder, 10 % failures", |i| {
        let _ = b.call(|| sometimes(i));
    });
    assert_no_allocation("macro, 10 % failures", |i| {
        let _ = guarded_sometimes(i);
    });
    assert_no_allocation("call_with, own verdict", |i| {
        let _ = b.call_with(|| ok(i), |_| breaker::Outcome::Success);
    });
    assert_no_allocation("acquire and success", |_| b.acquire().unwrap().success());
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn rejections_allocate_nothing() {
    let b = breaker(
        "allocations.open",
        Settings::default().cooldown(Duration::from_secs(3600)),
    );
    b.open();
    assert_no_allocation("builder, open", |i| assert!(rejected(b.call(|| ok(i)))));
    assert_no_allocation("acquire, open", |_| assert!(b.acquire().is_err()));
    let _ = guarded_open(0);
    breaker::registry()
        .get("allocations.macro.open")
        .unwrap()
        .open();
    assert_no_allocation("macro, open", |i| assert!(rejected(guarded_open(i))));
    let forced = breaker("allocations.forced", Settings::default());
    forced.force_open();
    assert_no_allocation("builder, forced open", |i| {
        assert!(rejected(forced.call(|| ok(i))))
    });
}

#[test]
fn half_open_trials_allocate_nothing() {
    let clock = ManualClock::new();
    let b = Breaker::builder("allocations.half-open")
        .max_failures(1)
        .cooldown(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    // One cycle: a failure opens it, the cooldown passes, a trial succeeds and closes it.
    assert_no_allocation("trip, half-open trial, close", |i| {
        let _ = b.call(fail);
        assert_eq!(b.state(), State::Open);
        assert!(rejected(b.call(|| ok(i))));
        clock.advance(Duration::from_secs(2));
        assert!(b.call(|| ok(i)).is_ok());
        assert_eq!(b.state(), State::Closed);
    });
    // A failed trial re-opens it; a trial in flight turns the next call away.
    assert_no_allocation("failed trial, trials full", |i| {
        let _ = b.call(fail);
        clock.advance(Duration::from_secs(2));
        let _ = b.call(fail);
        assert_eq!(b.state(), State::Open);
        clock.advance(Duration::from_secs(2));
        let trial = b.acquire().unwrap();
        assert!(rejected(b.call(|| ok(i))));
        trial.success();
        assert_eq!(b.state(), State::Closed);
    });
}

#[test]
fn async_calls_allocate_nothing() {
    let b = breaker("allocations.async", Settings::default());
    assert_no_allocation("call_async, success", |i| {
        assert!(block_on(b.call_async(async move { ok(i) })).is_ok())
    });
    assert_no_allocation("macro async, success", |i| {
        assert!(block_on(guarded_async(i)).is_ok())
    });
    let open = breaker("allocations.async.open", Settings::default());
    open.open();
    assert_no_allocation("call_async, open", |i| {
        assert!(rejected(block_on(open.call_async(async move { ok(i) }))))
    });
}

#[test]
fn keyed_lookups_of_existing_keys_allocate_nothing() {
    let registry = breaker::registry();
    let per_host = || Settings::default().max_failures(5);
    registry
        .get_or_create_with("allocations:host-1", per_host)
        .unwrap();
    assert_no_allocation("get_or_create_with, existing", |_| {
        registry
            .get_or_create_with("allocations:host-1", per_host)
            .unwrap();
    });
    assert_no_allocation("with_or_create, existing", |i| {
        registry
            .with_or_create("allocations:host-1", per_host, |b| {
                assert!(b.call(|| ok(i)).is_ok());
            })
            .unwrap();
    });
    let host = String::from("host-2.example");
    assert_no_allocation("keyed #[circuit] fn, existing key", |i| {
        assert!(guarded_keyed(&host, i).is_ok());
    });
    assert_no_allocation("keyed async #[circuit] fn, existing key", |i| {
        assert!(block_on(guarded_keyed_async(&host, i)).is_ok());
    });
}

#[test]
fn every_policy_allocates_nothing() {
    let secs = Duration::from_secs;
    let extras = (
        "backoff, jitter, ramp-up, idle ttl",
        Settings::default()
            .max_cooldown(secs(60))
            .jitter(0.2)
            .ramp_up(secs(10))
            .idle_ttl(secs(600)),
    );
    let policies = breaker_benches::policies().into_iter().chain([extras]);
    for (name, settings) in policies {
        let b = breaker("allocations.policy", settings);
        assert_no_allocation(name, |i| assert!(b.call(|| ok(i)).is_ok()));
        assert_no_allocation(name, |i| {
            let _ = b.call(|| sometimes(i));
        });
        assert_eq!(b.state(), State::Closed, "{name}");
    }
}

/// What one breaker costs: its struct, and the heap it holds with `threads` threads counting for
/// it. Also checks `heap_bytes` against the heap the build really kept on this thread.
fn memory(threads: usize) -> (usize, usize) {
    let size = std::mem::size_of::<Breaker>();
    let live_before = LIVE_BYTES.with(Cell::get);
    let b = breaker("allocations.memory", Settings::default());
    let kept = LIVE_BYTES.with(Cell::get) - live_before;
    let heap = b.heap_bytes(threads);
    println!(
        "size_of::<Breaker>() = {size} B, heap_bytes({threads}) = {heap} B, total {} B \
         (goal < 256 B plus the name); size_of::<Settings>() = {} B; heap kept by build: {kept} B",
        size + heap,
        std::mem::size_of::<Settings>(),
    );
    let counted = b.heap_bytes(0) as i64;
    assert!(
        (kept - counted).abs() <= 64,
        "heap_bytes(0) = {counted} B, but building the breaker kept {kept} B on the heap"
    );
    (size, heap)
}

/// Memory per breaker, reported; `heap_bytes` checked against the real heap.
#[test]
fn memory_per_breaker() {
    let (size, heap) = memory(2);
    assert!(size > 0 && heap > 0);
}

/// The goal: under 256 bytes per breaker plus its name. The name's own handle (a
/// borrowed `&'static str` or a shared `Arc<str>`, with its tag) counts as the name.
#[test]
fn memory_per_breaker_meets_the_goal() {
    let (size, heap) = memory(2);
    let name = std::mem::size_of::<breaker::Name>();
    assert!(
        size - name + heap < 256,
        "memory per breaker: size_of {size} B - name {name} B + heap_bytes(2) {heap} B = {} B, \
         goal < 256 B",
        size - name + heap
    );
}
