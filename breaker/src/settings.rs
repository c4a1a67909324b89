//! What a breaker is configured to do: plain data, validated once, swapped atomically.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use crate::classify::{Classifier, ErrorKind};
use crate::error::{ConfigError, Seconds};
use crate::name::Name;
use crate::policy::{Policy, Rules, SlowCalls, WindowSpec};
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
///     .failure_rate(0.5)
///     .window(Duration::from_secs(60))
///     .min_calls(20)
///     .cooldown(Duration::from_secs(10))
///     .record::<std::io::Error>();
/// assert!(settings.validate("db").is_ok());
///
/// // Two failure policies at once is a mistake, named by the later key.
/// let mixed = Settings::default().max_failures(5).failure_rate(0.5);
/// assert_eq!(mixed.validate("db").unwrap_err().field(), "failure_rate");
/// ```
#[derive(Clone)]
pub struct Settings {
    pub(crate) policy: Policy,
    pub(crate) window: WindowSpec,
    pub(crate) cooldown: Duration,
    pub(crate) min_calls: u32,
    pub(crate) half_open_calls: u32,
    pub(crate) success_threshold: u32,
    keys: KeysUsed,
    /// Settings most breakers leave at their defaults, boxed so those breakers stay small.
    extras: Option<Box<Extras>>,
}

#[derive(Clone, PartialEq)]
struct Extras {
    slow_call: Option<Duration>,
    slow_rate: Option<f64>,
    max_cooldown: Option<Duration>,
    jitter: f64,
    ramp_up: Option<Duration>,
    idle_ttl: Option<Duration>,
    timeout: Option<Duration>,
    classifier: Classifier,
}

static NO_EXTRAS: Extras = Extras {
    slow_call: None,
    slow_rate: None,
    max_cooldown: None,
    jitter: 0.0,
    ramp_up: None,
    idle_ttl: None,
    timeout: None,
    classifier: Classifier::EMPTY,
};

/// A key that excludes others, recorded so that validation can name the one that clashes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Key {
    MaxFailures,
    NetFailures,
    FailureRate,
    Window,
    WindowCalls,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::MaxFailures => "max_failures",
            Key::NetFailures => "net_failures",
            Key::FailureRate => "failure_rate",
            Key::Window => "window",
            Key::WindowCalls => "window_calls",
        }
    }
}

/// Which mutually exclusive keys were set (a few bytes: settings are part of every breaker).
#[derive(Clone, Copy, Default, Debug)]
struct KeysUsed {
    policy: Option<Key>,
    window: Option<Key>,
    /// The later key, and the earlier one it clashes with.
    clash: Option<(Key, Key)>,
    min_calls: bool,
}

impl KeysUsed {
    fn policy(&mut self, key: Key) {
        match self.policy {
            Some(first) if first != key => self.clash = self.clash.or(Some((key, first))),
            _ => self.policy = Some(key),
        }
    }

    fn window(&mut self, key: Key) {
        match self.window {
            Some(first) if first != key => self.clash = self.clash.or(Some((key, first))),
            _ => self.window = Some(key),
        }
    }
}

impl PartialEq for Settings {
    /// Compares what the settings do, not how they were spelled.
    fn eq(&self, other: &Self) -> bool {
        self.policy == other.policy
            && self.window == other.window
            && self.min_calls == other.min_calls
            && self.cooldown == other.cooldown
            && self.half_open_calls == other.half_open_calls
            && self.success_threshold == other.success_threshold
            && self.extras() == other.extras()
    }
}

impl Default for Settings {
    /// Five consecutive failures open the breaker for 30 seconds; then one trial call decides.
    fn default() -> Self {
        Settings {
            policy: Policy::Consecutive { max_failures: 5 },
            window: WindowSpec::Time(Duration::from_secs(60)),
            cooldown: Duration::from_secs(30),
            min_calls: 20,
            half_open_calls: 1,
            success_threshold: 1,
            keys: KeysUsed::default(),
            extras: None,
        }
    }
}

impl Settings {
    /// Open after this many consecutive recorded failures (default 5). A success resets the count.
    pub fn max_failures(mut self, n: u32) -> Self {
        self.keys.policy(Key::MaxFailures);
        self.policy = Policy::Consecutive { max_failures: n };
        self
    }

    /// Open when failures minus successes reach `n` (pycircuitbreaker's net errors): a success
    /// forgives one failure instead of all of them.
    pub fn net_failures(mut self, n: u32) -> Self {
        self.keys.policy(Key::NetFailures);
        self.policy = Policy::NetFailures { max_failures: n };
        self
    }

    /// Open when at least `rate` (in (0, 1]) of the outcomes in the [`window`](Settings::window)
    /// failed, once at least [`min_calls`](Settings::min_calls) were recorded there.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.keys.policy(Key::FailureRate);
        self.policy = Policy::FailureRate { rate };
        self
    }

    /// Rate-based rules look at the outcomes of this last stretch of time (default 60 s).
    ///
    /// The window moves in tenths of its length: an outcome leaves it between nine and ten
    /// tenths of the length after it was recorded. Outcomes of calls admitted before the
    /// breaker last closed are not in it, and applying new settings starts it empty.
    pub fn window(mut self, length: Duration) -> Self {
        self.keys.window(Key::Window);
        self.window = WindowSpec::Time(length);
        self
    }

    /// Rate-based rules look at the outcomes of the last `n` calls instead of a time window.
    pub fn window_calls(mut self, n: u32) -> Self {
        self.keys.window(Key::WindowCalls);
        self.window = WindowSpec::Calls(n);
        self
    }

    /// Rate-based rules decide nothing before the window holds this many outcomes (default 20).
    pub fn min_calls(mut self, n: u32) -> Self {
        self.keys.min_calls = true;
        self.min_calls = n;
        self
    }

    /// Calls that take longer than this are slow; see [`slow_rate`](Settings::slow_rate).
    pub fn slow_call(mut self, threshold: Duration) -> Self {
        self.extras_mut().slow_call = Some(threshold);
        self
    }

    /// Open when at least this share of the calls in the window were slow, even if they
    /// succeeded (resilience4j's slow-call rate). Works beside any failure policy.
    pub fn slow_rate(mut self, rate: f64) -> Self {
        self.extras_mut().slow_rate = Some(rate);
        self
    }

    /// How long the breaker stays open before letting trial calls through (default 30 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Doubles the cooldown on each re-open straight after a failed trial, up to this cap; a full
    /// close resets it. Without it the cooldown never grows.
    pub fn max_cooldown(mut self, cap: Duration) -> Self {
        self.extras_mut().max_cooldown = Some(cap);
        self
    }

    /// Stretches every cooldown by a random fraction in `[0, jitter]`, drawn once when the breaker
    /// opens, so that many clients do not probe a recovering service at the same instant.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.extras_mut().jitter = jitter;
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

    /// After the trials succeed, admit a share of calls that grows linearly from 10 % to 100 %
    /// over this time, rejecting the rest, instead of closing at once. The failure policy still
    /// applies during the ramp and re-opens the breaker if it trips.
    pub fn ramp_up(mut self, ramp: Duration) -> Self {
        self.extras_mut().ramp_up = Some(ramp);
        self
    }

    /// Lets the registry evict this breaker once it has not been used for this long and is not
    /// open, so that breakers keyed by an unbounded set of values do not grow memory for ever.
    pub fn idle_ttl(mut self, ttl: Duration) -> Self {
        self.extras_mut().idle_ttl = Some(ttl);
        self
    }

    /// Async calls that run longer are cancelled, count as failures and return
    /// [`Error::Timeout`](crate::Error::Timeout). Needs the `tokio` feature; sync calls cannot be
    /// cut short and ignore it.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.extras_mut().timeout = Some(limit);
        self
    }

    /// Count only errors of type `T` (or carrying one in their source chain) as failures; may be
    /// called for several types. Other errors then count as successes.
    pub fn record<T: StdError + 'static>(mut self) -> Self {
        push_unique(
            &mut self.extras_mut().classifier.record,
            ErrorKind::of::<T>(),
        );
        self
    }

    /// Never count errors of type `T` (or carrying one): they are neutral, as business errors
    /// such as "not found" should be. Wins over [`record`](Settings::record).
    pub fn ignore<T: StdError + 'static>(mut self) -> Self {
        push_unique(
            &mut self.extras_mut().classifier.ignore,
            ErrorKind::of::<T>(),
        );
        self
    }

    #[inline]
    fn extras(&self) -> &Extras {
        self.extras.as_deref().unwrap_or(&NO_EXTRAS)
    }

    fn extras_mut(&mut self) -> &mut Extras {
        self.extras
            .get_or_insert_with(|| Box::new(NO_EXTRAS.clone()))
    }

    pub(crate) fn classifier(&self) -> &Classifier {
        &self.extras().classifier
    }

    /// Heap bytes these settings hold beyond their own size.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.extras.as_deref().map_or(0, |x| {
            std::mem::size_of::<Extras>()
                + (x.classifier.record.capacity() + x.classifier.ignore.capacity())
                    * std::mem::size_of::<ErrorKind>()
        })
    }

    /// The failure policy.
    pub fn get_policy(&self) -> Policy {
        self.policy
    }

    /// The window rate-based rules look at.
    pub fn get_window(&self) -> WindowSpec {
        self.window
    }

    /// The outcomes a window needs before rates count.
    pub fn get_min_calls(&self) -> u32 {
        self.min_calls
    }

    /// The slow-call rule, if any.
    pub fn get_slow_calls(&self) -> Option<SlowCalls> {
        Some(SlowCalls {
            threshold: self.extras().slow_call?,
            rate: self.extras().slow_rate?,
        })
    }

    /// The cooldown.
    pub fn get_cooldown(&self) -> Duration {
        self.cooldown
    }

    /// The cap of the doubling cooldown, if it doubles.
    pub fn get_max_cooldown(&self) -> Option<Duration> {
        self.extras().max_cooldown
    }

    /// The jitter fraction.
    pub fn get_jitter(&self) -> f64 {
        self.extras().jitter
    }

    /// The number of concurrent half-open trial calls.
    pub fn get_half_open_calls(&self) -> u32 {
        self.half_open_calls
    }

    /// The number of trial successes that close the breaker.
    pub fn get_success_threshold(&self) -> u32 {
        self.success_threshold
    }

    /// The gradual recovery time, if any.
    pub fn get_ramp_up(&self) -> Option<Duration> {
        self.extras().ramp_up
    }

    /// The idle time after which a registry may evict the breaker.
    pub fn get_idle_ttl(&self) -> Option<Duration> {
        self.extras().idle_ttl
    }

    /// The time limit of async calls, if any.
    #[inline]
    pub fn get_timeout(&self) -> Option<Duration> {
        self.extras().timeout
    }

    /// The recorded error types.
    pub fn get_record(&self) -> &[ErrorKind] {
        &self.extras().classifier.record
    }

    /// The ignored error types.
    pub fn get_ignore(&self) -> &[ErrorKind] {
        &self.extras().classifier.ignore
    }

    /// Checks every field, naming the first one that cannot work.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let name = Name::from(name.to_owned());
        let fail = |field, reason: String| Err(ConfigError::new(&name, field, reason));
        if let Some((key, first)) = self.keys.clash {
            let reason = if self.keys.window == Some(first) {
                "choose a time window or a call window"
            } else {
                "choose one failure policy"
            };
            return fail(
                key.name(),
                format!("cannot be combined with `{}`: {reason}", first.name()),
            );
        }
        match self.policy {
            Policy::Consecutive { max_failures: n } | Policy::NetFailures { max_failures: n }
                if n == 0 || n > MAX_COUNT =>
            {
                let field = if matches!(self.policy, Policy::Consecutive { .. }) {
                    "max_failures"
                } else {
                    "net_failures"
                };
                return fail(field, format!("must be between 1 and {MAX_COUNT}"));
            }
            Policy::FailureRate { rate } if !is_rate(rate) => {
                return fail("failure_rate", "must be more than 0 and at most 1".into());
            }
            _ => {}
        }
        let x = self.extras();
        let rated = matches!(self.policy, Policy::FailureRate { .. }) || x.slow_call.is_some();
        match (x.slow_call, x.slow_rate) {
            (Some(_), None) => return fail("slow_rate", "is required with `slow_call`".into()),
            (None, Some(_)) => return fail("slow_call", "is required with `slow_rate`".into()),
            (Some(threshold), _) if threshold.is_zero() => {
                return fail("slow_call", "must be longer than zero".into());
            }
            (_, Some(rate)) if !is_rate(rate) => {
                return fail("slow_rate", "must be more than 0 and at most 1".into());
            }
            _ => {}
        }
        if let Some(key) = self.keys.window.filter(|_| !rated) {
            return fail(
                key.name(),
                "only applies with `failure_rate` or `slow_call`".into(),
            );
        }
        if self.keys.min_calls && !rated {
            return fail(
                "min_calls",
                "only applies with `failure_rate` or `slow_call`".into(),
            );
        }
        match self.window {
            WindowSpec::Time(length) if length.is_zero() => {
                return fail("window", "must be longer than zero".into());
            }
            WindowSpec::Calls(n) if n == 0 || n > MAX_WINDOW_CALLS => {
                return fail(
                    "window_calls",
                    format!("must be between 1 and {MAX_WINDOW_CALLS}"),
                );
            }
            _ => {}
        }
        if self.min_calls == 0 {
            return fail("min_calls", "must be at least 1".into());
        }
        if self.cooldown.is_zero() {
            return fail("cooldown", "must be longer than zero".into());
        }
        if x.max_cooldown.is_some_and(|cap| cap < self.cooldown) {
            return fail("max_cooldown", "must be at least the cooldown".into());
        }
        if !(0.0..=1.0).contains(&x.jitter) {
            return fail("jitter", "must be between 0 and 1".into());
        }
        if self.half_open_calls == 0 || self.half_open_calls > MAX_IN_FLIGHT {
            return fail(
                "half_open_calls",
                format!("must be between 1 and {MAX_IN_FLIGHT}"),
            );
        }
        if self.success_threshold == 0 || self.success_threshold > MAX_COUNT {
            return fail(
                "success_threshold",
                format!("must be between 1 and {MAX_COUNT}"),
            );
        }
        if x.ramp_up.is_some_and(|r| r.is_zero()) {
            return fail("ramp_up", "must be longer than zero".into());
        }
        if x.idle_ttl.is_some_and(|t| t.is_zero()) {
            return fail("idle_ttl", "must be longer than zero".into());
        }
        if x.timeout.is_some_and(|t| t.is_zero()) {
            return fail("timeout", "must be longer than zero".into());
        }
        if x.timeout.is_some() && !cfg!(feature = "tokio") {
            return fail(
                "timeout",
                "needs the `tokio` feature of `breaker` to cancel calls".into(),
            );
        }
        if let Some(both) = x
            .classifier
            .record
            .iter()
            .find(|k| x.classifier.ignore.contains(k))
        {
            return fail(
                "ignore",
                format!("`{}` is both recorded and ignored", both.type_name()),
            );
        }
        Ok(())
    }

    /// The cooldown of an open period: doubled for each re-open in a row (up to the cap), then
    /// stretched by `unit * jitter`, where `unit` is a random draw in `[0, 1)`.
    pub(crate) fn cooldown_for(&self, reopens: u32, unit: f64) -> Duration {
        let base = match self.extras().max_cooldown {
            Some(cap) => self.cooldown.saturating_mul(1 << reopens.min(31)).min(cap),
            None => self.cooldown,
        };
        base.mul_f64(1.0 + self.extras().jitter * unit)
    }
}

/// A call window keeps one bit per call; a million calls is 128 KiB.
const MAX_WINDOW_CALLS: u32 = 1_000_000;

fn is_rate(rate: f64) -> bool {
    rate > 0.0 && rate <= 1.0
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
            .field("window", &self.window)
            .field("min_calls", &self.min_calls)
            .field("slow_calls", &self.get_slow_calls())
            .field("cooldown", &self.cooldown)
            .field("max_cooldown", &self.extras().max_cooldown)
            .field("jitter", &self.extras().jitter)
            .field("half_open_calls", &self.half_open_calls)
            .field("success_threshold", &self.success_threshold)
            .field("ramp_up", &self.extras().ramp_up)
            .field("idle_ttl", &self.extras().idle_ttl)
            .field("timeout", &self.extras().timeout)
            .field("record", &self.extras().classifier.record)
            .field("ignore", &self.extras().classifier.ignore)
            .finish()
    }
}

/// One line for reports, such as `rate(50%) in 1m00s min 20, cooldown 1.0s..2m00s`.
impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.extras();
        write!(f, "{}", self.policy)?;
        if let Some(slow) = self.get_slow_calls() {
            write!(
                f,
                " slow(>{} at {}%)",
                Seconds(slow.threshold),
                slow.rate * 100.0
            )?;
        }
        if matches!(self.policy, Policy::FailureRate { .. }) || x.slow_call.is_some() {
            write!(f, " {} min {}", self.window, self.min_calls)?;
        }
        write!(f, ", cooldown {}", Seconds(self.cooldown))?;
        if let Some(cap) = x.max_cooldown {
            write!(f, "..{}", Seconds(cap))?;
        }
        if x.jitter > 0.0 {
            write!(f, " +{}%", x.jitter * 100.0)?;
        }
        if self.half_open_calls != 1 || self.success_threshold != 1 {
            write!(
                f,
                ", {} trials, {} to close",
                self.half_open_calls, self.success_threshold
            )?;
        }
        if let Some(ramp) = x.ramp_up {
            write!(f, ", ramp {}", Seconds(ramp))?;
        }
        if let Some(limit) = x.timeout {
            write!(f, ", timeout {}", Seconds(limit))?;
        }
        for kind in &x.classifier.record {
            write!(f, ", record {}", short_type_name(kind.type_name()))?;
        }
        for kind in &x.classifier.ignore {
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
    if segments
        .last()
        .is_some_and(|m| m.eq_ignore_ascii_case(last))
    {
        segments.pop();
    }
    match segments.last() {
        Some(module) => format!("{module}::{last}"),
        None => last.to_owned(),
    }
}

/// Settings with the rules (and windows) built from them.
pub(crate) struct Active {
    pub(crate) settings: Settings,
    pub(crate) rules: Rules,
    /// Whether calls are timed (slow-call detection), cached for the admission path.
    pub(crate) times_calls: bool,
    /// Whether async calls have a time limit, cached so that they do not look it up.
    pub(crate) has_timeout: bool,
    /// The settings this replaced, kept alive for calls that may still read them.
    replaced: *mut Active,
}

impl Active {
    pub(crate) fn new(settings: Settings) -> Active {
        Active {
            rules: Rules::new(&settings),
            times_calls: settings.get_slow_calls().is_some(),
            has_timeout: settings.get_timeout().is_some(),
            settings,
            replaced: std::ptr::null_mut(),
        }
    }

    /// The tags that the published pointer to these settings carries.
    fn tags(&self) -> usize {
        let window = if self.rules.window.is_some() {
            WINDOW
        } else {
            0
        };
        let timed = if self.times_calls || self.has_timeout {
            TIMED
        } else {
            0
        };
        window | timed
    }
}

// Tags in the low bits of the published settings pointer: the hot path learns from the load it
// makes anyway whether a call needs anything beyond counting, and the tags never disagree with
// the settings they describe.

/// Someone listens to events (set once, kept by every replacement).
pub(crate) const OBSERVED: usize = 0b001;
/// Outcomes go into a window.
pub(crate) const WINDOW: usize = 0b010;
/// Admission looks further: slow calls are measured (the start is read), or async calls have
/// a time limit (the poll looks it up).
pub(crate) const TIMED: usize = 0b100;
const TAGS: usize = OBSERVED | WINDOW | TIMED;
const _: () = assert!(std::mem::align_of::<Active>() > TAGS);

/// One load of the published settings: the tags, and the settings themselves.
#[derive(Clone, Copy)]
pub(crate) struct Published<'a> {
    tagged: *mut Active,
    cell: std::marker::PhantomData<&'a SettingsCell>,
}

impl<'a> Published<'a> {
    #[inline(always)]
    pub(crate) fn tags(self) -> usize {
        self.tagged.addr() & TAGS
    }

    #[inline(always)]
    pub(crate) fn active(self) -> &'a Active {
        // SAFETY: the untagged pointer is a live box of the cell this was loaded from: boxes are
        // freed only in the cell's `Drop`, and are never written after being published.
        unsafe { &*self.tagged.map_addr(|a| a & !TAGS) }
    }
}

/// The settings a breaker runs with, published so the hot path reads them with one load and no
/// lock. Replaced settings stay reachable from their successor until the breaker is dropped,
/// because a call that started under them may still be reading them; reconfiguration is rare,
/// so they are few.
pub(crate) struct SettingsCell {
    /// A box of `Active`, tagged.
    current: AtomicPtr<Active>,
}

// SAFETY: the pointers are owned boxes of `Active`, whose fields are Send + Sync; they are only
// shared as shared references and freed only in `Drop`.
unsafe impl Send for SettingsCell {}
// SAFETY: as above.
unsafe impl Sync for SettingsCell {}

impl SettingsCell {
    pub(crate) fn new(active: Active) -> Self {
        let tags = active.tags();
        let ptr = Box::into_raw(Box::new(active));
        SettingsCell {
            current: AtomicPtr::new(ptr.map_addr(|a| a | tags)),
        }
    }

    #[inline(always)]
    pub(crate) fn load(&self) -> Published<'_> {
        Published {
            tagged: self.current.load(Ordering::Acquire),
            cell: std::marker::PhantomData,
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> &Active {
        self.load().active()
    }

    /// Tags the settings, and every later replacement, as observed. Release: a reader that
    /// sees the tag sees the listener added before it.
    pub(crate) fn observe(&self) {
        let _ = self
            .current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                Some(p.map_addr(|a| a | OBSERVED))
            });
    }

    pub(crate) fn replace(&self, active: Active) {
        let tags = active.tags();
        let new = Box::into_raw(Box::new(active));
        let mut current = self.current.load(Ordering::Acquire);
        loop {
            // SAFETY: `new` is not published yet, so this is its only reference.
            unsafe { (*new).replaced = current.map_addr(|a| a & !TAGS) };
            let tagged = new.map_addr(|a| a | tags | (current.addr() & OBSERVED));
            match self.current.compare_exchange_weak(
                current,
                tagged,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
}

impl Drop for SettingsCell {
    fn drop(&mut self) {
        let mut next = self.current.get_mut().map_addr(|a| a & !TAGS);
        while !next.is_null() {
            // SAFETY: each box is reachable exactly once along the chain, and nothing else
            // refers to it once the cell is dropped.
            let active = unsafe { Box::from_raw(next) };
            next = active.replaced;
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
            (
                Settings::default().success_threshold(0),
                "success_threshold",
            ),
            (
                Settings::default()
                    .record::<std::io::Error>()
                    .ignore::<std::io::Error>(),
                "ignore",
            ),
            (Settings::default().net_failures(0), "net_failures"),
            (Settings::default().failure_rate(0.0), "failure_rate"),
            (Settings::default().failure_rate(1.5), "failure_rate"),
            (Settings::default().failure_rate(f64::NAN), "failure_rate"),
            (
                Settings::default().failure_rate(0.5).window(Duration::ZERO),
                "window",
            ),
            (
                Settings::default().failure_rate(0.5).window_calls(0),
                "window_calls",
            ),
            (
                Settings::default()
                    .failure_rate(0.5)
                    .window(Duration::from_secs(1))
                    .window_calls(10),
                "window_calls",
            ),
            (Settings::default().window(Duration::from_secs(1)), "window"),
            (Settings::default().min_calls(3), "min_calls"),
            (
                Settings::default().max_failures(3).net_failures(3),
                "net_failures",
            ),
            (
                Settings::default().slow_call(Duration::from_secs(1)),
                "slow_rate",
            ),
            (Settings::default().slow_rate(0.5), "slow_call"),
            (
                Settings::default()
                    .slow_call(Duration::from_secs(1))
                    .slow_rate(2.0),
                "slow_rate",
            ),
            (
                Settings::default().max_cooldown(Duration::from_secs(1)),
                "max_cooldown",
            ),
            (Settings::default().jitter(-0.1), "jitter"),
            (Settings::default().ramp_up(Duration::ZERO), "ramp_up"),
            (Settings::default().idle_ttl(Duration::ZERO), "idle_ttl"),
        ];
        for (settings, field) in cases {
            assert_eq!(settings.validate("db").unwrap_err().field(), field);
        }
        assert!(Settings::default().validate("db").is_ok());
    }

    #[test]
    fn slow_calls_may_accompany_any_policy() {
        let s = Settings::default()
            .max_failures(3)
            .slow_call(Duration::from_secs(2))
            .slow_rate(0.8)
            .window_calls(50);
        assert!(s.validate("db").is_ok());
    }

    #[test]
    fn cooldown_doubles_up_to_the_cap_and_jitter_stretches_it() {
        let s = Settings::default()
            .cooldown(Duration::from_secs(1))
            .max_cooldown(Duration::from_secs(5))
            .jitter(0.2);
        assert_eq!(s.cooldown_for(0, 0.0), Duration::from_secs(1));
        assert_eq!(s.cooldown_for(2, 0.0), Duration::from_secs(4));
        assert_eq!(s.cooldown_for(3, 0.0), Duration::from_secs(5));
        assert_eq!(s.cooldown_for(40, 0.0), Duration::from_secs(5));
        assert_eq!(s.cooldown_for(0, 0.5), Duration::from_millis(1100));
        let fixed = Settings::default().cooldown(Duration::from_secs(1));
        assert_eq!(fixed.cooldown_for(3, 0.9), Duration::from_secs(1));
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
        let cell = SettingsCell::new(Active::new(Settings::default()));
        let before = cell.get();
        cell.replace(Active::new(Settings::default().max_failures(2)));
        assert_eq!(
            before.settings.policy,
            Policy::Consecutive { max_failures: 5 }
        );
        assert_eq!(
            cell.get().settings.policy,
            Policy::Consecutive { max_failures: 2 }
        );
    }
}
