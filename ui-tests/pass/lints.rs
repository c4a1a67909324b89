//! The expansion adds no warnings to user code, under strict rustc and clippy lints, and
//! emits no `#[allow]` that a user's `forbid` would reject.
//! (`cargo clippy --all-targets` lints this file through `tests/pass_cases.rs`.)

#![forbid(unreachable_code, unsafe_code)]
#![deny(
    warnings,
    unused_qualifications,
    unused_results,
    clippy::pedantic,
    clippy::nursery
)]
#![deny(
    clippy::absolute_paths,
    clippy::allow_attributes,
    clippy::allow_attributes_without_reason,
    clippy::missing_docs_in_private_items,
    clippy::std_instead_of_core,
    clippy::redundant_closure_call,
    clippy::semicolon_if_nothing_returned,
    clippy::needless_return,
    clippy::used_underscore_binding,
    clippy::shadow_unrelated,
    clippy::min_ident_chars
)]

use core::error::Error;
use std::io;

use tokio::runtime::Builder;

use breaker::circuit;

/// A type with guarded methods.
struct Service {
    /// A value to return.
    value: u32,
}

impl Service {
    /// `&self`, classification, explicit settings.
    #[circuit(
        name = "lints.service",
        max_failures = 3,
        cooldown = "1s",
        half_open_calls = 2,
        success_threshold = 2,
        record = [io::Error]
    )]
    fn value(&self) -> io::Result<u32> {
        Ok(self.value)
    }

    /// `async`, default name.
    #[circuit]
    async fn value_async(&self) -> io::Result<u32> {
        Ok(self.value)
    }
}

/// A free function with `?`.
#[circuit]
fn parse(text: &str) -> Result<u32, Box<dyn Error + Send + Sync>> {
    let number: u32 = text.parse()?;
    Ok(number)
}

/// Runs each shape once.
pub fn main() {
    let service = Service { value: 1 };
    assert_eq!(service.value().ok(), Some(1));
    assert_eq!(parse("2").ok(), Some(2));
    let runtime = Builder::new_current_thread().build();
    if let Ok(runtime) = runtime {
        assert_eq!(runtime.block_on(service.value_async()).ok(), Some(1));
    }
}
