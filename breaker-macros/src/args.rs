//! Parsing of the attribute arguments: `#[circuit(name = "db", max_failures = 5, ...)]`.
//!
//! Every key is a custom keyword read through `lookahead1`, and every value keeps the span of
//! the tokens it came from, so later stages can point at exactly the right place. The parser
//! does not stop at the first problem: after a bad entry it skips to the next top-level comma
//! and keeps going, so one compile reports every mistake in the attribute.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned as _;
use syn::{ExprPath, Ident, LitFloat, LitInt, LitStr, Token, Type, bracketed};

use crate::duration;
use crate::template::Template;
use crate::validate::Errors;

/// The keys `#[circuit]` understands, in the order the docs list them.
pub(crate) const KEYS: [&str; 23] = [
    "name",
    "max_failures",
    "failure_rate",
    "net_failures",
    "window",
    "window_calls",
    "min_calls",
    "slow_call",
    "slow_rate",
    "cooldown",
    "max_cooldown",
    "jitter",
    "half_open_calls",
    "success_threshold",
    "ramp_up",
    "record",
    "ignore",
    "record_if",
    "failure_if",
    "timeout",
    "fallback",
    "fallback_on",
    "idle_ttl",
];

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(max_failures);
    syn::custom_keyword!(failure_rate);
    syn::custom_keyword!(net_failures);
    syn::custom_keyword!(window);
    syn::custom_keyword!(window_calls);
    syn::custom_keyword!(min_calls);
    syn::custom_keyword!(slow_call);
    syn::custom_keyword!(slow_rate);
    syn::custom_keyword!(cooldown);
    syn::custom_keyword!(max_cooldown);
    syn::custom_keyword!(jitter);
    syn::custom_keyword!(half_open_calls);
    syn::custom_keyword!(success_threshold);
    syn::custom_keyword!(ramp_up);
    syn::custom_keyword!(record);
    syn::custom_keyword!(ignore);
    syn::custom_keyword!(record_if);
    syn::custom_keyword!(failure_if);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(fallback);
    syn::custom_keyword!(fallback_on);
    syn::custom_keyword!(idle_ttl);
}

/// A parsed value together with the span of the literal it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// A key as written: its name and the span of the keyword, for errors about the key itself
/// (repeated, combined with another key, not applicable to this function).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) span: Span,
}

/// `name = "..."`: the literal, and its text split into literal parts and `{param}` keys.
pub(crate) struct NameArg {
    pub(crate) lit: LitStr,
    pub(crate) template: Template,
}

/// `record = [A, B]` or `ignore = [C]`: the types as written, with their own spans.
pub(crate) struct TypeList {
    pub(crate) types: Vec<Type>,
}

/// `fallback_on = "..."`: when the fallback answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FallbackOn {
    /// Only when the breaker rejects the call (the default).
    Rejected,
    /// Also when the call itself fails.
    Any,
}

/// Everything the user wrote inside `#[circuit(...)]`. Every key is optional.
#[derive(Default)]
pub(crate) struct CircuitArgs {
    pub(crate) name: Option<NameArg>,
    pub(crate) max_failures: Option<Spanned<u32>>,
    pub(crate) failure_rate: Option<Spanned<f64>>,
    pub(crate) net_failures: Option<Spanned<u32>>,
    pub(crate) window_nanos: Option<Spanned<u64>>,
    pub(crate) window_calls: Option<Spanned<u32>>,
    pub(crate) min_calls: Option<Spanned<u32>>,
    pub(crate) slow_call_nanos: Option<Spanned<u64>>,
    pub(crate) slow_rate: Option<Spanned<f64>>,
    pub(crate) cooldown_nanos: Option<Spanned<u64>>,
    pub(crate) max_cooldown_nanos: Option<Spanned<u64>>,
    pub(crate) jitter: Option<Spanned<f64>>,
    pub(crate) half_open_calls: Option<Spanned<u32>>,
    pub(crate) success_threshold: Option<Spanned<u32>>,
    pub(crate) ramp_up_nanos: Option<Spanned<u64>>,
    pub(crate) record: Option<TypeList>,
    pub(crate) ignore: Option<TypeList>,
    pub(crate) record_if: Option<ExprPath>,
    pub(crate) failure_if: Option<ExprPath>,
    pub(crate) timeout_nanos: Option<Spanned<u64>>,
    pub(crate) fallback: Option<ExprPath>,
    pub(crate) fallback_on: Option<Spanned<FallbackOn>>,
    pub(crate) idle_ttl_nanos: Option<Spanned<u64>>,
    /// Every key that was set, in the order written, so checks between keys can point at
    /// the later one.
    pub(crate) keys: Vec<Key>,
}

impl CircuitArgs {
    /// Whether the generated code must classify errors by type (`record`/`ignore`).
    pub(crate) fn classifies(&self) -> bool {
        self.record.is_some() || self.ignore.is_some()
    }

    /// The key `name`, if it was set.
    pub(crate) fn key(&self, name: &str) -> Option<Key> {
        self.keys.iter().copied().find(|key| key.name == name)
    }

    /// Whether the name has `{param}` placeholders: one breaker per key.
    pub(crate) fn is_keyed(&self) -> bool {
        self.name
            .as_ref()
            .is_some_and(|name| name.template.is_keyed())
    }

    /// When the fallback answers; `Rejected` when there is none, too.
    pub(crate) fn fallback_on(&self) -> FallbackOn {
        self.fallback_on
            .map_or(FallbackOn::Rejected, |fallback_on| fallback_on.value)
    }
}

impl Parse for CircuitArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = CircuitArgs::default();
        let mut errors = Errors::default();
        while !input.is_empty() {
            if let Err(error) = args.parse_entry(input) {
                errors.push(error);
                skip_to_comma(input);
            }
            if input.is_empty() {
                break;
            }
            if let Err(error) = input.parse::<Token![,]>() {
                errors.push(error);
                skip_to_comma(input);
                // `skip_to_comma` stops *at* the comma; eat it so the loop makes progress.
                let _ = input.parse::<Option<Token![,]>>();
            }
        }
        errors.finish()?;
        Ok(args)
    }
}

/// Picks the field of one key.
type Slot<T> = fn(&mut CircuitArgs) -> &mut Option<T>;

/// Parses the value of one key.
type ValueParser<T> = fn(ParseStream, Key) -> syn::Result<T>;

impl CircuitArgs {
    /// Parses one `key = value` entry into `self`.
    fn parse_entry(&mut self, input: ParseStream) -> syn::Result<()> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            self.entry::<kw::name, _>(input, "name", |a| &mut a.name, parse_name)
        } else if lookahead.peek(kw::max_failures) {
            self.entry::<kw::max_failures, _>(
                input,
                "max_failures",
                |a| &mut a.max_failures,
                |input, key| parse_count(input, key, ZERO_FAILURES),
            )
        } else if lookahead.peek(kw::failure_rate) {
            self.entry::<kw::failure_rate, _>(
                input,
                "failure_rate",
                |a| &mut a.failure_rate,
                parse_rate,
            )
        } else if lookahead.peek(kw::net_failures) {
            self.entry::<kw::net_failures, _>(
                input,
                "net_failures",
                |a| &mut a.net_failures,
                |input, key| parse_count(input, key, ZERO_NET_FAILURES),
            )
        } else if lookahead.peek(kw::window) {
            self.entry::<kw::window, _>(input, "window", |a| &mut a.window_nanos, parse_duration)
        } else if lookahead.peek(kw::window_calls) {
            self.entry::<kw::window_calls, _>(
                input,
                "window_calls",
                |a| &mut a.window_calls,
                |input, key| parse_count(input, key, ZERO_WINDOW),
            )
        } else if lookahead.peek(kw::min_calls) {
            self.entry::<kw::min_calls, _>(
                input,
                "min_calls",
                |a| &mut a.min_calls,
                |input, key| parse_count(input, key, ZERO_MIN_CALLS),
            )
        } else if lookahead.peek(kw::slow_call) {
            self.entry::<kw::slow_call, _>(
                input,
                "slow_call",
                |a| &mut a.slow_call_nanos,
                parse_duration,
            )
        } else if lookahead.peek(kw::slow_rate) {
            self.entry::<kw::slow_rate, _>(input, "slow_rate", |a| &mut a.slow_rate, parse_rate)
        } else if lookahead.peek(kw::cooldown) {
            self.entry::<kw::cooldown, _>(
                input,
                "cooldown",
                |a| &mut a.cooldown_nanos,
                parse_duration,
            )
        } else if lookahead.peek(kw::max_cooldown) {
            self.entry::<kw::max_cooldown, _>(
                input,
                "max_cooldown",
                |a| &mut a.max_cooldown_nanos,
                parse_duration,
            )
        } else if lookahead.peek(kw::jitter) {
            self.entry::<kw::jitter, _>(input, "jitter", |a| &mut a.jitter, parse_jitter)
        } else if lookahead.peek(kw::half_open_calls) {
            self.entry::<kw::half_open_calls, _>(
                input,
                "half_open_calls",
                |a| &mut a.half_open_calls,
                |input, key| parse_count(input, key, ZERO_TRIALS),
            )
        } else if lookahead.peek(kw::success_threshold) {
            self.entry::<kw::success_threshold, _>(
                input,
                "success_threshold",
                |a| &mut a.success_threshold,
                |input, key| parse_count(input, key, ZERO_SUCCESSES),
            )
        } else if lookahead.peek(kw::ramp_up) {
            self.entry::<kw::ramp_up, _>(input, "ramp_up", |a| &mut a.ramp_up_nanos, parse_duration)
        } else if lookahead.peek(kw::record) {
            self.entry::<kw::record, _>(input, "record", |a| &mut a.record, parse_type_list)
        } else if lookahead.peek(kw::ignore) {
            self.entry::<kw::ignore, _>(input, "ignore", |a| &mut a.ignore, parse_type_list)
        } else if lookahead.peek(kw::record_if) {
            self.entry::<kw::record_if, _>(input, "record_if", |a| &mut a.record_if, parse_fn_path)
        } else if lookahead.peek(kw::failure_if) {
            self.entry::<kw::failure_if, _>(
                input,
                "failure_if",
                |a| &mut a.failure_if,
                parse_fn_path,
            )
        } else if lookahead.peek(kw::timeout) {
            self.entry::<kw::timeout, _>(input, "timeout", |a| &mut a.timeout_nanos, parse_duration)
        } else if lookahead.peek(kw::fallback) {
            self.entry::<kw::fallback, _>(input, "fallback", |a| &mut a.fallback, parse_fn_path)
        } else if lookahead.peek(kw::fallback_on) {
            self.entry::<kw::fallback_on, _>(
                input,
                "fallback_on",
                |a| &mut a.fallback_on,
                parse_fallback_on,
            )
        } else if lookahead.peek(kw::idle_ttl) {
            self.entry::<kw::idle_ttl, _>(
                input,
                "idle_ttl",
                |a| &mut a.idle_ttl_nanos,
                parse_duration,
            )
        } else if input.peek(Ident::peek_any) {
            let key = input.call(Ident::parse_any)?;
            Err(unknown_key(&key))
        } else {
            Err(lookahead.error())
        }
    }

    /// `K = value`: the keyword, `=`, the value, stored in its slot once.
    fn entry<K: Parse + quote::ToTokens, T>(
        &mut self,
        input: ParseStream,
        name: &'static str,
        slot: Slot<T>,
        parse: ValueParser<T>,
    ) -> syn::Result<()> {
        let key = Key {
            name,
            span: input.parse::<K>()?.span(),
        };
        input.parse::<Token![=]>()?;
        let value = parse(input, key)?;
        set_once(slot(self), value, key)?;
        self.keys.push(key);
        Ok(())
    }
}

/// The one place that rejects a repeated key, so no key can get its check wrong.
fn set_once<T>(slot: &mut Option<T>, value: T, key: Key) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            key.span,
            format!("`{}` set more than once; remove one of them", key.name),
        ));
    }
    *slot = Some(value);
    Ok(())
}

/// After a bad entry, drop tokens up to (not including) the next top-level comma. Commas
/// inside `[...]` are inside a group, so a bad `record` list is skipped as a whole.
fn skip_to_comma(input: ParseStream) {
    while !input.is_empty() && !input.peek(Token![,]) {
        if input.parse::<TokenTree>().is_err() {
            break;
        }
    }
}

fn unknown_key(key: &Ident) -> syn::Error {
    let key_text = key.unraw().to_string();
    let valid = KEYS.map(|k| format!("`{k}`")).join(", ");
    let message = match renamed_key(&key_text).or_else(|| closest_key(&key_text)) {
        Some(suggestion) => {
            format!("unknown key `{key_text}`; did you mean `{suggestion}`? Valid keys: {valid}")
        }
        None => format!("unknown key `{key_text}`; valid keys: {valid}"),
    };
    syn::Error::new(key.span(), message)
}

/// Names other circuit-breaker libraries use for the same settings. Edit distance would not
/// find these (`reset_timeout` is far from `cooldown`), and they are the likeliest wrong guesses.
fn renamed_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "reset_timeout"
        | "recovery_timeout"
        | "open_timeout"
        | "wait_duration"
        | "wait_duration_in_open_state"
        | "duration"
        | "break_duration" => "cooldown",
        "failure_threshold" | "threshold" | "failures" | "fail_max" | "max_failure_count" => {
            "max_failures"
        }
        "failure_rate_threshold" | "failure_ratio" | "error_rate" | "failure_percentage" => {
            "failure_rate"
        }
        "sliding_window_size" | "window_size" | "sampling_duration" => "window",
        "minimum_number_of_calls" | "minimum_throughput" | "min_requests" | "request_volume" => {
            "min_calls"
        }
        "slow_call_duration_threshold" | "slow_call_duration" | "slow_threshold" => "slow_call",
        "slow_call_rate_threshold" | "slow_call_rate" => "slow_rate",
        "max_wait" | "max_backoff" | "backoff_cap" | "max_break_duration" => "max_cooldown",
        "recovery" | "warm_up" | "warmup" | "recovery_time" => "ramp_up",
        "exclude" | "excluded" | "ignored" | "ignore_errors" | "excluded_exceptions" => "ignore",
        "include" | "record_errors" | "errors" | "on" => "record",
        "exception_inspector" | "process_exception" | "error_predicate" | "should_record" => {
            "record_if"
        }
        "detect_error" | "is_failure" | "result_predicate" | "failure_predicate" => "failure_if",
        "call_timeout" | "time_limit" | "deadline" => "timeout",
        "fallback_fn" | "fallback_method" | "fallback_function" | "on_open" => "fallback",
        "ttl" | "idle_timeout" | "evict_after" => "idle_ttl",
        "half_open_max_calls" | "permitted_calls" | "max_half_open" => "half_open_calls",
        "success_count" | "successes" => "success_threshold",
        "id" | "key" | "breaker" => "name",
        _ => return None,
    })
}

/// The valid key closest to `key` by edit distance, if it is close enough to be a typo.
fn closest_key(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|candidate| (edit_distance(key, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over chars, two rows at a time.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

fn parse_name(input: ParseStream, _: Key) -> syn::Result<NameArg> {
    if !input.peek(LitStr) {
        return Err(syn::Error::new(
            value_span(input),
            r#"`name` expects a string literal, e.g. `name = "db"` or `name = "http:{host}"`"#,
        ));
    }
    let lit: LitStr = input.parse()?;
    if lit.value().trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            r#"`name` may not be empty; remove it to use the function's path, or write e.g. `name = "db"`"#,
        ));
    }
    let template = Template::parse(&lit.value())
        .map_err(|message| syn::Error::new(lit.span(), format!("invalid `name`: {message}")))?;
    Ok(NameArg { lit, template })
}

const ZERO_FAILURES: &str =
    "a breaker that opens after 0 failures would never let a call through; use at least 1";
const ZERO_NET_FAILURES: &str =
    "a breaker that opens at 0 net failures would open before any call failed; use at least 1";
const ZERO_WINDOW: &str = "a window of 0 calls holds no outcome to compute a rate from; use at least 1, e.g. `window_calls = 100`";
const ZERO_MIN_CALLS: &str = "the rate is only judged once the window holds at least 1 call; remove `min_calls` or use at least 1";
const ZERO_TRIALS: &str =
    "a half-open breaker must let at least 1 trial call through, or it can never close again";
const ZERO_SUCCESSES: &str =
    "at least 1 successful trial call must be required before the breaker closes";

/// A positive `u32` written as an integer literal.
fn parse_count(input: ParseStream, key: Key, why_not_zero: &str) -> syn::Result<Spanned<u32>> {
    let key = key.name;
    if input.peek(Token![-]) {
        return Err(syn::Error::new(
            value_span(input),
            format!("`{key}` must be a positive integer, e.g. `{key} = 5`"),
        ));
    }
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`{key}` expects an integer, not a string; remove the quotes: `{key} = {}`",
                lit.value()
            ),
        ));
    }
    if !input.peek(LitInt) {
        return Err(syn::Error::new(
            value_span(input),
            format!("`{key}` expects an integer literal, e.g. `{key} = 5`"),
        ));
    }
    let lit: LitInt = input.parse()?;
    if !matches!(lit.suffix(), "" | "u32") {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`{key}` is a u32; write the number without the `{}` suffix",
                lit.suffix()
            ),
        ));
    }
    let value: u32 = lit.base10_parse().map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!("`{key}` must fit in a u32 (at most {})", u32::MAX),
        )
    })?;
    if value == 0 {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` may not be 0: {why_not_zero}"),
        ));
    }
    Ok(Spanned {
        value,
        span: lit.span(),
    })
}

/// A duration string such as `"30s"`, converted to nanoseconds at compile time.
fn parse_duration(input: ParseStream, key: Key) -> syn::Result<Spanned<u64>> {
    let key = key.name;
    if input.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                r#"`{key}` expects a duration string with a unit, e.g. `{key} = "{}s"` or `{key} = "{}ms"`"#,
                lit.base10_digits(),
                lit.base10_digits()
            ),
        ));
    }
    if !input.peek(LitStr) {
        return Err(syn::Error::new(
            value_span(input),
            format!(
                r#"`{key}` expects a duration string, e.g. `{key} = "30s"` or `{key} = "1m30s"`"#
            ),
        ));
    }
    let lit: LitStr = input.parse()?;
    let nanos = duration::parse_nanos(&lit.value())
        .map_err(|message| syn::Error::new(lit.span(), format!("invalid `{key}`: {message}")))?;
    Ok(Spanned {
        value: nanos,
        span: lit.span(),
    })
}

/// `failure_rate` and `slow_rate`: a share of calls, more than 0 and at most 1.
fn parse_rate(input: ParseStream, key: Key) -> syn::Result<Spanned<f64>> {
    let rate = parse_fraction(input, key)?;
    if rate.value == 0.0 {
        let why = if key.name == "slow_rate" {
            "the breaker would open even when no call is slow"
        } else {
            "the breaker would open even when every call succeeds"
        };
        return Err(syn::Error::new(
            rate.span,
            format!(
                "`{}` may not be 0: {why}; use a share above 0, e.g. `{} = {}`",
                key.name,
                key.name,
                fraction_example(key)
            ),
        ));
    }
    Ok(rate)
}

/// `jitter`: the largest share by which a cooldown is stretched, from 0 to 1.
fn parse_jitter(input: ParseStream, key: Key) -> syn::Result<Spanned<f64>> {
    parse_fraction(input, key)
}

fn fraction_example(key: Key) -> &'static str {
    match key.name {
        "slow_rate" => "0.8",
        "jitter" => "0.2",
        _ => "0.5",
    }
}

/// A number from 0 to 1, as a float or integer literal (`0.5`, `1`).
fn parse_fraction(input: ParseStream, key: Key) -> syn::Result<Spanned<f64>> {
    let example = fraction_example(key);
    let key = key.name;
    let range = format!("`{key}` is a share between 0 and 1, e.g. `{key} = {example}`");
    if input.peek(Token![-]) {
        let value = take_value(input);
        return Err(syn::Error::new_spanned(
            value,
            format!("{range}; it cannot be negative"),
        ));
    }
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`{key}` expects a number, not a string; remove the quotes: `{key} = {}`",
                lit.value()
            ),
        ));
    }
    let (value, text, span) = if input.peek(LitFloat) {
        let lit: LitFloat = input.parse()?;
        if !matches!(lit.suffix(), "" | "f64") {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "`{key}` is an f64; write the number without the `{}` suffix",
                    lit.suffix()
                ),
            ));
        }
        let value: f64 = lit.base10_parse()?;
        (value, lit.base10_digits().to_owned(), lit.span())
    } else if input.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        if !lit.suffix().is_empty() {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "`{key}` is an f64; write the number without the `{}` suffix",
                    lit.suffix()
                ),
            ));
        }
        // Too large to fit a u64 is out of range either way.
        let value = lit
            .base10_parse::<u64>()
            .map_or(f64::INFINITY, |n| n as f64);
        (value, lit.base10_digits().to_owned(), lit.span())
    } else {
        return Err(syn::Error::new(value_span(input), range));
    };
    if !(0.0..=1.0).contains(&value) {
        let looks_like_percent = !text.contains(['.', 'e', 'E']) && value <= 100.0;
        let message = if looks_like_percent {
            format!(
                "`{key}` is a share, not a percentage: write `{key} = {}` for {text}%",
                value / 100.0
            )
        } else {
            format!("{range}; {text} is out of range")
        };
        return Err(syn::Error::new(span, message));
    }
    Ok(Spanned { value, span })
}

/// `fallback = path`, `failure_if = path`, `record_if = path`: the path of a function (a free
/// function, `Self::method`, `<T as Trait>::method`), in expression syntax (`f::<T>`).
fn parse_fn_path(input: ParseStream, key: Key) -> syn::Result<ExprPath> {
    let key = key.name;
    let example = match key {
        "fallback" => "`fallback = cached_user` or `fallback = Self::cached`",
        "failure_if" => {
            "`failure_if = is_server_error`, with `fn is_server_error(value: &T) -> bool`"
        }
        _ => "`record_if = is_transient`, with `fn is_transient(error: &E) -> bool`",
    };
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`{key}` expects the path of a function, not a string; remove the quotes: `{key} = {}`",
                lit.value()
            ),
        ));
    }
    if input.peek(Token![|]) || input.peek(Token![||]) || input.peek(Token![move]) {
        let value = take_value(input);
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "`{key}` expects the path of a function, not a closure; write a `fn` and name it here, e.g. {example}"
            ),
        ));
    }
    let fork = input.fork();
    match fork.parse::<ExprPath>() {
        Ok(path) if path.attrs.is_empty() && (fork.is_empty() || fork.peek(Token![,])) => {
            input.parse::<ExprPath>()?;
            Ok(path)
        }
        _ => {
            let message = format!("`{key}` expects the path of a function, e.g. {example}");
            let value = take_value(input);
            Err(if value.is_empty() {
                syn::Error::new(value_span(input), message)
            } else {
                syn::Error::new_spanned(value, message)
            })
        }
    }
}

/// `fallback_on = "rejected"` or `"any"`.
fn parse_fallback_on(input: ParseStream, _: Key) -> syn::Result<Spanned<FallbackOn>> {
    const CHOICES: &str = r#"`fallback_on = "rejected"` (the default: the fallback answers when the breaker rejects the call) or `fallback_on = "any"` (also when the call fails)"#;
    if input.peek(Ident) {
        let ident: Ident = input.parse()?;
        return Err(syn::Error::new(
            ident.span(),
            format!(r#"`fallback_on` expects a string: write `fallback_on = "{ident}"`"#),
        ));
    }
    if !input.peek(LitStr) {
        return Err(syn::Error::new(
            value_span(input),
            format!("`fallback_on` expects {CHOICES}"),
        ));
    }
    let lit: LitStr = input.parse()?;
    let value = match lit.value().as_str() {
        "rejected" => FallbackOn::Rejected,
        "any" => FallbackOn::Any,
        other => {
            return Err(syn::Error::new(
                lit.span(),
                format!("unknown `fallback_on = {other:?}`; write {CHOICES}"),
            ));
        }
    };
    Ok(Spanned {
        value,
        span: lit.span(),
    })
}

/// `[Type, Type, ...]`. Each entry is parsed on its own so that one bad entry is reported
/// under its own tokens and the others are still checked.
fn parse_type_list(input: ParseStream, key: Key) -> syn::Result<TypeList> {
    let Key {
        name: key,
        span: key_span,
    } = key;
    if !input.peek(syn::token::Bracket) {
        // Consume the whole value so the error spans all of it, e.g. `io::Error`, not `io`.
        let message = format!(
            "`{key}` expects a list of error types in brackets, e.g. `{key} = [std::io::Error]`"
        );
        let value = take_value(input);
        return Err(if value.is_empty() {
            syn::Error::new(value_span(input), message)
        } else {
            syn::Error::new_spanned(value, message)
        });
    }
    let content;
    bracketed!(content in input);
    let mut types = Vec::new();
    let mut errors = Errors::default();
    while !content.is_empty() {
        match parse_list_entry(&content, key) {
            Ok(ty) => types.push(ty),
            Err(error) => {
                errors.push(error);
                skip_to_comma(&content);
            }
        }
        if content.is_empty() {
            break;
        }
        if let Err(error) = content.parse::<Token![,]>() {
            errors.push(error);
            skip_to_comma(&content);
            let _ = content.parse::<Option<Token![,]>>();
        }
    }
    errors.finish()?;
    if types.is_empty() {
        return Err(syn::Error::new(
            key_span,
            match key {
                "record" => {
                    "`record = []` lists no error types, so no error would ever count; remove it to count every error, or list the types that should count"
                }
                _ => {
                    "`ignore = []` lists no error types; remove it, or list the error types that should not count as failures"
                }
            },
        ));
    }
    Ok(TypeList { types })
}

fn parse_list_entry(input: ParseStream, key: &str) -> syn::Result<Type> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`{key}` lists types, not strings; remove the quotes: `{key} = [{}]`",
                lit.value()
            ),
        ));
    }
    let not_a_type = |span| {
        syn::Error::new(
            span,
            format!("expected an error type in `{key}`, e.g. `{key} = [std::io::Error, MyError]`"),
        )
    };
    let span = value_span(input);
    // A fork keeps a half-parsed type from consuming the comma we resynchronise on.
    let fork = input.fork();
    match fork.parse::<Type>() {
        Ok(ty) if fork.is_empty() || fork.peek(Token![,]) => {
            input.parse::<Type>()?;
            Ok(ty)
        }
        _ => Err(not_a_type(span)),
    }
}

/// The span of the next token, or of the end of input when there is none.
fn value_span(input: ParseStream) -> Span {
    input
        .cursor()
        .token_tree()
        .map_or_else(|| input.span(), |(tt, _)| tt.span())
}

/// Consumes the value of an entry, up to the next top-level comma.
fn take_value(input: ParseStream) -> TokenStream {
    let mut value = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        match input.parse::<TokenTree>() {
            Ok(tt) => value.extend([tt]),
            Err(_) => break,
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::{CircuitArgs, FallbackOn, closest_key, edit_distance, renamed_key};
    use quote::{ToTokens as _, quote};

    fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<CircuitArgs> {
        syn::parse2(tokens)
    }

    /// Every message in a (possibly combined) error, in order.
    fn messages(tokens: proc_macro2::TokenStream) -> Vec<String> {
        match parse(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn message(tokens: proc_macro2::TokenStream) -> String {
        let all = messages(tokens);
        assert_eq!(all.len(), 1, "expected exactly one error, got {all:?}");
        all.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn empty_is_all_defaults() {
        let args = parse(quote!()).expect("empty args parse");
        assert!(args.name.is_none());
        assert!(args.max_failures.is_none());
        assert!(args.cooldown_nanos.is_none());
        assert!(!args.classifies());
    }

    #[test]
    fn every_key() {
        let args = parse(quote!(
            name = "db",
            max_failures = 5,
            cooldown = "1m30s",
            half_open_calls = 2,
            success_threshold = 3u32,
            record = [std::io::Error, MyError<u8>],
            ignore = [NotFound],
        ))
        .expect("all keys parse");
        assert_eq!(args.name.map(|n| n.lit.value()).as_deref(), Some("db"));
        assert_eq!(args.max_failures.map(|s| s.value), Some(5));
        assert_eq!(args.cooldown_nanos.map(|s| s.value), Some(90_000_000_000));
        assert_eq!(args.half_open_calls.map(|s| s.value), Some(2));
        assert_eq!(args.success_threshold.map(|s| s.value), Some(3));
        let record: Vec<String> = args
            .record
            .expect("record")
            .types
            .iter()
            .map(|t| t.to_token_stream().to_string())
            .collect();
        assert_eq!(record, ["std :: io :: Error", "MyError < u8 >"]);
        assert_eq!(args.ignore.expect("ignore").types.len(), 1);
    }

    #[test]
    fn duplicate_key() {
        assert_eq!(
            message(quote!(cooldown = "1s", cooldown = "2s")),
            "`cooldown` set more than once; remove one of them"
        );
        assert_eq!(
            message(quote!(record = [A], record = [B])),
            "`record` set more than once; remove one of them"
        );
    }

    #[test]
    fn unknown_key_suggests_closest() {
        let m = message(quote!(max_failure = 3));
        assert!(
            m.starts_with("unknown key `max_failure`; did you mean `max_failures`?"),
            "{m}"
        );
        assert!(m.contains("`half_open_calls`"), "lists valid keys: {m}");
        let m = message(quote!(reset_timeout = "30s"));
        assert!(m.contains("did you mean `cooldown`?"), "{m}");
        let m = message(quote!(banana = 1));
        assert!(!m.contains("did you mean"), "{m}");
        assert!(
            m.starts_with("unknown key `banana`; valid keys: `name`"),
            "{m}"
        );
    }

    #[test]
    fn wrong_literal_types() {
        assert!(message(quote!(name = db)).contains("`name` expects a string literal"));
        assert!(
            message(quote!(max_failures = "5")).contains("remove the quotes: `max_failures = 5`")
        );
        assert!(message(quote!(max_failures = 1.5)).contains("expects an integer literal"));
        assert!(message(quote!(max_failures = -1)).contains("positive integer"));
        assert!(message(quote!(max_failures = 5i64)).contains("`i64` suffix"));
        assert!(message(quote!(max_failures = 4294967296)).contains("must fit in a u32"));
        assert!(message(quote!(cooldown = 30)).contains(r#"`cooldown = "30s"`"#));
        assert!(message(quote!(cooldown = true)).contains("expects a duration string"));
    }

    #[test]
    fn zero_counts() {
        assert!(message(quote!(max_failures = 0)).starts_with("`max_failures` may not be 0"));
        assert!(message(quote!(half_open_calls = 0)).starts_with("`half_open_calls` may not be 0"));
        assert!(
            message(quote!(success_threshold = 0)).starts_with("`success_threshold` may not be 0")
        );
    }

    #[test]
    fn bad_durations() {
        assert!(message(quote!(cooldown = "0s")).contains("is zero"));
        assert!(message(quote!(cooldown = "30x")).contains("unknown unit `x`"));
        assert!(message(quote!(cooldown = "")).contains("empty duration"));
    }

    #[test]
    fn bad_type_lists() {
        assert!(message(quote!(record = io::Error)).contains("in brackets"));
        assert!(message(quote!(record = ["io::Error"])).contains("remove the quotes"));
        assert!(message(quote!(ignore = [1])).contains("expected an error type in `ignore`"));
        assert!(message(quote!(record = [])).contains("`record = []` lists no error types"));
        // Both bad entries are reported, the good one in between does not hide them.
        assert_eq!(messages(quote!(record = [1, io::Error, 2])).len(), 2);
    }

    #[test]
    fn empty_name() {
        assert!(message(quote!(name = "")).contains("may not be empty"));
    }

    #[test]
    fn reports_every_error_at_once() {
        let all = messages(quote!(
            max_failures = 0,
            cooldown = "1x",
            bogus = 1,
            name = 5
        ));
        assert_eq!(all.len(), 4, "{all:?}");
    }

    #[test]
    fn missing_comma_and_stray_tokens() {
        assert!(!messages(quote!(max_failures = 5 cooldown = "1s")).is_empty());
        assert!(!messages(quote!(max_failures)).is_empty());
        assert!(!messages(quote!(= 5)).is_empty());
        assert!(!messages(quote!(, ,)).is_empty());
        // A trailing comma is fine.
        assert!(parse(quote!(max_failures = 5,)).is_ok());
    }

    #[test]
    fn issue_3_keys() {
        let args = parse(quote!(
            failure_rate = 0.5,
            window = "60s",
            min_calls = 20,
            slow_call = "2s",
            slow_rate = 1,
            max_cooldown = "2m",
            jitter = 0,
            ramp_up = "30s",
            record_if = is_transient,
            failure_if = Self::is_bad,
            timeout = "250ms",
            fallback = <Client as Cached>::get::<u8>,
            fallback_on = "any",
            idle_ttl = "10m",
            name = "http:{host}",
        ))
        .expect("all keys parse");
        assert_eq!(args.failure_rate.map(|s| s.value), Some(0.5));
        assert_eq!(args.slow_rate.map(|s| s.value), Some(1.0));
        assert_eq!(args.jitter.map(|s| s.value), Some(0.0));
        assert_eq!(args.window_nanos.map(|s| s.value), Some(60_000_000_000));
        assert_eq!(args.timeout_nanos.map(|s| s.value), Some(250_000_000));
        assert_eq!(args.fallback_on(), FallbackOn::Any);
        assert!(args.is_keyed());
        assert_eq!(
            args.fallback
                .map(|p| p.to_token_stream().to_string())
                .as_deref(),
            Some("< Client as Cached > :: get :: < u8 >")
        );
        let keys: Vec<&str> = args.keys.iter().map(|key| key.name).collect();
        assert_eq!(keys.first(), Some(&"failure_rate"));
        assert_eq!(keys.last(), Some(&"name"));
        assert_eq!(keys.len(), 15);
    }

    #[test]
    fn bad_fractions() {
        assert!(message(quote!(failure_rate = 0)).starts_with("`failure_rate` may not be 0"));
        assert!(message(quote!(failure_rate = 0.0)).starts_with("`failure_rate` may not be 0"));
        assert!(message(quote!(failure_rate = 1.01)).contains("1.01 is out of range"));
        assert!(message(quote!(slow_rate = 80)).contains("write `slow_rate = 0.8` for 80%"));
        assert!(message(quote!(jitter = -0.1)).contains("cannot be negative"));
        assert!(message(quote!(jitter = "0.2")).contains("remove the quotes: `jitter = 0.2`"));
        assert!(message(quote!(jitter = 0.2f32)).contains("without the `f32` suffix"));
        assert!(message(quote!(failure_rate = half)).contains("a share between 0 and 1"));
    }

    #[test]
    fn bad_function_paths() {
        assert!(message(quote!(fallback = "cached")).contains("remove the quotes"));
        assert!(message(quote!(fallback = |x| x)).contains("not a closure"));
        assert!(message(quote!(failure_if = move || true)).contains("not a closure"));
        assert!(message(quote!(record_if = is_transient())).contains("expects the path"));
        assert!(message(quote!(fallback = 5)).contains("expects the path"));
        assert!(message(quote!(fallback_on = any)).contains(r#"write `fallback_on = "any"`"#));
        assert!(message(quote!(fallback_on = "always")).contains("unknown `fallback_on"));
    }

    #[test]
    fn bad_keyed_names() {
        assert!(message(quote!(name = "http:{}")).starts_with("invalid `name`: `{}`"));
        assert!(message(quote!(name = "http:{host")).contains("unclosed `{`"));
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("cooldown", "cooldown"), 0);
        assert_eq!(edit_distance("coldown", "cooldown"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest_key("recrod"), Some("record"));
        assert_eq!(closest_key("sucess_threshold"), Some("success_threshold"));
        assert_eq!(closest_key("zzz"), None);
        assert_eq!(renamed_key("reset_timeout"), Some("cooldown"));
        assert_eq!(renamed_key("failure_rate_threshold"), Some("failure_rate"));
        // `timeout` is a key of its own now, not another name for the cooldown.
        assert_eq!(renamed_key("timeout"), None);
        assert_eq!(closest_key("fallbak"), Some("fallback"));
    }
}
