//! What the benchmarks, the probe and the allocation test guard: one function and the error type
//! a user would give it. Run the benchmarks with `cargo bench -p breaker-benches`.

use std::fmt;
use std::hint::black_box;
use std::time::Duration;

use breaker::Settings;

/// The error of the guarded function: a user's enum with a variant for the breaker's
/// rejections, as the `breaker` docs recommend. It never allocates (an `io::Error` built from a
/// rejection would box it).
#[derive(Debug)]
pub enum AppError {
    /// The guarded dependency failed.
    Down,
    /// The breaker turned the call away.
    Circuit(breaker::Error),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Down => f.write_str("down"),
            AppError::Circuit(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AppError {}

impl From<breaker::Error> for AppError {
    fn from(e: breaker::Error) -> Self {
        AppError::Circuit(e)
    }
}

/// The function every breaker guards; each group's baseline calls it directly.
#[inline(never)]
pub fn work(x: u64) -> Result<u64, AppError> {
    Ok(black_box(x))
}

/// Each failure policy, configured as the benchmarks compare them (5 failures, a rate of 50 % over
/// 60 s or 100 calls, slow beyond 1 s), under a short id.
pub fn policies() -> [(&'static str, Settings); 5] {
    let secs = Duration::from_secs;
    [
        ("consecutive", Settings::default().max_failures(5)),
        ("net_failures", Settings::default().net_failures(5)),
        (
            "rate_time_window",
            Settings::default().failure_rate(0.5).window(secs(60)),
        ),
        (
            "rate_call_window",
            Settings::default().failure_rate(0.5).window_calls(100),
        ),
        (
            "slow_calls",
            Settings::default()
                .max_failures(5)
                .slow_call(secs(1))
                .slow_rate(0.5),
        ),
    ]
}
