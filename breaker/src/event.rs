//! Listeners: callbacks for state changes and call outcomes.
//!
//! Listeners run on the thread that caused the event, after the state word has changed, never
//! under a lock, so a listener may call back into the breaker or the registry. A listener that
//! panics is skipped; the breaker and the call it observed are unaffected.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use crate::error::Error;
use crate::state::State;

/// Something that happened to a breaker.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The breaker moved from one state to another.
    StateChange {
        /// The breaker's name.
        name: &'a str,
        /// The state it left.
        from: State,
        /// The state it entered.
        to: State,
    },
    /// A guarded call succeeded.
    Success {
        /// The breaker's name.
        name: &'a str,
    },
    /// A guarded call failed in a way that counts.
    Failure {
        /// The breaker's name.
        name: &'a str,
    },
    /// A guarded call ended neutrally: an ignored error, or a call cancelled before it finished.
    Neutral {
        /// The breaker's name.
        name: &'a str,
    },
    /// A call was rejected without running.
    Rejected {
        /// The breaker's name.
        name: &'a str,
        /// The error the caller received.
        error: &'a Error,
    },
}

impl Event<'_> {
    /// The name of the breaker the event is about.
    pub fn name(&self) -> &str {
        match self {
            Event::StateChange { name, .. }
            | Event::Success { name }
            | Event::Failure { name }
            | Event::Neutral { name }
            | Event::Rejected { name, .. } => name,
        }
    }
}

type Callback = Box<dyn Fn(&Event<'_>) + Send + Sync>;

struct Node {
    callback: Callback,
    next: OnceLock<Box<Node>>,
}

/// An append-only list of callbacks. Readers walk it without locking; appends race only with
/// each other, on the `OnceLock` at the tail.
#[derive(Default)]
pub(crate) struct Listeners {
    head: OnceLock<Box<Node>>,
}

impl Listeners {
    pub(crate) fn add(&self, callback: Callback) {
        let mut node = Box::new(Node {
            callback,
            next: OnceLock::new(),
        });
        let mut slot = &self.head;
        loop {
            match slot.get() {
                Some(existing) => slot = &existing.next,
                None => match slot.set(node) {
                    Ok(()) => break,
                    // Another listener took this tail first; append after it.
                    Err(lost) => node = lost,
                },
            }
        }
    }

    /// Lets the hot path skip building events when nobody listens: one load.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.get().is_none()
    }

    pub(crate) fn emit(&self, event: &Event<'_>) {
        let mut next = self.head.get();
        while let Some(node) = next {
            // A panicking listener must not unwind into the guarded call's caller.
            let _ = catch_unwind(AssertUnwindSafe(|| (node.callback)(event)));
            next = node.next.get();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn listeners_run_in_order_and_survive_a_panicking_one() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listeners = Listeners::default();
        assert!(listeners.is_empty());
        for i in 0..3 {
            let seen = Arc::clone(&seen);
            listeners.add(Box::new(move |_| {
                seen.lock().unwrap().push(i);
                assert_ne!(i, 1, "listener 1 panics");
            }));
        }
        assert!(!listeners.is_empty());
        listeners.emit(&Event::Success { name: "db" });
        assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2]);
    }
}
