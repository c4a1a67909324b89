//! Circuit breakers for Rust services: correct under concurrency, nearly free on the hot path,
//! one attribute away, and observable.
//!
//! ```
//! use std::io;
//!
//! #[breaker::circuit(max_failures = 3, cooldown = "30s", name = "inventory")]
//! fn fetch_stock(item: u32) -> io::Result<u32> {
//!     if item == 0 { Err(io::Error::other("inventory is down")) } else { Ok(item * 10) }
//! }
//!
//! assert_eq!(fetch_stock(4)?, 40);
//! for _ in 0..3 {
//!     assert!(fetch_stock(0).is_err());
//! }
//! // Three failures in a row opened the breaker: calls are now rejected without running.
//! let rejected = fetch_stock(4).unwrap_err();
//! assert_eq!(rejected.kind(), io::ErrorKind::ConnectionRefused);
//!
//! let report = breaker::registry().report();
//! assert_eq!(report.get("inventory").unwrap().state(), breaker::State::Open);
//! println!("{report}");
//! # Ok::<(), io::Error>(())
//! ```
//!
//! # How it behaves
//!
//! - **Closed**: calls pass. `max_failures` recorded failures in a row (default 5) open it; a
//!   success resets the count.
//! - **Open**: calls are rejected at once with [`Error::Open`], which carries the time left in the
//!   cooldown. Rejections are counted, never as failures.
//! - **Half-open**: once the cooldown (default 30 s) is over, up to `half_open_calls` trial calls
//!   (default one) run at once and the rest are rejected with [`Error::HalfOpenFull`].
//!   `success_threshold` successes (default one) close it; a failure re-opens it.
//! - An outcome that arrives after the breaker changed state since its call began is dropped.
//! - A panic in a guarded call is a failure and keeps unwinding. A future dropped before it finishes
//!   counts as nothing and gives back its half-open slot.
//!
//! Without the attribute, build a [`Breaker`] and use [`Breaker::call`], [`Breaker::call_async`]
//! or [`Breaker::acquire`].

mod breaker;
mod call;
mod classify;
pub mod clock;
mod error;
mod event;
mod lookup_cache;
#[cfg(all(test, loom))]
mod loom_tests;
mod name;
mod policy;
mod registry;
mod report;
mod settings;
mod state;
mod sync;
mod timeout;
mod totals;
mod window;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[doc(inline)]
pub use breaker_macros::circuit;

pub use crate::breaker::{Breaker, Builder, Permit};
pub use crate::call::CallAsync;
pub use crate::classify::{AsError, CircuitError, ErrorKind, Outcome, ViaAsRef, ViaError};
pub use crate::error::{ConfigError, Error};
pub use crate::event::Event;
pub use crate::name::Name;
pub use crate::policy::{Policy, SlowCalls, WindowSpec};
pub use crate::registry::{Registry, registry};
pub use crate::report::{BreakerReport, Conflict, Report, Site};
pub use crate::settings::Settings;
pub use crate::state::State;
