//! A flaky dependency behind `#[circuit]`: watch the breaker trip, reject, recover and report.
//!
//! Run it with `cargo run --example quickstart`.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use breaker::circuit;

/// Whether the pretend inventory service is up.
static SERVICE_UP: AtomicBool = AtomicBool::new(true);
/// How many requests actually reached the service.
static REQUESTS_SENT: AtomicU32 = AtomicU32::new(0);

/// Looks an item up in the inventory service. Three failures in a row open the breaker for one
/// second; then one trial call decides whether it closes again.
#[circuit(name = "inventory", max_failures = 3, cooldown = "1s")]
fn stock_level(item: &str) -> io::Result<u32> {
    REQUESTS_SENT.fetch_add(1, Ordering::Relaxed);
    if SERVICE_UP.load(Ordering::Relaxed) {
        Ok(u32::try_from(item.len()).unwrap_or(u32::MAX) * 7)
    } else {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "inventory timed out",
        ))
    }
}

fn ask(item: &str) {
    match stock_level(item) {
        Ok(n) => println!("  {item}: {n} in stock"),
        Err(err) => println!("  {item}: error: {err}"),
    }
}

fn main() {
    breaker::registry().on_state_change(|name, from, to| {
        println!("  >> breaker `{name}`: {from} -> {to}");
    });

    println!("The service is up:");
    ask("apples");

    println!("The service goes down; the breaker counts failures, then opens:");
    SERVICE_UP.store(false, Ordering::Relaxed);
    for item in ["pears", "plums", "figs"] {
        ask(item);
    }

    println!("While open, calls are rejected without reaching the service:");
    let sent = REQUESTS_SENT.load(Ordering::Relaxed);
    for item in ["kiwis", "limes"] {
        ask(item);
    }
    assert_eq!(REQUESTS_SENT.load(Ordering::Relaxed), sent);

    println!("The service recovers; after the cooldown one trial call closes the breaker:");
    SERVICE_UP.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1100));
    ask("dates");
    ask("grapes");

    println!("\n{}", breaker::registry().report());
}
