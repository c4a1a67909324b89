//! Parsing of the attribute arguments: `#[circuit(name = "db", max_failures = 5, ...)]`.
//!
//! Every key is a custom keyword read through `lookahead1`, and every value keeps the span of
//! the tokens it came from, so later stages can point at exactly the right place. The parser
//! does not stop at the first problem: after a bad entry it skips to the next top-level comma
//! and keeps going, so one compile reports every mistake in the attribute.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitInt, LitStr, Token, Type, bracketed};

use crate::duration;
use crate::validate::Errors;

/// The keys `#[circuit]` understands, in the order the docs list them.
pub(crate) const KEYS: [&str; 7] = [
    "name",
    "max_failures",
    "cooldown",
    "half_open_calls",
    "success_threshold",
    "record",
    "ignore",
];

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(max_failures);
    syn::custom_keyword!(cooldown);
    syn::custom_keyword!(half_open_calls);
    syn::custom_keyword!(success_threshold);
    syn::custom_keyword!(record);
    syn::custom_keyword!(ignore);
}

/// A parsed value together with the span of the literal it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// `record = [A, B]` or `ignore = [C]`: the types as written, with their own spans.
pub(crate) struct TypeList {
    pub(crate) types: Vec<Type>,
}

/// Everything the user wrote inside `#[circuit(...)]`. Every key is optional.
#[derive(Default)]
pub(crate) struct CircuitArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) max_failures: Option<Spanned<u32>>,
    pub(crate) cooldown_nanos: Option<Spanned<u64>>,
    pub(crate) half_open_calls: Option<Spanned<u32>>,
    pub(crate) success_threshold: Option<Spanned<u32>>,
    pub(crate) record: Option<TypeList>,
    pub(crate) ignore: Option<TypeList>,
}

impl CircuitArgs {
    /// Whether the generated code must classify errors by type (`record`/`ignore`).
    pub(crate) fn classifies(&self) -> bool {
        self.record.is_some() || self.ignore.is_some()
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

impl CircuitArgs {
    /// Parses one `key = value` entry into `self`.
    fn parse_entry(&mut self, input: ParseStream) -> syn::Result<()> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            let key = input.parse::<kw::name>()?;
            input.parse::<Token![=]>()?;
            let value = parse_name(input)?;
            set_once(&mut self.name, value, key.span, "name")
        } else if lookahead.peek(kw::max_failures) {
            let key = input.parse::<kw::max_failures>()?;
            input.parse::<Token![=]>()?;
            let value = parse_count(input, "max_failures", ZERO_FAILURES)?;
            set_once(&mut self.max_failures, value, key.span, "max_failures")
        } else if lookahead.peek(kw::cooldown) {
            let key = input.parse::<kw::cooldown>()?;
            input.parse::<Token![=]>()?;
            let value = parse_cooldown(input)?;
            set_once(&mut self.cooldown_nanos, value, key.span, "cooldown")
        } else if lookahead.peek(kw::half_open_calls) {
            let key = input.parse::<kw::half_open_calls>()?;
            input.parse::<Token![=]>()?;
            let value = parse_count(input, "half_open_calls", ZERO_TRIALS)?;
            set_once(
                &mut self.half_open_calls,
                value,
                key.span,
                "half_open_calls",
            )
        } else if lookahead.peek(kw::success_threshold) {
            let key = input.parse::<kw::success_threshold>()?;
            input.parse::<Token![=]>()?;
            let value = parse_count(input, "success_threshold", ZERO_SUCCESSES)?;
            set_once(
                &mut self.success_threshold,
                value,
                key.span,
                "success_threshold",
            )
        } else if lookahead.peek(kw::record) {
            let key = input.parse::<kw::record>()?;
            input.parse::<Token![=]>()?;
            let value = parse_type_list(input, key.span, "record")?;
            set_once(&mut self.record, value, key.span, "record")
        } else if lookahead.peek(kw::ignore) {
            let key = input.parse::<kw::ignore>()?;
            input.parse::<Token![=]>()?;
            let value = parse_type_list(input, key.span, "ignore")?;
            set_once(&mut self.ignore, value, key.span, "ignore")
        } else if input.peek(Ident::peek_any) {
            let key = input.call(Ident::parse_any)?;
            Err(unknown_key(&key))
        } else {
            Err(lookahead.error())
        }
    }
}

/// The one place that rejects a repeated key, so no key can get its check wrong.
fn set_once<T>(slot: &mut Option<T>, value: T, key_span: Span, key: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            key_span,
            format!("`{key}` set more than once; remove one of them"),
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
/// find these (`timeout` is far from `cooldown`), and they are the likeliest wrong guesses.
fn renamed_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "timeout" | "reset_timeout" | "recovery_timeout" | "open_timeout" | "wait_duration"
        | "duration" => "cooldown",
        "failure_threshold" | "threshold" | "failures" | "fail_max" | "max_failure_count" => {
            "max_failures"
        }
        "exclude" | "excluded" | "ignored" | "ignore_errors" | "excluded_exceptions" => "ignore",
        "include" | "record_errors" | "errors" | "on" => "record",
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

fn parse_name(input: ParseStream) -> syn::Result<LitStr> {
    if !input.peek(LitStr) {
        return Err(syn::Error::new(
            value_span(input),
            r#"`name` expects a string literal, e.g. `name = "db"`"#,
        ));
    }
    let lit: LitStr = input.parse()?;
    if lit.value().trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            r#"`name` may not be empty; remove it to use the function's path, or write e.g. `name = "db"`"#,
        ));
    }
    Ok(lit)
}

const ZERO_FAILURES: &str =
    "a breaker that opens after 0 failures would never let a call through; use at least 1";
const ZERO_TRIALS: &str =
    "a half-open breaker must let at least 1 trial call through, or it can never close again";
const ZERO_SUCCESSES: &str =
    "at least 1 successful trial call must be required before the breaker closes";

/// A positive `u32` written as an integer literal.
fn parse_count(input: ParseStream, key: &str, why_not_zero: &str) -> syn::Result<Spanned<u32>> {
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
fn parse_cooldown(input: ParseStream) -> syn::Result<Spanned<u64>> {
    if input.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                r#"`cooldown` expects a duration string with a unit, e.g. `cooldown = "{}s"` or `cooldown = "{}ms"`"#,
                lit.base10_digits(),
                lit.base10_digits()
            ),
        ));
    }
    if !input.peek(LitStr) {
        return Err(syn::Error::new(
            value_span(input),
            r#"`cooldown` expects a duration string, e.g. `cooldown = "30s"` or `cooldown = "1m30s"`"#,
        ));
    }
    let lit: LitStr = input.parse()?;
    let nanos = duration::parse_nanos(&lit.value())
        .map_err(|message| syn::Error::new(lit.span(), format!("invalid `cooldown`: {message}")))?;
    Ok(Spanned {
        value: nanos,
        span: lit.span(),
    })
}

/// `[Type, Type, ...]`. Each entry is parsed on its own so that one bad entry is reported
/// under its own tokens and the others are still checked.
fn parse_type_list(input: ParseStream, key_span: Span, key: &str) -> syn::Result<TypeList> {
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
    use super::{CircuitArgs, closest_key, edit_distance, renamed_key};
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
        assert_eq!(args.name.map(|n| n.value()).as_deref(), Some("db"));
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
        let m = message(quote!(timeout = "30s"));
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
    fn edit_distances() {
        assert_eq!(edit_distance("cooldown", "cooldown"), 0);
        assert_eq!(edit_distance("coldown", "cooldown"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest_key("recrod"), Some("record"));
        assert_eq!(closest_key("sucess_threshold"), Some("success_threshold"));
        assert_eq!(closest_key("zzz"), None);
        assert_eq!(renamed_key("reset_timeout"), Some("cooldown"));
    }
}
