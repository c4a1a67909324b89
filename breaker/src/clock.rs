//! Where breakers get their time.
//!
//! A breaker never starts a timer: it reads the clock when a decision needs it (a failure that
//! trips it, a rejected call asking whether the cooldown is over). Time is a [`Duration`] since an
//! arbitrary, fixed origin, so the real clock and a test's [`ManualClock`] are interchangeable.
//!
//! The system clock is read on hot paths (every rejection of an open breaker, every outcome under
//! a time-window policy), so it is cached: while breakers read it, a background thread named
//! `breaker-clock` stores the coarse monotonic time every millisecond and a reading is one atomic
//! load. The thread starts at the first reading, parks after a quarter of a second without any,
//! and is woken by the next one; until it runs again, readings go to the system directly. A reading
//! may therefore lag the precise time by a millisecond plus the kernel's tick (1-4 ms), more if the
//! machine is too loaded to schedule the thread: cooldowns end that much late, never early (a trip
//! reads the system itself to start its deadline), and durations measured for slow calls can be
//! off by as much.
//! Breakers that never need the time (closed, counting consecutive failures) never start it.
//! A process that must not have the thread can give its breakers a [`Clock`] of its own
//! (`Builder::clock`), which they read instead. A child process forked from one with the thread
//! has no such thread, so it reads the system directly from then on.
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
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
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
/// taken beside it (in [`RAW_ORIGIN_NANOS`]) lets the coarse clock be expressed from the same
/// origin.
struct Origin {
    instant: Instant,
}

fn origin() -> &'static Origin {
    static ORIGIN: OnceLock<Origin> = OnceLock::new();
    ORIGIN.get_or_init(|| {
        if let Some(raw) = coarse::read_nanos(coarse::PRECISE) {
            RAW_ORIGIN_NANOS.store(raw, Ordering::Relaxed);
        }
        Origin {
            instant: Instant::now(),
        }
    })
}

/// `CLOCK_MONOTONIC` in nanoseconds at the origin, published for readers that skip the
/// `OnceLock`; 0 where there is no coarse clock.
static RAW_ORIGIN_NANOS: AtomicU64 = AtomicU64::new(0);

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        origin().instant.elapsed()
    }

    /// The cached reading described in the [module documentation](self).
    fn coarse_now(&self) -> Duration {
        origin();
        Duration::from_nanos(TICKER.now())
    }
}

/// The coarse system time in nanoseconds since the origin, read from the system. Only called
/// once the origin is set (a [`ClockHandle::system`] exists); where there is no coarse clock, the
/// precise one.
fn read_system_nanos() -> u64 {
    match coarse::read_nanos(coarse::COARSE) {
        Some(now) => now.saturating_sub(RAW_ORIGIN_NANOS.load(Ordering::Relaxed)),
        None => duration_to_nanos(origin().instant.elapsed()),
    }
}

/// How often the ticker refreshes its reading.
const TICK: Duration = Duration::from_millis(1);

/// The ticker of the system clock, shared by every breaker of the process.
static TICKER: Ticker = Ticker::new(250);

/// The system time cached by a background thread; see the [module documentation](self).
struct Ticker {
    /// The reading at the last tick, in nanoseconds since the origin (at least 1); 0 while the
    /// thread is not ticking.
    now: AtomicU64,
    /// Whether anyone read `now` since the last tick. Readers set it only when it is clear, so
    /// they write this shared line once per tick at most.
    read: AtomicBool,
    /// `STOPPED`, `WAKING`, `RUNNING` or `GONE`.
    state: AtomicU8,
    /// The thread, once spawned; `None` if it could not be (readings then go to the system).
    thread: OnceLock<Option<Thread>>,
    /// Ticks without a reading after which the thread parks.
    idle_ticks: u32,
}

const STOPPED: u8 = 0;
const WAKING: u8 = 1;
const RUNNING: u8 = 2;
/// There is no thread (a child after `fork`): readings go to the system for good.
const GONE: u8 = 3;

impl Ticker {
    const fn new(idle_ticks: u32) -> Ticker {
        Ticker {
            now: AtomicU64::new(0),
            read: AtomicBool::new(false),
            state: AtomicU8::new(STOPPED),
            thread: OnceLock::new(),
            idle_ticks,
        }
    }

    #[inline]
    fn now(&'static self) -> u64 {
        let now = self.now.load(Ordering::Relaxed);
        if now == 0 {
            return self.read_and_wake();
        }
        if !self.read.load(Ordering::Relaxed) {
            self.read.store(true, Ordering::Relaxed);
        }
        now
    }

    /// A reading from the system, for the rare moments that start a deadline (a trip): the
    /// cache may lag by as long as its thread went unscheduled, and a deadline counted from a
    /// lagging time would end early. The cache is moved up to it, so that later readings do not
    /// see time before it (a `retry_after` longer than the cooldown).
    fn fresh(&'static self) -> u64 {
        let now = read_system_nanos().max(1);
        let mut cached = self.now.load(Ordering::Relaxed);
        // Zero means the thread is not ticking: leave it so, or readers would trust it.
        while cached != 0 && cached < now {
            match self
                .now
                .compare_exchange_weak(cached, now, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => cached = actual,
            }
        }
        now
    }

    /// Reads the system (before waking the thread, so that its first tick is no earlier than
    /// this reading) and wakes the thread unless someone else is already doing so.
    #[cold]
    fn read_and_wake(&'static self) -> u64 {
        let now = read_system_nanos();
        // Checked first, so that a process where the thread is gone for good (a forked child,
        // or no threads) pays no locked instruction on each reading.
        if self.state.load(Ordering::Relaxed) == STOPPED
            && self
                .state
                .compare_exchange(STOPPED, WAKING, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            && let Some(thread) = self.thread.get_or_init(|| self.spawn())
        {
            thread.unpark();
        }
        now
    }

    /// Starts the thread; `None` where threads cannot be spawned, which leaves `state` at
    /// `WAKING` for good, so nobody tries again.
    fn spawn(&'static self) -> Option<Thread> {
        #[cfg(unix)]
        if std::ptr::eq(self, &TICKER) {
            /// Runs in the child of a `fork`, which has only the forking thread.
            extern "C" fn child_after_fork() {
                TICKER.retire();
            }
            // Declared here: the `libc` crate binds it only for some unix targets, while every
            // POSIX system has it.
            unsafe extern "C" {
                fn pthread_atfork(
                    prepare: Option<extern "C" fn()>,
                    parent: Option<extern "C" fn()>,
                    child: Option<extern "C" fn()>,
                ) -> libc::c_int;
            }
            // SAFETY: the handler only stores to atomics, which is async-signal-safe.
            unsafe { pthread_atfork(None, None, Some(child_after_fork)) };
        }
        std::thread::Builder::new()
            .name("breaker-clock".into())
            .spawn(move || self.run())
            .ok()
            .map(|handle| handle.thread().clone())
    }

    fn run(&self) {
        loop {
            while self.state.load(Ordering::Acquire) != WAKING {
                std::thread::park();
            }
            if self
                .state
                .compare_exchange(WAKING, RUNNING, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let mut idle = 0;
            while idle < self.idle_ticks && self.state.load(Ordering::Acquire) == RUNNING {
                // A maximum, not a store: a trip may have moved the cache past this reading.
                self.now
                    .fetch_max(read_system_nanos().max(1), Ordering::Relaxed);
                std::thread::sleep(TICK);
                if self.read.swap(false, Ordering::Relaxed) {
                    idle = 0;
                } else {
                    idle += 1;
                }
            }
            // Readers go to the system until someone wakes the thread again.
            self.now.store(0, Ordering::Relaxed);
            let _ =
                self.state
                    .compare_exchange(RUNNING, STOPPED, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Sends every reading to the system from now on, for a process without the thread.
    fn retire(&self) {
        self.state.store(GONE, Ordering::Release);
        self.now.store(0, Ordering::Relaxed);
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
#[derive(Clone)]
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

    /// Like [`coarse_nanos`](Self::coarse_nanos), never behind it, and never behind the system
    /// either: for the start of a deadline.
    pub(crate) fn fresh_nanos(&self) -> u64 {
        match self.0.as_deref() {
            None => TICKER.fresh(),
            Some(_) => self.coarse_nanos(),
        }
    }

    /// Nanoseconds since the clock's origin, possibly a few milliseconds behind the precise
    /// time. Every decision of a breaker reads this one clock, so deadlines and the time left
    /// until them agree.
    #[inline]
    pub(crate) fn coarse_nanos(&self) -> u64 {
        match self.0.as_deref() {
            None => TICKER.now(),
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

    /// Waits up to two seconds for `condition`, for the ticker thread to catch up on a loaded
    /// machine.
    fn eventually(mut condition: impl FnMut() -> bool) -> bool {
        let give_up = Instant::now() + Duration::from_secs(2);
        while Instant::now() < give_up {
            if condition() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    fn own_ticker(idle_ticks: u32) -> &'static Ticker {
        origin();
        Box::leak(Box::new(Ticker::new(idle_ticks)))
    }

    #[test]
    fn ticker_starts_at_the_first_reading_and_then_serves_cached_time() {
        let ticker = own_ticker(u32::MAX);
        assert_eq!(ticker.now.load(Ordering::Relaxed), 0);
        let first = ticker.now();
        assert!(eventually(|| ticker.now.load(Ordering::Relaxed) != 0));
        assert_eq!(ticker.state.load(Ordering::Relaxed), RUNNING);
        let mut last = first;
        for _ in 0..50 {
            let cached = ticker.now();
            let direct = read_system_nanos();
            assert!(cached >= last, "went back from {last} to {cached}");
            // The cache holds at least 1, for a system reading of 0 just after the origin.
            assert!(
                cached <= direct.max(1),
                "cached {cached} ahead of the system {direct}"
            );
            last = cached;
            std::thread::sleep(Duration::from_micros(200));
        }
        assert!(
            eventually(|| ticker.now() > first),
            "the ticker never moved"
        );
    }

    #[test]
    fn ticker_parks_when_nobody_reads_and_wakes_at_the_next_reading() {
        let ticker = own_ticker(3);
        ticker.now();
        assert!(eventually(|| ticker.now.load(Ordering::Relaxed) != 0));
        assert!(
            eventually(|| ticker.state.load(Ordering::Relaxed) == STOPPED),
            "still ticking without readers"
        );
        assert_eq!(ticker.now.load(Ordering::Relaxed), 0);
        let direct = ticker.now();
        assert!(eventually(
            || ticker.now.load(Ordering::Relaxed) >= direct.max(1)
        ));
    }

    #[test]
    fn a_retired_ticker_stops_and_readings_go_to_the_system() {
        let ticker = own_ticker(u32::MAX);
        ticker.now();
        assert!(eventually(|| ticker.now.load(Ordering::Relaxed) != 0));
        ticker.retire();
        // The thread notices within a tick, clears the cache behind it and parks for good.
        let stays_clear = || {
            ticker.now.load(Ordering::Relaxed) == 0 && {
                std::thread::sleep(10 * TICK);
                ticker.now.load(Ordering::Relaxed) == 0
            }
        };
        assert!(eventually(stays_clear), "the cache is still written");
        let first = ticker.now();
        assert!(
            eventually(|| ticker.now() > first),
            "direct readings stand still"
        );
        assert_eq!(ticker.state.load(Ordering::Relaxed), GONE);
        assert_eq!(
            ticker.now.load(Ordering::Relaxed),
            0,
            "the thread woke up again"
        );
    }

    #[test]
    fn a_fresh_reading_is_the_system_time_and_moves_a_lagging_cache_up() {
        let ticker = own_ticker(u32::MAX);
        // Not ticking: the cache stays empty.
        let first = ticker.fresh();
        assert!(first <= read_system_nanos().max(1));
        assert_eq!(ticker.now.load(Ordering::Relaxed), 0);
        ticker.now();
        assert!(eventually(|| ticker.now.load(Ordering::Relaxed) != 0));
        // A cache far behind, as after the thread went unscheduled.
        ticker.now.store(1, Ordering::Relaxed);
        let fresh = ticker.fresh();
        assert!(fresh >= first);
        assert!(
            ticker.now() >= fresh,
            "a reading after it went back in time"
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
