//! Looking up an existing keyed breaker allocates nothing, on every path: the builder's
//! `get_or_create_with` and `with_or_create`, and sync and async `#[circuit(name = "..{key}..")]`
//! functions keyed by strings, integers or `Display` values, with short names (inline words),
//! longer ones (on the stack) and names long enough to need the heap only when created.
//!
//! A counting global allocator watches each path after a warm-up; counts are per thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use breaker::{Settings, circuit, registry};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` once to warm up, then 100 times, asserting no allocation in those.
fn assert_no_allocation(what: &str, mut f: impl FnMut()) {
    f();
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..100 {
        f();
    }
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    assert_eq!(
        allocations, 0,
        "{what}: {allocations} allocations in 100 calls"
    );
}

/// Polls a future that is ready at once (nothing here waits).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future was not ready"),
    }
}

struct Tenant(u32);

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant-{}", self.0)
    }
}

#[circuit(name = "keyed-alloc:{host}:{port}")]
fn connect(host: &str, port: u16) -> io::Result<u16> {
    Ok(port)
}

#[circuit(name = "keyed-alloc-owned:{tenant}/{shard}")]
fn load(tenant: &String, shard: &Tenant) -> io::Result<u32> {
    Ok(shard.0 + u32::try_from(tenant.len()).unwrap_or(0))
}

#[circuit(name = "keyed-alloc-async:{id}")]
async fn fetch(id: i64) -> io::Result<i64> {
    Ok(id)
}

#[test]
fn keyed_lookups_of_existing_keys_allocate_nothing() {
    let per_host = || Settings::default().max_failures(5);
    for name in ["k:a", "keyed-alloc:a-longer-name.example", &"k".repeat(200)] {
        assert_no_allocation("get_or_create_with", || {
            registry().get_or_create_with(name, per_host).unwrap();
        });
        assert_no_allocation("with_or_create", || {
            let ok = registry()
                .with_or_create(name, per_host, |b| b.call(|| Ok::<_, breaker::Error>(1)))
                .unwrap();
            assert_eq!(ok, Ok(1));
        });
    }
    for host in ["a.example", "a-much-longer-host-name.example.com"] {
        assert_no_allocation("sync keyed fn", || {
            assert_eq!(connect(host, 8080).unwrap(), 8080);
        });
    }
    let tenant = String::from("acme");
    assert_no_allocation("sync keyed fn, Display key", || {
        assert_eq!(load(&tenant, &Tenant(7)).unwrap(), 11);
    });
    assert_no_allocation("async keyed fn", || {
        assert_eq!(ready(fetch(-42)).unwrap(), -42);
    });
}
