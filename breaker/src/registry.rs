//! Named breakers, process-wide or per registry.
//!
//! Lookups of existing names take no lock and allocate nothing. Each thread first asks its
//! [cache of recent lookups](crate::lookup_cache), which answers a hot name without any locked
//! instruction. Otherwise the map, a lock-free hash map read under an epoch guard, hashes the
//! name as a few words and compares it with a key stored in the entry (inline when short).
//! Keyed names (`"http:{host}"`) are assembled on the stack; borrow-scoped lookups
//! ([`Registry::with_or_create`], keyed `#[circuit]` functions) use the breaker without touching
//! its reference count. Creating a breaker, reconfiguring one and taking a report are the slow
//! paths.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::breaker::Breaker;
use crate::clock::{Clock, ClockHandle, duration_to_nanos};
use crate::error::ConfigError;
use crate::event::{Event, Listeners};
use crate::lookup_cache;
use crate::name::{KeyBuffer, Name, short_words, words};
use crate::report::{BreakerReport, Conflict, Report, Site};
use crate::settings::Settings;
use crate::state::State;

/// The process-wide registry that `#[circuit]` functions use.
///
/// ```
/// let report = breaker::registry().report();
/// assert!(report.is_healthy());
/// ```
#[inline]
pub fn registry() -> &'static Registry {
    static GLOBAL: LazyLock<Registry> = LazyLock::new(|| Registry {
        cached: true,
        ..Registry::new()
    });
    &GLOBAL
}

/// A map entry: what a lookup reads, in 24 bytes after its 40-byte key (one cache line in all),
/// and the rest boxed.
struct Entry {
    breaker: Arc<Breaker>,
    /// Set by lookups in the map, cleared by the idle sweep. Written only when clear, so hot
    /// keys cost no shared write; kept here, in the line the lookup has just read, rather than
    /// in the breaker. (Lookups served by a thread's cache mark the breaker instead.)
    used: AtomicBool,
    /// Breakers cached in a `#[circuit]` function's static are never evicted: the function would
    /// keep using the old one while the registry made a new one.
    evictable: bool,
    cold: Box<Cold>,
}

/// What only declarations, sweeps and reports read.
struct Cold {
    site: Option<Site>,
    /// The settings the first declaration asked for; later declarations are compared with
    /// these, not with settings an operator set since.
    declared: Settings,
    conflicts: Mutex<Vec<Conflict>>,
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

    /// For the idle sweep at `now`: whether the entry went unused for `ttl`, looked up neither
    /// in the map nor in a thread's cache. Clears both marks.
    fn idle_for(&self, now: u64, ttl: Duration) -> bool {
        if self.used.swap(false, Ordering::Relaxed) | self.breaker.take_looked_up() {
            self.cold.last_seen.store(now, Ordering::Relaxed);
            return false;
        }
        now.saturating_sub(self.cold.last_seen.load(Ordering::Relaxed)) >= duration_to_nanos(ttl)
    }

    fn note_conflict(&self, settings: &Settings, site: Option<Site>) {
        if self.cold.declared == *settings {
            return;
        }
        let mut conflicts = lock(&self.cold.conflicts);
        if site.is_some() && conflicts.iter().any(|c| c.site == site) {
            return;
        }
        conflicts.push(Conflict {
            site,
            settings: settings.clone(),
        });
    }
}

type Map = papaya::HashMap<Key, Entry, foldhash::fast::RandomState>;

/// A name as the map keeps it: its length and its [`words`], three of them inline for a name
/// of up to [`SHORT`](crate::name::SHORT) bytes. Lookups hash and compare names as these words, whether they come
/// as a `&str` ([`StrQuery`]) or assembled on the stack ([`BufferQuery`]): a few word
/// comparisons and two multiplies for a short name, no byte loop and no `memcmp`.
#[derive(Clone, PartialEq, Eq)]
struct Key {
    len: usize,
    words: KeyWords,
}

#[derive(Clone, PartialEq, Eq)]
enum KeyWords {
    /// The name's words, zero past its end.
    Short([u64; 3]),
    Long(Box<[u64]>),
}

impl Key {
    fn new(name: &str) -> Key {
        let bytes = name.as_bytes();
        let words = match short_words(bytes) {
            Some(words) => KeyWords::Short(words),
            None => KeyWords::Long(words(bytes).collect()),
        };
        Key {
            len: bytes.len(),
            words,
        }
    }
}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.words {
            KeyWords::Short(words) => hash_short(*words, self.len, state),
            KeyWords::Long(words) => hash_long(words.iter().copied(), self.len, state),
        }
    }
}

/// The hash of a short name: two of foldhash's seeded multiplies, the length with the last
/// word. The same for a [`Key`] and for queries.
#[inline]
fn hash_short<H: Hasher>([a, b, c]: [u64; 3], len: usize, state: &mut H) {
    state.write_u128(pair(a, b));
    state.write_u128(pair(c, len as u64));
}

/// The hash of a long name: its words by pairs, then the length with the last one or zero.
fn hash_long<H: Hasher>(mut words: impl Iterator<Item = u64>, len: usize, state: &mut H) {
    loop {
        match (words.next(), words.next()) {
            (Some(low), Some(high)) => state.write_u128(pair(low, high)),
            (last, _) => return state.write_u128(pair(last.unwrap_or(0), len as u64)),
        }
    }
}

/// Whether two short names' words are equal: three word comparisons. (Comparing the arrays
/// with `==` compiled to byte-vector loads of words just stored separately, which stall.)
#[inline]
fn same(a: &[u64; 3], b: &[u64; 3]) -> bool {
    (a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) == 0
}

#[inline]
fn pair(low: u64, high: u64) -> u128 {
    u128::from(low) | u128::from(high) << 64
}

/// A lookup by `&str`, whose words are read from the string (once, for a short one).
struct StrQuery<'a> {
    name: &'a [u8],
    short: Option<[u64; 3]>,
}

impl<'a> StrQuery<'a> {
    #[inline]
    fn new(name: &'a str) -> StrQuery<'a> {
        let name = name.as_bytes();
        StrQuery {
            name,
            short: short_words(name),
        }
    }
}

impl Hash for StrQuery<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.short {
            Some(short) => hash_short(short, self.name.len(), state),
            None => hash_long(words(self.name), self.name.len(), state),
        }
    }
}

impl papaya::Equivalent<Key> for StrQuery<'_> {
    #[inline]
    fn equivalent(&self, key: &Key) -> bool {
        key.len == self.name.len()
            && match (&key.words, &self.short) {
                (KeyWords::Short(stored), Some(short)) => same(short, stored),
                (KeyWords::Long(stored), None) => stored.iter().copied().eq(words(self.name)),
                _ => false,
            }
    }
}

/// A lookup by a name assembled on the stack, already in words.
struct BufferQuery<'a>(&'a KeyBuffer);

impl Hash for BufferQuery<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (key, len) = (self.0, self.0.len());
        match key.short_words() {
            Some(words) => hash_short(words, len, state),
            None => hash_long(
                key.long_words().unwrap_or_default().iter().copied(),
                len,
                state,
            ),
        }
    }
}

impl papaya::Equivalent<Key> for BufferQuery<'_> {
    #[inline]
    fn equivalent(&self, key: &Key) -> bool {
        key.len == self.0.len()
            && match &key.words {
                KeyWords::Short(stored) => self.0.short_words().is_some_and(|w| same(&w, stored)),
                KeyWords::Long(stored) => Some(&**stored) == self.0.long_words(),
            }
    }
}

/// A set of named breakers, created lazily on first use.
///
/// When two places declare the same name with different settings, the first one wins; the
/// report lists the others as [`Conflict`]s, and nothing panics.
///
/// In the process-wide [`registry()`], each thread keeps the breakers it looked up by a name
/// of up to 24 bytes (64 of them inline; a thread that uses more names gets a second level of
/// up to 4 096 on the heap, 192 KiB at most), and answers a repeated name from there without
/// touching the shared map. A breaker being removed is not lent from there any more; its memory
/// is freed once every thread that cached it has reused the slot, dropped it from its second
/// level (which it does after removals) or exited.
pub struct Registry {
    entries: Map,
    /// Settings set by [`configure`](Registry::configure), which win over declarations.
    configured: Mutex<HashMap<Name, Settings>>,
    listeners: Arc<Listeners>,
    clock: ClockHandle,
    /// Whether lookups go through threads' caches first: only in the process-wide registry,
    /// which is never dropped, so that no cache keeps a dropped registry's breakers (and its
    /// listeners) alive.
    cached: bool,
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
            cached: false,
            next_sweep: AtomicU64::new(0),
        }
    }

    /// The breaker named `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Arc<Breaker>> {
        self.entries
            .pin()
            .get(&StrQuery::new(name))
            .map(|e| Arc::clone(&e.breaker))
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
        self.declared_lookup(&name, &settings, site, true)
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
        let query = StrQuery::new(name);
        let cached = self.cache_query(name.len(), query.short);
        match self.find(&query, cached, Arc::clone) {
            Ok(breaker) => Ok(breaker),
            Err(_) => self.create(Name::from(name.to_owned()), make(), caller_site(), true),
        }
    }

    /// Runs `call` with the breaker named `name`, created with `make()`'s settings if it does
    /// not exist yet, and returns its answer; `Err` only if the breaker had to be created and
    /// the settings are invalid (then `call` does not run).
    ///
    /// The fastest lookup for breakers keyed by a value (one per host, tenant or shard): an
    /// existing name costs a hash, a probe and a comparison (or, in [`registry()`], a look in
    /// the thread's cache of recent lookups), allocates nothing and, unlike
    /// [`get_or_create_with`](Registry::get_or_create_with), leaves the breaker's reference count
    /// alone. `call` runs with the breaker borrowed from that cache or under the map's read
    /// guard, which only delays freeing the memory of breakers removed meanwhile: it may use the
    /// registry, even remove this very breaker.
    ///
    /// ```
    /// use breaker::{Registry, Settings};
    ///
    /// let registry = Registry::new();
    /// let per_host = || Settings::default().max_failures(3);
    /// let fetch = |host: &str| -> Result<String, breaker::Error> {
    ///     registry
    ///         .with_or_create(&format!("http:{host}"), per_host, |breaker| {
    ///             breaker.call(|| Ok::<_, breaker::Error>(format!("fetched from {host}")))
    ///         })
    ///         .expect("valid settings")
    /// };
    /// assert_eq!(fetch("a.example")?, "fetched from a.example");
    /// assert!(registry.get("http:a.example").is_some());
    /// # Ok::<(), breaker::Error>(())
    /// ```
    #[track_caller]
    pub fn with_or_create<R>(
        &self,
        name: &str,
        make: impl FnOnce() -> Settings,
        call: impl FnOnce(&Breaker) -> R,
    ) -> Result<R, ConfigError> {
        let query = StrQuery::new(name);
        let cached = self.cache_query(name.len(), query.short);
        match self.find(&query, cached, |breaker| call(breaker)) {
            Ok(answer) => Ok(answer),
            Err(call) => {
                let breaker =
                    self.create(Name::from(name.to_owned()), make(), caller_site(), true)?;
                Ok(call(&breaker))
            }
        }
    }

    /// Runs `call` with the breaker named `key`, created with `make()`'s settings if it does
    /// not exist yet; for sync `#[circuit(name = "http:{host}")]` functions.
    #[inline]
    pub(crate) fn with_keyed<R>(
        &self,
        key: &KeyBuffer,
        make: impl FnOnce() -> (Settings, Site),
        call: impl FnOnce(&Breaker) -> R,
    ) -> R {
        let cached = self.cache_query(key.len(), key.short_words());
        match self.find(&BufferQuery(key), cached, |breaker| call(breaker)) {
            Ok(answer) => answer,
            Err(call) => call(&self.create_keyed(key, make)),
        }
    }

    /// The breaker named `key`, created with `make()`'s settings if it does not exist yet; for
    /// async `#[circuit(name = "http:{host}")]` functions, whose call outlives any guard.
    #[inline]
    pub(crate) fn keyed(
        &self,
        key: &KeyBuffer,
        make: impl FnOnce() -> (Settings, Site),
    ) -> Arc<Breaker> {
        let cached = self.cache_query(key.len(), key.short_words());
        match self.find(&BufferQuery(key), cached, Arc::clone) {
            Ok(breaker) => breaker,
            Err(_) => self.create_keyed(key, make),
        }
    }

    /// What to ask threads' caches for a name of `len` bytes, if this registry is cached and
    /// the name short enough.
    #[inline]
    fn cache_query(&self, len: usize, words: Option<[u64; 3]>) -> Option<lookup_cache::Query> {
        if self.cached {
            lookup_cache::query(len, words)
        } else {
            None
        }
    }

    /// Runs `call` with the existing breaker for `query`: from this thread's cache if `cached`
    /// is there, else from the map (offering it to the cache). Gives `call` back if there is
    /// no such breaker.
    #[inline]
    fn find<Q, R, F>(&self, query: &Q, cached: Option<lookup_cache::Query>, call: F) -> Result<R, F>
    where
        Q: Hash + papaya::Equivalent<Key>,
        F: FnOnce(&Arc<Breaker>) -> R,
    {
        let (call, vacancy) = match &cached {
            Some(cached) => match lookup_cache::lend(cached, call) {
                Ok(answer) => return Ok(answer),
                Err(miss) => miss,
            },
            None => (call, None),
        };
        let entries = self.entries.pin();
        let Some(entry) = entries.get(query) else {
            return Err(call);
        };
        entry.touch();
        if let (Some(vacancy), Some(cached)) = (vacancy, &cached) {
            lookup_cache::fill(vacancy, cached, &entry.breaker);
        }
        Ok(call(&entry.breaker))
    }

    #[cold]
    #[inline(never)]
    fn create_keyed(
        &self,
        key: &KeyBuffer,
        make: impl FnOnce() -> (Settings, Site),
    ) -> Arc<Breaker> {
        let (settings, site) = make();
        self.create_infallible(Name::from(key.to_name()), settings, site, true)
    }

    /// For `#[circuit]` functions whose breaker is cached in a static.
    pub(crate) fn declared(&self, name: Name, settings: Settings, site: Site) -> Arc<Breaker> {
        match self.declared_lookup(&name, &settings, Some(site), false) {
            Some(breaker) => breaker,
            None => self.create_infallible(name, settings, site, false),
        }
    }

    /// The existing breaker, noting a conflict if the `declared` settings differ from the first
    /// declaration's.
    fn declared_lookup(
        &self,
        name: &str,
        declared: &Settings,
        site: Option<Site>,
        evictable: bool,
    ) -> Option<Arc<Breaker>> {
        let entries = self.entries.pin();
        let entry = entries.get(&StrQuery::new(name))?;
        entry.note_conflict(declared, site);
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
            used: AtomicBool::new(false),
            evictable,
            cold: Box::new(Cold {
                site,
                declared: declared.clone(),
                conflicts: Mutex::default(),
                last_seen: AtomicU64::new(now),
            }),
        };
        // Grow the table while it is at most three quarters full: papaya by itself grows only
        // when an insertion probes too long, which leaves tables so full that lookups probed
        // several slots (measured: 20-57 ns depending on the key at 1 000 breakers).
        entries.reserve(1);
        let breaker = match entries.try_insert(Key::new(&name), entry) {
            Ok(entry) => Arc::clone(&entry.breaker),
            Err(occupied) => {
                // Another thread created it since our lookup; the first one stays.
                occupied.current.note_conflict(&declared, site);
                Arc::clone(&occupied.current.breaker)
            }
        };
        // A registry listener added while this breaker was being inserted may have missed it.
        // The fence pairs with the one in `on_event`: of the two sides (insert, then look at
        // the listeners; add a listener, then look at the map), at least one sees the other.
        fence(Ordering::SeqCst);
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
        let idle: Vec<(Key, Arc<Breaker>)> = entries
            .iter()
            .filter(|(_, e)| {
                let Some(ttl) = e.breaker.settings().get_idle_ttl().filter(|_| e.evictable) else {
                    return false;
                };
                e.idle_for(e.breaker.coarse_now(), ttl)
                    && !matches!(e.breaker.state(), State::ForcedOpen | State::Disabled)
            })
            .map(|(key, e)| (key.clone(), Arc::clone(&e.breaker)))
            .collect();
        idle.iter()
            .filter(|(key, breaker)| {
                self.retire(breaker);
                // Only the breaker found idle: the name may have a new one by now.
                entries
                    .remove_if(key, |_, e| Arc::ptr_eq(&e.breaker, breaker))
                    .is_ok_and(|removed| removed.is_some())
            })
            .count()
    }

    /// Marks `breaker` retired before it leaves the map, and tells threads' caches.
    fn retire(&self, breaker: &Breaker) {
        breaker.retire();
        if self.cached {
            lookup_cache::note_retired();
        }
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
        let entries = self.entries.pin();
        let query = StrQuery::new(name);
        loop {
            let current = Arc::clone(&entries.get(&query)?.breaker);
            // Before it leaves the map, so that a lookup that no longer finds it there does
            // not get it from a thread's cache either.
            self.retire(&current);
            match entries.remove_if(&query, |_, e| Arc::ptr_eq(&e.breaker, &current)) {
                Ok(removed) => return removed.map(|_| current),
                // Removed and created again meanwhile: remove the new one.
                Err(_) => continue,
            }
        }
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
        // See the fence in `publish`.
        fence(Ordering::SeqCst);
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
            .map(|(_, e)| {
                let conflicts = lock(&e.cold.conflicts).clone();
                breaker_report(&e.breaker, e.cold.site, conflicts)
            })
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

    fn key(text: fmt::Arguments<'_>) -> KeyBuffer {
        let mut key = KeyBuffer::new();
        key.push_fmt(text);
        key
    }

    #[test]
    fn an_entry_and_its_key_fill_one_cache_line() {
        assert_eq!(size_of::<Key>() + size_of::<Entry>(), 64);
    }

    #[test]
    fn names_of_every_length_are_found_by_str_and_by_key() {
        let registry = Registry::new();
        let site = Site {
            file: "t.rs",
            line: 1,
        };
        let settings = || (Settings::default(), site);
        // Short (inline, hashed as three words), long, and longer than the stack buffer.
        let names: Vec<String> = (0..=40)
            .chain([100, 127, 128, 129, 300])
            .map(|len| "k:0123456789".chars().cycle().take(len).collect())
            .collect();
        for name in &names {
            registry
                .get_or_create_with(name, Settings::default)
                .unwrap();
        }
        assert_eq!(registry.len(), names.len());
        for name in &names {
            let by_str = registry.get(name).expect("found by &str");
            assert_eq!(by_str.name(), name);
            let by_key = registry.keyed(&key(format_args!("{name}")), settings);
            assert!(Arc::ptr_eq(&by_str, &by_key), "{name:?}");
            // The same name in pieces, as a keyed function assembles it.
            let mut pieces = KeyBuffer::new();
            let (head, rest) = name.split_at(name.len() / 3);
            pieces.push_str(head);
            pieces.push_str(rest);
            let found = registry.with_keyed(&pieces, settings, |b| std::ptr::eq(b, &*by_str));
            assert!(found, "{name:?}");
            assert!(
                registry
                    .with_or_create(name, Settings::default, |b| std::ptr::eq(b, &*by_str))
                    .unwrap()
            );
        }
        assert_eq!(registry.len(), names.len(), "nothing created twice");
        for name in &names {
            assert!(registry.remove(name).is_some(), "{name:?}");
        }
        assert!(registry.is_empty());
    }

    #[test]
    fn a_borrowed_breaker_outlives_its_removal_during_the_call() {
        let registry = Registry::new();
        let answer = registry
            .with_or_create("k:gone", Settings::default, |b| {
                let removed = registry.remove("k:gone").expect("just created");
                assert!(std::ptr::eq(b, &*removed));
                drop(removed);
                // The registry's guard keeps the entry, and so the breaker, alive.
                b.call(|| Ok::<_, crate::Error>(b.name().len()))
            })
            .unwrap();
        assert_eq!(answer, Ok(6));
        assert!(registry.get("k:gone").is_none());
    }

    #[test]
    fn with_or_create_reports_invalid_settings_without_calling() {
        let registry = Registry::new();
        let err = registry
            .with_or_create(
                "k:bad",
                || Settings::default().half_open_calls(0),
                |_| unreachable!("not called"),
            )
            .unwrap_err();
        assert_eq!(err.field(), "half_open_calls");
        assert!(registry.is_empty());
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
        registry.keyed(&key(format_args!("k:{}", 1)), settings);
        registry.keyed(&key(format_args!("k:{}", 2)), settings);
        registry.declared(Name::from("static"), settings().0, site);
        clock.advance(Duration::from_secs(30));
        registry.keyed(&key(format_args!("k:{}", 2)), settings); // k:2 stays in use
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
            registry.keyed(&key(format_args!("k:{i}")), settings);
            clock.advance(Duration::from_secs(1));
        }
        assert!(registry.len() <= 16, "{} breakers left", registry.len());
    }
}
