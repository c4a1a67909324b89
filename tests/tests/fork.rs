//! A child process forked from one whose clock thread runs has no such thread: its breakers must
//! still see time pass (they read the system directly from then on).
#![cfg(target_os = "linux")]

use std::io;
use std::time::Duration;

use breaker::{Breaker, State};

#[test]
fn a_forked_child_sees_cooldowns_end() {
    let b = Breaker::builder("fork")
        .max_failures(1)
        .cooldown(Duration::from_millis(50))
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>(io::Error::other("down")));
    // Reading the state reads the clock, which starts the clock thread; give it a few ticks, so
    // that the child inherits a cached time that nobody would update.
    assert_eq!(b.state(), State::Open);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(b.state(), State::Open);
    // SAFETY: the child only reads atomics and the clock, sleeps and exits without unwinding.
    match unsafe { libc::fork() } {
        0 => {
            std::thread::sleep(Duration::from_millis(200));
            let code = if b.state() == State::HalfOpen { 0 } else { 1 };
            // SAFETY: ends the child at once, without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        -1 => panic!("fork failed: {}", io::Error::last_os_error()),
        child => {
            let mut status = 0;
            // SAFETY: `child` is our child process and `status` a valid place to write.
            let waited = unsafe { libc::waitpid(child, &mut status, 0) };
            assert_eq!(waited, child);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the child's breaker never left the open state (status {status})"
            );
        }
    }
}
