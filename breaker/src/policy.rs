//! When a closed breaker opens.

use std::fmt;
use std::time::Duration;

use crate::error::Seconds;
use crate::settings::Settings;
use crate::state::Word;
use crate::totals::Totals;
use crate::window::{CallWindow, Closing, Limits, Sample, TimeWindow, Window};

/// The rule that decides when a closed breaker opens.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Policy {
    /// Open after `max_failures` recorded failures in a row; a success resets the count.
    Consecutive {
        /// Failures in a row that open the breaker.
        max_failures: u32,
    },
    /// Open when failures minus successes reach `max_failures` (never below zero): a success
    /// forgives one failure instead of all of them.
    NetFailures {
        /// Net failures that open the breaker.
        max_failures: u32,
    },
    /// Open when, over the [`WindowSpec`], at least `min_calls` outcomes were recorded and at least
    /// `rate` of them failed.
    FailureRate {
        /// The share of failures, in (0, 1], that opens the breaker.
        rate: f64,
    },
}

/// The span of recent calls that rate-based rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WindowSpec {
    /// The calls of the last stretch of time; it slides in tenths of its length.
    Time(Duration),
    /// The last so many calls.
    Calls(u32),
}

impl fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowSpec::Time(d) => write!(f, "in {}", Seconds(*d)),
            WindowSpec::Calls(n) => write!(f, "of last {n}"),
        }
    }
}

/// Slow calls count against the breaker: those longer than `threshold` make up a share that opens
/// it at `rate`, even when they succeed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowCalls {
    /// Calls taking longer than this are slow.
    pub threshold: Duration,
    /// The share of slow calls, in (0, 1], that opens the breaker.
    pub rate: f64,
}

/// What one outcome does to a closed breaker.
pub(crate) enum Step {
    /// Nothing to write.
    Stay,
    /// Stay closed with this word.
    Write(Word),
    /// Open.
    Trip,
}

/// The window a breaker's settings need, built fresh whenever settings are (re)applied. The
/// rules themselves are read from the [`Settings`] beside it.
pub(crate) struct Rules {
    /// Boxed: most breakers have none, and the rules are part of every breaker's footprint.
    pub(crate) window: Option<Box<Window>>,
}

impl Rules {
    pub(crate) fn new(settings: &Settings) -> Rules {
        let slow_rate = settings.get_slow_calls().map(|s| s.rate);
        let failure_rate = match settings.policy {
            Policy::FailureRate { rate } => Some(rate),
            Policy::Consecutive { .. } | Policy::NetFailures { .. } => None,
        };
        let limits = Limits {
            min_calls: u64::from(settings.min_calls),
            failure_rate,
            slow_rate,
        };
        let needs_window = failure_rate.is_some() || slow_rate.is_some();
        let window = needs_window.then(|| {
            Box::new(match settings.window {
                WindowSpec::Time(length) => Window::Time(TimeWindow::new(length, limits)),
                WindowSpec::Calls(size) => Window::Calls(CallWindow::new(size, limits)),
            })
        });
        Rules { window }
    }

    /// The time window, if the rules have one.
    #[inline(always)]
    pub(crate) fn time_window(&self) -> Option<&TimeWindow> {
        match self.window.as_deref() {
            Some(Window::Time(window)) => Some(window),
            _ => None,
        }
    }

    /// Whether outcomes need the time (a time window).
    #[inline]
    pub(crate) fn needs_clock(&self) -> bool {
        matches!(self.window.as_deref(), Some(Window::Time(_)))
    }

    /// Adds an outcome to the window, if there is one. `now` is read only when
    /// [`needs_clock`](Rules::needs_clock); `elapsed` is `None` unless slow calls are measured;
    /// a success is already counted in `successes`. Returns the window's view when the outcome
    /// may open the breaker.
    #[inline(always)]
    pub(crate) fn record(
        &self,
        settings: &Settings,
        failure: bool,
        now: u64,
        elapsed: Option<u64>,
        successes: &Totals,
    ) -> Option<Sample> {
        let slow = elapsed.is_some_and(|elapsed| {
            settings
                .get_slow_calls()
                .is_some_and(|s| u128::from(elapsed) > s.threshold.as_nanos())
        });
        match &self.window {
            Some(window) => window.record(now, failure, slow, successes),
            None => None,
        }
    }

    /// A success already in the lifetime totals that the window must not count: its call was
    /// admitted in another state or generation.
    pub(crate) fn exclude_success(&self) {
        if let Some(window) = &self.window {
            window.exclude_success();
        }
    }

    /// What a recorded outcome does to a closed breaker in `word`, given the window's view if
    /// the outcome may open it.
    #[inline]
    pub(crate) fn step(
        &self,
        settings: &Settings,
        word: Word,
        failure: bool,
        sample: Option<Sample>,
    ) -> Step {
        if let (Some(window), Some(sample)) = (&self.window, sample)
            && window.trips(sample)
        {
            return Step::Trip;
        }
        match settings.policy {
            Policy::Consecutive { max_failures } => {
                if failure {
                    if word.count() + 1 >= max_failures {
                        return Step::Trip;
                    }
                    Step::Write(word.with_count(word.count() + 1))
                } else if word.count() != 0 {
                    Step::Write(word.with_count(0))
                } else {
                    Step::Stay
                }
            }
            Policy::NetFailures { max_failures } => {
                if failure {
                    if word.count() + 1 >= max_failures {
                        return Step::Trip;
                    }
                    Step::Write(word.with_count(word.count() + 1))
                } else if word.count() != 0 {
                    Step::Write(word.with_count(word.count() - 1))
                } else {
                    Step::Stay
                }
            }
            Policy::FailureRate { .. } => Step::Stay,
        }
    }

    /// Heap bytes the window holds.
    pub(crate) fn window_heap_bytes(&self) -> usize {
        self.window
            .as_deref()
            .map_or(0, |w| std::mem::size_of::<Window>() + w.heap_bytes())
    }

    /// See [`Window::forget_reset`].
    pub(crate) fn forget_reset(&self, opened: u32) {
        if let Some(window) = &self.window {
            window.forget_reset(opened);
        }
    }

    /// Forgets the window as the breaker closes anew. Returns whether this call emptied it.
    pub(crate) fn reset(&self, closing: &Closing<'_>) -> bool {
        self.window
            .as_ref()
            .is_some_and(|window| window.reset(closing))
    }

    /// The failure count shown in reports for a closed breaker in `word`.
    pub(crate) fn current_failures(&self, settings: &Settings, word: Word, now: u64) -> u64 {
        match settings.policy {
            Policy::Consecutive { .. } | Policy::NetFailures { .. } => u64::from(word.count()),
            Policy::FailureRate { .. } => self.window.as_ref().map_or(0, |w| w.failures(now)),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Consecutive { max_failures } => write!(f, "consecutive({max_failures})"),
            Policy::NetFailures { max_failures } => write!(f, "net({max_failures})"),
            Policy::FailureRate { rate } => write!(f, "rate({}%)", rate * 100.0),
        }
    }
}
