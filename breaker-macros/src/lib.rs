//! The `#[circuit]` attribute of the [`breaker`](https://docs.rs/breaker) crate.
//!
//! Do not depend on this crate directly: use `breaker::circuit`, which re-exports it. The code
//! this macro generates calls into `breaker`'s hidden support module, so the two crates are
//! released together with an exact version pin.
//!
//! The crate is split the way the arguments flow: `args` parses `#[circuit(...)]`,
//! `item` parses the function leniently, `validate` checks both and collects every error,
//! and `expand` writes the code (or, on error, re-emits the function with the errors).

#![forbid(unsafe_code)]

mod args;
mod duration;
mod expand;
mod item;
mod template;
mod validate;

use proc_macro::TokenStream;

/// Guards a function with a named circuit breaker.
///
/// ```
/// use breaker::circuit;
/// # #[derive(Debug)] struct Row;
/// # fn query(_: u32) -> std::io::Result<Row> { Ok(Row) }
///
/// #[circuit(name = "db", max_failures = 5, cooldown = "30s", record = [std::io::Error])]
/// fn load_user(id: u32) -> std::io::Result<Row> {
///     query(id)
/// }
/// # fn main() { load_user(1).unwrap(); }
/// ```
///
/// Each call goes through the breaker. While it is closed, calls run and their outcome is
/// counted; after `max_failures` consecutive failures it opens and calls return
/// `breaker::Error::Open` at once, converted into the function's error type, without running
/// the body. After `cooldown` it lets `half_open_calls` trial calls through, and
/// `success_threshold` successes close it again.
///
/// # Keys
///
/// Every key is optional.
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `name` | string: the breaker's name in the registry and in reports | the function's path (see below) |
/// | `max_failures` | integer > 0: consecutive failures that open the breaker | 5 |
/// | `cooldown` | duration string: how long it stays open | `"30s"` |
/// | `half_open_calls` | integer > 0: trial calls let through once the cooldown is over | 1 |
/// | `success_threshold` | integer > 0: successful trials needed to close it | 1 |
/// | `record` | `[Type, ...]`: only these errors count as failures | every `Err` counts |
/// | `ignore` | `[Type, ...]`: these errors never count as failures | none |
///
/// Durations are checked at compile time: a number and a unit, several from largest to
/// smallest, with units `h`, `m`, `s` and `ms`: `"250ms"`, `"30s"`, `"5m"`, `"1h"`,
/// `"1m30s"`, `"1h2m3s4ms"`.
///
/// Misspelled or repeated keys, zero counts, bad durations and anything else that cannot be
/// right are compile errors pointing at the offending token.
///
/// # The function
///
/// The function must return `Result<T, E>`, or an alias whose name is `Result` such as
/// `std::io::Result<T>` or `anyhow::Result<T>`; the check is on the name as written, since a
/// macro cannot resolve types. `E` must implement `From<breaker::Error>`, which is how a
/// rejected call is returned: `std::io::Error`, `Box<dyn Error + Send + Sync>` and
/// `anyhow::Error` already do, and your own error enums can add a `#[from] breaker::Error`
/// variant.
///
/// Free functions, `async fn`, methods taking `self`, `&self` or `&mut self`, trait-impl
/// methods (sync and `async`), generic functions with `where` clauses, `impl Trait`
/// arguments, lifetimes, `unsafe fn` and `extern "C" fn` are supported. The signature,
/// visibility, attributes and doc comments are kept exactly; only the body is wrapped, and
/// `return` and `?` inside it work as before.
///
/// Not supported, with a compile error saying so: `const fn`, trait method declarations
/// without a body, a second `#[circuit]` on the same function, and anything that is not a
/// function.
///
/// ```
/// use breaker::circuit;
///
/// struct Client;
///
/// impl Client {
///     #[circuit(cooldown = "250ms")]
///     async fn fetch(&self, key: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
///         if key.is_empty() {
///             return Err("empty key".into());
///         }
///         Ok(key.to_uppercase())
///     }
/// }
/// # fn main() {}
/// ```
///
/// # Which errors count
///
/// Without `record` or `ignore`, every `Err` is a failure. With `record = [A, B]`, only
/// errors that are an `A` or a `B`, or carry one in their `source()` chain, count; with
/// `ignore = [C]`, a `C` never counts (a "not found" is usually the caller's problem, not the
/// dependency's). Classification needs to look at the error as a `dyn Error`, so with
/// `record`/`ignore` the error type must be a concrete error type,
/// `Box<dyn Error + Send + Sync>` or `anyhow::Error`. A type may not appear in both lists.
///
/// # Names and sharing
///
/// Breakers live in `breaker::registry()` under their name, are created on the first call,
/// and are cached in a static inside the function, so later calls do not look the registry
/// up. Functions that say the same `name` share one breaker: failures in one open it for all.
///
/// Without `name`, a free function is named `{module_path}::{fn_name}`, and a method (a
/// function with a `self` receiver) `{Self type}::{fn_name}`, so same-named methods of
/// different types do not collide. An associated function without `self` is named like a
/// free function, and a trait's default method is one breaker for all implementors: give
/// those an explicit `name` if that is not what you want.
///
/// # Limits
///
/// - `#[async_trait]` methods are not supported (their return type is a boxed future); use
///   native `async fn` in traits.
/// - A generic function has one breaker for all its instantiations.
#[proc_macro_attribute]
pub fn circuit(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::circuit(args.into(), item.into()).into()
}
