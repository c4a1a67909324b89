//! What a guarded call returns when the breaker, rather than the guarded code, says no; and what a
//! bad configuration returns.

use std::fmt;
use std::time::Duration;

use crate::name::Name;

/// Why a breaker refused (or cut short) a call.
///
/// Functions under `#[circuit]` return it through their own error type, which needs
/// `From<breaker::Error>`:
///
/// - `std::io::Error`: built in (the error kind is [`std::io::ErrorKind::ConnectionRefused`] for
///   rejections and [`std::io::ErrorKind::TimedOut`] for timeouts).
/// - `Box<dyn std::error::Error + Send + Sync>` and `anyhow::Error`: through their blanket
///   conversions.
/// - Your own enum: add a variant such as `#[error(transparent)] Circuit(#[from] breaker::Error)`.
///
/// ```
/// use breaker::Breaker;
/// use std::time::Duration;
///
/// let breaker = Breaker::builder("db").build()?;
/// breaker.force_open();
/// let err = breaker.call(|| Ok::<_, breaker::Error>(1)).unwrap_err();
/// assert!(err.is_rejection());
/// assert_eq!(err.to_string(), "circuit `db` is forced open; it stays open until closed by hand");
/// # Ok::<(), breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The breaker is open: the call was rejected without running.
    #[error("circuit `{name}` is open; retry in {}", Seconds(*.retry_after))]
    Open {
        /// The breaker's name.
        name: Name,
        /// Time left in the cooldown, after which trial calls are let through.
        retry_after: Duration,
    },
    /// The breaker was forced open by an operator and stays open until closed by hand.
    #[error("circuit `{name}` is forced open; it stays open until closed by hand")]
    ForcedOpen {
        /// The breaker's name.
        name: Name,
    },
    /// The breaker is half-open and all of its trial calls are in flight.
    #[error("circuit `{name}` is half-open and its trial calls are taken; retry shortly")]
    HalfOpenFull {
        /// The breaker's name.
        name: Name,
    },
    /// The call ran longer than the breaker's `timeout`; it was cancelled and counted as a
    /// failure.
    #[error("circuit `{name}`: call timed out after {}", Seconds(*.limit))]
    Timeout {
        /// The breaker's name.
        name: Name,
        /// The time limit.
        limit: Duration,
    },
}

impl Error {
    /// The name of the breaker that produced this error.
    pub fn name(&self) -> &str {
        match self {
            Self::Open { name, .. }
            | Self::ForcedOpen { name }
            | Self::HalfOpenFull { name }
            | Self::Timeout { name, .. } => name,
        }
    }

    /// Whether the call was refused without running (every variant but a timeout).
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Self::Open { .. } | Self::ForcedOpen { .. } | Self::HalfOpenFull { .. }
        )
    }

    /// How long to wait before a retry can be admitted, when the breaker knows.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Open { retry_after, .. } => Some(*retry_after),
            Self::HalfOpenFull { .. } => Some(Duration::ZERO),
            Self::ForcedOpen { .. } | Self::Timeout { .. } => None,
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        let kind = match err {
            Error::Timeout { .. } => std::io::ErrorKind::TimedOut,
            _ => std::io::ErrorKind::ConnectionRefused,
        };
        std::io::Error::new(kind, err)
    }
}

/// Formats a duration for people: `12.3s`, `250ms`, `2m05s`.
pub(crate) struct Seconds(pub(crate) Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let tenths = (d.as_secs_f64() * 10.0).round();
        if tenths >= 600.0 {
            // Whole seconds from here on, so 59.96 s reads `1m00s`, not `60.0s`.
            let secs = d.as_secs_f64().round() as u64;
            write!(f, "{}m{:02}s", secs / 60, secs % 60)
        } else if d >= Duration::from_secs(1) {
            write!(f, "{:.1}s", tenths / 10.0)
        } else {
            write!(f, "{}ms", d.as_millis())
        }
    }
}

/// A breaker setting that cannot work, named by its field.
///
/// ```
/// let err = breaker::Breaker::builder("db").max_failures(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_failures");
/// assert_eq!(
///     err.to_string(),
///     "invalid `max_failures` for circuit `db`: must be between 1 and 2097151"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}` for circuit `{name}`: {reason}")]
pub struct ConfigError {
    name: Name,
    field: &'static str,
    reason: String,
}

impl ConfigError {
    pub(crate) fn new(name: &Name, field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            name: name.clone(),
            field,
            reason: reason.into(),
        }
    }

    /// The setting that is wrong, spelled as the builder method and the macro key.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The breaker whose settings were rejected.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why the value was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_says_when_to_retry() {
        let err = Error::Open {
            name: "db".into(),
            retry_after: Duration::from_millis(12_345),
        };
        assert_eq!(err.to_string(), "circuit `db` is open; retry in 12.3s");
        let err = Error::Open {
            name: "db".into(),
            retry_after: Duration::from_millis(250),
        };
        assert_eq!(err.to_string(), "circuit `db` is open; retry in 250ms");
        let err = Error::Open {
            name: "db".into(),
            retry_after: Duration::from_secs(125),
        };
        assert_eq!(err.to_string(), "circuit `db` is open; retry in 2m05s");
        assert_eq!(Seconds(Duration::from_millis(59_960)).to_string(), "1m00s");
        assert_eq!(Seconds(Duration::from_millis(59_940)).to_string(), "59.9s");
    }

    #[test]
    fn converts_into_io_error_keeping_the_message() {
        let io: std::io::Error = Error::HalfOpenFull { name: "db".into() }.into();
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(io.to_string().contains("half-open"));
        assert!(io.get_ref().unwrap().downcast_ref::<Error>().is_some());
    }
}
