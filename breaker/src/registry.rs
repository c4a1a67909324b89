//! Named breakers, process-wide or per registry.
//!
//! Lookups of existing names take no lock and allocate nothing: the map is a lock-free hash map
//! read under an epoch guard, and keyed names (`"http:{host}"`) are formatted into a buffer on the
//! stack. Creating a breaker, reconfiguring one and taking a report are the slow paths.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::breaker::Breaker;
use crate::clock::{Clock, ClockHandle, duration_to_nanos};
use crate::error::ConfigError;
use crate::event::{Event, Listeners};
use crate::name::Name;
use crate::report::{BreakerReport, Conflict, Report, Site};
use crate::settings::Settings;
use crate::state::State;

/// The process-wide registry that `#[circuit]` functions use.
///
/// ```
/// let report = breaker::registry().report();
/// assert!(report.is_healthy());
/// ```
pub fn registry() -> &'static Registry {
    static GLOBAL: LazyLock<Registry> = LazyLock::new(Registry::new);
    &GLOBAL
}

struct Entry {
    breaker: Arc<Breaker>,
    site: Option<Site>,
    /// The settings the first declaration asked for; later declarations are compared with
    /// these, not with settings an operator set since.
    declared: Settings,
    conflicts: Mutex<Vec<Conflict>>,
    /// Breakers cached in a `#[circuit]` function's static are never evicted: the function would
    /// keep using the old one while the registry made a new one.
    evictable: bool,
    /// Set by lookups, cleared by the idle sweep. A lookup reads no clock and writes only when
    /// the flag is clear, so hot keys cost no shared write.
    used: AtomicBool,
    /// Coarse time at which a sweep last found the entry used (or its creation).
    last_seen: AtomicU64,
}

impl Entry {
    #[inline]
    fn touch(&self) {
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
    }

    /// For the idle sweep at `now`: whether the entry went unused for `ttl`.
    fn idle_for(&self, now: u64, ttl: Duration) -> bool {
        if self.used.swap(false, Ordering::Relaxed) {
            self.last_seen.store(now, Ordering::Relaxed);
            return false;
        }
        now.saturating_sub(self.last_seen.load(Ordering::Relaxed)) >= duration_to_nanos(ttl)
    }

    fn note_conflict(&self, settings: &Settings, site: Option<Site>) {
        if self.declared == *settings {
            return;
        }
        let mut conflicts = lock(&self.conflicts);
        if site.is_some() && conflicts.iter().any(|c| c.site == site) {
            return;
        }
        conflicts.push(Conflict {
            site,
            settings: settings.clone(),
        });
    }
}

type Map = papaya::HashMap<Name, Entry, foldhash::fast::RandomState>;

/// A set of named breakers, created lazily on first use.
///
/// When two places declare the same name with different settings, the first one wins; the
/// report lists the others as [`Conflict`]s, and nothing panics.
pub struct Registry {
    entries: Map,
    /// Settings set by [`configure`](Registry::configure), which win over declarations.
    configured: Mutex<HashMap<Name, Settings>>,
    listeners: Arc<Listeners>,
    clock: ClockHandle,
    /// When to look for idle breakers next (coarse nanoseconds; 0 when none can idle out).
    next_sweep: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry whose breakers use the system clock. Isolated from [`registry()`]: for
    /// tests and for applications that keep breakers per tenant.
    pub fn new() -> Registry {
        Registry::with_handle(ClockHandle::system())
    }

    /// An empty registry whose breakers read time from `clock`.
    pub fn with_clock<C: Clock>(clock: C) -> Registry {
        Registry::with_handle(ClockHandle::from_clock(clock))
    }

    fn with_handle(clock: ClockHandle) -> Registry {
        Registry {
            // Blocking resizes: with papaya's default incremental ones, lookups after growth
            // may search a half-migrated table as well (measured: 150-240 ns instead of 20 ns
            // for keys inserted late). Breakers are created rarely and looked up constantly.
            entries: papaya::HashMap::builder()
                .hasher(foldhash::fast::RandomState::default())
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            configured: Mutex::default(),
            listeners: Arc::default(),
            clock,
            next_sweep: AtomicU64::new(0),
        }
    }

    /// The breaker named `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Arc<Breaker>> {
        self.entries.pin().get(name).map(|e| Arc::clone(&e.breaker))
    }

    /// The breaker named `name`, created with `settings` if it does not exist yet. If it exists
    /// with other settings, it is returned unchanged and the caller's location is recorded as a
    /// conflict.
    #[track_caller]
    pub fn get_or_create(
        &self,
        name: impl Into<Name>,
        settings: Settings,
    ) -> Result<Arc<Breaker>, ConfigError> {
        let name = name.into();
        let site = caller_site();
        self.lookup(&name, Some(&settings), site, true)
            .map_or_else(|| self.create(name, settings, site, true), Ok)
    }

    /// The breaker named `name`, created with `make()`'s settings if it does not exist yet.
    /// Looking up an existing name allocates nothing, which makes this the call for breakers
    /// keyed by a value (one per host, tenant or shard).
    ///
    /// ```
    /// use breaker::{Registry, Settings};
    /// use std::time::Duration;
    ///
    /// let registry = Registry::new();
    /// let per_host = || Settings::default().max_failures(3).idle_ttl(Duration::from_secs(600));
    /// let a = registry.get_or_create_with("http:a.example", per_host)?;
    /// let b = registry.get_or_create_with("http:b.example", per_host)?;
    /// a.force_open();
    /// assert!(b.state() == breaker::State::Closed);
    /// # Ok::<(), breaker::ConfigError>(())
    /// ```
    #[track_caller]
    pub fn get_or_create_with(
        &self,
        name: &str,
        make: impl FnOnce() -> Settings,
    ) -> Result<Arc<Breaker>, ConfigError> {
        let site = caller_site();
        self.lookup(name, None, site, true).map_or_else(
            || self.create(Name::from(name.to_owned()), make(), site, true),
            Ok,
        )
    }

    /// The breaker named by `key` (formatted on the stack), created with `make()`'s settings if
    /// it does not exist yet; for the `#[circuit(name = "http:{host}")]` form.
    pub(crate) fn keyed(
        &self,
        key: fmt::Arguments<'_>,
        make: impl FnOnce() -> (Settings, Site),
    ) -> Arc<Breaker> {
        let mut buffer = KeyBuffer::new();
        let name = buffer.format(key);
        match self.lookup(name, None, None, true) {
            Some(breaker) => breaker,
            None => {
                let (settings, site) = make();
                self.create_infallible(Name::from(name.to_owned()), settings, site, true)
            }
        }
    }

    /// For `#[circuit]` functions whose breaker is cached in a static.
    pub(crate) fn declared(&self, name: Name, settings: Settings, site: Site) -> Arc<Breaker> {
        match self.lookup(&name, Some(&settings), Some(site), false) {
            Some(breaker) => breaker,
            None => self.create_infallible(name, settings, site, false),
        }
    }

    /// The existing breaker, noting a conflict if `declared` settings differ from the first
    /// declaration's.
    #[inline]
    fn lookup(
        &self,
        name: &str,
        declared: Option<&Settings>,
        site: Option<Site>,
        evictable: bool,
    ) -> Option<Arc<Breaker>> {
        let entries = self.entries.pin();
        let entry = entries.get(name)?;
        if let Some(settings) = declared {
            entry.note_conflict(settings, site);
        }
        if evictable {
            entry.touch();
        }
        Some(Arc::clone(&entry.breaker))
    }

    fn create(
        &self,
        name: Name,
        declared: Settings,
        site: Option<Site>,
        evictable: bool,
    ) -> Result<Arc<Breaker>, ConfigError> {
        let settings = lock(&self.configured)
            .get(&name)
            .cloned()
            .unwrap_or_else(|| declared.clone());
        let breaker = Breaker::builder(name.clone())
            .settings(settings)
            .clock_handle(self.clock.clone())
            .build()?;
        Ok(self.publish(name, breaker, declared, site, evictable))
    }

    /// Creation for declarations the macro checked at compile time. Should their settings still
    /// be refused (an operator's `configure` cannot be: it is validated), the defaults stand in
    /// rather than a panic in the caller's function.
    fn create_infallible(
        &self,
        name: Name,
        declared: Settings,
        site: Site,
        evictable: bool,
    ) -> Arc<Breaker> {
        self.create(name.clone(), declared.clone(), Some(site), evictable)
            .unwrap_or_else(|_| {
                let breaker = Breaker::builder(name.clone())
                    .clock_handle(self.clock.clone())
                    .build()
                    .unwrap_or_else(|_| unreachable!("the default settings are valid"));
                self.publish(name, breaker, declared, Some(site), evictable)
            })
    }

    fn publish(
        &self,
        name: Name,
        breaker: Breaker,
        declared: Settings,
        site: Option<Site>,
        evictable: bool,
    ) -> Arc<Breaker> {
        let idle_ttl = breaker.settings().get_idle_ttl();
        breaker.attach_registry_listeners(Arc::clone(&self.listeners));
        let now = breaker.coarse_now();
        let fresh = Arc::new(breaker);
        let entries = self.entries.pin();
        let entry = Entry {
            breaker: Arc::clone(&fresh),
            site,
            declared: declared.clone(),
            conflicts: Mutex::default(),
            evictable,
            used: AtomicBool::new(false),
            last_seen: AtomicU64::new(now),
        };
        let breaker = match entries.try_insert(name, entry) {
            Ok(entry) => Arc::clone(&entry.breaker),
            Err(occupied) => {
                // Another thread created it since our lookup; the first one stays.
                occupied.current.note_conflict(&declared, site);
                Arc::clone(&occupied.current.breaker)
            }
        };
        // A registry listener added while this breaker was being inserted may have missed it.
        breaker.notice_registry_listeners();
        drop(entries);
        if let Some(ttl) = idle_ttl.filter(|_| evictable) {
            self.maybe_sweep(now, ttl);
        }
        breaker
    }

    /// Evicts idle breakers at most twice per `ttl`, on the path that creates new ones, so an
    /// unbounded key space stays bounded without a background thread.
    fn maybe_sweep(&self, now: u64, ttl: Duration) {
        let next = self.next_sweep.load(Ordering::Relaxed);
        if next != 0 && now < next {
            return;
        }
        let after = now.saturating_add(duration_to_nanos(ttl) / 2).max(1);
        if self
            .next_sweep
            .compare_exchange(next, after, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.evict_idle();
        }
    }

    /// Removes breakers that have an `idle_ttl`, were not looked up for that long, and are not
    /// held open or disabled by an operator. Idleness is noticed by these sweeps: a breaker
    /// goes once a sweep finds it unused since a sweep at least `idle_ttl` earlier. Breakers cached by `#[circuit]` functions stay.
    /// Returns how many were removed. The registry also does this by itself, as it creates
    /// breakers.
    pub fn evict_idle(&self) -> usize {
        let entries = self.entries.pin();
        let idle: Vec<Name> = entries
            .iter()
            .filter(|(_, e)| {
                let Some(ttl) = e.breaker.settings().get_idle_ttl().filter(|_| e.evictable) else {
                    return false;
                };
                e.idle_for(e.breaker.coarse_now(), ttl)
                    && !matches!(e.breaker.state(), State::ForcedOpen | State::Disabled)
            })
            .map(|(name, _)| name.clone())
            .collect();
        idle.iter().filter(|n| entries.remove(*n).is_some()).count()
    }

    /// Adds a breaker built elsewhere. If one of that name exists, it is kept and returned, and
    /// `breaker` is dropped.
    pub fn insert(&self, breaker: Breaker) -> Arc<Breaker> {
        let name = breaker.shared_name().clone();
        let declared = breaker.settings().clone();
        self.publish(name, breaker, declared, None, true)
    }

    /// Sets the settings of the breaker named `name`, now if it exists (keeping its state) and
    /// whenever it is created otherwise, overruling what the code declares: operators tune from
    /// a config file without recompiling.
    ///
    /// ```
    /// use breaker::{Registry, Settings};
    ///
    /// let registry = Registry::new();
    /// registry.configure("db", Settings::default().max_failures(10))?;
    /// let db = registry.get_or_create("db", Settings::default().max_failures(3))?;
    /// assert_eq!(db.settings().get_policy(), breaker::Policy::Consecutive { max_failures: 10 });
    ///
    /// let err = registry.configure("db", Settings::default().half_open_calls(0)).unwrap_err();
    /// assert_eq!(err.field(), "half_open_calls");
    /// # Ok::<(), breaker::ConfigError>(())
    /// ```
    pub fn configure(&self, name: &str, settings: Settings) -> Result<(), ConfigError> {
        settings.validate(name)?;
        let mut configured = lock(&self.configured);
        if let Some(breaker) = self.get(name) {
            breaker.reconfigure(settings.clone())?;
        }
        configured.insert(Name::from(name.to_owned()), settings);
        Ok(())
    }

    /// Removes the breaker named `name`. Code holding it keeps a working breaker; the next
    /// lookup of the name creates a fresh one.
    pub fn remove(&self, name: &str) -> Option<Arc<Breaker>> {
        self.entries
            .pin()
            .remove(name)
            .map(|e| Arc::clone(&e.breaker))
    }

    /// The number of breakers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no breakers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Calls `listener` for every event of every breaker in this registry, present and future.
    pub fn on_event(&self, listener: impl Fn(&Event<'_>) + Send + Sync + 'static) {
        self.listeners.add(Box::new(listener));
        // Breakers created from now on notice the listener when they join; tell the others.
        for (_, entry) in self.entries.pin().iter() {
            entry.breaker.notice_registry_listeners();
        }
    }

    /// Calls `listener(name, from, to)` whenever a breaker in this registry changes state.
    pub fn on_state_change(&self, listener: impl Fn(&str, State, State) + Send + Sync + 'static) {
        self.on_event(move |event| {
            if let Event::StateChange { name, from, to } = *event {
                listener(name, from, to);
            }
        });
    }

    /// A snapshot of every breaker: state, settings, counts and conflicts.
    pub fn report(&self) -> Report {
        let mut breakers: Vec<BreakerReport> = self
            .entries
            .pin()
            .iter()
            .map(|(_, e)| breaker_report(&e.breaker, e.site, lock(&e.conflicts).clone()))
            .collect();
        breakers.sort_by(|a, b| a.name.cmp(&b.name));
        Report { breakers }
    }
}

#[track_caller]
fn caller_site() -> Option<Site> {
    let caller = Location::caller();
    Some(Site {
        file: caller.file(),
        line: caller.line(),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; if something did, the data is still whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Formats a key on the stack; keys longer than the buffer go to the heap.
struct KeyBuffer {
    bytes: [u8; KEY_BUFFER],
    len: usize,
    spilled: Option<String>,
}

const KEY_BUFFER: usize = 128;

impl KeyBuffer {
    fn new() -> KeyBuffer {
        KeyBuffer {
            bytes: [0; KEY_BUFFER],
            len: 0,
            spilled: None,
        }
    }

    fn format(&mut self, key: fmt::Arguments<'_>) -> &str {
        if let Some(literal) = key.as_str() {
            return literal;
        }
        // Writing to the buffer never fails; a Display impl that errors leaves a partial key.
        let _ = self.write_fmt(key);
        match &self.spilled {
            Some(s) => s,
            // SAFETY: `write_str` only ever copies whole `&str`s in, so the bytes are UTF-8.
            None => unsafe { std::str::from_utf8_unchecked(&self.bytes[..self.len]) },
        }
    }
}

impl fmt::Write for KeyBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(spilled) = &mut self.spilled {
            spilled.push_str(s);
        } else if self.len + s.len() <= KEY_BUFFER {
            self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut spilled = String::with_capacity(self.len + s.len());
            // SAFETY: as in `format`.
            spilled.push_str(unsafe { std::str::from_utf8_unchecked(&self.bytes[..self.len]) });
            spilled.push_str(s);
            self.spilled = Some(spilled);
        }
        Ok(())
    }
}

pub(crate) fn breaker_report(
    breaker: &Breaker,
    site: Option<Site>,
    conflicts: Vec<Conflict>,
) -> BreakerReport {
    let (successes, failures, rejections, neutral) = breaker.totals();
    BreakerReport {
        name: breaker.name().to_owned(),
        state: breaker.state(),
        settings: breaker.settings().clone(),
        failure_count: breaker.failure_count(),
        retry_after: breaker.retry_after(),
        admitted_share: breaker.admitted_share(),
        successes,
        failures,
        rejections,
        neutral,
        site,
        conflicts,
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("breakers", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn keys_format_on_the_stack_and_spill_when_long() {
        let mut short = KeyBuffer::new();
        assert_eq!(
            short.format(format_args!("http:{}", "a.example")),
            "http:a.example"
        );
        assert!(short.spilled.is_none());
        let long = "x".repeat(300);
        let mut buffer = KeyBuffer::new();
        assert_eq!(buffer.format(format_args!("k:{long}")), format!("k:{long}"));
    }

    #[test]
    fn idle_keyed_breakers_are_evicted_but_declared_ones_stay() {
        let clock = ManualClock::new();
        let registry = Registry::with_clock(clock.clone());
        let ttl = Duration::from_secs(60);
        let site = Site {
            file: "t.rs",
            line: 1,
        };
        let settings = || (Settings::default().idle_ttl(ttl), site);
        registry.keyed(format_args!("k:{}", 1), settings);
        registry.keyed(format_args!("k:{}", 2), settings);
        registry.declared(Name::from("static"), settings().0, site);
        clock.advance(Duration::from_secs(30));
        registry.keyed(format_args!("k:{}", 2), settings); // k:2 stays in use
        clock.advance(Duration::from_secs(30));
        assert_eq!(registry.evict_idle(), 1);
        assert!(registry.get("k:1").is_none());
        assert!(registry.get("k:2").is_some());
        assert!(registry.get("static").is_some());
    }

    #[test]
    fn creating_breakers_sweeps_idle_ones_by_itself() {
        let clock = ManualClock::new();
        let registry = Registry::with_clock(clock.clone());
        let site = Site {
            file: "t.rs",
            line: 1,
        };
        let settings = || (Settings::default().idle_ttl(Duration::from_secs(10)), site);
        for i in 0..100 {
            registry.keyed(format_args!("k:{i}"), settings);
            clock.advance(Duration::from_secs(1));
        }
        assert!(registry.len() <= 16, "{} breakers left", registry.len());
    }
}
