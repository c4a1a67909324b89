//! Code generation, and the fallback used when the input has errors.
//!
//! The generated function is the user's own signature (same tokens, same spans), outer
//! attributes and inner attributes, with only the body replaced:
//!
//! ```text
//! #[attrs] #[inline] vis sig {   // no `#[inline]` if attrs say how to inline, or export it
//!     #![inner attrs]
//!     fn __breaker_site() {}                   // without `name`: its type name is the default
//!     const _: () = assert!(TIMEOUTS_ENABLED); // with `timeout`
//!     static __BREAKER: OnceLock<Arc<Breaker>> = OnceLock::new();
//!     let __breaker = breaker(&__BREAKER, || SiteSettings::...);
//!     //  or, for `name = "http:{host}"`, the key assembled on the stack first:
//!     //      let mut __breaker_key = KeyBuffer::new();
//!     //      { use PushKey as _; __breaker_key.push_str("http:");
//!     //        (&KeyArg(&host)).push_key(&mut __breaker_key, |k| k.push_fmt(format_args!("{}", host))); }
//!     //  async: let __breaker = &keyed_breaker_arc(&__breaker_key, || SiteSettings::...);
//!     //  sync: the rest of the body runs inside the registry's guard, without a reference count:
//!     //      with_keyed_breaker(&__breaker_key, || SiteSettings::..., |__breaker| -> Ret { ... })
//!     let __breaker_permit = match acquire(__breaker) {
//!         Ok(permit) => permit,
//!         Err(rejection) => return Err(into_error(rejection)),   // or `fallback(args)`
//!     };
//!     // sync: the closure is annotated with the declared return type
//!     run(__breaker_permit, move || -> Ret { user block }, |r| judge(__breaker, r, failure_if, on_error))
//!     // async with a fallback: an untaken `return` of type `Ret` fixes the future's output type
//!     run_async(__breaker, __breaker_permit,
//!         async move { if let Some(r) = None::<Ret> { return r; } user statements },
//!         judge, |e| into_error(e)).await
//!     // async without a fallback: no `acquire` above; the future asks at its first poll
//!     call_async(__breaker, async move { ... }, judge, |e| into_error(e)).await
//! }
//! ```
//!
//! With `fallback_on = "any"`, clones of the arguments are taken before the call and moved into
//! `let __breaker_fallback = move || -> Ret { fallback(clones) }`, which answers rejections and
//! failures alike (`run_or_fallback`).
//!
//! The user block appears exactly once, inside its own braces, so `return` and `?` stay
//! inside the guarded call. Everything the generated code names is reached through
//! `::breaker::__private` or `::core`, never through the user's imports.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{ToTokens as _, format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{ExprPath, GenericArgument, LitStr, PathArguments, ReturnType, Token, Type, TypeInfer};

use crate::args::{CircuitArgs, FallbackOn, TypeList};
use crate::item::{self, Body, Function, Param};
use crate::template::Piece;
use crate::validate::{self, Errors};

/// Entry point: expands `#[circuit(args)] item`.
///
/// Never fails: on any error it returns the user's item unchanged followed by the errors, so
/// the function still exists for its callers and for rust-analyzer, and the only diagnostics
/// are ours (tokio-macros `token_stream_with_error`).
pub(crate) fn circuit(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => {
            let mut output = item;
            output.extend(error.into_compile_error());
            output
        }
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    // Parse and validate both halves before giving up, so errors in the arguments and in
    // the function are reported in the same compile.
    let mut errors = Errors::default();
    let args = syn::parse2::<CircuitArgs>(args);
    let function = item::parse(item);
    match (&args, &function) {
        (Ok(args), Ok(function)) => errors.check(validate::validate(args, function)),
        (Ok(args), Err(error)) => {
            errors.check(validate::validate_args(args));
            errors.push(error.clone());
        }
        (Err(error), Ok(function)) => {
            errors.push(error.clone());
            errors.check(validate::validate_function(function));
        }
        (Err(args_error), Err(item_error)) => {
            errors.push(args_error.clone());
            errors.push(item_error.clone());
        }
    }
    errors.finish()?;
    generate(&args?, &function?)
}

fn generate(args: &CircuitArgs, function: &Function) -> syn::Result<TokenStream> {
    let Function {
        attrs,
        vis,
        sig,
        body,
    } = function;
    let (brace, stmts, block, inner_attrs) = match body {
        Body::Block {
            brace,
            inner_attrs,
            stmts,
        } => (brace, stmts, Body::user_block(brace, stmts), inner_attrs),
        // `validate` rejects this first; kept as an error rather than a panic regardless.
        Body::Missing(semi) => {
            return Err(syn::Error::new(
                semi.span,
                "`#[circuit]` needs a function body",
            ));
        }
    };

    // The guarded body gets the function's declared return type. Without it the closure's
    // (or future's) return type is a fresh inference variable, and every coercion the user
    // relies on is lost: `Ok(&self.name)` no longer turns `&String` into `&str`, `Err(x.into())`
    // and `?` no longer know their target, `Box<MyError>` no longer unsizes to `Box<dyn Error>`.
    // `impl Trait` is not allowed there, so it becomes `_` (tracing's `erase_impl_trait`).
    let output = match &sig.output {
        ReturnType::Type(_, ty) => erase_impl_trait(ty),
        // `validate` rejects this first.
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.ident.span(),
                "`#[circuit]` needs a `Result`",
            ));
        }
    };
    // The runtime functions that need something of the error type (`From<breaker::Error>`,
    // or `AsError` with `record`/`ignore`) are named with this span, so rustc underlines that
    // type instead of the whole attribute; `located_at` keeps the call-site hygiene, so lints
    // still see generated code.
    let at_error = Span::call_site().located_at(error_type_span(&output));
    let locals = Locals::new();
    let breaker = &locals.breaker;

    let mut prelude = inner_attrs.clone();
    let (statements, scoped) = lookup(args, function, &locals);
    prelude.extend(statements);
    // What follows the lookup; a sync keyed function runs it inside `with_keyed_breaker`.
    let mut body = TokenStream::new();

    let judge = {
        let failure_if = match &args.failure_if {
            Some(path) => predicate(path),
            None => quote!(::breaker::__private::never),
        };
        let on_error = on_error(args, at_error);
        let result = &locals.result;
        quote! {
            |#result| ::breaker::__private::judge(#breaker, #result, #failure_if, #on_error)
        }
    };
    let is_async = sig.asyncness.is_some();
    // The user block, exactly once.
    let guarded = if is_async {
        async_block_returning(&output, Some(brace), stmts, &locals)
    } else {
        quote!(move || -> #output #block)
    };
    let permit = &locals.permit;
    let rejection = &locals.rejection;
    // `E: From<breaker::Error>` is needed here only, for a rejection or a timeout without a
    // fallback. Both conversions are the same tokens at the same span, so a type without it
    // gets one diagnostic, under the error type.
    let into_error = quote_spanned! {at_error=>
        |#rejection| ::breaker::__private::into_error(#rejection)
    };
    let admitted = match (is_async, args.fallback_on()) {
        (false, FallbackOn::Rejected) => {
            quote!(::breaker::__private::run(#permit, #guarded, #judge))
        }
        (true, FallbackOn::Rejected) => quote! {
            ::breaker::__private::run_async(#breaker, #permit, #guarded, #judge, #into_error).await
        },
        (false, FallbackOn::Any) => {
            let fallback = &locals.fallback;
            quote!(::breaker::__private::run_or_fallback(#permit, #guarded, #judge, #fallback))
        }
        (true, FallbackOn::Any) => {
            let fallback = &locals.fallback;
            quote! {
                ::breaker::__private::run_async_or_fallback(#breaker, #permit, #guarded, #judge, #fallback)
                    .await
            }
        }
    };
    let rejected = match &args.fallback {
        None => quote_spanned! {at_error=>
            ::core::result::Result::Err(::breaker::__private::into_error(#rejection))
        },
        Some(path) => {
            let at_path = at_end_of(path);
            let answer = match args.fallback_on() {
                // Before the call nothing has consumed the arguments: they go to the fallback.
                FallbackOn::Rejected => {
                    let arguments = item::params(&function.sig).filter_map(|param| match param {
                        Param::Receiver(receiver) => Some(receiver.self_token.to_token_stream()),
                        Param::Named { ident, .. } => Some(ident.to_token_stream()),
                        // Rejected by `validate`.
                        Param::Pattern(_) => None,
                    });
                    quote_spanned!(at_path=> #path(#(#arguments),*))
                }
                FallbackOn::Any => {
                    body.extend(fallback_closure(path, function, &output, &locals));
                    let fallback = &locals.fallback;
                    quote_spanned!(at_path=> #fallback())
                }
            };
            if is_async {
                quote_spanned!(at_path=> #answer.await)
            } else {
                answer
            }
        }
    };
    // A fallback answers without looking at the rejection.
    let rejection_pattern = match &args.fallback {
        None => rejection.to_token_stream(),
        Some(_) => quote!(_),
    };
    // A rejection returns early: an answer of the wrong type is then compared with the
    // declared return type ("expected because of return type"), not with the other arm.
    if is_async && args.fallback.is_none() {
        // Nothing to do on a rejection but return it: the future asks for its permit itself at
        // its first poll, as `Breaker::call_async` does, and the function costs what it does.
        body.extend(quote! {
            ::breaker::__private::call_async(#breaker, #guarded, #judge, #into_error).await
        });
    } else {
        body.extend(quote! {
            let #permit = match ::breaker::__private::acquire(#breaker) {
                ::core::result::Result::Ok(#permit) => #permit,
                ::core::result::Result::Err(#rejection_pattern) => return #rejected,
            };
            #admitted
        });
    }
    match scoped {
        // A rejection's `return` now leaves the closure, whose return type is the function's.
        Some((key, settings)) if !is_async => prelude.extend(quote! {
            ::breaker::__private::with_keyed_breaker(
                &#key,
                || #settings,
                |#breaker: &::breaker::__private::Breaker| -> #output { #body },
            )
        }),
        Some((key, settings)) => {
            prelude.extend(quote! {
                let #breaker = &::breaker::__private::keyed_breaker_arc(&#key, || #settings);
            });
            prelude.extend(body);
        }
        None => prelude.extend(body),
    }
    // The new body goes in the user's own braces. With call-site braces the function's span
    // would end inside the macro expansion, and rustc stops reporting `dead_code` (and other
    // item lints) for it (tracing #1366).
    let inline = inline_hint(attrs);
    let mut output = quote!(#(#attrs)* #inline #vis #sig);
    brace.surround(&mut output, |tokens| tokens.extend(prelude));
    Ok(output)
}

/// `#[inline]`, unless the function says how it is to be inlined (or that it is cold), or is
/// exported under a symbol name, where rustc ignores the hint. The breaker's part of the body
/// is a few loads and a branch, meant to sit in the caller as it does with the builder; left
/// out of line, a function returning a large `Result` also pays a copy of it through memory
/// that the inlined call does not.
fn inline_hint(attrs: &[syn::Attribute]) -> Option<TokenStream> {
    // `unsafe(..)` wraps `no_mangle`, `export_name` and `link_section` in edition 2024.
    const DECIDED_BY: [&str; 5] = ["inline", "cold", "no_mangle", "export_name", "unsafe"];
    let decided = attrs
        .iter()
        .any(|attr| DECIDED_BY.iter().any(|name| attr.path().is_ident(name)));
    (!decided).then(|| quote!(#[inline]))
}

/// The generated locals. `mixed_site` makes them invisible to the user's block (macro_rules
/// hygiene), so they can neither be shadowed by nor shadow the user's own names.
struct Locals {
    cell: Ident,
    breaker: Ident,
    permit: Ident,
    rejection: Ident,
    fake_return: Ident,
    fallback: Ident,
    result: Ident,
    key: Ident,
}

impl Locals {
    fn new() -> Locals {
        let local = |name: &str| Ident::new(name, Span::mixed_site());
        Locals {
            cell: local("__BREAKER"),
            breaker: local("__breaker"),
            permit: local("__breaker_permit"),
            rejection: local("__breaker_rejection"),
            fake_return: local("__breaker_return"),
            fallback: local("__breaker_fallback"),
            result: local("__breaker_result"),
            key: local("__breaker_key"),
        }
    }
}

/// The statements that bind `__breaker` to this call's breaker: the function's own, cached in a
/// static. For a keyed name, the statements that assemble this call's key instead, and the key
/// and the settings to look it up with.
fn lookup(
    args: &CircuitArgs,
    function: &Function,
    locals: &Locals,
) -> (TokenStream, Option<(Ident, TokenStream)>) {
    let Locals { cell, breaker, .. } = locals;
    let mut statements = TokenStream::new();
    if args.name.is_none() {
        // The default name is the path of this item minus its own name, as the compiler spells
        // it: `app::Shard<app::Left>::ping`, `<app::Left as app::Store>::load`. The macro
        // cannot see the `impl` header; the compiler can.
        statements.extend(quote!(
            fn __breaker_site() {}
        ));
    }
    if let Some(timeout) = args.timeout_nanos {
        let at_timeout = Span::call_site().located_at(timeout.span);
        statements.extend(quote_spanned! {at_timeout=>
            const _: () = ::core::assert!(
                ::breaker::__private::TIMEOUTS_ENABLED,
                // A format string: no braces.
                "`timeout` needs the `tokio` feature of `breaker` to cut calls short: add `features = [\"tokio\"]` to the `breaker` dependency",
            );
        });
    }
    let settings = settings(args);
    match &args.name {
        Some(name) if name.template.is_keyed() => {
            statements.extend(key_statements(name, function, &locals.key));
            (statements, Some((locals.key.clone(), settings)))
        }
        _ => {
            statements.extend(quote! {
                static #cell: ::breaker::__private::OnceLock<
                    ::breaker::__private::Arc<::breaker::__private::Breaker>,
                > = ::breaker::__private::OnceLock::new();
                let #breaker = ::breaker::__private::breaker(&#cell, || #settings);
            });
            (statements, None)
        }
    }
}

/// `let mut key = KeyBuffer::new();` and a block appending each piece of the name: literal text
/// as is, each parameter by `PushKey` (a copy of its text for strings and integers, `Display`
/// otherwise). The `Display` fallback is always type-checked: a parameter without `Display` is
/// reported as `format_args!` reports it, under the name.
fn key_statements(name: &crate::args::NameArg, function: &Function, key: &Ident) -> TokenStream {
    let mut pushes = TokenStream::new();
    for piece in name.template.pieces() {
        match piece {
            Piece::Text(text) => pushes.extend(quote!(#key.push_str(#text);)),
            Piece::Key(param) => {
                // The parameter itself (a raw identifier stays raw), underlined at the name if
                // it is not `Display`. `validate` has checked that it exists.
                let Some(mut ident) = item::params(&function.sig).find_map(|p| match p {
                    Param::Named { ident, .. } if ident.unraw() == param => Some(ident.clone()),
                    _ => None,
                }) else {
                    continue;
                };
                ident.set_span(name.lit.span());
                let format = LitStr::new("{}", name.lit.span());
                pushes.extend(quote! {
                    (&::breaker::__private::KeyArg(&#ident)).push_key(
                        &mut #key,
                        |#key| #key.push_fmt(::core::format_args!(#format, #ident)),
                    );
                });
            }
        }
    }
    quote! {
        let mut #key = ::breaker::__private::KeyBuffer::new();
        {
            use ::breaker::__private::PushKey as _;
            #pushes
        }
    }
}

/// How an error counts: every one, by the `record`/`ignore` lists, or by `record_if`. A
/// closure the macro writes, so a bound on the error type is checked once, at a call located
/// under that type.
fn on_error(args: &CircuitArgs, at_error: Span) -> TokenStream {
    // The error is the argument that has to meet the bound: rustc underlines it.
    let b = Ident::new(
        "__breaker_of_error",
        Span::mixed_site().located_at(at_error),
    );
    let e = Ident::new("__breaker_error", Span::mixed_site().located_at(at_error));
    match (&args.record_if, args.ignore.is_some()) {
        (Some(path), true) => {
            let predicate = predicate(path);
            quote_spanned! {at_error=>
                |#b, #e| ::breaker::__private::record_if_unless_ignored(#b, #e, #predicate)
            }
        }
        (Some(path), false) => {
            let predicate = predicate(path);
            quote!(|#b, #e| ::breaker::__private::record_if(#b, #e, #predicate))
        }
        (None, _) if args.classifies() => quote_spanned! {at_error=>
            |#b, #e| ::breaker::__private::listed_errors(#b, #e)
        },
        (None, _) => quote!(::breaker::__private::every_error),
    }
}

/// `|value| path(value)` for `failure_if` and `record_if`. Calling the function, rather than
/// passing it by name, makes a wrong signature a plain argument mismatch at the path ("expected
/// `u16`, found `&Response`"), not a closure-signature error whose help suggests writing a
/// closure, which the key does not take.
fn predicate(path: &ExprPath) -> TokenStream {
    let at_path = at_end_of(path);
    let value = Ident::new("__breaker_value", Span::mixed_site().located_at(at_path));
    quote_spanned!(at_path=> |#value| #path(#value))
}

/// `async move { body }` whose output type is fixed to `output` before `body` is checked.
///
/// An async block cannot be annotated with its output type, so a `return` that is never taken
/// fixes it (tracing's "fake return edge", PR #2270): a mismatch is then reported inside
/// `body`, where the user's code is, instead of wherever the future is used. Tracing diverges
/// with `loop {}`, which needs an `allow(unreachable_code)` that a user's
/// `forbid(unreachable_code)` rejects (E0453). A `None` that is never `Some` needs no allow.
///
/// The statements go straight into the async block, in the user's own braces when given: a
/// nested `{ user block }` would trip `unused_braces` on every single-expression body.
fn async_block_returning(
    output: &Type,
    brace: Option<&syn::token::Brace>,
    stmts: &TokenStream,
    locals: &Locals,
) -> TokenStream {
    let fake_return = &locals.fake_return;
    let contents = quote! {
        let #fake_return: ::core::option::Option<#output> = ::core::option::Option::None;
        if let ::core::option::Option::Some(#fake_return) = #fake_return {
            return #fake_return;
        }
        #stmts
    };
    let mut block = TokenStream::new();
    match brace {
        Some(brace) => brace.surround(&mut block, |tokens| tokens.extend(contents)),
        None => block = quote!({ #contents }),
    }
    quote!(async move #block)
}

/// For `fallback_on = "any"`: clones of the arguments, taken before the call consumes them, and
/// `let __breaker_fallback = move || -> Ret { fallback(clones...) };`, the one place the
/// fallback is called (for an `async fn`, the closure returns a future of `Ret`). Its return
/// type is the function's, so a fallback returning anything else is reported once, at its
/// path. Each clone is located at its parameter, so a type that is not `Clone` is underlined
/// there.
fn fallback_closure(
    path: &ExprPath,
    function: &Function,
    output: &Type,
    locals: &Locals,
) -> TokenStream {
    let mut statements = TokenStream::new();
    let mut clones = Vec::new();
    for (index, param) in item::params(&function.sig).enumerate() {
        let (value, span) = match param {
            Param::Receiver(receiver) => (receiver.self_token.to_token_stream(), receiver.span()),
            Param::Named { ident, .. } => (ident.to_token_stream(), ident.span()),
            // Rejected by `validate`.
            Param::Pattern(_) => continue,
        };
        // Hygienic, but located at the parameter: a fallback taking other parameters has
        // them underlined in the signature.
        let clone = format_ident!(
            "__breaker_argument_{index}",
            span = Span::mixed_site().located_at(span)
        );
        let at_param = Span::call_site().located_at(span);
        statements.extend(quote_spanned! {at_param=>
            let #clone = ::core::clone::Clone::clone(&#value);
        });
        clones.push(clone);
    }
    let fallback = &locals.fallback;
    let at_path = at_end_of(path);
    let call = quote_spanned!(at_path=> #path(#(#clones),*));
    let closure = if function.sig.asyncness.is_some() {
        let await_call = quote_spanned!(at_path=> #call.await);
        let future = async_block_returning(output, None, &await_call, locals);
        quote!(move || #future)
    } else {
        quote!(move || -> #output { #call })
    };
    statements.extend(quote!(let #fallback = #closure;));
    statements
}

/// A call-site span located at the last token of `path`. A call built with it spans from the
/// path's first token to its own last one, so rustc underlines the whole path (`Self::stale`),
/// not just its first segment.
fn at_end_of(path: &ExprPath) -> Span {
    let last = path
        .path
        .segments
        .last()
        .map_or_else(|| path.span(), |segment| segment.ident.span());
    Span::call_site().located_at(last)
}

/// Where to point when the error type lacks what the runtime needs: the `E` of
/// `Result<T, E>`, or the whole return type for an alias such as `io::Result<T>`.
fn error_type_span(output: &Type) -> Span {
    if let Type::Path(path) = output
        && let Some(segment) = path.path.segments.last()
        && let PathArguments::AngleBracketed(args) = &segment.arguments
        && args.args.len() == 2
        && let Some(GenericArgument::Type(error)) = args.args.last()
    {
        return error.span();
    }
    output.span()
}

/// The type with every `impl Trait` replaced by `_`, for positions where `impl Trait` is not
/// allowed (a closure's return type, a `let`). Recurses through the type forms that can hold
/// one inside a return type.
fn erase_impl_trait(ty: &Type) -> Type {
    let mut ty = ty.clone();
    erase_in_place(&mut ty);
    ty
}

fn erase_in_place(ty: &mut Type) {
    match ty {
        Type::ImplTrait(impl_trait) => {
            *ty = Type::Infer(TypeInfer {
                attrs: Vec::new(),
                underscore_token: Token![_](impl_trait.impl_token.span),
            });
        }
        Type::Path(path) => {
            for segment in &mut path.path.segments {
                if let PathArguments::AngleBracketed(args) = &mut segment.arguments {
                    for arg in &mut args.args {
                        match arg {
                            GenericArgument::Type(ty) => erase_in_place(ty),
                            GenericArgument::AssocType(assoc) => erase_in_place(&mut assoc.ty),
                            _ => {}
                        }
                    }
                }
            }
        }
        Type::Reference(inner) => erase_in_place(&mut inner.elem),
        Type::Ptr(inner) => erase_in_place(&mut inner.elem),
        Type::Slice(inner) => erase_in_place(&mut inner.elem),
        Type::Array(inner) => erase_in_place(&mut inner.elem),
        Type::Paren(inner) => erase_in_place(&mut inner.elem),
        Type::Group(inner) => erase_in_place(&mut inner.elem),
        Type::Tuple(tuple) => tuple.elems.iter_mut().for_each(erase_in_place),
        _ => {}
    }
}

/// `SiteSettings::named(..)` / `::keyed(..)` / `::nested(..)` plus one builder call per key.
fn settings(args: &CircuitArgs) -> TokenStream {
    let mut settings = match &args.name {
        Some(name) if name.template.is_keyed() => quote! {
            ::breaker::__private::SiteSettings::keyed(::core::file!(), ::core::line!())
        },
        Some(name) => {
            // `{{` and `}}` stand for single braces in every name.
            let name = LitStr::new(&name.template.text(), name.lit.span());
            quote! {
                ::breaker::__private::SiteSettings::named(#name, ::core::file!(), ::core::line!())
            }
        }
        None => quote! {
            ::breaker::__private::SiteSettings::nested(
                ::core::any::type_name_of_val(&__breaker_site), ::core::file!(), ::core::line!(),
            )
        },
    };
    for (count, method) in [
        (args.max_failures, "max_failures"),
        (args.net_failures, "net_failures"),
        (args.window_calls, "window_calls"),
        (args.min_calls, "min_calls"),
        (args.half_open_calls, "half_open_calls"),
        (args.success_threshold, "success_threshold"),
    ] {
        if let Some(count) = count {
            let method = format_ident!("{method}");
            // Unsuffixed and spanned at the user's literal: it reads as what they wrote, and
            // a type error on it would point into the attribute.
            let mut n = Literal::u32_unsuffixed(count.value);
            n.set_span(count.span);
            settings.extend(quote!(.#method(#n)));
        }
    }
    for (fraction, method) in [
        (args.failure_rate, "failure_rate"),
        (args.slow_rate, "slow_rate"),
        (args.jitter, "jitter"),
    ] {
        if let Some(fraction) = fraction {
            let method = format_ident!("{method}");
            // Call-site span, like the durations: a number the macro wrote.
            let value = Literal::f64_unsuffixed(fraction.value);
            settings.extend(quote!(.#method(#value)));
        }
    }
    for (nanos, method) in [
        (args.cooldown_nanos, "cooldown_nanos"),
        (args.max_cooldown_nanos, "max_cooldown_nanos"),
        (args.window_nanos, "window_nanos"),
        (args.slow_call_nanos, "slow_call_nanos"),
        (args.ramp_up_nanos, "ramp_up_nanos"),
        (args.idle_ttl_nanos, "idle_ttl_nanos"),
        (args.timeout_nanos, "timeout_nanos"),
    ] {
        if let Some(nanos) = nanos {
            let method = format_ident!("{method}");
            // Call-site span: this number is ours, not the user's, and must not be linted as
            // theirs.
            let nanos = nanos.value;
            settings.extend(quote!(.#method(#nanos)));
        }
    }
    for (list, method) in [(&args.record, "record"), (&args.ignore, "ignore")] {
        if let Some(TypeList { types, .. }) = list {
            let method = format_ident!("{method}");
            for ty in types {
                // Spanned at the type, so "`X` is not an error type" points into the list.
                settings.extend(quote_spanned!(ty.span()=> .#method::<#ty>()));
            }
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::circuit;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn expand(args: TokenStream, item: TokenStream) -> String {
        circuit(args, item).to_string()
    }

    #[test]
    fn async_bodies_are_spliced_into_the_future_not_nested() {
        let out = expand(
            quote!(),
            quote!(
                async fn fetch(id: u32) -> Result<u32, Error> {
                    Ok(id)
                }
            ),
        );
        assert_parses(&out);
        // A nested `{ Ok (id) }` would trip `unused_braces` in the user's crate.
        assert!(
            out.contains("return __breaker_return ; } Ok (id) }"),
            "{out}"
        );
        assert!(!out.contains("{ Ok (id) }"), "{out}");
    }

    /// The expansion must be a valid item; `syn::File` parses any sequence of items.
    fn assert_parses(output: &str) {
        if let Err(error) = syn::parse_str::<syn::File>(output) {
            panic!("expansion does not parse: {error}\n{output}");
        }
    }

    #[test]
    fn the_function_is_inlined_unless_it_says_otherwise_or_is_exported() {
        let plain = expand(
            quote!(),
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(plain.starts_with("# [inline] fn f ()"), "{plain}");
        for (attr, kept) in [
            (quote!(#[inline(never)]), "# [inline (never)] fn f ()"),
            (quote!(#[inline(always)]), "# [inline (always)] fn f ()"),
            (quote!(#[cold]), "# [cold] fn f ()"),
            (quote!(#[no_mangle]), "# [no_mangle] fn f ()"),
            (
                quote!(#[unsafe(no_mangle)]),
                "# [unsafe (no_mangle)] fn f ()",
            ),
            (
                quote!(#[export_name = "g"]),
                "# [export_name = \"g\"] fn f ()",
            ),
        ] {
            let out = expand(quote!(), quote!(#attr fn f() -> Result<(), E> { Ok(()) }));
            assert!(out.starts_with(kept), "{out}");
            assert_eq!(
                out.matches("inline").count(),
                kept.matches("inline").count(),
                "{out}"
            );
        }
    }

    #[test]
    fn sync_free_function() {
        let out = expand(
            quote!(max_failures = 3, cooldown = "1m30s"),
            quote!(
                /// Docs stay.
                #[inline]
                pub(crate) fn fetch(id: u32) -> Result<u32, Error> {
                    Ok(id)
                }
            ),
        );
        assert_parses(&out);
        assert!(out.starts_with("# [doc = r\" Docs stay.\"] # [inline] pub (crate) fn fetch (id : u32) -> Result < u32 , Error > {"), "{out}");
        assert!(
            out.contains("fn __breaker_site () { } static __BREAKER"),
            "{out}"
        );
        assert!(
            out.contains(
                "SiteSettings :: nested (:: core :: any :: type_name_of_val (& __breaker_site)"
            ),
            "{out}"
        );
        assert!(
            out.contains(". max_failures (3) . cooldown_nanos (90000000000u64)"),
            "{out}"
        );
        assert!(
            out.contains(
                ":: breaker :: __private :: run (__breaker_permit , move || -> Result < u32 , Error > { Ok (id) } , | __breaker_result | :: breaker :: __private :: judge (__breaker , __breaker_result , :: breaker :: __private :: never , :: breaker :: __private :: every_error))"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "Err (__breaker_rejection) => return :: core :: result :: Result :: Err (:: breaker :: __private :: into_error (__breaker_rejection)) , } ;"
            ),
            "{out}"
        );
        assert_eq!(out.matches("Ok (id)").count(), 1, "user block exactly once");
    }

    #[test]
    fn async_method_with_name_and_classification() {
        let out = expand(
            quote!(name = "db", record = [io::Error], ignore = [NotFound]),
            quote!(
                async fn get(&self) -> io::Result<u8> {
                    Ok(1)
                }
            ),
        );
        assert_parses(&out);
        assert!(out.contains("SiteSettings :: named (\"db\""), "{out}");
        assert!(
            out.contains(". record :: < io :: Error > () . ignore :: < NotFound > ()"),
            "{out}"
        );
        assert!(!out.contains("__breaker_site"), "{out}");
        assert!(
            !out.contains("record_if_unless_ignored")
                && out.contains(
                    "| __breaker_of_error , __breaker_error | :: breaker :: __private :: listed_errors (__breaker_of_error , __breaker_error)"
                ),
            "{out}"
        );
        assert!(
            out.contains(":: breaker :: __private :: call_async (__breaker , async move {")
                && !out.contains("acquire"),
            "{out}"
        );
        // No lint attributes at all: a user's `forbid(...)` would reject any `allow` (E0453).
        assert!(!out.contains("allow"), "{out}");
        assert!(
            out.contains("return __breaker_return ; } Ok (1) } , | __breaker_result |"),
            "{out}"
        );
        assert!(
            out.ends_with(
                "| __breaker_rejection | :: breaker :: __private :: into_error (__breaker_rejection)) . await }"
            ),
            "{out}"
        );
    }

    #[test]
    fn method_default_name_comes_from_the_compiler() {
        let out = expand(
            quote!(),
            quote!(
                fn r#type(&mut self) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert_parses(&out);
        assert!(out.contains("type_name_of_val (& __breaker_site)"), "{out}");
        assert!(out.contains(":: breaker :: __private :: run ("), "{out}");
    }

    #[test]
    fn every_setting_becomes_a_builder_call() {
        let out = expand(
            quote!(
                failure_rate = 0.5,
                window_calls = 100,
                min_calls = 20,
                slow_call = "2s",
                slow_rate = 1,
                cooldown = "1s",
                max_cooldown = "2m",
                jitter = 0.25,
                ramp_up = "30s",
                timeout = "250ms",
            ),
            quote!(
                async fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert_parses(&out);
        for call in [
            ". window_calls (100) . min_calls (20)",
            ". failure_rate (0.5) . slow_rate (1.0) . jitter (0.25)",
            ". cooldown_nanos (1000000000u64) . max_cooldown_nanos (120000000000u64)",
            ". slow_call_nanos (2000000000u64) . ramp_up_nanos (30000000000u64)",
            ". timeout_nanos (250000000u64)",
            "const _ : () = :: core :: assert ! (:: breaker :: __private :: TIMEOUTS_ENABLED ,",
        ] {
            assert!(out.contains(call), "{call}: {out}");
        }
    }

    #[test]
    fn predicates_go_to_the_judge() {
        let out = expand(
            quote!(failure_if = Self::is_bad, record_if = is_transient),
            quote!(
                fn f(&self) -> Result<u32, E> {
                    Ok(1)
                }
            ),
        );
        assert_parses(&out);
        assert!(
            out.contains(
                "judge (__breaker , __breaker_result , | __breaker_value | Self :: is_bad (__breaker_value) , | __breaker_of_error , __breaker_error | :: breaker :: __private :: record_if (__breaker_of_error , __breaker_error , | __breaker_value | is_transient (__breaker_value)))"
            ),
            "{out}"
        );
        let out = expand(
            quote!(record_if = is_transient, ignore = [NotFound]),
            quote!(
                fn f() -> Result<u32, E> {
                    Ok(1)
                }
            ),
        );
        assert!(
            out.contains(
                "record_if_unless_ignored (__breaker_of_error , __breaker_error , | __breaker_value | is_transient (__breaker_value))"
            ),
            "{out}"
        );
    }

    #[test]
    fn keyed_names_format_their_parameters() {
        let out = expand(
            quote!(name = "http:{host}:{{{port}}}", idle_ttl = "10m"),
            quote!(
                fn get(&self, host: &str, r#port: u16) -> Result<u32, E> {
                    Ok(1)
                }
            ),
        );
        assert_parses(&out);
        assert!(!out.contains("static"), "{out}");
        // The key, piece by piece: literal text as is, each parameter through `PushKey` with a
        // `Display` fallback.
        assert!(
            out.contains(
                "let mut __breaker_key = :: breaker :: __private :: KeyBuffer :: new () ; { use :: breaker :: __private :: PushKey as _ ; __breaker_key . push_str (\"http:\") ; (& :: breaker :: __private :: KeyArg (& host)) . push_key (& mut __breaker_key , | __breaker_key | __breaker_key . push_fmt (:: core :: format_args ! (\"{}\" , host)) ,) ; __breaker_key . push_str (\":{\") ; (& :: breaker :: __private :: KeyArg (& r#port)) . push_key (& mut __breaker_key , | __breaker_key | __breaker_key . push_fmt (:: core :: format_args ! (\"{}\" , r#port)) ,) ; __breaker_key . push_str (\"}\") ; }"
            ),
            "{out}"
        );
        // A sync function runs the rest of its body with the breaker the lookup lends it.
        assert!(
            out.contains(
                ":: breaker :: __private :: with_keyed_breaker (& __breaker_key , || :: breaker :: __private :: SiteSettings :: keyed (:: core :: file ! () , :: core :: line ! ()) . idle_ttl_nanos (600000000000u64) , | __breaker : & :: breaker :: __private :: Breaker | -> Result < u32 , E > { let __breaker_permit = match :: breaker :: __private :: acquire (__breaker)"
            ),
            "{out}"
        );
        // An async one holds it for the future.
        let out = expand(
            quote!(name = "http:{host}"),
            quote!(
                async fn get(host: String) -> Result<u32, E> {
                    Ok(1)
                }
            ),
        );
        assert_parses(&out);
        assert!(
            out.contains(
                "let __breaker = & :: breaker :: __private :: keyed_breaker_arc (& __breaker_key , || :: breaker :: __private :: SiteSettings :: keyed (:: core :: file ! () , :: core :: line ! ())) ; :: breaker :: __private :: call_async (__breaker ,"
            ),
            "{out}"
        );
        let out = expand(
            quote!(name = "{{literal}}"),
            quote!(
                fn get() -> Result<u32, E> {
                    Ok(1)
                }
            ),
        );
        assert!(
            out.contains("SiteSettings :: named (\"{literal}\""),
            "{out}"
        );
    }

    #[test]
    fn fallback_on_rejection_gets_the_arguments() {
        let out = expand(
            quote!(fallback = Self::cached),
            quote!(
                async fn get(&mut self, id: u32) -> Result<u32, E> {
                    Ok(id)
                }
            ),
        );
        assert_parses(&out);
        assert!(
            out.contains("Err (_) => return Self :: cached (self , id) . await ,"),
            "{out}"
        );
        // An async call can still time out, and that error needs converting.
        assert!(
            out.contains("| __breaker_rejection | :: breaker :: __private :: into_error"),
            "{out}"
        );
        assert!(!out.contains("clone"), "{out}");
        // A sync one cannot: `E` needs no `From<breaker::Error>` at all.
        let out = expand(
            quote!(fallback = cached),
            quote!(
                fn get(id: u32) -> Result<u32, E> {
                    Ok(id)
                }
            ),
        );
        assert!(!out.contains("into_error"), "{out}");
        assert!(out.contains("Err (_) => return cached (id) ,"), "{out}");
    }

    #[test]
    fn fallback_on_any_clones_the_arguments_first() {
        let out = expand(
            quote!(fallback = cached, fallback_on = "any"),
            quote!(
                fn get(&self, mut id: u32, name: String) -> Result<u32, E> {
                    Ok(id)
                }
            ),
        );
        assert_parses(&out);
        for part in [
            "let __breaker_argument_0 = :: core :: clone :: Clone :: clone (& self) ;",
            "let __breaker_argument_1 = :: core :: clone :: Clone :: clone (& id) ;",
            "let __breaker_argument_2 = :: core :: clone :: Clone :: clone (& name) ;",
            "let __breaker_fallback = move || -> Result < u32 , E > { cached (__breaker_argument_0 , __breaker_argument_1 , __breaker_argument_2) } ;",
            "run_or_fallback (__breaker_permit , move || -> Result < u32 , E > { Ok (id) } ,",
            "Err (_) => return __breaker_fallback () ,",
        ] {
            assert!(out.contains(part), "{part}: {out}");
        }
        assert_eq!(out.matches("Ok (id)").count(), 1, "user block exactly once");
        assert_eq!(
            out.matches("cached (").count(),
            1,
            "fallback called in one place"
        );
    }

    #[test]
    fn impl_trait_is_erased_in_the_annotation_only() {
        let out = expand(
            quote!(),
            quote!(
                fn f(
                    x: impl Display,
                ) -> Result<(impl Iterator<Item = impl Debug>, &[impl Copy]), E> {
                    loop {}
                }
            ),
        );
        assert!(
            out.contains("-> Result < (impl Iterator < Item = impl Debug > , & [impl Copy]) , E >"),
            "signature untouched: {out}"
        );
        assert!(
            out.contains("move || -> Result < (_ , & [_]) , E >"),
            "{out}"
        );
    }

    #[test]
    fn inner_attributes_stay_on_top() {
        let out = expand(
            quote!(),
            quote!(
                fn f() -> Result<(), E> {
                    #![allow(unused)]
                    Ok(())
                }
            ),
        );
        assert_parses(&out);
        let body = out
            .split_once('{')
            .map(|(_, body)| body.trim_start())
            .unwrap_or_default();
        assert!(
            body.starts_with("# ! [allow (unused)] fn __breaker_site () { } static __BREAKER"),
            "{out}"
        );
    }

    #[test]
    fn errors_keep_the_item_and_report_everything() {
        let item = quote!(
            const fn f() -> u32 {
                1
            }
        );
        let out = expand(quote!(max_failures = 0, bogus = 1), item.clone());
        assert!(
            out.starts_with(&item.to_string()),
            "item kept unchanged: {out}"
        );
        assert_eq!(out.matches("compile_error").count(), 4, "{out}");
        assert_parses(&out);
    }

    #[test]
    fn non_function_is_kept_with_the_error() {
        let out = expand(
            quote!(),
            quote!(
                struct S;
            ),
        );
        assert!(out.starts_with("struct S ;"), "{out}");
        assert!(out.contains("not to a struct"), "{out}");
    }

    #[test]
    fn body_that_does_not_parse_still_expands() {
        let out = expand(quote!(), quote!(fn f() -> Result<(), E> { let x = ; }));
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("{ let x = ; }"), "{out}");
    }

    /// A macro must never panic on user input: run odd arguments against odd items and
    /// require every output to be tokens that parse as items (the item plus errors, or the
    /// expansion). Inputs with unbalanced delimiters cannot reach a macro, so none are here.
    #[test]
    fn never_panics_and_always_emits_items() {
        let args = [
            "",
            ",",
            "= 5",
            "name",
            "name =",
            "name = \"\"",
            "name = b\"db\"",
            "name = r#\"db\"#, name = \"x\"",
            "max_failures = 99999999999999999999999999",
            "max_failures = 0x10",
            "max_failures = 1e3",
            "max_failures = -0",
            "cooldown = \"\u{1F600}s\"",
            "cooldown = \"99999999999999999999h\"",
            "cooldown = \"1h1h\"",
            "record = [[]]",
            "record = [,]",
            "record = [A,, B]",
            "record = [A] ignore = [B]",
            "ignore = [impl Error, _, dyn Error]",
            "r#name = \"x\"",
            "half_open_calls = 1, half_open_calls = 2, half_open_calls = 3",
            "success_threshold(1)",
            "::name = 1",
            "#[x] name = 1",
            "name = \"{x}\"",
            "name = \"{type}:{r#type}\"",
            "name = \"{\"",
            "name = \"}{\"",
            "name = \"{\u{e9}t\u{e9}}\"",
            "name = \"{x}\", idle_ttl = \"1s\"",
            "fallback = f, fallback_on = \"any\"",
            "fallback = Self::f, fallback_on = \"rejected\", timeout = \"1s\"",
            "fallback = <T as X>::f::<u8>",
            "fallback = f(), fallback_on = any",
            "failure_if = a::<b>, record_if = c, ignore = [D]",
            "failure_rate = 2, net_failures = 1, max_failures = 1",
            "failure_rate = 1e400, slow_rate = -1, jitter = 0.5f32",
            "window = \"1s\", window_calls = 1, min_calls = 1",
            "slow_call = \"1ms\"",
            "cooldown = \"1h\", max_cooldown = \"1s\", ramp_up = \"1s\"",
        ];
        let items = [
            "",
            "fn",
            "fn f",
            "fn f()",
            "fn f() -> Result<(), E>;",
            "fn f() -> Result<(), E> {} fn g() {}",
            "fn f() -> Result {}",
            "fn f() -> Result<> {}",
            "fn f() -> Result<(), E> { #! }",
            "fn f() -> Result<(), E> { #![] }",
            "async unsafe extern \"C\" fn f(...) -> Result<(), E> {}",
            "pub(in crate::a) fn r#async<'a, T: 'a, const N: usize>(self: Box<Self>) -> Result<[T; N], E> where T: Copy {}",
            "fn f((a, b): (u8, u8), x: &mut u8, _: u8, ref y: u8) -> Result<(), E> {}",
            "async fn f(&mut self, r#type: u8, x: impl Display) -> Result<(), E> {}",
            "fn f(self: &mut Self, x: u8) -> Result<impl Debug, E> {}",
            "struct S",
            "#[circuit] #[circuit] fn f() -> Result<(), E> {}",
            "impl Trait for S { fn f() {} }",
            "macro_rules! m { () => {} }",
            "let x = 5;",
            "1 + 1",
            "#[doc = \"x\"]",
        ];
        for arg in args {
            for item in items {
                let (Ok(arg_tokens), Ok(item_tokens)) =
                    (arg.parse::<TokenStream>(), item.parse::<TokenStream>())
                else {
                    panic!("test input does not tokenize: {arg:?} / {item:?}");
                };
                let out = circuit(arg_tokens, item_tokens);
                // The item as given may itself not be an item (`1 + 1`); what we add must be.
                if syn::parse2::<syn::File>(item.parse().unwrap_or_default()).is_ok() {
                    assert!(
                        syn::parse2::<syn::File>(out.clone()).is_ok(),
                        "{arg:?} / {item:?} gave {out}"
                    );
                }
            }
        }
    }
}
