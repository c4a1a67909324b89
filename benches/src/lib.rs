//! What the benchmarks, the probe and the allocation test guard: one function and the error type
//! a user would give it. Run the benchmarks with `cargo bench -p breaker-benches`.

use std::fmt;
use std::hint::black_box;

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
