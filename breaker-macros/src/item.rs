//! A lenient parser for the annotated function.
//!
//! Only the signature is parsed. The body is kept as raw tokens inside its original braces and
//! never parsed, for two reasons: a body the user is still typing (which does not parse yet)
//! must still expand, so rust-analyzer keeps completing inside it; and re-emitting the user's
//! tokens untouched keeps every span, so rustc's errors point into the user's code.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned as _;
use syn::{
    Attribute, FnArg, Ident, Item, Pat, PatType, Receiver, Signature, Token, Type, Visibility,
    braced, token,
};

/// `#[attrs] vis sig { body }`, or a bodyless declaration `sig;` inside a trait.
pub(crate) struct Function {
    /// Outer attributes and doc comments other than `#[circuit]` itself, in order.
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: Body,
}

pub(crate) enum Body {
    /// The body, split into leading inner attributes (`#![...]`) and everything else. Both
    /// are raw tokens: inner attributes must stay at the top of the generated body, and the
    /// rest becomes the user block, re-emitted in the user's own braces.
    Block {
        brace: token::Brace,
        inner_attrs: TokenStream,
        stmts: TokenStream,
    },
    /// `fn f(&self) -> Result<T, E>;` as declared in a trait: there is nothing to guard.
    Missing(Token![;]),
}

impl Parse for Function {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let body = if input.peek(Token![;]) {
            Body::Missing(input.parse()?)
        } else {
            let content;
            let brace = braced!(content in input);
            let mut inner_attrs = TokenStream::new();
            // `#` `!` `[...]`, taken as tokens: a malformed inner attribute is rustc's to report.
            while content.peek(Token![#]) && content.peek2(Token![!]) {
                for _ in 0..3 {
                    inner_attrs.extend([content.parse::<TokenTree>()?]);
                }
            }
            Body::Block {
                brace,
                inner_attrs,
                stmts: content.parse()?,
            }
        };
        Ok(Function {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

impl Body {
    /// The user's block with its original braces (and their spans), statements untouched.
    pub(crate) fn user_block(brace: &token::Brace, stmts: &TokenStream) -> TokenStream {
        let mut block = TokenStream::new();
        brace.surround(&mut block, |tokens| stmts.to_tokens(tokens));
        block
    }
}

/// One parameter, as generated code can pass it on (to a fallback, into a keyed name).
pub(crate) enum Param<'a> {
    /// `self`, `mut self`, `&self`, `&mut self` or `self: Box<Self>`: passed on as `self`.
    Receiver(&'a Receiver),
    /// `name: T` or `mut name: T`: passed on by its name.
    Named { ident: &'a Ident, ty: &'a Type },
    /// A pattern such as `(a, b): (u32, u32)`, `_: T` or `ref name: T`: there is no name that
    /// holds the argument as it was passed.
    Pattern(&'a PatType),
}

/// The parameters of `sig`, in order.
pub(crate) fn params(sig: &Signature) -> impl Iterator<Item = Param<'_>> {
    sig.inputs.iter().map(|arg| match arg {
        FnArg::Receiver(receiver) => Param::Receiver(receiver),
        FnArg::Typed(typed) => match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => Param::Named {
                ident: &pat.ident,
                ty: &typed.ty,
            },
            _ => Param::Pattern(typed),
        },
    })
}

/// Parses the item under the attribute. When it is not a function at all, the error says so
/// and points at the keyword that makes it something else (`struct`, `impl`, ...).
pub(crate) fn parse(item: TokenStream) -> syn::Result<Function> {
    syn::parse2::<Function>(item.clone()).map_err(|error| not_a_function(item).unwrap_or(error))
}

fn not_a_function(item: TokenStream) -> Option<syn::Error> {
    // A function whose signature does not parse yet (mid-edit) keeps syn's precise error.
    let has_fn_keyword = item
        .clone()
        .into_iter()
        .any(|tt| matches!(&tt, TokenTree::Ident(ident) if ident == "fn"));
    if has_fn_keyword {
        return None;
    }
    let (span, what) = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(item)) => (item.struct_token.span, "a struct"),
        Ok(Item::Enum(item)) => (item.enum_token.span, "an enum"),
        Ok(Item::Union(item)) => (item.union_token.span, "a union"),
        Ok(Item::Impl(item)) => {
            return Some(syn::Error::new(
                item.impl_token.span,
                "`#[circuit]` goes on functions, not on an `impl` block; put it on each method that should be guarded",
            ));
        }
        Ok(Item::Trait(item)) => (item.trait_token.span, "a trait"),
        Ok(Item::Mod(item)) => (item.mod_token.span, "a module"),
        Ok(Item::Const(item)) => (item.const_token.span, "a constant"),
        Ok(Item::Static(item)) => (item.static_token.span, "a static"),
        Ok(Item::Type(item)) => (item.type_token.span, "a type alias"),
        Ok(Item::Use(item)) => (item.use_token.span, "a `use` declaration"),
        Ok(Item::ExternCrate(item)) => (item.extern_token.span, "an `extern crate`"),
        Ok(Item::ForeignMod(item)) => (item.abi.extern_token.span, "an `extern` block"),
        Ok(Item::Macro(item)) => (item.mac.path.span(), "a macro invocation"),
        _ => (first_token_span(item)?, "this item"),
    };
    Some(syn::Error::new(
        span,
        format!("`#[circuit]` can only be applied to a function returning `Result`, not to {what}"),
    ))
}

/// The span of the first token after any outer attributes (`#` + `[...]`).
fn first_token_span(item: TokenStream) -> Option<Span> {
    let mut tokens = item.into_iter().peekable();
    while let Some(TokenTree::Punct(punct)) = tokens.peek() {
        if punct.as_char() != '#' {
            break;
        }
        tokens.next();
        if let Some(TokenTree::Group(group)) = tokens.peek()
            && group.delimiter() == Delimiter::Bracket
        {
            tokens.next();
        }
    }
    tokens.next().map(|tt| tt.span())
}

#[cfg(test)]
mod tests {
    use super::{Body, parse};
    use quote::quote;

    fn error(tokens: proc_macro2::TokenStream) -> String {
        match parse(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn keeps_a_body_that_does_not_parse() {
        // `let x = ;` is not valid Rust, but the signature is: we must still expand.
        let function = parse(quote!(
            /// Docs.
            #[inline]
            pub(crate) fn f(x: u32) -> Result<u32, E> { let x = ; x. }
        ))
        .expect("lenient parse");
        assert_eq!(function.attrs.len(), 2);
        let Body::Block { stmts, .. } = function.body else {
            panic!("expected a body");
        };
        assert_eq!(stmts.to_string(), "let x = ; x .");
    }

    #[test]
    fn splits_inner_attributes() {
        let function = parse(quote!(
            fn f() -> Result<(), E> {
                #![allow(unused)]
                #![cfg_attr(test, allow(dead_code))]
                Ok(())
            }
        ))
        .expect("parse");
        let Body::Block {
            inner_attrs, stmts, ..
        } = function.body
        else {
            panic!("expected a body");
        };
        assert_eq!(
            inner_attrs.to_string(),
            "# ! [allow (unused)] # ! [cfg_attr (test , allow (dead_code))]"
        );
        assert_eq!(stmts.to_string(), "Ok (())");
    }

    #[test]
    fn bodyless_trait_method() {
        let function = parse(quote!(
            fn f(&self) -> Result<(), E>;
        ))
        .expect("parse");
        assert!(matches!(function.body, Body::Missing(_)));
    }

    #[test]
    fn not_a_function() {
        assert_eq!(
            error(quote!(
                struct S;
            )),
            "`#[circuit]` can only be applied to a function returning `Result`, not to a struct"
        );
        assert!(error(quote!(impl S {})).contains("not on an `impl` block"));
        assert!(
            error(quote!(
                #[derive(Debug)]
                enum E {
                    A,
                }
            ))
            .contains("not to an enum")
        );
        assert!(
            error(quote!(
                const X: u32 = 1;
            ))
            .contains("not to a constant")
        );
        // A broken signature gets syn's own error, not "not a function".
        assert!(!error(quote!(fn f(x: ) {})).contains("not to"));
    }
}
