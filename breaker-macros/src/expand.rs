//! Code generation, and the fallback used when the input has errors.
//!
//! The generated function is the user's own signature (same tokens, same spans), outer
//! attributes and inner attributes, with only the body replaced:
//!
//! ```text
//! #[attrs] vis sig {
//!     #![inner attrs]
//!     static __BREAKER: OnceLock<Arc<Breaker>> = OnceLock::new();
//!     let __breaker = breaker(&__BREAKER, || SiteSettings::...);
//!     // sync: the closure is annotated with the declared return type
//!     call(__breaker, move || -> Ret { user block })
//!     // async: an untaken `return` of type `Ret` fixes the future's output type
//!     call_async(__breaker, async move { if let Some(r) = None::<Ret> { return r; } { user block } }).await
//! }
//! ```
//!
//! The user block appears exactly once, inside its own braces, so `return` and `?` stay
//! inside the guarded call. Everything the generated code names is reached through
//! `::breaker::__private` or `::core`, never through the user's imports.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{GenericArgument, LitStr, PathArguments, ReturnType, Token, Type, TypeInfer};

use crate::args::{CircuitArgs, TypeList};
use crate::item::{self, Body, Function};
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
    let (brace, block, inner_attrs) = match body {
        Body::Block {
            brace,
            inner_attrs,
            stmts,
        } => (brace, Body::user_block(brace, stmts), inner_attrs),
        // `validate` rejects this first; kept as an error rather than a panic regardless.
        Body::Missing(semi) => {
            return Err(syn::Error::new(
                semi.span,
                "`#[circuit]` needs a function body",
            ));
        }
    };

    // `mixed_site` makes these locals invisible to the user's block (macro_rules hygiene),
    // so they can neither be shadowed by nor shadow the user's own names.
    let cell = format_ident!("__BREAKER", span = Span::mixed_site());
    let breaker = format_ident!("__breaker", span = Span::mixed_site());
    let settings = settings(args, function);

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
    let fake_return = format_ident!("__breaker_return", span = Span::mixed_site());
    // The runtime's `call*` functions carry the `E: CircuitError` bound (and `AsError` with
    // `record`/`ignore`). Locating the callee at the user's error type makes rustc underline
    // that type instead of the whole attribute; `located_at` keeps the call-site hygiene, so
    // lints still see generated code.
    let at_error = Span::call_site().located_at(error_type_span(&output));

    // Only one arm is emitted, so the user block still appears exactly once.
    let guarded_call = match (sig.asyncness.is_some(), args.classifies()) {
        (false, classifies) => {
            let entry = if classifies {
                quote!(call_classified)
            } else {
                quote!(call)
            };
            quote_spanned! {at_error=>
                ::breaker::__private::#entry(#breaker, move || -> #output #block)
            }
        }
        (true, classifies) => {
            let entry = if classifies {
                quote!(call_async_classified)
            } else {
                quote!(call_async)
            };
            // An async block cannot be annotated with its output type, so a `return` that is
            // never taken fixes it before the user's block is checked (tracing's "fake return
            // edge", PR #2270). Tracing diverges with `loop {}`, which needs an
            // `allow(unreachable_code)` that a user's `forbid(unreachable_code)` rejects
            // (E0453). A `None` that is never `Some` needs no allow at all.
            quote_spanned! {at_error=>
                ::breaker::__private::#entry(#breaker, async move {
                    let #fake_return: ::core::option::Option<#output> =
                        ::core::option::Option::None;
                    if let ::core::option::Option::Some(#fake_return) = #fake_return {
                        return #fake_return;
                    }
                    #block
                })
                .await
            }
        }
    };

    let body = quote! {
        #inner_attrs
        static #cell: ::breaker::__private::OnceLock<
            ::breaker::__private::Arc<::breaker::__private::Breaker>,
        > = ::breaker::__private::OnceLock::new();
        let #breaker = ::breaker::__private::breaker(&#cell, || #settings);
        #guarded_call
    };
    // The new body goes in the user's own braces. With call-site braces the function's span
    // would end inside the macro expansion, and rustc stops reporting `dead_code` (and other
    // item lints) for it (tracing #1366).
    let mut output = quote!(#(#attrs)* #vis #sig);
    brace.surround(&mut output, |tokens| tokens.extend(body));
    Ok(output)
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

/// `SiteSettings::named(..)` / `::function(..)` / `::method(..)` plus one builder call per key.
fn settings(args: &CircuitArgs, function: &Function) -> TokenStream {
    let sig = &function.sig;
    // `r#type` is named `type`: the name is for people reading reports.
    let fn_name = LitStr::new(&sig.ident.unraw().to_string(), sig.ident.span());
    let mut settings = if let Some(name) = &args.name {
        quote! {
            ::breaker::__private::SiteSettings::named(#name, ::core::file!(), ::core::line!())
        }
    } else if sig.receiver().is_some() {
        // The macro cannot see the `impl` header, so the type comes from `Self` at run time;
        // same-named methods of different types in one module stay distinct.
        quote! {
            ::breaker::__private::SiteSettings::method(
                ::core::any::type_name::<Self>(), #fn_name, ::core::file!(), ::core::line!(),
            )
        }
    } else {
        quote! {
            ::breaker::__private::SiteSettings::function(
                ::core::module_path!(), #fn_name, ::core::file!(), ::core::line!(),
            )
        }
    };
    for (count, method) in [
        (args.max_failures, "max_failures"),
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
    if let Some(nanos) = args.cooldown_nanos {
        // Call-site span: this number is ours, not the user's, and must not be linted as theirs.
        let nanos = nanos.value;
        settings.extend(quote!(.cooldown_nanos(#nanos)));
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

    /// The expansion must be a valid item; `syn::File` parses any sequence of items.
    fn assert_parses(output: &str) {
        if let Err(error) = syn::parse_str::<syn::File>(output) {
            panic!("expansion does not parse: {error}\n{output}");
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
            out.contains("SiteSettings :: function (:: core :: module_path ! () , \"fetch\""),
            "{out}"
        );
        assert!(
            out.contains(". max_failures (3) . cooldown_nanos (90000000000u64)"),
            "{out}"
        );
        assert!(
            out.contains(
                ":: breaker :: __private :: call (__breaker , move || -> Result < u32 , Error > { Ok (id) })"
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
        assert!(
            out.contains("call_async_classified (__breaker , async move {"),
            "{out}"
        );
        // No lint attributes at all: a user's `forbid(...)` would reject any `allow` (E0453).
        assert!(!out.contains("allow"), "{out}");
        assert!(
            out.contains("return __breaker_return ; } { Ok (1) } }) . await"),
            "{out}"
        );
    }

    #[test]
    fn method_default_name_uses_self_type() {
        let out = expand(
            quote!(),
            quote!(
                fn r#type(&mut self) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains("type_name :: < Self > () , \"type\""), "{out}");
        assert!(out.contains(":: breaker :: __private :: call ("), "{out}");
    }

    #[test]
    fn impl_trait_is_erased_in_the_annotation_only() {
        let out = expand(
            quote!(),
            quote!(
                fn f(
                    x: impl Display,
                ) -> Result<(impl Iterator<Item = impl Debug>, &[impl Copy]), E> {
                    todo!()
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
            body.starts_with("# ! [allow (unused)] static __BREAKER"),
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
