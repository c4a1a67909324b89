//! The breaker: admission, outcomes, transitions, manual control.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::classify::{AsError, CircuitError, Outcome};
use crate::clock::{Clock, ClockHandle};
use crate::error::{ConfigError, Error};
use crate::event::{Event, Listeners};
use crate::name::Name;
use crate::policy::FailureStep;
use crate::settings::{Settings, SettingsCell};
use crate::state::{Deadline, GEN_MASK, Mode, State, Word};
use crate::totals::{Kind, Totals};

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
    /// Re-opens since the breaker last closed; reserved for cooldown backoff.
    reopen_streak: AtomicU32,
}

/// Builds a [`Breaker`]; see [`Breaker::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    name: Name,
    settings: Settings,
    clock: ClockHandle,
}

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
        Ok(Breaker {
            word: AtomicU64::new(Word::new(Mode::Closed, 0).0),
            deadline: AtomicU64::new(Deadline::new(0, 0).0),
            settings: SettingsCell::new(self.settings),
            clock: self.clock,
            totals: Totals::new(),
            failures: AtomicU64::new(0),
            neutral: AtomicU64::new(0),
            listeners: Listeners::default(),
            registry_listeners: OnceLock::new(),
            reopen_streak: AtomicU32::new(0),
            name: self.name,
        })
    }
}

/// Which state a call was admitted in, and in which generation of it.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    generation: u32,
    mode: Mode,
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
}

impl Permit<'_> {
    /// The call succeeded.
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
    pub fn outcome(self, outcome: Outcome) {
        self.finish(outcome);
    }

    /// Records a call's result: `Ok` is a success, and an `Err` is classified by the breaker's
    /// `record` and `ignore` lists.
    pub fn record<T, E: AsError<Via>, Via>(self, result: &Result<T, E>) {
        let outcome = match result {
            Ok(_) => Outcome::Success,
            Err(err) => self.breaker.classify(err),
        };
        self.finish(outcome);
    }

    fn finish(mut self, outcome: Outcome) {
        self.armed = false;
        self.breaker.complete(self.ticket, outcome);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.armed {
            let outcome = if std::thread::panicking() {
                Outcome::Failure
            } else {
                Outcome::Neutral
            };
            self.breaker.complete(self.ticket, outcome);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name)
            .field("state", &self.ticket.mode.state())
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
    pub fn settings(&self) -> &Settings {
        self.settings.get()
    }

    /// Replaces the settings, keeping the state and counts.
    pub fn reconfigure(&self, settings: Settings) -> Result<(), ConfigError> {
        settings.validate(&self.name)?;
        self.settings.replace(settings);
        Ok(())
    }

    /// Runs `f` if the breaker admits it and records how it went.
    ///
    /// A rejected call returns [`Error`] converted into `E` without running `f`. An `Err` from `f`
    /// counts according to the `record` and `ignore` lists; a panic in `f` counts as a failure and
    /// keeps unwinding.
    pub fn call<T, E, Via, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        E: CircuitError + AsError<Via>,
    {
        let permit = self.acquire()?;
        let result = f();
        permit.record(&result);
        result
    }

    /// Awaits `future` if the breaker admits it and records how it went.
    ///
    /// If the returned future is dropped before it finishes (cancelled, timed out by the
    /// caller), the call counts as neither success nor failure and its half-open slot is freed.
    pub async fn call_async<T, E, Via, Fut>(&self, future: Fut) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
        E: CircuitError + AsError<Via>,
    {
        let permit = self.acquire()?;
        let result = future.await;
        permit.record(&result);
        result
    }

    /// Asks to make one call; see [`Permit`].
    #[inline]
    pub fn acquire(&self) -> Result<Permit<'_>, Error> {
        let ticket = self.admit()?;
        Ok(Permit {
            breaker: self,
            ticket,
            armed: true,
        })
    }

    /// The state now. An open breaker whose cooldown is over reads as half-open.
    pub fn state(&self) -> State {
        let word = self.load();
        match word.mode() {
            Mode::Open if self.retry_after_in(word).is_none() => State::HalfOpen,
            mode => mode.state(),
        }
    }

    /// Time left before an open breaker lets trial calls through; `None` unless it is open.
    pub fn retry_after(&self) -> Option<Duration> {
        let word = self.load();
        (word.mode() == Mode::Open)
            .then(|| self.retry_after_in(word))
            .flatten()
    }

    /// Failures counted toward opening in the current closed period.
    pub fn failure_count(&self) -> u32 {
        let word = self.load();
        match word.mode() {
            Mode::Closed => self.settings().policy.current_failures(word),
            _ => 0,
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
    }

    /// Calls `listener(from, to)` whenever this breaker changes state.
    pub fn on_state_change(&self, listener: impl Fn(State, State) + Send + Sync + 'static) {
        self.on_event(move |event| {
            if let Event::StateChange { from, to, .. } = *event {
                listener(from, to);
            }
        });
    }

    pub(crate) fn attach_registry_listeners(&self, listeners: Arc<Listeners>) {
        let _ = self.registry_listeners.set(listeners);
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
        std::mem::size_of::<Settings>()
            + self.settings().classifier.record.capacity() * std::mem::size_of::<crate::classify::ErrorKind>()
            + self.settings().classifier.ignore.capacity() * std::mem::size_of::<crate::classify::ErrorKind>()
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
    fn retry_after_in(&self, mut word: Word) -> Option<Duration> {
        loop {
            let deadline = Deadline(self.deadline.load(Ordering::Acquire));
            if deadline.generation() == word.generation() {
                let now = self.clock.coarse_nanos();
                let until = deadline.until_nanos();
                return (now < until).then(|| Duration::from_nanos(until - now));
            }
            // The deadline belongs to a transition in progress; read both again.
            let again = self.load();
            if again.mode() != Mode::Open {
                return None;
            }
            word = again;
        }
    }

    #[inline]
    fn admit(&self) -> Result<Ticket, Error> {
        let word = self.load();
        if word.mode() == Mode::Closed {
            return Ok(Ticket {
                generation: word.generation(),
                mode: Mode::Closed,
            });
        }
        self.admit_slow(word)
    }

    #[inline(never)]
    fn admit_slow(&self, mut word: Word) -> Result<Ticket, Error> {
        loop {
            let ticket = Ticket {
                generation: word.generation(),
                mode: word.mode(),
            };
            match word.mode() {
                Mode::Closed | Mode::Disabled => return Ok(ticket),
                Mode::ForcedOpen => {
                    return Err(self.reject(Error::ForcedOpen {
                        name: self.name.clone(),
                    }));
                }
                Mode::Open => {
                    if let Some(retry_after) = self.retry_after_in(word) {
                        return Err(self.reject(Error::Open {
                            name: self.name.clone(),
                            retry_after,
                        }));
                    }
                    let trial = word.next(Mode::HalfOpen).with_in_flight(1);
                    match self.transition(word, trial) {
                        Ok(()) => {
                            return Ok(Ticket {
                                generation: trial.generation(),
                                mode: Mode::HalfOpen,
                            });
                        }
                        Err(actual) => word = actual,
                    }
                }
                Mode::HalfOpen => {
                    if word.in_flight() >= self.settings().half_open_calls {
                        return Err(self.reject(Error::HalfOpenFull {
                            name: self.name.clone(),
                        }));
                    }
                    match self.cas(word, word.with_in_flight(word.in_flight() + 1)) {
                        Ok(()) => return Ok(ticket),
                        Err(actual) => word = actual,
                    }
                }
            }
        }
    }

    #[cold]
    fn reject(&self, error: Error) -> Error {
        self.totals.bump(Kind::Rejection);
        self.emit(|name| Event::Rejected {
            name,
            error: &error,
        });
        error
    }

    fn classify<E: AsError<Via>, Via>(&self, err: &E) -> Outcome {
        let classifier = &self.settings().classifier;
        if classifier.is_trivial() {
            Outcome::Failure
        } else {
            classifier.classify(err.as_error())
        }
    }

    #[inline]
    fn complete(&self, ticket: Ticket, outcome: Outcome) {
        match outcome {
            Outcome::Success => {
                self.totals.bump(Kind::Success);
                match ticket.mode {
                    Mode::Closed => self.closed_success(ticket),
                    Mode::HalfOpen => self.trial_success(ticket),
                    _ => {}
                }
                self.emit(|name| Event::Success { name });
            }
            Outcome::Failure => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                match ticket.mode {
                    Mode::Closed => self.closed_failure(ticket),
                    Mode::HalfOpen => self.trial_failure(ticket),
                    _ => {}
                }
                self.emit(|name| Event::Failure { name });
            }
            Outcome::Neutral => {
                self.neutral.fetch_add(1, Ordering::Relaxed);
                if ticket.mode == Mode::HalfOpen {
                    self.trial_neutral(ticket);
                }
                self.emit(|name| Event::Neutral { name });
            }
        }
    }

    #[inline]
    fn closed_success(&self, ticket: Ticket) {
        let mut word = self.load();
        loop {
            if word.mode() != Mode::Closed || word.generation() != ticket.generation {
                return;
            }
            let Some(next) = self.settings().policy.on_success(word) else {
                return;
            };
            match self.cas(word, next) {
                Ok(()) => return,
                Err(actual) => word = actual,
            }
        }
    }

    #[cold]
    fn closed_failure(&self, ticket: Ticket) {
        let mut word = self.load();
        loop {
            if word.mode() != Mode::Closed || word.generation() != ticket.generation {
                return;
            }
            let result = match self.settings().policy.on_failure(word) {
                FailureStep::Count(next) => self.cas(word, next),
                FailureStep::Trip => self.trip(word),
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
            if word.mode() != Mode::HalfOpen || word.generation() != ticket.generation {
                return;
            }
            let successes = word.count() + 1;
            let result = if successes >= self.settings().success_threshold {
                let closed = self.transition(word, word.next(Mode::Closed));
                if closed.is_ok() {
                    self.reopen_streak.store(0, Ordering::Relaxed);
                }
                closed
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
        while word.mode() == Mode::HalfOpen && word.generation() == ticket.generation {
            match self.trip(word) {
                Ok(()) => {
                    self.reopen_streak.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    #[cold]
    fn trial_neutral(&self, ticket: Ticket) {
        let mut word = self.load();
        while word.mode() == Mode::HalfOpen && word.generation() == ticket.generation {
            let freed = word.with_in_flight(word.in_flight().saturating_sub(1));
            match self.cas(word, freed) {
                Ok(()) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// Opens the breaker from `from`, starting a new cooldown.
    fn trip(&self, from: Word) -> Result<(), Word> {
        let open = from.next(Mode::Open);
        self.publish_deadline(open.generation());
        self.transition(from, open)
    }

    /// Writes the end of the cooldown for the open state of `generation`, before that state is
    /// published. A writer that lost a race and comes late never overwrites a newer deadline.
    fn publish_deadline(&self, generation: u32) {
        let cooldown = crate::clock::duration_to_nanos(self.settings().cooldown);
        let until = self.clock.now_nanos().saturating_add(cooldown);
        let new = Deadline::new(generation, until);
        let _ = self
            .deadline
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                let age = generation.wrapping_sub(Deadline(current).generation()) & GEN_MASK;
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
        loop {
            let next = word.next(mode);
            if mode == Mode::Open {
                self.publish_deadline(next.generation());
            }
            match self.transition(word, next) {
                Ok(()) => return,
                Err(actual) => word = actual,
            }
        }
    }

    #[inline]
    fn emit<'a>(&'a self, event: impl FnOnce(&'a str) -> Event<'a>) {
        let registry = self.registry_listeners.get().filter(|l| !l.is_empty());
        if self.listeners.is_empty() && registry.is_none() {
            return;
        }
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
