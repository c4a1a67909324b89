//! Failure policies, slow calls and recovery settings written as `#[circuit]` keys: each key
//! reaches the breaker's settings, and the breaker opens at the edges the policy promises.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use breaker::{Settings, State, circuit, registry};

const HOUR: Duration = Duration::from_secs(3600);

fn call(fail: bool) -> io::Result<u32> {
    if fail {
        Err(io::Error::other("dependency failed"))
    } else {
        Ok(1)
    }
}

fn state(name: &str) -> State {
    registry()
        .get(name)
        .unwrap_or_else(|| panic!("no breaker `{name}`"))
        .state()
}

fn is_rejection(result: &io::Result<u32>) -> bool {
    matches!(result, Err(err) if err.kind() == io::ErrorKind::ConnectionRefused)
}

static RATE_CALLS_RUNS: AtomicUsize = AtomicUsize::new(0);

#[circuit(
    name = "policies-rate-calls",
    failure_rate = 0.5,
    window_calls = 4,
    min_calls = 4,
    cooldown = "1h"
)]
fn rate_over_calls(fail: bool) -> io::Result<u32> {
    RATE_CALLS_RUNS.fetch_add(1, Ordering::SeqCst);
    call(fail)
}

#[test]
fn failure_rate_over_the_last_calls_opens_at_min_calls_and_exactly_at_the_rate() {
    rate_over_calls(true).unwrap_err();
    rate_over_calls(false).unwrap();
    rate_over_calls(true).unwrap_err();
    let name = "policies-rate-calls";
    assert_eq!(
        registry().get(name).unwrap().settings(),
        &Settings::default()
            .failure_rate(0.5)
            .window_calls(4)
            .min_calls(4)
            .cooldown(HOUR)
    );
    assert_eq!(
        state(name),
        State::Closed,
        "2 of 3 failed, but 3 calls are fewer than min_calls"
    );
    // The fourth call succeeds, and still opens it: 2 failures of 4 is exactly the rate.
    rate_over_calls(false).unwrap();
    assert_eq!(state(name), State::Open);
    let runs = RATE_CALLS_RUNS.load(Ordering::SeqCst);
    assert!(is_rejection(&rate_over_calls(false)));
    assert_eq!(
        RATE_CALLS_RUNS.load(Ordering::SeqCst),
        runs,
        "rejected unrun"
    );
}

#[circuit(
    name = "policies-rate-calls-below",
    failure_rate = 0.75,
    window_calls = 4,
    min_calls = 4
)]
fn rate_below(fail: bool) -> io::Result<u32> {
    call(fail)
}

#[test]
fn failure_rate_below_the_rate_stays_closed_as_the_window_wraps() {
    let name = "policies-rate-calls-below";
    // Two failures in every four calls: 0.5 < 0.75, however long it goes on.
    for round in 0..3 {
        for fail in [true, false, true, false] {
            let _ = rate_below(fail);
        }
        assert_eq!(state(name), State::Closed, "round {round}");
    }
    // The window holds the last four calls: [T, F, T, F] + T is [F, T, F, T], still 0.5.
    rate_below(true).unwrap_err();
    assert_eq!(state(name), State::Closed);
    // + T is [T, F, T, T]: three failures among the last four reach the rate.
    rate_below(true).unwrap_err();
    assert_eq!(state(name), State::Open);
}

#[circuit(
    name = "policies-rate-time",
    failure_rate = 0.5,
    window = "60s",
    min_calls = 2
)]
fn rate_over_time(fail: bool) -> io::Result<u32> {
    call(fail)
}

#[test]
fn failure_rate_over_a_time_window() {
    let name = "policies-rate-time";
    rate_over_time(true).unwrap_err();
    assert_eq!(registry().get(name).unwrap().settings(), &{
        Settings::default()
            .failure_rate(0.5)
            .window(Duration::from_secs(60))
            .min_calls(2)
    });
    assert_eq!(state(name), State::Closed, "one call is below min_calls");
    rate_over_time(true).unwrap_err();
    assert_eq!(state(name), State::Open);
}

#[circuit(name = "policies-net", net_failures = 3, cooldown = "1h")]
fn net(fail: bool) -> io::Result<u32> {
    call(fail)
}

#[test]
fn net_failures_let_a_success_forgive_one_failure() {
    let name = "policies-net";
    net(true).unwrap_err();
    net(true).unwrap_err();
    net(false).unwrap(); // 2 - 1: one net failure left
    net(true).unwrap_err();
    assert_eq!(
        state(name),
        State::Closed,
        "two net failures; consecutive counting would be at one"
    );
    net(true).unwrap_err();
    assert_eq!(state(name), State::Open, "three net failures");
    assert_eq!(
        registry().get(name).unwrap().settings(),
        &Settings::default().net_failures(3).cooldown(HOUR)
    );
}

/// Comfortably above `slow_call = "20ms"` even on a coarse clock (1-4 ms ticks).
const SLOW: Duration = Duration::from_millis(40);

#[circuit(
    name = "policies-slow",
    slow_call = "20ms",
    slow_rate = 0.5,
    window_calls = 2,
    min_calls = 2,
    cooldown = "1h"
)]
fn slow(delay: Duration) -> io::Result<u32> {
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    Ok(7)
}

#[test]
fn slow_successes_open_the_breaker_at_the_slow_rate() {
    let name = "policies-slow";
    assert_eq!(slow(Duration::ZERO).unwrap(), 7);
    assert_eq!(slow(Duration::ZERO).unwrap(), 7);
    assert_eq!(state(name), State::Closed, "no slow call yet");
    // Half of the last two calls slow: the rate is reached, though every call succeeded.
    assert_eq!(
        slow(SLOW).unwrap(),
        7,
        "a slow call still returns its value"
    );
    assert_eq!(state(name), State::Open);
    let breaker = registry().get(name).unwrap();
    let report = breaker.report();
    assert_eq!((report.successes(), report.failures()), (3, 0));
    assert_eq!(
        breaker.settings(),
        &Settings::default()
            .slow_call(Duration::from_millis(20))
            .slow_rate(0.5)
            .window_calls(2)
            .min_calls(2)
            .cooldown(HOUR)
    );
}

#[circuit(
    name = "policies-slow-and-consecutive",
    max_failures = 2,
    slow_call = "1h",
    slow_rate = 1
)]
fn consecutive_and_slow(fail: bool) -> io::Result<u32> {
    call(fail)
}

#[test]
fn slow_calls_come_in_addition_to_another_policy() {
    let name = "policies-slow-and-consecutive";
    consecutive_and_slow(true).unwrap_err();
    consecutive_and_slow(true).unwrap_err();
    assert_eq!(state(name), State::Open, "the failure policy still applies");
}

#[circuit(
    name = "policies-recovery",
    max_failures = 1,
    cooldown = "1h",
    max_cooldown = "3h",
    ramp_up = "30s",
    half_open_calls = 1
)]
fn recovery(fail: bool) -> io::Result<u32> {
    call(fail)
}

#[test]
fn backoff_doubles_the_cooldown_up_to_max_cooldown() {
    let name = "policies-recovery";
    recovery(true).unwrap_err();
    let breaker = registry().get(name).unwrap();
    assert_eq!(
        breaker.settings(),
        &Settings::default()
            .max_failures(1)
            .cooldown(HOUR)
            .max_cooldown(3 * HOUR)
            .ramp_up(Duration::from_secs(30))
    );
    let retry_after = || breaker.retry_after().expect("open");
    assert!(retry_after() > HOUR - Duration::from_secs(60) && retry_after() <= HOUR);
    // A failed trial re-opens it for twice as long, then for the cap.
    for expected in [2 * HOUR, 3 * HOUR] {
        breaker.half_open();
        recovery(true).unwrap_err();
        assert_eq!(breaker.state(), State::Open);
        let left = retry_after();
        assert!(
            left > expected - Duration::from_secs(60) && left <= expected,
            "{left:?} instead of about {expected:?}"
        );
    }
}

#[circuit(name = "policies-jitter", cooldown = "10s", jitter = 0.5)]
fn jittered() -> io::Result<u32> {
    Ok(1)
}

#[test]
fn jitter_reaches_the_settings() {
    jittered().unwrap();
    assert_eq!(
        registry().get("policies-jitter").unwrap().settings(),
        &Settings::default()
            .cooldown(Duration::from_secs(10))
            .jitter(0.5)
    );
}
