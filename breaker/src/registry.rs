//! Named breakers, process-wide or per registry.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use crate::breaker::Breaker;
use crate::clock::{Clock, ClockHandle};
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
    conflicts: Vec<Conflict>,
}

/// A set of named breakers, created lazily on first use.
///
/// When two places declare the same name with different settings, the first one wins; the
/// report lists the others as [`Conflict`]s, and nothing panics.
pub struct Registry {
    entries: RwLock<HashMap<Name, Entry>>,
    listeners: Arc<Listeners>,
    clock: ClockHandle,
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
        Registry {
            entries: RwLock::default(),
            listeners: Arc::default(),
            clock: ClockHandle::system(),
        }
    }

    /// An empty registry whose breakers read time from `clock`.
    pub fn with_clock<C: Clock>(clock: C) -> Registry {
        Registry {
            clock: ClockHandle::from_clock(clock),
            ..Registry::new()
        }
    }

    /// The breaker named `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Arc<Breaker>> {
        self.read().get(name).map(|e| Arc::clone(&e.breaker))
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
        let caller = Location::caller();
        let site = Site {
            file: caller.file(),
            line: caller.line(),
        };
        self.get_or_create_at(name.into(), settings, Some(site))
    }

    pub(crate) fn get_or_create_at(
        &self,
        name: Name,
        settings: Settings,
        site: Option<Site>,
    ) -> Result<Arc<Breaker>, ConfigError> {
        if let Some(existing) = self.lookup_and_note(&name, &settings, site) {
            return Ok(existing);
        }
        let breaker = Breaker::builder(name.clone())
            .settings(settings.clone())
            .clock_handle(self.clock.clone())
            .build()?;
        breaker.attach_registry_listeners(Arc::clone(&self.listeners));
        let mut entries = self.write();
        // Another thread may have created it between the read above and this write.
        if let Some(entry) = entries.get_mut(&name) {
            note_conflict(entry, &settings, site);
            return Ok(Arc::clone(&entry.breaker));
        }
        let breaker = Arc::new(breaker);
        entries.insert(
            name,
            Entry {
                breaker: Arc::clone(&breaker),
                site,
                conflicts: Vec::new(),
            },
        );
        Ok(breaker)
    }

    /// Returns the existing breaker, noting a conflict if its settings differ.
    fn lookup_and_note(
        &self,
        name: &str,
        settings: &Settings,
        site: Option<Site>,
    ) -> Option<Arc<Breaker>> {
        {
            let entries = self.read();
            let entry = entries.get(name)?;
            if entry.breaker.settings() == settings || already_noted(entry, site) {
                return Some(Arc::clone(&entry.breaker));
            }
        }
        let mut entries = self.write();
        let entry = entries.get_mut(name)?;
        note_conflict(entry, settings, site);
        Some(Arc::clone(&entry.breaker))
    }

    /// Adds a breaker built elsewhere. If one of that name exists, it is kept and returned, and
    /// `breaker` is dropped.
    pub fn insert(&self, breaker: Breaker) -> Arc<Breaker> {
        let mut entries = self.write();
        if let Some(entry) = entries.get_mut(breaker.name()) {
            let settings = breaker.settings().clone();
            note_conflict(entry, &settings, None);
            return Arc::clone(&entry.breaker);
        }
        breaker.attach_registry_listeners(Arc::clone(&self.listeners));
        let breaker = Arc::new(breaker);
        entries.insert(
            breaker.shared_name().clone(),
            Entry {
                breaker: Arc::clone(&breaker),
                site: None,
                conflicts: Vec::new(),
            },
        );
        breaker
    }

    /// Removes the breaker named `name`. Code holding it keeps a working breaker; the next
    /// lookup of the name creates a fresh one.
    pub fn remove(&self, name: &str) -> Option<Arc<Breaker>> {
        self.write().remove(name).map(|e| e.breaker)
    }

    /// The number of breakers.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are no breakers.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Calls `listener` for every event of every breaker in this registry, present and future.
    pub fn on_event(&self, listener: impl Fn(&Event<'_>) + Send + Sync + 'static) {
        self.listeners.add(Box::new(listener));
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
        let snapshot: Vec<(Arc<Breaker>, Option<Site>, Vec<Conflict>)> = self
            .read()
            .values()
            .map(|e| (Arc::clone(&e.breaker), e.site, e.conflicts.clone()))
            .collect();
        // Counters are read after the registry lock is released.
        let mut breakers: Vec<BreakerReport> = snapshot
            .into_iter()
            .map(|(breaker, site, conflicts)| breaker_report(&breaker, site, conflicts))
            .collect();
        breakers.sort_by(|a, b| a.name.cmp(&b.name));
        Report { breakers }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Name, Entry>> {
        // Nothing panics while holding the lock; if something did, the map is still whole.
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Name, Entry>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn already_noted(entry: &Entry, site: Option<Site>) -> bool {
    site.is_some() && entry.conflicts.iter().any(|c| c.site == site)
}

fn note_conflict(entry: &mut Entry, settings: &Settings, site: Option<Site>) {
    if entry.breaker.settings() == settings || already_noted(entry, site) {
        return;
    }
    entry.conflicts.push(Conflict {
        site,
        settings: settings.clone(),
    });
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

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("breakers", &self.len())
            .finish_non_exhaustive()
    }
}
