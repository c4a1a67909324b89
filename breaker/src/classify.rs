//! Which errors count against a breaker.
//!
//! Rust has no exception hierarchy, so "record `io::Error`" means: the error is an `io::Error`, or
//! carries one somewhere in its [`source`](std::error::Error::source) chain. To walk that chain
//! the breaker needs to see the error as `dyn Error`, which [`AsError`] provides for plain error
//! types, `Box<dyn Error + Send + Sync>` and `anyhow::Error` alike.

use std::any::TypeId;
use std::error::Error as StdError;
use std::fmt;

/// What one finished call means for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The dependency answered well.
    Success,
    /// The dependency failed in a way that counts toward opening the breaker.
    Failure,
    /// Neither: an ignored error or a cancelled call. It never fills a window and gives a
    /// half-open trial slot back.
    Neutral,
}

/// Views an error as `&dyn Error` so its source chain can be searched.
///
/// Implemented for every `T: Error + 'static` (marker [`ViaError`]) and for every type that is
/// `AsRef<dyn Error + Send + Sync>`, such as `Box<dyn Error + Send + Sync>` and `anyhow::Error`
/// (marker [`ViaAsRef`]). The marker parameter only keeps the two blanket implementations apart;
/// the compiler infers it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` must be viewable as a `dyn Error`: errors are classified by the breaker's `record` and `ignore` lists",
    label = "not an error type",
    note = "return a type that implements `std::error::Error`, `Box<dyn Error + Send + Sync>` or `anyhow::Error`; without the macro, `Breaker::call_with` takes your own verdict instead"
)]
pub trait AsError<Via> {
    /// The error as a trait object.
    fn as_error(&self) -> &(dyn StdError + 'static);
}

/// Marker for [`AsError`] on types that implement [`std::error::Error`].
#[derive(Debug)]
pub enum ViaError {}

/// Marker for [`AsError`] on types that are `AsRef<dyn Error + Send + Sync>`.
#[derive(Debug)]
pub enum ViaAsRef {}

impl<T: StdError + 'static> AsError<ViaError> for T {
    fn as_error(&self) -> &(dyn StdError + 'static) {
        self
    }
}

impl<T: AsRef<dyn StdError + Send + Sync + 'static>> AsError<ViaAsRef> for T {
    fn as_error(&self) -> &(dyn StdError + 'static) {
        self.as_ref()
    }
}

/// The error types a function may return from a guarded call: they must be able to carry the
/// breaker's own [`Error`](crate::Error).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a `breaker::Error`, so a guarded call cannot return it",
    label = "this error type has no `From<breaker::Error>`",
    note = "return `std::io::Error`, `Box<dyn Error + Send + Sync>` or `anyhow::Error`, or add a variant to your error type such as `#[error(transparent)] Circuit(#[from] breaker::Error)`"
)]
pub trait CircuitError: From<crate::Error> {}

impl<E: From<crate::Error>> CircuitError for E {}

/// One error type named in `record` or `ignore`.
#[derive(Clone, Copy)]
pub struct ErrorKind {
    type_id: fn() -> TypeId,
    type_name: fn() -> &'static str,
    matches: fn(&(dyn StdError + 'static)) -> bool,
}

impl ErrorKind {
    /// The error type `T`.
    pub fn of<T: StdError + 'static>() -> ErrorKind {
        ErrorKind {
            type_id: TypeId::of::<T>,
            type_name: std::any::type_name::<T>,
            matches: |e| e.is::<T>(),
        }
    }

    /// The type's name, as `std::any::type_name` spells it.
    pub fn type_name(&self) -> &'static str {
        (self.type_name)()
    }

    /// Whether `error` or anything in its source chain is of this type.
    ///
    /// `io::Error::source()` skips the error it wraps and returns that error's source, so an
    /// `io::Error` built with `io::Error::new(kind, inner)` is opened with `get_ref` as well.
    pub fn is_in_chain(&self, error: &(dyn StdError + 'static)) -> bool {
        let mut next = Some(error);
        while let Some(e) = next {
            if (self.matches)(e) {
                return true;
            }
            if let Some(inner) = e
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                && self.is_in_chain(inner)
            {
                return true;
            }
            next = e.source();
        }
        false
    }
}

impl PartialEq for ErrorKind {
    fn eq(&self, other: &Self) -> bool {
        (self.type_id)() == (other.type_id)()
    }
}

impl Eq for ErrorKind {}

impl fmt::Debug for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}

/// The `record` and `ignore` lists of a breaker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Classifier {
    pub(crate) record: Vec<ErrorKind>,
    pub(crate) ignore: Vec<ErrorKind>,
}

impl Classifier {
    pub(crate) const EMPTY: Classifier = Classifier {
        record: Vec::new(),
        ignore: Vec::new(),
    };

    pub(crate) fn is_trivial(&self) -> bool {
        self.record.is_empty() && self.ignore.is_empty()
    }

    /// Ignored types win over recorded ones; with a `record` list, errors outside it are
    /// answers from a healthy dependency and count as successes (as resilience4j does).
    pub(crate) fn classify(&self, error: &(dyn StdError + 'static)) -> Outcome {
        if self.ignore.iter().any(|k| k.is_in_chain(error)) {
            return Outcome::Neutral;
        }
        if self.record.is_empty() || self.record.iter().any(|k| k.is_in_chain(error)) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("query failed")]
    struct QueryError(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("not found")]
    struct NotFound;

    fn classifier(record: Vec<ErrorKind>, ignore: Vec<ErrorKind>) -> Classifier {
        Classifier { record, ignore }
    }

    #[test]
    fn record_finds_types_down_the_source_chain() {
        let c = classifier(vec![ErrorKind::of::<std::io::Error>()], vec![]);
        let err = QueryError(std::io::Error::other("reset"));
        assert_eq!(c.classify(&err), Outcome::Failure);
        assert_eq!(c.classify(&NotFound), Outcome::Success);
    }

    #[test]
    fn record_looks_inside_io_error_wrappers() {
        let c = classifier(vec![ErrorKind::of::<NotFound>()], vec![]);
        let err = std::io::Error::other(NotFound);
        assert_eq!(c.classify(&err), Outcome::Failure);
    }

    #[test]
    fn ignore_wins_and_is_neutral() {
        let c = classifier(
            vec![ErrorKind::of::<NotFound>()],
            vec![ErrorKind::of::<NotFound>()],
        );
        assert_eq!(c.classify(&NotFound), Outcome::Neutral);
    }

    #[test]
    fn boxed_and_anyhow_errors_are_viewable() {
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(NotFound);
        assert!(boxed.as_error().is::<NotFound>());
        let any = anyhow::Error::new(NotFound).context("loading user");
        assert!(ErrorKind::of::<NotFound>().is_in_chain(any.as_error()));
    }
}
