//! The atomics of the state machine, swapped for loom's under `--cfg loom` so that the model
//! tests explore every interleaving of admissions, outcomes and transitions.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64};
