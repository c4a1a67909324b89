//! What a breaker is configured to do: plain data, validated once, swapped atomically.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::classify::{Classifier, ErrorKind};
use crate::error::{ConfigError, Seconds};
use crate::name::Name;
use crate::policy::Policy;
use crate::state::{MAX_COUNT, MAX_IN_FLIGHT};

/// The settings of one breaker. Build them with the setters, starting from [`Settings::default`]
/// (or through [`Breaker::builder`](crate::Breaker::builder)); they are checked when a breaker is
/// built or reconfigured, and an invalid value is a [`ConfigError`] naming the field.
///
/// ```
/// use breaker::Settings;
/// use std::time::Duration;
///
/// let settings = Settings::default()
///     .max_failures(3)
///     .cooldown(Duration::from_secs(10))
///     .record::<std::io::Error>();
/// assert_eq!(settings.get_cooldown(), Duration::from_secs(10));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    pub(crate) policy: Policy,
    pub(crate) cooldown: Duration,
    pub(crate) half_open_calls: u32,
    pub(crate) success_threshold: u32,
    pub(crate) classifier: Classifier,
}

impl Default for Settings {
    /// Five consecutive failures open the breaker for 30 seconds; then one trial call decides.
    fn default() -> Self {
        Settings {
            policy: Policy::Consecutive { max_failures: 5 },
            cooldown: Duration::from_secs(30),
            half_open_calls: 1,
            success_threshold: 1,
            classifier: Classifier::default(),
        }
    }
}

impl Settings {
    /// Open after this many consecutive recorded failures (default 5). A success resets the count.
    pub fn max_failures(mut self, n: u32) -> Self {
        self.policy = Policy::Consecutive { max_failures: n };
        self
    }

    /// How long the breaker stays open before letting trial calls through (default 30 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How many trial calls may run at once while half-open (default 1).
    pub fn half_open_calls(mut self, n: u32) -> Self {
        self.half_open_calls = n;
        self
    }

    /// How many trial successes close a half-open breaker (default 1).
    pub fn success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = n;
        self
    }

    /// Count only errors of type `T` (or carrying one in their source chain) as failures; may be
    /// called for several types. Other errors then count as successes.
    pub fn record<T: StdError + 'static>(mut self) -> Self {
        push_unique(&mut self.classifier.record, ErrorKind::of::<T>());
        self
    }

    /// Never count errors of type `T` (or carrying one): they are neutral, as business errors
    /// such as "not found" should be. Wins over [`record`](Settings::record).
    pub fn ignore<T: StdError + 'static>(mut self) -> Self {
        push_unique(&mut self.classifier.ignore, ErrorKind::of::<T>());
        self
    }

    /// The failure policy.
    pub fn get_policy(&self) -> &Policy {
        &self.policy
    }

    /// The cooldown.
    pub fn get_cooldown(&self) -> Duration {
        self.cooldown
    }

    /// The number of concurrent half-open trial calls.
    pub fn get_half_open_calls(&self) -> u32 {
        self.half_open_calls
    }

    /// The number of trial successes that close the breaker.
    pub fn get_success_threshold(&self) -> u32 {
        self.success_threshold
    }

    /// The recorded error types.
    pub fn get_record(&self) -> &[ErrorKind] {
        &self.classifier.record
    }

    /// The ignored error types.
    pub fn get_ignore(&self) -> &[ErrorKind] {
        &self.classifier.ignore
    }

    /// Checks every field, naming the first one that cannot work.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let name = Name::from(name.to_owned());
        let err = |field, reason: String| Err(ConfigError::new(&name, field, reason));
        self.policy.validate(&name)?;
        if self.cooldown.is_zero() {
            return err("cooldown", "must be longer than zero".into());
        }
        if self.half_open_calls == 0 || self.half_open_calls > MAX_IN_FLIGHT {
            return err(
                "half_open_calls",
                format!("must be between 1 and {MAX_IN_FLIGHT}"),
            );
        }
        if self.success_threshold == 0 || self.success_threshold > MAX_COUNT {
            return err(
                "success_threshold",
                format!("must be between 1 and {MAX_COUNT}"),
            );
        }
        if let Some(both) = self
            .classifier
            .record
            .iter()
            .find(|k| self.classifier.ignore.contains(k))
        {
            return err(
                "ignore",
                format!("`{}` is both recorded and ignored", both.type_name()),
            );
        }
        Ok(())
    }
}

fn push_unique(kinds: &mut Vec<ErrorKind>, kind: ErrorKind) {
    if !kinds.contains(&kind) {
        kinds.push(kind);
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("policy", &self.policy)
            .field("cooldown", &self.cooldown)
            .field("half_open_calls", &self.half_open_calls)
            .field("success_threshold", &self.success_threshold)
            .field("record", &self.classifier.record)
            .field("ignore", &self.classifier.ignore)
            .finish()
    }
}

/// One line for reports: `consecutive(5), cooldown 30.0s, 1 trial`.
impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, cooldown {}", self.policy, Seconds(self.cooldown))?;
        if self.half_open_calls != 1 || self.success_threshold != 1 {
            write!(
                f,
                ", {} trials, {} to close",
                self.half_open_calls, self.success_threshold
            )?;
        }
        for kind in &self.classifier.record {
            write!(f, ", record {}", short_type_name(kind.type_name()))?;
        }
        for kind in &self.classifier.ignore {
            write!(f, ", ignore {}", short_type_name(kind.type_name()))?;
        }
        Ok(())
    }
}

/// `std::io::error::Error` reads better as `io::Error` in a table: keep the type and the module
/// above it, skipping the private module named after the type.
fn short_type_name(full: &str) -> String {
    let mut segments: Vec<&str> = full.split("::").collect();
    let last = segments.pop().unwrap_or(full);
    if segments.last().is_some_and(|m| m.eq_ignore_ascii_case(last)) {
        segments.pop();
    }
    match segments.last() {
        Some(module) => format!("{module}::{last}"),
        None => last.to_owned(),
    }
}

/// The settings a breaker runs with, published so the hot path reads them with one load and no
/// lock. Replaced settings are kept until the breaker is dropped, because a call that started
/// under them may still be reading them; reconfiguration is rare, so they are few.
pub(crate) struct SettingsCell {
    current: AtomicPtr<Settings>,
    all: Mutex<Vec<*mut Settings>>,
}

// SAFETY: the raw pointers are owned boxes of `Settings` (which is Send + Sync), shared only as
// shared references and freed only in `Drop`.
unsafe impl Send for SettingsCell {}
// SAFETY: as above.
unsafe impl Sync for SettingsCell {}

impl SettingsCell {
    pub(crate) fn new(settings: Settings) -> Self {
        let ptr = Box::into_raw(Box::new(settings));
        SettingsCell {
            current: AtomicPtr::new(ptr),
            all: Mutex::new(vec![ptr]),
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> &Settings {
        // SAFETY: every pointer ever stored in `current` is also in `all`, which frees nothing
        // before `self` is dropped, and the boxes are never written after being published.
        unsafe { &*self.current.load(Ordering::Acquire) }
    }

    pub(crate) fn replace(&self, settings: Settings) {
        let ptr = Box::into_raw(Box::new(settings));
        let mut all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        all.push(ptr);
        self.current.store(ptr, Ordering::Release);
    }
}

impl Drop for SettingsCell {
    fn drop(&mut self) {
        let all = self.all.get_mut().unwrap_or_else(PoisonError::into_inner);
        for ptr in all.drain(..) {
            // SAFETY: each pointer came from `Box::into_raw` and is freed exactly once, here.
            drop(unsafe { Box::from_raw(ptr) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_invalid_field_is_named() {
        let cases = [
            (Settings::default().max_failures(0), "max_failures"),
            (Settings::default().cooldown(Duration::ZERO), "cooldown"),
            (Settings::default().half_open_calls(0), "half_open_calls"),
            (Settings::default().success_threshold(0), "success_threshold"),
            (
                Settings::default()
                    .record::<std::io::Error>()
                    .ignore::<std::io::Error>(),
                "ignore",
            ),
        ];
        for (settings, field) in cases {
            assert_eq!(settings.validate("db").unwrap_err().field(), field);
        }
        assert!(Settings::default().validate("db").is_ok());
    }

    #[test]
    fn display_is_one_short_line() {
        let s = Settings::default().record::<std::io::Error>();
        assert_eq!(
            s.to_string(),
            "consecutive(5), cooldown 30.0s, record io::Error"
        );
    }

    #[test]
    fn replaced_settings_are_seen_by_later_reads() {
        let cell = SettingsCell::new(Settings::default());
        let before = cell.get();
        cell.replace(Settings::default().max_failures(2));
        assert_eq!(before.policy, Policy::Consecutive { max_failures: 5 });
        assert_eq!(cell.get().policy, Policy::Consecutive { max_failures: 2 });
    }
}
