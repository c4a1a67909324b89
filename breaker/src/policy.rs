//! When a closed breaker opens.

use std::fmt;

use crate::error::ConfigError;
use crate::name::Name;
use crate::state::{MAX_COUNT, Word};

/// The rule that decides when a closed breaker opens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// Open after `max_failures` recorded failures in a row; a success resets the count.
    Consecutive {
        /// Failures in a row that open the breaker.
        max_failures: u32,
    },
}

/// What a recorded failure does to a closed breaker.
pub(crate) enum FailureStep {
    /// Stay closed with this word.
    Count(Word),
    /// Open.
    Trip,
}

impl Policy {
    pub(crate) fn validate(&self, name: &Name) -> Result<(), ConfigError> {
        match *self {
            Policy::Consecutive { max_failures } => {
                if max_failures == 0 || max_failures > MAX_COUNT {
                    return Err(ConfigError::new(
                        name,
                        "max_failures",
                        format!("must be at least 1 and at most {MAX_COUNT}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The word after a success in the closed state, or `None` when nothing changes, which is
    /// the common case and costs no write.
    #[inline]
    pub(crate) fn on_success(&self, word: Word) -> Option<Word> {
        match self {
            Policy::Consecutive { .. } => (word.count() != 0).then(|| word.with_count(0)),
        }
    }

    /// What a failure in the closed state does.
    pub(crate) fn on_failure(&self, word: Word) -> FailureStep {
        match *self {
            Policy::Consecutive { max_failures } => {
                let count = word.count() + 1;
                if count >= max_failures {
                    FailureStep::Trip
                } else {
                    FailureStep::Count(word.with_count(count))
                }
            }
        }
    }

    /// The failure count shown in reports for a closed breaker in `word`.
    pub(crate) fn current_failures(&self, word: Word) -> u32 {
        match self {
            Policy::Consecutive { .. } => word.count(),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Consecutive { max_failures } => write!(f, "consecutive({max_failures})"),
        }
    }
}
