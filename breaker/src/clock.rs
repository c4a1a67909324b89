//! Where breakers get their time.
//!
//! A breaker never starts a timer: it reads the clock when a decision needs it (a failure that
//! trips it, a rejected call asking whether the cooldown is over). Time is a [`Duration`] since an
//! arbitrary, fixed origin, so the real clock and a test's [`ManualClock`] are interchangeable.
//!
//! ```
//! use breaker::{Breaker, clock::ManualClock};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let breaker = Breaker::builder("db")
//!     .max_failures(1)
//!     .cooldown(Duration::from_secs(30))
//!     .clock(clock.clone())
//!     .build()?;
//! let _ = breaker.call(|| Err::<(), _>(std::io::Error::other("down")));
//! assert_eq!(breaker.state(), breaker::State::Open);
//! clock.advance(Duration::from_secs(30));
//! assert_eq!(breaker.state(), breaker::State::HalfOpen);
//! # Ok::<(), breaker::ConfigError>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A monotonic source of time for breakers.
///
/// Implement it to drive breakers from your own notion of time (a simulation, a runtime's paused
/// clock). `now` must never go backwards.
pub trait Clock: Send + Sync + 'static {
    /// Time elapsed since this clock's fixed origin.
    fn now(&self) -> Duration;

    /// A cheaper reading that may lag [`now`](Clock::now) by a few milliseconds, used where
    /// millisecond resolution is enough (is the cooldown over yet?). Defaults to `now`.
    fn coarse_now(&self) -> Duration {
        self.now()
    }
}

/// The process's monotonic clock, the default for every breaker.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// The fixed origin of [`SystemClock`], read once per process. The raw `CLOCK_MONOTONIC` reading
/// taken beside it lets the coarse clock be expressed from the same origin.
struct Origin {
    instant: Instant,
    /// `CLOCK_MONOTONIC` in nanoseconds at `instant`, or `None` where there is no coarse clock.
    raw_nanos: Option<u64>,
}

fn origin() -> &'static Origin {
    static ORIGIN: OnceLock<Origin> = OnceLock::new();
    ORIGIN.get_or_init(|| {
        let raw_nanos = coarse::read_nanos(coarse::PRECISE);
        if let Some(raw) = raw_nanos {
            // Published for the hot path, which reads it without the `OnceLock`.
            RAW_ORIGIN_NANOS.store(raw, Ordering::Relaxed);
        }
        Origin {
            raw_nanos,
            instant: Instant::now(),
        }
    })
}

/// `origin().raw_nanos`, or 0 while there is none.
static RAW_ORIGIN_NANOS: AtomicU64 = AtomicU64::new(0);

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        origin().instant.elapsed()
    }

    fn coarse_now(&self) -> Duration {
        match origin().raw_nanos {
            Some(_) => Duration::from_nanos(system_coarse_nanos()),
            None => self.now(),
        }
    }
}

/// The coarse system time in nanoseconds since the origin. Only called once the origin is set
/// (a [`ClockHandle::system`] exists); where there is no coarse clock, the precise one.
#[inline]
fn system_coarse_nanos() -> u64 {
    match coarse::read_nanos(coarse::COARSE) {
        Some(now) => now.saturating_sub(RAW_ORIGIN_NANOS.load(Ordering::Relaxed)),
        None => duration_to_nanos(origin().instant.elapsed()),
    }
}

#[cfg(target_os = "linux")]
mod coarse {
    /// `CLOCK_MONOTONIC_COARSE` shares `CLOCK_MONOTONIC`'s origin (which `Instant` uses) but is read
    /// from the vDSO without touching the hardware counter: a few nanoseconds instead of ~20, at
    /// the price of the kernel tick's resolution (1-4 ms).
    pub(super) const COARSE: libc::clockid_t = libc::CLOCK_MONOTONIC_COARSE;
    pub(super) const PRECISE: libc::clockid_t = libc::CLOCK_MONOTONIC;

    #[inline]
    pub(super) fn read_nanos(clock: libc::clockid_t) -> Option<u64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
        let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
        (rc == 0).then(|| (ts.tv_sec as u64).wrapping_mul(1_000_000_000) + ts.tv_nsec as u64)
    }
}

#[cfg(not(target_os = "linux"))]
mod coarse {
    pub(super) const COARSE: i32 = 0;
    pub(super) const PRECISE: i32 = 1;

    pub(super) fn read_nanos(_clock: i32) -> Option<u64> {
        None
    }
}

/// A clock that moves only when told to. Clones share one time, so a test keeps a clone and
/// advances the breaker's clock from outside.
///
/// ```
/// use breaker::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let shared = clock.clone();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(shared.now(), Duration::from_millis(1500));
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos
            .fetch_add(duration_to_nanos(by), Ordering::AcqRel);
    }

    /// Sets the time to `to`; it must not be earlier than the current time.
    pub fn set(&self, to: Duration) {
        self.nanos
            .fetch_max(duration_to_nanos(to), Ordering::AcqRel);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

/// The clock a breaker holds: nothing for the system clock, which the hot path reads directly,
/// and one thin pointer otherwise, so every breaker pays eight bytes for the choice.
#[derive(Clone, Default)]
pub(crate) struct ClockHandle(Option<Arc<OtherClock>>);

enum OtherClock {
    Manual(ManualClock),
    Custom(Box<dyn Clock>),
}

impl ClockHandle {
    pub(crate) fn from_clock<C: Clock>(clock: C) -> Self {
        let any: &dyn std::any::Any = &clock;
        if any.is::<SystemClock>() {
            return Self::system();
        }
        if let Some(manual) = any.downcast_ref::<ManualClock>() {
            return Self(Some(Arc::new(OtherClock::Manual(manual.clone()))));
        }
        Self(Some(Arc::new(OtherClock::Custom(Box::new(clock)))))
    }

    pub(crate) fn system() -> Self {
        // Fix the origin now, so the first reading on a hot path does not pay for it.
        let _ = origin();
        Self(None)
    }

    /// Nanoseconds since the clock's origin, possibly a few milliseconds behind the precise
    /// time. Every decision of a breaker reads this one clock, so deadlines and the time left
    /// until them agree.
    #[inline]
    pub(crate) fn coarse_nanos(&self) -> u64 {
        match self.0.as_deref() {
            None => system_coarse_nanos(),
            Some(OtherClock::Manual(clock)) => clock.nanos.load(Ordering::Acquire),
            Some(OtherClock::Custom(clock)) => duration_to_nanos(clock.coarse_now()),
        }
    }
}

impl fmt::Debug for ClockHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_deref() {
            None => f.write_str("SystemClock"),
            Some(OtherClock::Manual(clock)) => clock.fmt(f),
            Some(OtherClock::Custom(_)) => f.write_str("CustomClock"),
        }
    }
}

/// Saturates at `u64::MAX` nanoseconds (584 years), far beyond any cooldown.
pub(crate) fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_system_time_trails_precise_time_by_at_most_a_tick() {
        let clock = ClockHandle::system();
        let coarse = clock.coarse_nanos();
        let precise = duration_to_nanos(SystemClock.now());
        assert!(
            coarse <= precise + 1_000_000,
            "coarse {coarse} precise {precise}"
        );
        assert!(
            precise - coarse.min(precise) < 50_000_000,
            "coarse {coarse} precise {precise}"
        );
    }

    #[test]
    fn manual_clock_never_goes_back() {
        let clock = ManualClock::new();
        clock.set(Duration::from_secs(5));
        clock.set(Duration::from_secs(1));
        assert_eq!(clock.now(), Duration::from_secs(5));
    }

    #[test]
    fn from_clock_recognises_built_in_clocks() {
        assert!(ClockHandle::from_clock(SystemClock).0.is_none());
        let manual = ClockHandle::from_clock(ManualClock::new());
        assert!(matches!(manual.0.as_deref(), Some(OtherClock::Manual(_))));
    }
}
