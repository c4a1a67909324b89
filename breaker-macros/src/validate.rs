//! Semantic checks on the parsed arguments and function, one function per concern.
//!
//! Every check reports into one [`Errors`], so a single compile shows every problem, each
//! under the tokens that cause it, with a message that says what to write instead.

use quote::ToTokens as _;
use syn::ext::IdentExt as _;
use syn::{GenericArgument, PathArguments, ReceiverKind, ReturnType, Type, TypeParamBound};

use crate::args::{CircuitArgs, FallbackOn, Key, TypeList};
use crate::duration;
use crate::item::{self, Body, Function, Param};

/// Collects errors so that all of them are reported at once (serde's `Ctxt`, via
/// `syn::Error::combine`) instead of stopping at the first.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Records the error of a failed step, if any.
    pub(crate) fn check(&mut self, result: syn::Result<()>) {
        if let Err(error) = result {
            self.push(error);
        }
    }

    /// `Ok` when nothing was pushed, else every pushed error combined.
    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Checks that need both the arguments and the function.
pub(crate) fn validate(args: &CircuitArgs, function: &Function) -> syn::Result<()> {
    let mut errors = Errors::default();
    errors.check(validate_args(args));
    errors.check(validate_function(function));
    errors.check(timeout_needs_async(args, function));
    errors.check(keyed_name_names_parameters(args, function));
    errors.check(fallback_can_take_the_arguments(args, function));
    errors.finish()
}

/// Cross-key checks on the arguments.
pub(crate) fn validate_args(args: &CircuitArgs) -> syn::Result<()> {
    let mut errors = Errors::default();
    for list in [&args.record, &args.ignore].into_iter().flatten() {
        errors.check(list_entries_are_concrete(list));
    }
    if let (Some(record), Some(ignore)) = (&args.record, &args.ignore) {
        errors.check(record_and_ignore_are_disjoint(record, ignore));
    }
    errors.check(one_failure_policy(args));
    errors.check(one_window(args));
    errors.check(window_keys_need_a_rate(args));
    errors.check(slow_call_and_slow_rate_go_together(args));
    errors.check(record_if_or_record(args));
    errors.check(max_cooldown_is_at_least_the_cooldown(args));
    errors.check(fallback_on_needs_a_fallback(args));
    errors.check(idle_ttl_needs_a_keyed_name(args));
    errors.finish()
}

/// Each key of `names` written after the first of them, paired with that first one, so an
/// error about two keys that exclude each other lands on the later key.
fn later_keys(args: &CircuitArgs, names: &[&str]) -> Vec<(Key, Key)> {
    let mut given = args.keys.iter().filter(|key| names.contains(&key.name));
    let Some(&first) = given.next() else {
        return Vec::new();
    };
    given.map(|&later| (first, later)).collect()
}

fn one_failure_policy(args: &CircuitArgs) -> syn::Result<()> {
    let mut errors = Errors::default();
    for (first, later) in later_keys(args, &["max_failures", "failure_rate", "net_failures"]) {
        errors.push(syn::Error::new(
            later.span,
            format!(
                "`{}` cannot be combined with `{}`: choose one failure policy (`max_failures`: failures in a row; `failure_rate`: the share of failed calls in a window; `net_failures`: failures minus successes)",
                later.name, first.name
            ),
        ));
    }
    errors.finish()
}

fn one_window(args: &CircuitArgs) -> syn::Result<()> {
    let mut errors = Errors::default();
    for (first, later) in later_keys(args, &["window", "window_calls"]) {
        errors.push(syn::Error::new(
            later.span,
            format!(
                r#"`{}` cannot be combined with `{}`: choose a window of time (`window = "60s"`) or of the last calls (`window_calls = 100`)"#,
                later.name, first.name
            ),
        ));
    }
    errors.finish()
}

/// A window and `min_calls` only mean something to a policy that measures a share of calls.
fn window_keys_need_a_rate(args: &CircuitArgs) -> syn::Result<()> {
    if args.failure_rate.is_some() || args.slow_call_nanos.is_some() {
        return Ok(());
    }
    let mut errors = Errors::default();
    for key in args
        .keys
        .iter()
        .filter(|key| matches!(key.name, "window" | "window_calls" | "min_calls"))
    {
        errors.push(syn::Error::new(
            key.span,
            format!(
                r#"`{}` only applies to `failure_rate` and `slow_call`, which judge a share of the calls in a window; add e.g. `failure_rate = 0.5`, or remove it"#,
                key.name
            ),
        ));
    }
    errors.finish()
}

fn slow_call_and_slow_rate_go_together(args: &CircuitArgs) -> syn::Result<()> {
    match (args.key("slow_call"), args.key("slow_rate")) {
        (Some(slow_call), None) => Err(syn::Error::new(
            slow_call.span,
            "`slow_call` needs `slow_rate`: the share of slow calls that opens the breaker, e.g. `slow_rate = 0.8`",
        )),
        (None, Some(slow_rate)) => Err(syn::Error::new(
            slow_rate.span,
            r#"`slow_rate` needs `slow_call`: how long a call may take before it counts as slow, e.g. `slow_call = "2s"`"#,
        )),
        _ => Ok(()),
    }
}

fn record_if_or_record(args: &CircuitArgs) -> syn::Result<()> {
    let mut errors = Errors::default();
    for (first, later) in later_keys(args, &["record", "record_if"]) {
        errors.push(syn::Error::new(
            later.span,
            format!(
                "`{}` cannot be combined with `{}`: both say which errors count; choose one (a `record_if` function can test for the types itself)",
                later.name, first.name
            ),
        ));
    }
    errors.finish()
}

/// The cooldown when `cooldown` is not given; the runtime's default.
const DEFAULT_COOLDOWN_NANOS: u64 = 30_000_000_000;

fn max_cooldown_is_at_least_the_cooldown(args: &CircuitArgs) -> syn::Result<()> {
    let Some(max_cooldown) = args.max_cooldown_nanos else {
        return Ok(());
    };
    let (cooldown, whose) = match args.cooldown_nanos {
        Some(cooldown) => (cooldown.value, "the `cooldown`"),
        None => (DEFAULT_COOLDOWN_NANOS, "the default cooldown"),
    };
    if max_cooldown.value >= cooldown {
        return Ok(());
    }
    Err(syn::Error::new(
        max_cooldown.span,
        format!(
            r#"`max_cooldown` ({}) is shorter than {whose} ({}); each re-open doubles the cooldown up to `max_cooldown`, so it must be at least `"{}"`"#,
            duration::format_nanos(max_cooldown.value),
            duration::format_nanos(cooldown),
            duration::format_nanos(cooldown),
        ),
    ))
}

fn fallback_on_needs_a_fallback(args: &CircuitArgs) -> syn::Result<()> {
    match (args.key("fallback_on"), &args.fallback) {
        (Some(key), None) => Err(syn::Error::new(
            key.span,
            "`fallback_on` says when the fallback answers, but there is no `fallback`; add e.g. `fallback = cached_user`, or remove `fallback_on`",
        )),
        _ => Ok(()),
    }
}

/// Only breakers created per key are evicted; a function's own breaker is cached in its static.
fn idle_ttl_needs_a_keyed_name(args: &CircuitArgs) -> syn::Result<()> {
    match args.key("idle_ttl") {
        Some(key) if !args.is_keyed() => Err(syn::Error::new(
            key.span,
            r#"`idle_ttl` evicts the breakers of a keyed name such as `name = "http:{host}"`; this function has one breaker, kept for as long as the program runs, so remove `idle_ttl`"#,
        )),
        _ => Ok(()),
    }
}

/// A sync call runs on the caller's thread to the end; nothing can stop it from outside.
fn timeout_needs_async(args: &CircuitArgs, function: &Function) -> syn::Result<()> {
    match args.key("timeout") {
        Some(key) if function.sig.asyncness.is_none() => Err(syn::Error::new(
            key.span,
            "`timeout` needs an `async fn`: a sync call cannot be cut short once it runs (nothing can stop a thread from outside), so the breaker would only learn of it too late; make the function `async`, or bound the blocking operation itself (e.g. a socket read timeout)",
        )),
        _ => Ok(()),
    }
}

/// Every `{param}` of a keyed name must name a parameter of the function.
fn keyed_name_names_parameters(args: &CircuitArgs, function: &Function) -> syn::Result<()> {
    let Some(name) = &args.name else {
        return Ok(());
    };
    let named: Vec<String> = item::params(&function.sig)
        .filter_map(|param| match param {
            Param::Named { ident, .. } => Some(ident.unraw().to_string()),
            Param::Receiver(_) | Param::Pattern(_) => None,
        })
        .collect();
    let mut missing: Vec<&str> = Vec::new();
    for key in name.template.keys() {
        if !named.iter().any(|param| param == key) && !missing.contains(&key) {
            missing.push(key);
        }
    }
    let mut errors = Errors::default();
    let fn_name = &function.sig.ident;
    for key in missing {
        let parameters = if named.is_empty() {
            format!("`{fn_name}` has no named parameters to key the breaker by")
        } else {
            let list: Vec<String> = named.iter().map(|param| format!("`{param}`")).collect();
            format!("the parameters of `{fn_name}` are {}", list.join(", "))
        };
        errors.push(syn::Error::new(
            name.lit.span(),
            format!("`{{{key}}}` in `name` names no parameter; {parameters}"),
        ));
    }
    errors.finish()
}

/// The fallback gets this function's arguments: on a rejection the arguments themselves, and
/// with `fallback_on = "any"` clones taken before the call, since the call consumes them.
fn fallback_can_take_the_arguments(args: &CircuitArgs, function: &Function) -> syn::Result<()> {
    if args.fallback.is_none() {
        return Ok(());
    }
    let any = args.fallback_on() == FallbackOn::Any;
    let mut errors = Errors::default();
    for param in item::params(&function.sig) {
        match param {
            Param::Pattern(pattern) => errors.push(syn::Error::new_spanned(
                &pattern.pat,
                "the `fallback` is called with this function's arguments, so every parameter needs a plain name to pass on; name it (e.g. `pair: (u32, u32)`) and destructure it in the body",
            )),
            Param::Receiver(receiver) if any && receiver_is_mut_ref(&receiver.kind) => {
                errors.push(syn::Error::new_spanned(
                    receiver,
                    r#"with `fallback_on = "any"` the arguments are cloned before the call, so the fallback can have them after a failure, and a `&mut self` cannot be cloned; use `fallback_on = "rejected"`, or take `&self`"#,
                ));
            }
            Param::Named { ty, .. } if any && is_mut_ref(ty) => errors.push(syn::Error::new_spanned(
                ty,
                r#"with `fallback_on = "any"` the arguments are cloned before the call, so the fallback can have them after a failure, and a `&mut` reference cannot be cloned; use `fallback_on = "rejected"`, or take a shared reference or a value"#,
            )),
            Param::Receiver(_) | Param::Named { .. } => {}
        }
    }
    errors.finish()
}

fn receiver_is_mut_ref(kind: &ReceiverKind) -> bool {
    match kind {
        ReceiverKind::Reference(_, _, mutability) => mutability.is_some(),
        ReceiverKind::Typed(_, ty) => is_mut_ref(ty),
        _ => false,
    }
}

fn is_mut_ref(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => reference.mutability.is_some(),
        Type::Paren(inner) => is_mut_ref(&inner.elem),
        Type::Group(inner) => is_mut_ref(&inner.elem),
        _ => false,
    }
}

/// Checks on the function the attribute is applied to.
pub(crate) fn validate_function(function: &Function) -> syn::Result<()> {
    let mut errors = Errors::default();
    errors.check(applied_once(function));
    errors.check(not_const(function));
    errors.check(has_body(function));
    errors.check(returns_result(function));
    errors.finish()
}

/// A second `#[circuit]` below the first would wrap the function twice: every call would go
/// through two breakers and be counted twice.
fn applied_once(function: &Function) -> syn::Result<()> {
    let mut errors = Errors::default();
    for attr in &function.attrs {
        let path = attr.path();
        let is_circuit = path.segments.last().is_some_and(|s| s.ident == "circuit")
            && (path.segments.len() == 1
                || path.segments.first().is_some_and(|s| s.ident == "breaker"));
        if is_circuit {
            errors.push(syn::Error::new_spanned(
                attr,
                "`#[circuit]` is applied more than once; keep one and put all its keys there",
            ));
        }
    }
    errors.finish()
}

fn not_const(function: &Function) -> syn::Result<()> {
    match &function.sig.constness {
        Some(constness) => Err(syn::Error::new(
            constness.span,
            "`#[circuit]` cannot guard a `const fn`: a breaker reads the clock and shared state at run time; remove `const`",
        )),
        None => Ok(()),
    }
}

fn has_body(function: &Function) -> syn::Result<()> {
    match &function.body {
        Body::Missing(semi) => Err(syn::Error::new(
            semi.span,
            "`#[circuit]` needs a function body to guard; put it on the method in the `impl` block (or on a default method body), not on a declaration",
        )),
        Body::Block { .. } => Ok(()),
    }
}

fn returns_result(function: &Function) -> syn::Result<()> {
    let sig = &function.sig;
    let ty = match &sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.ident.span(),
                format!(
                    "`#[circuit]` needs a function that returns `Result<T, E>`, so it can count failures; `{}` returns `()`",
                    sig.ident
                ),
            ));
        }
        ReturnType::Type(_, ty) => ty,
    };
    if is_result(ty) {
        return Ok(());
    }
    let message = if sig.asyncness.is_none() && returns_future(ty) {
        "`#[circuit]` needs the function to return `Result<T, E>`; instead of returning `impl Future`, write an `async fn` that returns `Result<T, E>`".to_owned()
    } else {
        // No type in the message: it is underlined, and token spacing (`Option < u32 >`)
        // would only make it harder to read.
        "`#[circuit]` needs a function that returns `Result<T, E>` (or an alias such as `io::Result<T>`), so it can count failures; this return type is not a `Result`".to_owned()
    };
    Err(syn::Error::new_spanned(ty, message))
}

/// `Result<..>`, `io::Result<..>`, `anyhow::Result<..>`: any path whose last segment is `Result`.
/// The macro cannot resolve names, so this is a syntactic check; a type alias to `Result` with
/// another name is not recognised (documented on the macro).
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        Type::Paren(inner) => is_result(&inner.elem),
        Type::Group(inner) => is_result(&inner.elem),
        _ => false,
    }
}

fn returns_future(ty: &Type) -> bool {
    match ty {
        Type::ImplTrait(impl_trait) => impl_trait.bounds.iter().any(|bound| {
            matches!(bound, TypeParamBound::Trait(bound)
                if bound.path.segments.last().is_some_and(|segment| segment.ident == "Future"))
        }),
        Type::Path(path) => path.path.segments.last().is_some_and(|segment| {
            segment.ident == "Pin"
                && matches!(&segment.arguments, PathArguments::AngleBracketed(args)
                    if args.args.iter().any(|arg| matches!(arg, GenericArgument::Type(_))))
        }),
        _ => false,
    }
}

/// `record`/`ignore` name concrete error types; `_`, `impl Trait` and `dyn Trait` cannot be
/// matched against an error at run time.
fn list_entries_are_concrete(list: &TypeList) -> syn::Result<()> {
    let mut errors = Errors::default();
    for ty in &list.types {
        let problem = match ty {
            Type::Infer(_) => "`_` cannot be matched against an error",
            Type::ImplTrait(_) => "`impl Trait` is not a concrete type",
            Type::TraitObject(_) => "a `dyn Trait` cannot be matched, only concrete types",
            Type::Never(_) => "`!` is never an error value",
            Type::Reference(_) | Type::Ptr(_) => {
                "list the error type itself, not a reference to it"
            }
            _ => continue,
        };
        errors.push(syn::Error::new_spanned(
            ty,
            format!("{problem}; list concrete error types, e.g. `[std::io::Error, MyError]`"),
        ));
    }
    errors.finish()
}

/// A type listed in both lists would be both counted and not counted. The macro compares the
/// tokens as written (it cannot resolve names), so `io::Error` and `std::io::Error` are not
/// caught here.
fn record_and_ignore_are_disjoint(record: &TypeList, ignore: &TypeList) -> syn::Result<()> {
    let recorded: Vec<String> = record.types.iter().map(type_text).collect();
    let mut errors = Errors::default();
    for ty in &ignore.types {
        let text = type_text(ty);
        if recorded.contains(&text) {
            errors.push(syn::Error::new_spanned(
                ty,
                format!("`{text}` is listed in both `record` and `ignore`; an error either counts as a failure or not, so remove it from one of them"),
            ));
        }
    }
    errors.finish()
}

/// The type as written, without the spaces `TokenStream`'s `Display` puts between tokens.
fn type_text(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{validate, validate_args, validate_function};
    use crate::args::CircuitArgs;
    use crate::item::{self, Function};
    use proc_macro2::TokenStream;
    use quote::quote;

    fn function(tokens: TokenStream) -> Function {
        item::parse(tokens).expect("function parses")
    }

    fn args(tokens: TokenStream) -> CircuitArgs {
        syn::parse2(tokens).expect("args parse")
    }

    fn function_errors(tokens: TokenStream) -> Vec<String> {
        validate_function(&function(tokens))
            .err()
            .map(|error| error.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    fn args_errors(tokens: TokenStream) -> Vec<String> {
        validate_args(&args(tokens))
            .err()
            .map(|error| error.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn accepts_result_shapes() {
        for output in [
            quote!(Result<u32, E>),
            quote!(io::Result<u32>),
            quote!(std::io::Result<()>),
            quote!(anyhow::Result<String>),
            quote!(::core::result::Result<T, E>),
            quote!((Result<u32, E>)),
        ] {
            let errors = function_errors(quote!(fn f() -> #output { loop {} }));
            assert!(errors.is_empty(), "{output}: {errors:?}");
        }
        assert!(
            function_errors(quote!(
                async fn f(&self) -> Result<(), E> {
                    Ok(())
                }
            ))
            .is_empty()
        );
    }

    #[test]
    fn rejects_other_returns() {
        let errors = function_errors(quote!(
            fn f() {}
        ));
        assert!(errors[0].contains("`f` returns `()`"), "{errors:?}");
        let errors = function_errors(quote!(
            fn f() -> Option<u32> {
                None
            }
        ));
        assert!(errors[0].contains("is not a `Result`"), "{errors:?}");
        let errors = function_errors(quote!(
            fn f() -> () {}
        ));
        assert!(errors[0].contains("is not a `Result`"), "{errors:?}");
        let errors = function_errors(quote!(
            fn f() -> impl Future<Output = Result<(), E>> {
                async {}
            }
        ));
        assert!(errors[0].contains("write an `async fn`"), "{errors:?}");
    }

    #[test]
    fn rejects_const_fn_and_missing_body_together() {
        let errors = function_errors(quote!(
            const fn f() -> u32;
        ));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("`const fn`"));
        assert!(errors[1].contains("needs a function body"));
        assert!(errors[2].contains("returns `Result<T, E>`"));
    }

    #[test]
    fn rejects_a_second_circuit_attribute() {
        let errors = function_errors(quote!(
            #[inline]
            #[breaker::circuit(max_failures = 2)]
            fn f() -> Result<(), E> {
                Ok(())
            }
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("applied more than once"));
        assert!(
            function_errors(quote!(
                #[other::circuit]
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ))
            .is_empty()
        );
    }

    #[test]
    fn record_and_ignore_overlap() {
        let errors = args_errors(quote!(record = [io::Error, Timeout], ignore = [io::Error]));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("`io::Error` is listed in both `record` and `ignore`"));
    }

    #[test]
    fn list_entries_must_be_concrete() {
        let errors = args_errors(quote!(record = [_, dyn Error, &io::Error, io::Error]));
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    fn errors(args_tokens: TokenStream, function_tokens: TokenStream) -> Vec<String> {
        validate(&args(args_tokens), &function(function_tokens))
            .err()
            .map(|error| error.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn one_failure_policy_reported_on_each_later_key() {
        let errors = args_errors(quote!(
            net_failures = 3,
            max_failures = 5,
            failure_rate = 0.5
        ));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("`max_failures` cannot be combined with `net_failures`"));
        assert!(errors[1].starts_with("`failure_rate` cannot be combined with `net_failures`"));
    }

    #[test]
    fn windows() {
        let errors = args_errors(quote!(window_calls = 10, failure_rate = 0.5, window = "1s"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("`window` cannot be combined with `window_calls`"));
        let errors = args_errors(quote!(window = "1s", min_calls = 3));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .all(|e| e.contains("only applies to `failure_rate` and `slow_call`"))
        );
        assert!(
            args_errors(quote!(slow_call = "1s", slow_rate = 0.5, window_calls = 5)).is_empty()
        );
        assert!(
            args_errors(quote!(net_failures = 3, slow_call = "1s", slow_rate = 0.5)).is_empty()
        );
    }

    #[test]
    fn slow_calls_need_both_keys() {
        assert!(args_errors(quote!(slow_call = "1s"))[0].contains("needs `slow_rate`"));
        assert!(args_errors(quote!(slow_rate = 0.5))[0].contains("needs `slow_call`"));
    }

    #[test]
    fn record_if_excludes_record_but_not_ignore() {
        let errors = args_errors(quote!(record_if = f, record = [A]));
        assert!(errors[0].starts_with("`record` cannot be combined with `record_if`"));
        assert!(args_errors(quote!(record_if = f, ignore = [A])).is_empty());
    }

    #[test]
    fn max_cooldown_against_the_default_cooldown() {
        let errors = args_errors(quote!(max_cooldown = "10s"));
        assert!(
            errors[0].contains("than the default cooldown (30s)"),
            "{errors:?}"
        );
        assert!(args_errors(quote!(max_cooldown = "30s")).is_empty());
        assert!(args_errors(quote!(cooldown = "1s", max_cooldown = "10s")).is_empty());
    }

    #[test]
    fn keys_that_need_another() {
        assert!(args_errors(quote!(fallback_on = "any"))[0].contains("there is no `fallback`"));
        assert!(args_errors(quote!(idle_ttl = "1m"))[0].contains("keyed name"));
        assert!(args_errors(quote!(name = "db", idle_ttl = "1m"))[0].contains("keyed name"));
        assert!(args_errors(quote!(name = "db:{id}", idle_ttl = "1m")).is_empty());
    }

    #[test]
    fn timeout_needs_an_async_fn() {
        let sync = quote!(
            fn f() -> Result<(), E> {
                Ok(())
            }
        );
        assert!(errors(quote!(timeout = "1s"), sync)[0].contains("needs an `async fn`"));
        let asynchronous = quote!(
            async fn f() -> Result<(), E> {
                Ok(())
            }
        );
        assert!(errors(quote!(timeout = "1s"), asynchronous).is_empty());
    }

    #[test]
    fn keyed_names_name_parameters() {
        let item = quote!(
            fn f(&self, host: &str, r#type: u8, (a, b): (u8, u8)) -> Result<(), E> {
                Ok(())
            }
        );
        assert!(errors(quote!(name = "{host}/{type}/{host}"), item.clone()).is_empty());
        let errors = errors(quote!(name = "{self}-{a}-{a}"), item);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            errors[0],
            "`{self}` in `name` names no parameter; the parameters of `f` are `host`, `type`"
        );
        let none = quote!(
            fn g() -> Result<(), E> {
                Ok(())
            }
        );
        assert!(
            super::validate(&args(quote!(name = "{x}")), &function(none))
                .expect_err("no parameters")
                .to_string()
                .ends_with("`g` has no named parameters to key the breaker by")
        );
    }

    #[test]
    fn fallback_parameters() {
        let item = quote!(
            fn f(
                &mut self,
                (a, b): (u8, u8),
                out: &mut Vec<u8>,
                _: u8,
                mut n: u8,
            ) -> Result<(), E> {
                Ok(())
            }
        );
        // On a rejection the arguments are passed as they are: only patterns are a problem.
        let errors = errors(quote!(fallback = g), item.clone());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().all(|e| e.contains("needs a plain name")));
        // After a failure they are clones: `&mut` cannot be cloned either.
        let errors = super::validate(
            &args(quote!(fallback = g, fallback_on = "any")),
            &function(item),
        )
        .expect_err("four problems");
        let messages: Vec<String> = errors.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("a `&mut self` cannot be cloned"));
        assert!(messages[2].contains("a `&mut` reference cannot be cloned"));
    }

    #[test]
    fn combines_args_and_function_errors() {
        let error = validate(
            &args(quote!(record = [A], ignore = [A])),
            &function(quote!(
                fn f() {}
            )),
        )
        .expect_err("two problems");
        assert_eq!(error.into_iter().count(), 2);
    }
}
