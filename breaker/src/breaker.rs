//! The breaker: admission, outcomes, transitions, manual control.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::call::{CallAsync, MarkFailed};
use crate::classify::{AsError, CircuitError, Outcome};
use crate::clock::{Clock, ClockHandle};
use crate::error::{ConfigError, Error};
use crate::event::{Event, Listeners};
use crate::name::Name;
use crate::policy::Step;
use crate::settings::{Active, OBSERVED, Settings, SettingsCell, TIMED};
use crate::state::{Deadline, GEN_MASK, Mode, State, Word, generations_since};
use crate::sync::{AtomicU32, AtomicU64};
use crate::totals::{Kind, Totals};
use crate::window::{Closing, Sample};

/// A circuit breaker: it lets calls through while the guarded dependency is healthy, turns them
/// away for a cooldown once it is not, then lets a few trial calls decide whether to close again.
///
/// ```
/// use breaker::{Breaker, State};
/// use std::io;
/// use std::time::Duration;
///
/// let breaker = Breaker::builder("payments")
///     .max_failures(2)
///     .cooldown(Duration::from_secs(10))
///     .build()?;
///
/// let flaky = || -> io::Result<u32> { Err(io::Error::other("connection reset")) };
/// assert!(breaker.call(flaky).is_err());
/// assert!(breaker.call(flaky).is_err()); // the second failure opens it
/// assert_eq!(breaker.state(), State::Open);
///
/// // Now calls are rejected without running.
/// let err = breaker.call(|| -> io::Result<u32> { unreachable!() }).unwrap_err();
/// assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
/// # Ok::<(), breaker::ConfigError>(())
/// ```
pub struct Breaker {
    name: Name,
    word: AtomicU64,
    deadline: AtomicU64,
    settings: SettingsCell,
    clock: ClockHandle,
    totals: Totals,
    failures: AtomicU64,
    neutral: AtomicU64,
    listeners: Listeners,
    registry_listeners: OnceLock<Arc<Listeners>>,
    /// Set by registry lookups, cleared by the registry's idle sweep; written only when clear,
    /// so a hot key costs no shared write.
    looked_up: AtomicBool,
    /// Set once the registry is removing the breaker, before it leaves the map: threads' caches
    /// of recent lookups stop lending it from then on.
    retired: AtomicBool,
    /// Re-opens in a row straight after failed trials, for the cooldown backoff.
    reopen_streak: AtomicU32,
    /// State of a splitmix64 generator, for jitter and ramp-up admission.
    rng: AtomicU64,
}

/// Builds a [`Breaker`]; see [`Breaker::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    name: Name,
    settings: Settings,
    clock: ClockHandle,
    seed: Option<u64>,
}

/// The share of calls a ramp-up admits at its start.
const RAMP_START: f64 = 0.1;

/// Forwards a [`Settings`] setter to the builder, so the two never drift apart.
macro_rules! forward_settings {
    ($($(#[$doc:meta])* $method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        $(#[$doc])*
        pub fn $method(mut self $(, $arg: $ty)*) -> Self {
            self.settings = self.settings.$method($($arg),*);
            self
        }
    )*};
}

impl Builder {
    forward_settings! {
        /// See [`Settings::max_failures`].
        max_failures(n: u32);
        /// See [`Settings::cooldown`].
        cooldown(cooldown: Duration);
        /// See [`Settings::half_open_calls`].
        half_open_calls(n: u32);
        /// See [`Settings::success_threshold`].
        success_threshold(n: u32);
        /// See [`Settings::net_failures`].
        net_failures(n: u32);
        /// See [`Settings::failure_rate`].
        failure_rate(rate: f64);
        /// See [`Settings::window`].
        window(length: Duration);
        /// See [`Settings::window_calls`].
        window_calls(n: u32);
        /// See [`Settings::min_calls`].
        min_calls(n: u32);
        /// See [`Settings::slow_call`].
        slow_call(threshold: Duration);
        /// See [`Settings::slow_rate`].
        slow_rate(rate: f64);
        /// See [`Settings::max_cooldown`].
        max_cooldown(cap: Duration);
        /// See [`Settings::jitter`].
        jitter(jitter: f64);
        /// See [`Settings::ramp_up`].
        ramp_up(ramp: Duration);
        /// See [`Settings::idle_ttl`].
        idle_ttl(ttl: Duration);
        /// See [`Settings::timeout`].
        timeout(limit: Duration);
    }

    /// Seeds the random draws (jitter, ramp-up admission), so that tests are repeatable.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// See [`Settings::record`].
    pub fn record<T: std::error::Error + 'static>(mut self) -> Self {
        self.settings = self.settings.record::<T>();
        self
    }

    /// See [`Settings::ignore`].
    pub fn ignore<T: std::error::Error + 'static>(mut self) -> Self {
        self.settings = self.settings.ignore::<T>();
        self
    }

    /// Replaces every setting at once.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Reads time from `clock` instead of the system's monotonic clock.
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = ClockHandle::from_clock(clock);
        self
    }

    pub(crate) fn clock_handle(mut self, clock: ClockHandle) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the settings and builds the breaker, closed.
    pub fn build(self) -> Result<Breaker, ConfigError> {
        self.settings.validate(&self.name)?;
        let totals = Totals::new();
        let active = Active::new(self.settings);
        Ok(Breaker {
            word: AtomicU64::new(Word::new(Mode::Closed, 0).0),
            deadline: AtomicU64::new(Deadline::new(0, 0).0),
            settings: SettingsCell::new(active),
            clock: self.clock,
            totals,
            failures: AtomicU64::new(0),
            neutral: AtomicU64::new(0),
            listeners: Listeners::default(),
            registry_listeners: OnceLock::new(),
            looked_up: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            reopen_streak: AtomicU32::new(0),
            rng: AtomicU64::new(self.seed.unwrap_or_else(random_seed)),
            name: self.name,
        })
    }
}

/// A seed that differs between breakers and between runs.
fn random_seed() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    splitmix64(time ^ unique.rotate_left(32))
}

fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The state word a call was admitted under (its mode and generation decide what its outcome
/// may still change), and when it started: read only when slow calls are measured, else a mark
/// ([`UNTIMED`], [`LIMITED`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    admitted: Word,
    started: u64,
}

/// The start of a call admitted while calls were neither timed nor limited in time: it never
/// looks slow, even if slow calls are measured by the time it ends.
const UNTIMED: u64 = u64::MAX;
/// The start of a call admitted while calls were not timed but async ones had a time limit:
/// the clock is not read for it, and it never looks slow either.
const LIMITED: u64 = u64::MAX - 1;
/// The latest start a timed call records, so that no reading is taken for one of the marks
/// above (a clock 584 years past its origin).
const LATEST_START: u64 = u64::MAX - 2;

impl Ticket {
    /// Whether the settings at admission had neither slow calls nor a time limit, so that an
    /// async call need not look its time limit up.
    #[inline(always)]
    pub(crate) fn admitted_untimed(self) -> bool {
        self.started == UNTIMED
    }

    #[inline(always)]
    fn mode(self) -> Mode {
        self.admitted.mode()
    }

    #[inline(always)]
    fn generation(self) -> u32 {
        self.admitted.generation()
    }
}

/// Why a call was turned away, before it becomes an [`Error`]: small enough to travel in
/// registers, so that the 48-byte error is built once, where the caller returns it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rejection {
    Open { retry_after_nanos: u64 },
    ForcedOpen,
    HalfOpenFull,
}

/// The right to make one guarded call, for code that cannot be a closure or a future.
///
/// Report how the call went with [`success`](Permit::success), [`failure`](Permit::failure),
/// [`neutral`](Permit::neutral) or [`record`](Permit::record). Dropping a permit without
/// reporting records nothing and frees its half-open trial slot; dropping it while the thread
/// panics records a failure.
///
/// ```
/// use breaker::Breaker;
///
/// let breaker = Breaker::builder("cache").build()?;
/// let permit = breaker.acquire()?;
/// // ... talk to the cache ...
/// permit.success();
/// assert_eq!(breaker.report().successes(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a permit unreported records nothing"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    ticket: Ticket,
    armed: bool,
    on_drop: OnDrop,
}

/// What dropping an unreported permit records.
#[derive(Clone, Copy)]
enum OnDrop {
    /// A failure if the thread is panicking, else nothing: for code holding the permit itself.
    FailIfPanicking,
    /// Nothing: async calls, whose future may be dropped by an owner unwinding for reasons of
    /// its own, watch their polls instead.
    Neutral,
    /// A failure: a poll of the guarded future panicked.
    Failure,
}

/// Polls a guarded future; a panic inside its poll marks the permit as failed.
struct FailOnPanic<'a, 'b, F> {
    future: Pin<&'a mut F>,
    permit: &'a mut Permit<'b>,
}

impl<F: Future> Future for FailOnPanic<'_, '_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let bomb = MarkFailed(this.permit);
        let poll = this.future.as_mut().poll(cx);
        // Not unwinding: defuse.
        std::mem::forget(bomb);
        poll
    }
}

/// Dropped only while unwinding out of a guarded closure, a poll of a guarded future, or the
/// verdict on either.
pub(crate) struct FailOnUnwindTicket<'a> {
    pub(crate) breaker: &'a Breaker,
    pub(crate) ticket: Ticket,
}

impl Drop for FailOnUnwindTicket<'_> {
    // Inline, passing the values: the guard then needs no stack slot of its own.
    #[inline(always)]
    fn drop(&mut self) {
        self.breaker.unwound(self.ticket);
    }
}

impl<'a> Permit<'a> {
    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        self.finish(Outcome::Success);
    }

    /// The call failed in a way that counts.
    pub fn failure(self) {
        self.finish(Outcome::Failure);
    }

    /// The call ended in a way that says nothing about the dependency's health.
    pub fn neutral(self) {
        self.finish(Outcome::Neutral);
    }

    /// Records `outcome`.
    #[inline]
    pub fn outcome(self, outcome: Outcome) {
        self.finish(outcome);
    }

    /// Records a call's result: `Ok` is a success, and an `Err` is classified by the breaker's
    /// `record` and `ignore` lists.
    #[inline]
    pub fn record<T, E: AsError<Via>, Via>(self, result: &Result<T, E>) {
        let outcome = self.breaker.judge(result);
        self.finish(outcome);
    }

    /// Watches the polls of an async call's future: a panic inside one marks this permit
    /// failed, while dropping the permit otherwise (the caller cancelled, or its owner unwound
    /// for reasons of its own) records nothing.
    pub(crate) fn watch<'p, F: Future>(
        &'p mut self,
        future: Pin<&'p mut F>,
    ) -> impl Future<Output = F::Output> + use<'p, 'a, F> {
        self.on_drop = OnDrop::Neutral;
        FailOnPanic {
            future,
            permit: self,
        }
    }

    /// Runs a sync call under this permit and records `judge`'s verdict; a panic in `f` is a
    /// failure and keeps unwinding.
    #[inline(always)]
    pub(crate) fn run<T, E>(
        self,
        f: impl FnOnce() -> Result<T, E>,
        judge: impl FnOnce(&Result<T, E>) -> Outcome,
    ) -> Result<T, E> {
        let (breaker, ticket) = (self.breaker, self.ticket);
        // The permit's own drop logic is replaced by a guard that only runs on unwind.
        std::mem::forget(self);
        let unwinding = FailOnUnwindTicket { breaker, ticket };
        let result = f();
        // A panicking verdict counts as a failure too, rather than leave a half-open slot taken.
        let outcome = judge(&result);
        std::mem::forget(unwinding);
        breaker.complete(ticket, outcome);
        // Rebuilt variant by variant rather than returned as is: `f` has just written `result`
        // in word-sized stores, and a plain move of a result returned in memory copies it in
        // 16-byte loads that the processor cannot forward from those stores, a stall of
        // several nanoseconds, where the value alone moves in a register. (Written out here:
        // in a helper function the match folds back into a plain move.)
        match result {
            Ok(value) => Ok(value),
            Err(error) => Err(error),
        }
    }

    /// Hands the outcome over to an async call, which records it itself.
    #[inline(always)]
    pub(crate) fn into_ticket(self) -> Ticket {
        let ticket = self.ticket;
        std::mem::forget(self);
        ticket
    }

    /// A poll of the guarded future panicked: dropping the permit records a failure.
    pub(crate) fn mark_failed(&mut self) {
        self.on_drop = OnDrop::Failure;
    }

    #[inline(always)]
    fn finish(mut self, outcome: Outcome) {
        self.armed = false;
        self.breaker.complete(self.ticket, outcome);
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.armed {
            let outcome = match self.on_drop {
                OnDrop::FailIfPanicking if std::thread::panicking() => Outcome::Failure,
                OnDrop::FailIfPanicking | OnDrop::Neutral => Outcome::Neutral,
                OnDrop::Failure => Outcome::Failure,
            };
            self.breaker.complete(self.ticket, outcome);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name)
            .field("state", &self.ticket.mode().state())
            .finish()
    }
}

impl Breaker {
    /// Starts building a breaker named `name`, with the defaults of [`Settings::default`].
    pub fn builder(name: impl Into<Name>) -> Builder {
        Builder {
            name: name.into(),
            settings: Settings::default(),
            clock: ClockHandle::system(),
            seed: None,
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn shared_name(&self) -> &Name {
        &self.name
    }

    /// The settings in force.
    #[inline]
    pub fn settings(&self) -> &Settings {
        &self.active().settings
    }

    #[inline(always)]
    pub(crate) fn active(&self) -> &Active {
        self.settings.get()
    }

    /// Replaces the settings, keeping the state and the lifetime counts. The failure window, if
    /// any, starts empty.
    pub fn reconfigure(&self, settings: Settings) -> Result<(), ConfigError> {
        settings.validate(&self.name)?;
        // A new window counts no success from before.
        self.settings.replace(Active::new(settings));
        Ok(())
    }

    /// Runs `f` if the breaker admits it and records how it went.
    ///
    /// A rejected call returns [`Error`] converted into `E` without running `f`. An `Err` from `f`
    /// counts according to the `record` and `ignore` lists; a panic in `f` counts as a failure and
    /// keeps unwinding.
    #[inline]
    pub fn call<T, E, Via, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        E: CircuitError + AsError<Via>,
    {
        self.call_with(f, |result| self.judge(result))
    }

    /// Like [`call`](Breaker::call), with your own verdict on the result: for failures that an
    /// `Ok` value carries (an HTTP 503 returned as a value) or that a list of types cannot
    /// express. The value is returned to the caller either way.
    ///
    /// ```
    /// use breaker::{Breaker, Outcome};
    ///
    /// struct Response { status: u16 }
    ///
    /// let breaker = Breaker::builder("api").max_failures(1).build()?;
    /// let response = breaker.call_with(
    ///     || Ok::<_, std::io::Error>(Response { status: 503 }),
    ///     |result| match result {
    ///         Ok(r) if r.status >= 500 => Outcome::Failure,
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::Failure,
    ///     },
    /// )?;
    /// assert_eq!(response.status, 503);
    /// assert_eq!(breaker.state(), breaker::State::Open);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn call_with<T, E, F, J>(&self, f: F, judge: J) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        J: FnOnce(&Result<T, E>) -> Outcome,
        E: CircuitError,
    {
        // Not through `acquire`: the error is built only here, where the caller returns it,
        // rather than built, returned and moved again (48 bytes at every step).
        match self.acquire_or_reject() {
            Ok(permit) => permit.run(f, judge),
            Err(rejection) => Err(E::from(self.rejection_error(rejection))),
        }
    }

    /// Awaits `future` if the breaker admits it and records how it went.
    ///
    /// If the returned future is dropped before it finishes (cancelled, timed out by the
    /// caller), the call counts as neither success nor failure and its half-open slot is freed.
    ///
    /// With a [`timeout`](Settings::timeout), a call that runs longer is dropped, counts as a
    /// failure and returns [`Error::Timeout`].
    pub fn call_async<T, E, Via, Fut>(
        &self,
        future: Fut,
    ) -> impl Future<Output = Result<T, E>> + use<'_, T, E, Via, Fut>
    where
        Fut: Future<Output = Result<T, E>>,
        E: CircuitError + AsError<Via>,
    {
        // Not through `call_async_with`: a closure, unlike its `fn` pointer, takes no room in
        // the future (each word of it is a store wherever the future is made).
        CallAsync::new(
            self,
            None,
            future,
            move |result: &Result<T, E>| self.judge(result),
            E::from,
        )
    }

    /// Like [`call_async`](Breaker::call_async), with your own verdict on the result; see
    /// [`call_with`](Breaker::call_with).
    pub fn call_async_with<T, E, Fut, J>(
        &self,
        future: Fut,
        judge: J,
    ) -> CallAsync<'_, Fut, J, fn(Error) -> E>
    where
        Fut: Future<Output = Result<T, E>>,
        J: FnOnce(&Result<T, E>) -> Outcome,
        E: CircuitError,
    {
        CallAsync::new(self, None, future, judge, E::from)
    }

    /// How `result` counts under this breaker's `record` and `ignore` lists: `Ok` is a success;
    /// an `Err` is a failure unless the lists say otherwise.
    #[inline]
    pub fn judge<T, E: AsError<Via>, Via>(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(err) => self.classify_error(err),
        }
    }

    /// Asks to make one call; see [`Permit`].
    #[inline]
    pub fn acquire(&self) -> Result<Permit<'_>, Error> {
        self.acquire_or_reject()
            .map_err(|rejection| self.rejection_error(rejection))
    }

    /// [`acquire`](Self::acquire) for callers that build the error where they return it.
    #[inline(always)]
    pub(crate) fn acquire_or_reject(&self) -> Result<Permit<'_>, Rejection> {
        let ticket = self.admit()?;
        Ok(Permit {
            breaker: self,
            ticket,
            armed: true,
            on_drop: OnDrop::FailIfPanicking,
        })
    }

    /// The state now. An open breaker whose cooldown is over reads as half-open.
    pub fn state(&self) -> State {
        let word = self.load();
        match word.mode() {
            Mode::Open if self.retry_after_in(word).is_none() => State::HalfOpen,
            Mode::Recovering if self.admitted_share_in(word).is_none() => State::Closed,
            mode => mode.state(),
        }
    }

    /// While ramping up after a recovery, the share of calls admitted now, in (0, 1).
    pub fn admitted_share(&self) -> Option<f64> {
        let word = self.load();
        (word.mode() == Mode::Recovering)
            .then(|| self.admitted_share_in(word))
            .flatten()
    }

    /// Time left before an open breaker lets trial calls through; `None` unless it is open.
    pub fn retry_after(&self) -> Option<Duration> {
        let word = self.load();
        (word.mode() == Mode::Open)
            .then(|| self.retry_after_in(word))
            .flatten()
    }

    /// Failures counted toward opening in the current closed period.
    /// For rate-based policies, the failures in the window.
    pub fn failure_count(&self) -> u64 {
        let word = self.load();
        if word.mode().counts_outcomes() {
            let now = self.clock.coarse_nanos();
            let active = self.active();
            active.rules.current_failures(&active.settings, word, now)
        } else {
            0
        }
    }

    /// A snapshot of this breaker: state, settings and lifetime counts.
    pub fn report(&self) -> crate::BreakerReport {
        crate::registry::breaker_report(self, None, Vec::new())
    }

    /// Opens the breaker for a cooldown, as if it had tripped.
    pub fn open(&self) {
        self.set_mode(Mode::Open);
    }

    /// Closes the breaker and resets its failure count.
    pub fn close(&self) {
        self.reopen_streak.store(0, Ordering::Relaxed);
        self.set_mode(Mode::Closed);
    }

    /// Lets trial calls through now, without waiting for the cooldown.
    pub fn half_open(&self) {
        self.set_mode(Mode::HalfOpen);
    }

    /// Rejects every call until [`close`](Breaker::close).
    pub fn force_open(&self) {
        self.set_mode(Mode::ForcedOpen);
    }

    /// Lets every call through and never trips until [`close`](Breaker::close).
    pub fn disable(&self) {
        self.set_mode(Mode::Disabled);
    }

    /// Calls `listener` for every event of this breaker.
    pub fn on_event(&self, listener: impl Fn(&Event<'_>) + Send + Sync + 'static) {
        self.listeners.add(Box::new(listener));
        self.settings.observe();
    }

    /// Calls `listener(from, to)` whenever this breaker changes state.
    pub fn on_state_change(&self, listener: impl Fn(State, State) + Send + Sync + 'static) {
        self.on_event(move |event| {
            if let Event::StateChange { from, to, .. } = *event {
                listener(from, to);
            }
        });
    }

    /// Time of the last keyed lookup, for idle eviction.
    pub(crate) fn coarse_now(&self) -> u64 {
        self.clock.coarse_nanos()
    }

    /// For a lookup served by a thread's cache: marks the breaker as looked up, for the
    /// registry's idle sweep, unless it is retired, which this tells.
    #[inline]
    pub(crate) fn mark_looked_up(&self) -> bool {
        if self.retired.load(Ordering::Acquire) {
            return false;
        }
        if !self.looked_up.load(Ordering::Relaxed) {
            self.looked_up.store(true, Ordering::Relaxed);
        }
        true
    }

    /// Called by the registry before the breaker leaves its map. A lookup that happens after
    /// the removal sees the mark, since the map's removal releases it.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Whether the breaker was looked up since the last call, which clears the mark.
    pub(crate) fn take_looked_up(&self) -> bool {
        self.looked_up.swap(false, Ordering::Relaxed)
    }

    pub(crate) fn attach_registry_listeners(&self, listeners: Arc<Listeners>) {
        let _ = self.registry_listeners.set(listeners);
        self.notice_registry_listeners();
    }

    /// Called when the registry gains a listener, and when the breaker joins a registry.
    pub(crate) fn notice_registry_listeners(&self) {
        if self.registry_listeners.get().is_some_and(|l| !l.is_empty()) {
            self.settings.observe();
        }
    }

    pub(crate) fn totals(&self) -> (u64, u64, u64, u64) {
        (
            self.totals.read(Kind::Success),
            self.failures.load(Ordering::Relaxed),
            self.totals.read(Kind::Rejection),
            self.neutral.load(Ordering::Relaxed),
        )
    }

    /// Bytes this breaker holds on the heap, not counting its name: the published settings and
    /// the per-thread counter cells of `threads` threads.
    pub fn heap_bytes(&self, threads: usize) -> usize {
        std::mem::size_of::<Active>()
            + self.active().rules.window_heap_bytes()
            + self.settings().heap_bytes()
            + threads * Totals::CELL_BYTES
    }

    #[inline]
    fn load(&self) -> Word {
        Word(self.word.load(Ordering::Acquire))
    }

    fn cas(&self, current: Word, new: Word) -> Result<(), Word> {
        self.word
            .compare_exchange(current.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(Word)
    }

    /// For an open `word`: the time left, or `None` once the cooldown is over.
    fn retry_after_in(&self, word: Word) -> Option<Duration> {
        self.nanos_left_in(word).map(Duration::from_nanos)
    }

    /// [`retry_after_in`](Self::retry_after_in) in nanoseconds.
    fn nanos_left_in(&self, word: Word) -> Option<u64> {
        let (now, until) = self.deadline_of(word)?;
        (now < until).then(|| until - now)
    }

    /// For a recovering `word`: the share of calls to admit now, or `None` once the ramp is over.
    fn admitted_share_in(&self, word: Word) -> Option<f64> {
        let (now, until) = self.deadline_of(word)?;
        let ramp = crate::clock::duration_to_nanos(self.settings().get_ramp_up()?);
        if now >= until {
            return None;
        }
        let elapsed = ramp.saturating_sub(until - now);
        Some(RAMP_START + (1.0 - RAMP_START) * (elapsed as f64 / ramp as f64))
    }

    /// The current time and the deadline of `word`'s generation (end of the cooldown or of the
    /// ramp). `None` if the word changed mode meanwhile.
    fn deadline_of(&self, mut word: Word) -> Option<(u64, u64)> {
        let mode = word.mode();
        loop {
            let deadline = Deadline(self.deadline.load(Ordering::Acquire));
            if deadline.generation() == word.generation() {
                return Some((self.clock.coarse_nanos(), deadline.until_nanos()));
            }
            // The deadline belongs to a transition in progress; read both again.
            word = self.load();
            if word.mode() != mode {
                return None;
            }
        }
    }

    fn random_unit(&self) -> f64 {
        let state = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        (splitmix64(state) >> 11) as f64 / (1u64 << 53) as f64
    }

    #[inline(always)]
    pub(crate) fn admit(&self) -> Result<Ticket, Rejection> {
        let mut word = self.load();
        if !word.is(Mode::Closed) {
            if word.is(Mode::Open) {
                // The other common case, during an outage: still cooling down. One deadline
                // load and one coarse clock read, inline; everything else goes the slow way.
                let deadline = Deadline(self.deadline.load(Ordering::Acquire));
                if deadline.generation() == word.generation() {
                    let now = self.clock.coarse_nanos();
                    let until = deadline.until_nanos();
                    if now < until {
                        return Err(self.reject(Rejection::Open {
                            retry_after_nanos: until - now,
                        }));
                    }
                }
            }
            word = self.admit_slow(word)?;
        }
        Ok(Ticket {
            admitted: word,
            started: self.start_time(),
        })
    }

    /// When slow calls are measured, the time the call starts; otherwise a mark, and nothing is
    /// read (a time limit alone does not need the breaker's clock).
    #[inline]
    fn start_time(&self) -> u64 {
        let published = self.settings.load();
        if published.tags() & TIMED == 0 {
            UNTIMED
        } else if published.active().times_calls {
            self.clock.coarse_nanos().min(LATEST_START)
        } else {
            LIMITED
        }
    }

    /// Admission in any other case: the word the call is admitted under. Returned in two
    /// registers; the caller reads the start time. Cold: without the hint the mode is
    /// decoded as a switch, a few more instructions before every closed call.
    #[cold]
    #[inline(never)]
    fn admit_slow(&self, mut word: Word) -> Result<Word, Rejection> {
        loop {
            match word.mode() {
                Mode::Closed | Mode::Disabled => return Ok(word),
                Mode::Recovering => match self.admitted_share_in(word) {
                    None => {
                        // The ramp is over: fully closed, in the same generation, so calls
                        // admitted during the ramp still count.
                        let closed = Word(word.0 & !0b111 | Mode::Closed as u64);
                        match self.transition(word, closed) {
                            Ok(()) => return Ok(closed),
                            Err(actual) => word = actual,
                        }
                    }
                    Some(share) if self.random_unit() < share => return Ok(word),
                    Some(_) => {
                        return Err(self.reject(Rejection::Open {
                            retry_after_nanos: 0,
                        }));
                    }
                },
                Mode::ForcedOpen => return Err(self.reject(Rejection::ForcedOpen)),
                Mode::Open => {
                    if let Some(retry_after_nanos) = self.nanos_left_in(word) {
                        return Err(self.reject(Rejection::Open { retry_after_nanos }));
                    }
                    let trial = word.next(Mode::HalfOpen).with_in_flight(1);
                    match self.transition(word, trial) {
                        Ok(()) => return Ok(trial),
                        Err(actual) => word = actual,
                    }
                }
                Mode::HalfOpen => {
                    if word.in_flight() >= self.settings().half_open_calls {
                        return Err(self.reject(Rejection::HalfOpenFull));
                    }
                    match self.cas(word, word.with_in_flight(word.in_flight() + 1)) {
                        Ok(()) => return Ok(word),
                        Err(actual) => word = actual,
                    }
                }
            }
        }
    }

    /// Not `#[cold]`: during an outage, rejecting is what the breaker does all day.
    #[inline(always)]
    fn reject(&self, rejection: Rejection) -> Rejection {
        self.totals.bump(Kind::Rejection);
        if self.settings.load().tags() & OBSERVED != 0 {
            self.emit_rejected(rejection);
        }
        rejection
    }

    #[inline(never)]
    fn emit_rejected(&self, rejection: Rejection) {
        let error = self.rejection_error(rejection);
        self.emit(|name| Event::Rejected {
            name,
            error: &error,
        });
    }

    /// The error a rejection returns to the caller.
    #[inline(always)]
    pub(crate) fn rejection_error(&self, rejection: Rejection) -> Error {
        let name = self.name.clone();
        match rejection {
            Rejection::Open { retry_after_nanos } => Error::Open {
                name,
                retry_after: Duration::from_nanos(retry_after_nanos),
            },
            Rejection::ForcedOpen => Error::ForcedOpen { name },
            Rejection::HalfOpenFull => Error::HalfOpenFull { name },
        }
    }

    /// How an error counts under the `record` and `ignore` lists: a failure, a success (not
    /// recorded), or neutral (ignored).
    pub fn classify_error<E: AsError<Via>, Via>(&self, err: &E) -> Outcome {
        let classifier = self.active().settings.classifier();
        if classifier.is_trivial() {
            Outcome::Failure
        } else {
            classifier.classify(err.as_error())
        }
    }

    #[inline(always)]
    pub(crate) fn complete(&self, ticket: Ticket, outcome: Outcome) {
        match outcome {
            Outcome::Success => {}
            Outcome::Failure => return self.failed(ticket),
            Outcome::Neutral => return self.ended_neutral(ticket),
        }
        self.totals.bump(Kind::Success);
        // The common case: the word is still the closed one of the call's generation with no
        // failure count, where a success changes nothing, and nobody listens. Only a call
        // admitted while closed or recovering (which closes in the same generation) sees that
        // word. Without a window that is two loads and no shared write; with a time window, a
        // check that the success's bucket has begun (the success itself is the count above).
        if self.load() == ticket.admitted.settled() {
            let published = self.settings.load();
            if published.tags() == 0 {
                return;
            }
            if published.tags() & OBSERVED == 0 {
                let active = published.active();
                // Without slow calls to time, a time window needs one comparison.
                if !active.times_calls
                    && let Some(window) = active.rules.time_window()
                    && window.holds_success(self.clock.coarse_nanos())
                {
                    return;
                }
                if let Some(sample) = self.record(active, ticket, false) {
                    self.closed_success_recorded(ticket, sample);
                }
                return;
            }
        }
        self.success_slow(ticket);
    }

    /// A guarded call or its verdict panicked.
    #[cold]
    #[inline(never)]
    fn unwound(&self, ticket: Ticket) {
        self.complete(ticket, Outcome::Failure);
    }

    /// A success, already counted, that may change the state or is listened to.
    #[inline(never)]
    fn success_slow(&self, ticket: Ticket) {
        // The lifetime totals already count the success; a time window counts it only if the
        // call was admitted in the window's closed period.
        match ticket.mode() {
            Mode::Closed | Mode::Recovering => {
                if !self.counted(ticket, false) {
                    self.active().rules.exclude_success();
                }
            }
            Mode::HalfOpen => {
                // Before the trial can close the breaker and begin a window.
                self.active().rules.exclude_success();
                self.trial_success(ticket);
            }
            _ => self.active().rules.exclude_success(),
        }
        self.emit(|name| Event::Success { name });
    }

    /// A success already added to the window, which may open the breaker by `sample`.
    #[inline(never)]
    fn closed_success_recorded(&self, ticket: Ticket, sample: Sample) {
        self.step_closed(ticket, false, Some(sample));
        self.emit(|name| Event::Success { name });
    }

    #[cold]
    #[inline(never)]
    fn failed(&self, ticket: Ticket) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        match ticket.mode() {
            Mode::Closed | Mode::Recovering => {
                self.counted(ticket, true);
            }
            Mode::HalfOpen => self.trial_failure(ticket),
            _ => {}
        }
        self.emit(|name| Event::Failure { name });
    }

    #[cold]
    #[inline(never)]
    fn ended_neutral(&self, ticket: Ticket) {
        self.neutral.fetch_add(1, Ordering::Relaxed);
        if ticket.mode() == Mode::HalfOpen {
            self.trial_neutral(ticket);
        }
        self.emit(|name| Event::Neutral { name });
    }

    /// An outcome of a call admitted while closed or recovering. Returns whether it counted:
    /// not if the breaker has left that closed period since.
    #[inline]
    fn counted(&self, ticket: Ticket, failure: bool) -> bool {
        let word = self.load();
        if !word.mode().counts_outcomes() || word.generation() != ticket.generation() {
            return false;
        }
        let sample = self.record(self.active(), ticket, failure);
        self.step_closed(ticket, failure, sample);
        true
    }

    /// Adds an outcome to the window, if there is one, reading the time only when the window
    /// or the slow-call measure needs it. Returns the window's view when the outcome may open
    /// the breaker.
    #[inline(always)]
    fn record(&self, active: &Active, ticket: Ticket, failure: bool) -> Option<Sample> {
        let now = if active.rules.needs_clock() || active.times_calls {
            self.clock.coarse_nanos()
        } else {
            0
        };
        let elapsed = active
            .times_calls
            .then(|| now.saturating_sub(ticket.started));
        active
            .rules
            .record(&active.settings, failure, now, elapsed, &self.totals)
    }

    /// Applies a recorded outcome of a call admitted while closed or recovering to the state.
    fn step_closed(&self, ticket: Ticket, failure: bool, sample: Option<Sample>) {
        let Active {
            settings, rules, ..
        } = self.active();
        let mut word = self.load();
        while word.mode().counts_outcomes() && word.generation() == ticket.generation() {
            let result = match rules.step(settings, word, failure, sample) {
                Step::Stay => return,
                Step::Write(next) => self.cas(word, next),
                Step::Trip => self.trip(word, false),
            };
            match result {
                Ok(()) => return,
                Err(actual) => word = actual,
            }
        }
    }

    #[cold]
    fn trial_success(&self, ticket: Ticket) {
        let mut word = self.load();
        loop {
            if word.mode() != Mode::HalfOpen || word.generation() != ticket.generation() {
                return;
            }
            let successes = word.count() + 1;
            let result = if successes >= self.settings().success_threshold {
                self.recover(word)
            } else {
                let in_flight = word.in_flight().saturating_sub(1);
                self.cas(word, word.with_count(successes).with_in_flight(in_flight))
            };
            match result {
                Ok(()) => return,
                Err(actual) => word = actual,
            }
        }
    }

    #[cold]
    fn trial_failure(&self, ticket: Ticket) {
        let mut word = self.load();
        while word.mode() == Mode::HalfOpen && word.generation() == ticket.generation() {
            match self.trip(word, true) {
                Ok(()) => return,
                Err(actual) => word = actual,
            }
        }
    }

    #[cold]
    fn trial_neutral(&self, ticket: Ticket) {
        let mut word = self.load();
        while word.mode() == Mode::HalfOpen && word.generation() == ticket.generation() {
            let freed = word.with_in_flight(word.in_flight().saturating_sub(1));
            match self.cas(word, freed) {
                Ok(()) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// Opens the breaker from `from`, starting a new cooldown. A re-open straight after a failed
    /// trial doubles the cooldown (when `max_cooldown` is set); jitter is drawn here, once.
    fn trip(&self, from: Word, reopen: bool) -> Result<(), Word> {
        let streak = if reopen {
            self.reopen_streak.load(Ordering::Relaxed).saturating_add(1)
        } else {
            0
        };
        let cooldown = self.settings().cooldown_for(streak, self.random_unit());
        let open = from.next(Mode::Open);
        self.publish_deadline(open.generation(), cooldown);
        self.transition(from, open)?;
        self.active().rules.forget_reset(open.generation());
        self.reopen_streak.store(streak, Ordering::Relaxed);
        Ok(())
    }

    /// Closes a half-open breaker whose trials succeeded, through the ramp if there is one.
    fn recover(&self, from: Word) -> Result<(), Word> {
        let active = self.active();
        let to = match active.settings.get_ramp_up() {
            Some(ramp) => {
                let recovering = from.next(Mode::Recovering);
                self.publish_deadline(recovering.generation(), ramp);
                recovering
            }
            None => from.next(Mode::Closed),
        };
        active.rules.reset(&Closing {
            generation: to.generation(),
            live: &|| self.load().generation(),
            again: false,
        });
        self.transition(from, to)?;
        self.reopen_streak.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Writes the end of the cooldown (or ramp) of `generation`, before that state is published.
    /// A writer that lost a race and comes late never overwrites a newer deadline.
    fn publish_deadline(&self, generation: u32, after: Duration) {
        let until = self
            .clock
            .fresh_nanos()
            .saturating_add(crate::clock::duration_to_nanos(after));
        let new = Deadline::new(generation, until);
        let _ = self
            .deadline
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                let age = generations_since(generation, Deadline(current).generation());
                (age < GEN_MASK / 2).then_some(new.0)
            });
    }

    /// Moves from `from` to `to` and tells the listeners, if the word is still `from`.
    fn transition(&self, from: Word, to: Word) -> Result<(), Word> {
        self.cas(from, to)?;
        let (from, to) = (from.mode().state(), to.mode().state());
        if from != to {
            self.emit(|name| Event::StateChange { name, from, to });
        }
        Ok(())
    }

    fn set_mode(&self, mode: Mode) {
        let mut word = self.load();
        // The generation this call emptied the window for, to empty it again on a retry: the
        // outcome that made the transition fail may be in it.
        let mut emptied_for = None;
        loop {
            let next = word.next(mode);
            if mode == Mode::Open {
                let cooldown = self.settings().cooldown_for(0, self.random_unit());
                self.publish_deadline(next.generation(), cooldown);
            }
            if mode == Mode::Closed {
                let generation = next.generation();
                let emptied = self.active().rules.reset(&Closing {
                    generation,
                    live: &|| self.load().generation(),
                    again: emptied_for == Some(generation),
                });
                emptied_for = emptied.then_some(generation);
            }
            match self.transition(word, next) {
                Ok(()) => {
                    if mode == Mode::Open {
                        self.active().rules.forget_reset(next.generation());
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    #[inline]
    fn emit<'a>(&'a self, event: impl FnOnce(&'a str) -> Event<'a>) {
        if self.settings.load().tags() & OBSERVED == 0 {
            return;
        }
        let registry = self.registry_listeners.get().filter(|l| !l.is_empty());
        let event = event(&self.name);
        self.listeners.emit(&event);
        if let Some(registry) = registry {
            registry.emit(&event);
        }
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .field("settings", self.settings())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn fail() -> Result<(), std::io::Error> {
        Err(std::io::Error::other("down"))
    }

    fn ok() -> Result<(), std::io::Error> {
        Ok(())
    }

    fn breaker(clock: &ManualClock, settings: Settings) -> Breaker {
        Breaker::builder("t")
            .settings(settings)
            .clock(clock.clone())
            .seed(7)
            .build()
            .unwrap()
    }

    /// Opens when half of at least 4 calls in the last 10 s failed.
    fn half_of_four_in_ten_seconds() -> Settings {
        Settings::default()
            .failure_rate(0.5)
            .window(Duration::from_secs(10))
            .min_calls(4)
    }

    #[test]
    fn failure_rate_over_time_trips_exactly_at_min_calls_and_rate() {
        let clock = ManualClock::new();
        let b = breaker(&clock, half_of_four_in_ten_seconds());
        let _ = b.call(fail);
        let _ = b.call(ok);
        let _ = b.call(fail);
        assert_eq!(b.state(), State::Closed, "3 calls is below min_calls");
        // The fourth call is a success, yet it is the one that fills min_calls at 50 %.
        let _ = b.call(ok);
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn failures_that_age_out_of_the_window_stop_counting() {
        let clock = ManualClock::new();
        let b = breaker(
            &clock,
            Settings::default()
                .failure_rate(0.5)
                .window(Duration::from_secs(10))
                .min_calls(2),
        );
        let _ = b.call(fail);
        clock.advance(Duration::from_secs(10));
        let _ = b.call(ok);
        let _ = b.call(ok);
        let _ = b.call(fail);
        assert_eq!(b.state(), State::Closed, "1 of 3 in the window failed");
    }

    #[test]
    fn successes_leaving_the_window_trip_it_at_the_next_success() {
        let clock = ManualClock::new();
        let b = breaker(&clock, half_of_four_in_ten_seconds());
        for _ in 0..3 {
            let _ = b.call(ok);
        }
        clock.advance(Duration::from_secs(9));
        let _ = b.call(fail);
        let _ = b.call(fail);
        let _ = b.call(ok);
        assert_eq!(b.state(), State::Closed, "2 of 6 failed");
        // A second later the first three successes have left the window: 2 of 4.
        clock.advance(Duration::from_secs(1));
        let _ = b.call(ok);
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn a_success_from_an_earlier_closed_period_is_not_in_the_window() {
        let clock = ManualClock::new();
        let b = breaker(&clock, half_of_four_in_ten_seconds().min_calls(2));
        let late = b.acquire().unwrap();
        b.open();
        b.close();
        let _ = b.call(ok);
        // Admitted before the breaker opened: it says nothing of the new closed period.
        late.success();
        let _ = b.call(fail);
        assert_eq!(b.state(), State::Open, "1 of 2, not 1 of 3");
        assert_eq!(b.report().successes(), 2, "still counted for life");
    }

    #[test]
    fn a_trial_that_lost_the_race_to_close_leaves_the_new_periods_window_alone() {
        let windows = [
            half_of_four_in_ten_seconds(),
            Settings::default().failure_rate(0.5).window_calls(10),
        ];
        // Reconfigured just after the close, the window is a fresh one.
        for (settings, reconfigure) in windows
            .into_iter()
            .flat_map(|s| [(s.clone(), false), (s, true)])
        {
            let settings = settings.min_calls(2).half_open_calls(2);
            let b = breaker(&ManualClock::new(), settings.clone());
            b.half_open();
            let first = b.acquire().unwrap();
            let _second = b.acquire().unwrap();
            // The second trial's thread read the half-open word and will try to close from it.
            let stale = b.load();
            first.success();
            assert_eq!(b.state(), State::Closed);
            if reconfigure {
                b.reconfigure(settings).unwrap();
            }
            let _ = b.call(fail);
            assert!(b.recover(stale).is_err());
            let _ = b.call(fail);
            assert_eq!(
                b.state(),
                State::Open,
                "2 of 2 calls of the closed period failed (reconfigured: {reconfigure})"
            );
        }
    }

    /// Puts `b` half-open at `generation`, as the trial cycles of an outage that long would.
    fn half_open_at(b: &Breaker, generation: u32) {
        let open = generation.wrapping_sub(1) & GEN_MASK;
        b.deadline.store(Deadline::new(open, 0).0, Ordering::SeqCst);
        b.word
            .store(Word::new(Mode::HalfOpen, generation).0, Ordering::SeqCst);
    }

    #[test]
    fn a_close_long_after_the_last_empties_the_window() {
        for settings in [
            half_of_four_in_ten_seconds().min_calls(2),
            Settings::default()
                .failure_rate(0.5)
                .window_calls(10)
                .min_calls(2),
        ] {
            // Half a lap of generations on (millions of failed trials, as a long outage has),
            // and a whole lap: the same generation number as the last close.
            for later in [GEN_MASK / 2 + 2, GEN_MASK + 1] {
                let b = breaker(&ManualClock::new(), settings.clone());
                b.half_open();
                let _ = b.call(ok);
                let target = b.load().generation().wrapping_add(later) & GEN_MASK;
                let _ = b.call(fail);
                let _ = b.call(fail);
                assert_eq!(b.state(), State::Open);
                half_open_at(&b, target.wrapping_sub(1) & GEN_MASK);
                let _ = b.call(ok);
                assert_eq!((b.state(), b.load().generation()), (State::Closed, target));
                let _ = b.call(fail);
                assert_eq!(
                    b.state(),
                    State::Closed,
                    "1 call of the new period, below min_calls ({later} generations on)"
                );
            }
        }
    }

    #[test]
    fn a_trip_that_forgets_its_reset_claim_late_leaves_a_newer_claim_alone() {
        for forget in [false, true] {
            let b = breaker(
                &ManualClock::new(),
                Settings::default()
                    .failure_rate(0.5)
                    .window_calls(10)
                    .min_calls(2)
                    .half_open_calls(2),
            );
            b.half_open();
            let _first = b.acquire().unwrap();
            let _second = b.acquire().unwrap();
            // Both trials succeed; B read the half-open word and closes from it (recover).
            let stale = b.load();
            let to = stale.next(Mode::Closed);
            let emptied = b.active().rules.reset(&Closing {
                generation: to.generation(),
                live: &|| {
                    // B's live check sees the half-open generation ...
                    let live = b.load().generation();
                    // ... then A wins the close and the new period records a failure ...
                    b.recover(stale).unwrap();
                    assert_eq!(b.state(), State::Closed);
                    let _ = b.call(fail);
                    // ... and a thread that tripped generations ago (held up after its
                    // transition, say by a state-change listener) forgets its claim.
                    if forget {
                        b.active().rules.forget_reset(stale.generation() - 1);
                    }
                    live
                },
                again: false,
            });
            assert!(b.transition(stale, to).is_err(), "B lost the close");
            let _ = b.call(fail);
            assert_eq!(
                (emptied, b.state()),
                (false, State::Open),
                "2 of 2 calls of the closed period failed (late forget_reset: {forget})"
            );
        }
    }

    #[test]
    fn call_window_wraps_around() {
        let clock = ManualClock::new();
        let b = breaker(
            &clock,
            Settings::default()
                .failure_rate(0.6)
                .window_calls(5)
                .min_calls(5),
        );
        for result in [fail(), fail(), ok(), ok(), ok(), ok()] {
            let _ = b.call(|| result);
        }
        assert_eq!(b.state(), State::Closed);
        // The window is now [f, ok, ok, ok, ok]; two failures give 2 of 5, three give 3 of 5.
        let _ = b.call(fail);
        let _ = b.call(fail);
        assert_eq!(b.state(), State::Closed);
        let _ = b.call(fail);
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn net_failures_forgive_one_failure_per_success() {
        let clock = ManualClock::new();
        let b = breaker(&clock, Settings::default().net_failures(3));
        for result in [fail(), fail(), ok(), fail()] {
            let _ = b.call(|| result);
        }
        assert_eq!((b.state(), b.failure_count()), (State::Closed, 2));
        let _ = b.call(fail);
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn slow_successes_open_the_breaker() {
        let clock = ManualClock::new();
        let b = breaker(
            &clock,
            Settings::default()
                .slow_call(Duration::from_secs(2))
                .slow_rate(0.5)
                .min_calls(2),
        );
        let slow = || {
            clock.advance(Duration::from_millis(2001));
            ok()
        };
        let _ = b.call(slow);
        let _ = b.call(|| {
            clock.advance(Duration::from_secs(2)); // exactly at the threshold is not slow
            ok()
        });
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn a_call_admitted_before_slow_calls_were_measured_is_not_slow() {
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(3600));
        let b = breaker(&clock, Settings::default());
        let untimed = b.acquire().unwrap();
        b.reconfigure(
            Settings::default()
                .slow_call(Duration::from_secs(1))
                .slow_rate(0.5)
                .min_calls(1),
        )
        .unwrap();
        untimed.success();
        assert_eq!(b.state(), State::Closed, "it has no start to be slow from");
        let timed = b.acquire().unwrap();
        clock.advance(Duration::from_secs(2));
        timed.success();
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn cooldown_doubles_after_failed_trials_and_resets_on_close() {
        let clock = ManualClock::new();
        let b = breaker(
            &clock,
            Settings::default()
                .max_failures(1)
                .cooldown(Duration::from_secs(1))
                .max_cooldown(Duration::from_secs(3)),
        );
        let _ = b.call(fail);
        assert_eq!(b.retry_after(), Some(Duration::from_secs(1)));
        for expected in [2, 3, 3] {
            clock.advance(Duration::from_secs(5));
            let _ = b.call(fail); // the trial fails
            assert_eq!(b.retry_after(), Some(Duration::from_secs(expected)));
        }
        clock.advance(Duration::from_secs(5));
        let _ = b.call(ok);
        let _ = b.call(fail);
        assert_eq!(b.retry_after(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn jitter_stretches_each_cooldown_within_bounds_drawn_once() {
        let clock = ManualClock::new();
        let b = breaker(
            &clock,
            Settings::default()
                .max_failures(1)
                .cooldown(Duration::from_secs(10))
                .jitter(0.2),
        );
        let mut seen = Vec::new();
        for _ in 0..50 {
            let _ = b.call(fail);
            let first = b.retry_after().unwrap();
            assert_eq!(b.retry_after(), Some(first), "drawn once, not per check");
            assert!(first >= Duration::from_secs(10) && first <= Duration::from_secs(12));
            seen.push(first);
            b.close();
        }
        seen.dedup();
        assert!(seen.len() > 10, "jitter varies: {seen:?}");
    }

    #[test]
    fn ramp_up_admits_a_growing_share_then_closes() {
        let clock = ManualClock::new();
        let b = breaker(
            &clock,
            Settings::default()
                .max_failures(100)
                .ramp_up(Duration::from_secs(10)),
        );
        b.half_open();
        let _ = b.call(ok);
        assert_eq!(b.state(), State::Recovering);
        let admitted = |b: &Breaker| (0..1000).filter(|_| b.call(ok).is_ok()).count();
        let early = admitted(&b);
        assert!((50..200).contains(&early), "about 10 %: {early}");
        clock.advance(Duration::from_secs(5));
        let middle = admitted(&b);
        assert!((450..650).contains(&middle), "about 55 %: {middle}");
        clock.advance(Duration::from_secs(5));
        assert_eq!(admitted(&b), 1000);
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn the_call_that_ends_a_ramp_up_is_timed_from_its_own_start() {
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(3600));
        let b = breaker(
            &clock,
            Settings::default()
                .max_failures(100)
                .slow_call(Duration::from_secs(1))
                .slow_rate(0.5)
                .window_calls(10)
                .min_calls(1)
                .ramp_up(Duration::from_secs(10)),
        );
        b.half_open();
        let _ = b.call(ok);
        assert_eq!(b.state(), State::Recovering);
        clock.advance(Duration::from_secs(10));
        // Admitted by the ramp's end, and instantaneous: not slow.
        assert!(b.call(ok).is_ok());
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn a_panicking_verdict_counts_as_a_failure_and_frees_the_half_open_slot() {
        let clock = ManualClock::new();
        let b = breaker(&clock, Settings::default().half_open_calls(1));
        b.half_open();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            b.call_with(ok, |_| -> Outcome { panic!("verdict") })
        }));
        assert!(panicked.is_err());
        assert_eq!(b.state(), State::Open, "the trial failed");
        assert_eq!(b.report().failures(), 1);
    }

    #[test]
    fn ramp_up_reopens_when_the_policy_trips() {
        let clock = ManualClock::new();
        let b = breaker(
            &clock,
            Settings::default()
                .max_failures(2)
                .ramp_up(Duration::from_secs(10)),
        );
        b.half_open();
        let _ = b.call(ok);
        let mut failures = 0;
        while failures < 2 {
            if b.call(fail)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::Other)
            {
                failures += 1;
            }
        }
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn a_late_outcome_from_an_earlier_generation_is_dropped() {
        let clock = ManualClock::new();
        let b = breaker(&clock, Settings::default().max_failures(1));
        let slow = b.acquire().unwrap();
        b.open();
        b.half_open();
        slow.success(); // admitted while closed; must not close the half-open breaker
        assert_eq!(b.state(), State::HalfOpen);
    }
}
