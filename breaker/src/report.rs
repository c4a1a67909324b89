//! A snapshot of breakers for people and probes: an aligned table, lookups, readiness answers.

use std::fmt;
use std::time::Duration;

use crate::error::Seconds;
use crate::settings::Settings;
use crate::state::State;

/// Where in the source a breaker was declared: the `#[circuit]` attribute's file and line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Site {
    /// The source file, as `file!()` spells it.
    pub file: &'static str,
    /// The line.
    pub line: u32,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A second declaration of a breaker name with other settings. The first declaration's settings
/// stay in force; this records the one that was overruled.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// Where the overruled declaration is.
    pub site: Option<Site>,
    /// The settings it asked for.
    pub settings: Settings,
}

/// One breaker in a [`Report`].
#[derive(Debug, Clone)]
pub struct BreakerReport {
    pub(crate) name: String,
    pub(crate) state: State,
    pub(crate) settings: Settings,
    pub(crate) failure_count: u64,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) admitted_share: Option<f64>,
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) rejections: u64,
    pub(crate) neutral: u64,
    pub(crate) site: Option<Site>,
    pub(crate) conflicts: Vec<Conflict>,
}

impl BreakerReport {
    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its state when the report was taken.
    pub fn state(&self) -> State {
        self.state
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Failures counted toward opening in the current closed period (for rate-based policies,
    /// the failures in the window).
    pub fn failure_count(&self) -> u64 {
        self.failure_count
    }

    /// While ramping up after a recovery, the share of calls admitted.
    pub fn admitted_share(&self) -> Option<f64> {
        self.admitted_share
    }

    /// Time left in the cooldown, while open.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Lifetime successful calls.
    pub fn successes(&self) -> u64 {
        self.successes
    }

    /// Lifetime failed calls (those that counted).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Lifetime calls rejected without running.
    pub fn rejections(&self) -> u64 {
        self.rejections
    }

    /// Lifetime calls that ended neutrally: ignored errors and cancelled calls.
    pub fn neutral(&self) -> u64 {
        self.neutral
    }

    /// Where the breaker was declared, when a `#[circuit]` attribute created it.
    pub fn site(&self) -> Option<Site> {
        self.site
    }

    /// Other declarations of the same name whose settings were overruled.
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }
}

/// A snapshot of every breaker in a registry, sorted by name.
///
/// ```
/// use breaker::Registry;
///
/// let registry = Registry::new();
/// let db = registry.get_or_create("db", breaker::Settings::default())?;
/// db.force_open();
/// let report = registry.report();
/// assert!(!report.is_healthy());
/// assert_eq!(report.open_circuits().next().unwrap().name(), "db");
/// println!("{report}");
/// # Ok::<(), breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub(crate) breakers: Vec<BreakerReport>,
}

impl Report {
    /// The breaker named `name`.
    pub fn get(&self, name: &str) -> Option<&BreakerReport> {
        self.breakers
            .binary_search_by(|b| b.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.breakers[i])
    }

    /// Every breaker, by name.
    pub fn iter(&self) -> std::slice::Iter<'_, BreakerReport> {
        self.breakers.iter()
    }

    /// The number of breakers.
    pub fn len(&self) -> usize {
        self.breakers.len()
    }

    /// Whether there are no breakers.
    pub fn is_empty(&self) -> bool {
        self.breakers.is_empty()
    }

    /// Breakers turning calls away: open (cooldown running) or forced open.
    pub fn open_circuits(&self) -> impl Iterator<Item = &BreakerReport> {
        self.breakers.iter().filter(|b| b.state.is_open())
    }

    /// Whether no breaker is turning calls away: the answer for a readiness probe.
    pub fn is_healthy(&self) -> bool {
        self.open_circuits().next().is_none()
    }
}

impl<'a> IntoIterator for &'a Report {
    type Item = &'a BreakerReport;
    type IntoIter = std::slice::Iter<'a, BreakerReport>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// An aligned table, one breaker a row, then any conflicting declarations.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEADERS: [&str; 8] = [
            "BREAKER", "STATE", "FAILING", "RETRY IN", "OK", "FAILED", "REJECTED", "SETTINGS",
        ];
        let rows: Vec<[String; 8]> = self
            .breakers
            .iter()
            .map(|b| {
                let state = match b.admitted_share {
                    Some(share) => format!("{} {:.0}%", b.state, share * 100.0),
                    None => b.state.to_string(),
                };
                [
                    b.name.clone(),
                    state,
                    b.failure_count.to_string(),
                    b.retry_after
                        .map_or_else(|| "-".to_owned(), |d| Seconds(d).to_string()),
                    b.successes.to_string(),
                    b.failures.to_string(),
                    b.rejections.to_string(),
                    b.settings.to_string(),
                ]
            })
            .collect();
        let mut widths = HEADERS.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: [&str; 8]| -> fmt::Result {
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    writeln!(f, "{cell}")?;
                } else if (2..7).contains(&i) {
                    write!(f, "{cell:>w$}  ", w = widths[i])?;
                } else {
                    write!(f, "{cell:<w$}  ", w = widths[i])?;
                }
            }
            Ok(())
        };
        line(f, HEADERS)?;
        for row in &rows {
            line(f, row.each_ref().map(String::as_str))?;
        }
        for b in &self.breakers {
            for conflict in &b.conflicts {
                let at = conflict
                    .site
                    .map_or_else(|| "a builder".to_owned(), |s| s.to_string());
                let first = b
                    .site
                    .map_or_else(|| "its first declaration".to_owned(), |s| s.to_string());
                writeln!(
                    f,
                    "conflict: `{}` declared again at {at} with {}; keeping {first}",
                    b.name, conflict.settings
                )?;
            }
        }
        Ok(())
    }
}
