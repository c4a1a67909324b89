//! Every failure policy, slow calls, backoff, jitter and ramp-up, as keys.

use std::io;

use breaker::circuit;

#[circuit(failure_rate = 0.5, window = "60s", min_calls = 20)]
fn rate_over_time() -> io::Result<()> {
    Ok(())
}

#[circuit(failure_rate = 1, window_calls = 100, min_calls = 20)]
fn rate_over_calls() -> io::Result<()> {
    Ok(())
}

#[circuit(net_failures = 5, slow_call = "2s", slow_rate = 0.8, window_calls = 10)]
fn net_and_slow() -> io::Result<()> {
    Ok(())
}

#[circuit(slow_call = "250ms", slow_rate = 0.5)]
fn slow_only() -> io::Result<()> {
    Ok(())
}

#[circuit(
    max_failures = 3,
    cooldown = "1s",
    max_cooldown = "2m",
    jitter = 0.2,
    ramp_up = "30s"
)]
fn recovery() -> io::Result<()> {
    Ok(())
}

pub fn main() {
    for call in [
        rate_over_time,
        rate_over_calls,
        net_and_slow,
        slow_only,
        recovery,
    ] {
        assert!(call().is_ok());
    }
}
