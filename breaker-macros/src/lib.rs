//! The `#[circuit]` attribute of the [`breaker`](https://docs.rs/breaker) crate.
//!
//! Do not depend on this crate directly: use `breaker::circuit`, which re-exports it. The code
//! this macro generates calls into `breaker`'s hidden support module, so the two crates are
//! released together with an exact version pin.
//!
//! The crate is split the way the arguments flow: `args` parses `#[circuit(...)]` (with
//! `duration` for `"1m30s"` and `template` for keyed names such as `"http:{host}"`), `item`
//! parses the function leniently, `validate` checks both and collects every error, and
//! `expand` writes the code (or, on error, re-emits the function with the errors).

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
/// counted; when the failure policy trips (by default, 5 failures in a row) it opens, and calls
/// return `breaker::Error::Open` at once, converted into the function's error type, without
/// running the body (or the `fallback` answers). After `cooldown` it lets `half_open_calls`
/// trial calls through, and `success_threshold` successes close it again.
///
/// # Keys
///
/// Every key is optional.
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `name` | string: the breaker's name; `{param}` gives one breaker per value | the function's path |
/// | `max_failures` | integer > 0: failures in a row that open the breaker | 5 |
/// | `failure_rate` | share in (0, 1]: failed share of the window that opens it | none |
/// | `net_failures` | integer > 0: failures minus successes that open it | none |
/// | `window` | duration: the window of `failure_rate` and `slow_rate` | `"60s"` |
/// | `window_calls` | integer > 0: a window of the last calls instead | none |
/// | `min_calls` | integer > 0: calls in the window before a rate is judged | 20 |
/// | `slow_call` | duration: calls longer than this are slow | none |
/// | `slow_rate` | share in (0, 1]: slow share of the window that opens it | none |
/// | `cooldown` | duration: how long it stays open | `"30s"` |
/// | `max_cooldown` | duration ≥ `cooldown`: each re-open doubles the cooldown up to this | no backoff |
/// | `jitter` | share in [0, 1]: each cooldown is stretched by a random part of this | 0 |
/// | `half_open_calls` | integer > 0: trial calls let through once the cooldown is over | 1 |
/// | `success_threshold` | integer > 0: successful trials needed to close it | 1 |
/// | `ramp_up` | duration: after closing, admit a growing share of calls over this time | closes at once |
/// | `record` | `[Type, ...]`: only these errors count as failures | every `Err` counts |
/// | `ignore` | `[Type, ...]`: these errors count as nothing | none |
/// | `record_if` | path of a `fn(&E) -> bool`: which errors count | every `Err` counts |
/// | `failure_if` | path of a `fn(&T) -> bool`: which `Ok` values count as failures | none |
/// | `timeout` | duration, `async fn` only: longer calls are cut short and fail | none |
/// | `fallback` | path of a function with the same parameters and return type | none |
/// | `fallback_on` | `"rejected"` or `"any"`: when the fallback answers | `"rejected"` |
/// | `idle_ttl` | duration, keyed names only: evict breakers unused for this long | never |
///
/// Durations are checked at compile time: a number and a unit, several from largest to
/// smallest, with units `h`, `m`, `s` and `ms`: `"250ms"`, `"30s"`, `"5m"`, `"1h"`,
/// `"1m30s"`, `"1h2m3s4ms"`. Shares are numbers such as `0.5` or `1`.
///
/// Misspelled or repeated keys, zero counts, bad durations, shares out of range, keys that
/// exclude each other or need another, and anything else that cannot be right are compile
/// errors pointing at the offending token.
///
/// # Failure policies
///
/// Choose one: `max_failures` (the default) counts failures in a row, and a success resets the
/// count; `net_failures` counts failures minus successes, so a success forgives one failure;
/// `failure_rate` opens when, over the window, at least `min_calls` calls were made and at
/// least that share of them failed. The window is a stretch of time (`window = "60s"`, the
/// default) or the last calls (`window_calls = 100`).
///
/// `slow_call` and `slow_rate` go together and work beside any policy: the breaker also opens
/// when that share of the calls in the window took longer than `slow_call`, even if they
/// succeeded.
///
/// ```
/// use breaker::circuit;
///
/// #[circuit(failure_rate = 0.5, window = "60s", min_calls = 20)]
/// fn search(query: &str) -> std::io::Result<Vec<String>> {
///     Ok(vec![query.to_owned()])
/// }
///
/// #[circuit(net_failures = 5, slow_call = "2s", slow_rate = 0.8, window_calls = 100)]
/// fn render(page: u32) -> std::io::Result<String> {
///     Ok(page.to_string())
/// }
/// # fn main() { search("a").unwrap(); render(1).unwrap(); }
/// ```
///
/// # Which outcomes count
///
/// Without `record`, `ignore` or `record_if`, every `Err` is a failure. With `record = [A, B]`,
/// only errors that are an `A` or a `B`, or carry one in their `source()` chain, count; other
/// errors are answers from a healthy dependency and count as successes. With `ignore = [C]`, a
/// `C` counts as nothing at all (a "not found" is usually the caller's problem, not the
/// dependency's). Classification looks at the error as a `dyn Error`, so with `record`/`ignore`
/// the error type must be a concrete error type, `Box<dyn Error + Send + Sync>` or
/// `anyhow::Error`. A type may not appear in both lists.
///
/// `record_if = path` names a `fn(&E) -> bool` for what a list of types cannot express; it
/// replaces `record` and works with `ignore`. `failure_if = path` names a `fn(&T) -> bool` on
/// the `Ok` value: an HTTP 503 returned as a value counts as a failure, and the value is still
/// returned. Either can be a free function or an associated one (`Self::is_error`).
///
/// ```
/// use breaker::circuit;
/// use std::io;
///
/// struct Response { status: u16 }
///
/// fn is_server_error(response: &Response) -> bool { response.status >= 500 }
/// fn is_transient(error: &io::Error) -> bool { error.kind() == io::ErrorKind::TimedOut }
///
/// #[circuit(failure_if = is_server_error, record_if = is_transient)]
/// fn get(path: &str) -> io::Result<Response> {
///     Ok(Response { status: if path.is_empty() { 404 } else { 200 } })
/// }
/// # fn main() { get("/").unwrap(); }
/// ```
///
/// # Timeouts
///
/// `timeout` on an `async fn` cuts a call short once it runs longer: the call counts as a
/// failure and returns `breaker::Error::Timeout`, whose message names the breaker and the
/// limit. It needs the `tokio` feature of `breaker` (a compile error says so otherwise). On a
/// sync function it is a compile error: a running sync call cannot be stopped from outside.
///
/// ```
/// use breaker::circuit;
///
/// #[circuit(timeout = "2s")]
/// async fn fetch(url: &str) -> std::io::Result<String> {
///     Ok(url.to_owned())
/// }
/// # fn main() {}
/// ```
///
/// # Fallbacks
///
/// `fallback = path` names a function with the same parameters, receiver included, and the
/// same return type (awaited for an `async fn`): a free function or `Self::method`. It is
/// called with the function's arguments instead of returning the rejection when the breaker
/// rejects the call, so the error type then needs no `From<breaker::Error>` (an `async fn`
/// still needs it for timeouts). With `fallback_on = "any"` it also answers calls that count
/// as failures (an `Err` that counts, a value `failure_if` flags, a timeout), after the failure
/// was recorded; the arguments are then cloned before the call, so every parameter must be
/// `Clone` (references are), and `&mut self` or `&mut` parameters cannot be used. An error
/// that does not count is returned as it is. A fallback's answer counts as neither success nor
/// failure. Each parameter needs a plain name to be passed on: no patterns.
///
/// ```
/// use breaker::circuit;
///
/// struct Prices;
///
/// impl Prices {
///     #[circuit(fallback = Self::last_known, fallback_on = "any")]
///     fn current(&self, item: &str) -> std::io::Result<u32> {
///         Ok(item.len() as u32)
///     }
///
///     fn last_known(&self, item: &str) -> std::io::Result<u32> {
///         Ok(0)
///     }
/// }
/// # fn main() { Prices.current("a").unwrap(); }
/// ```
///
/// # Recovery
///
/// After `cooldown`, `half_open_calls` trial calls decide: `success_threshold` successes close
/// the breaker, a failure re-opens it. With `max_cooldown`, each re-open straight after a
/// failed trial doubles the cooldown up to that cap, and closing resets it. `jitter = 0.2`
/// stretches every cooldown by a random fraction of up to 20 %, drawn when the breaker opens,
/// so that many clients do not all retry at once. With `ramp_up`, a breaker that closes admits
/// a growing share of calls over that time instead of all of them at once, rejecting the rest.
///
/// ```
/// use breaker::circuit;
///
/// #[circuit(cooldown = "1s", max_cooldown = "2m", jitter = 0.2, ramp_up = "30s")]
/// fn publish(event: &str) -> std::io::Result<()> {
///     Ok(())
/// }
/// # fn main() { publish("e").unwrap(); }
/// ```
///
/// # Names and sharing
///
/// Breakers live in `breaker::registry()` under their name, are created on the first call,
/// and are cached in a static inside the function, so later calls do not look the registry
/// up. Functions that say the same `name` share one breaker: failures in one open it for all.
///
/// Without `name`, a breaker is named after the function's path as the compiler spells it,
/// impl header included: `app::load` for a free function, `app::Shard<app::Left>::ping` for a
/// method, `<app::Left as app::Store>::load` for a trait-impl method. Functions in different
/// impls, even of one generic type, get different breakers. A trait's default method
/// (`app::Store::describe`) and a method of a generic impl are one breaker for all
/// implementors and instantiations: give those an explicit `name` if that is not what you want.
///
/// A name with `{param}` placeholders gives each distinct value of those parameters (formatted
/// with `Display`) its own breaker, created in the registry when first used: one per host,
/// tenant or shard. `{{` and `}}` stand for literal braces. Such breakers are looked up on
/// each call (an existing key allocates nothing), can be removed with
/// `breaker::registry().remove(name)`, and with `idle_ttl` are evicted once unused for that
/// long, so an unbounded key space does not grow memory without bound.
///
/// ```
/// use breaker::circuit;
///
/// #[circuit(name = "http:{host}", max_failures = 3, idle_ttl = "10m")]
/// fn get(host: &str, path: &str) -> std::io::Result<String> {
///     Ok(format!("{host}{path}"))
/// }
///
/// # fn main() {
/// get("a.example", "/").unwrap();
/// assert!(breaker::registry().get("http:a.example").is_some());
/// # }
/// ```
///
/// # The function
///
/// The function must return `Result<T, E>`, or an alias whose name is `Result` such as
/// `std::io::Result<T>` or `anyhow::Result<T>`; the check is on the name as written, since a
/// macro cannot resolve types. Unless a `fallback` answers rejections, `E` must implement
/// `From<breaker::Error>`, which is how a rejection is returned: `std::io::Error`,
/// `Box<dyn Error + Send + Sync>` and `anyhow::Error` already do, and your own error enums can
/// add a `#[from] breaker::Error` variant.
///
/// Free functions, `async fn`, methods taking `self`, `&self` or `&mut self`, trait-impl
/// methods (sync and `async`), generic functions with `where` clauses, `impl Trait`
/// arguments, lifetimes, `unsafe fn` and `extern "C" fn` are supported. The signature,
/// visibility, attributes and doc comments are kept exactly; only the body is wrapped, and
/// `return` and `?` inside it work as before. The function is marked `#[inline]`, so that the
/// breaker's few instructions sit in the caller as the builder's do, unless it already carries
/// an `#[inline(..)]` or `#[cold]` of its own or is exported (`#[no_mangle]`, `#[export_name]`):
/// write `#[inline(never)]` to keep a large function out of line.
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
/// # Limits
///
/// - `#[async_trait]` methods are not supported (their return type is a boxed future); use
///   native `async fn` in traits.
/// - A generic function has one breaker for all its instantiations.
#[proc_macro_attribute]
pub fn circuit(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::circuit(args.into(), item.into()).into()
}
