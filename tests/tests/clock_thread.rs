//! The clock thread starts only for breakers that need the time. Alone in its binary: the thread
//! is process-wide, and any other test could start it.

#![cfg(target_os = "linux")]

use std::io;
use std::time::Duration;

use breaker::Breaker;

fn clock_thread_running() -> bool {
    std::fs::read_dir("/proc/self/task").unwrap().any(|task| {
        let comm = task.unwrap().path().join("comm");
        std::fs::read_to_string(comm).is_ok_and(|name| name.trim() == "breaker-clock")
    })
}

#[test]
fn closed_calls_on_a_breaker_with_a_time_limit_do_not_start_the_clock_thread() {
    // The limit is for async calls; it needs no start time, so nothing reads the clock.
    let breaker = Breaker::builder("clock-thread-limit")
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..1_000 {
        breaker.call(|| Ok::<_, io::Error>(1)).unwrap();
    }
    // A thread started by then names itself at its start: give it the time to.
    std::thread::sleep(Duration::from_millis(100));
    assert!(!clock_thread_running(), "nothing needed the time yet");

    // A breaker that measures slow calls reads the start of each call.
    let timed = Breaker::builder("clock-thread-slow-calls")
        .slow_call(Duration::from_secs(1))
        .slow_rate(0.5)
        .build()
        .unwrap();
    timed.call(|| Ok::<_, io::Error>(1)).unwrap();
    let started = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(5));
        clock_thread_running()
    });
    assert!(started, "the check above can see the thread");
}
