//! The pass cases again, as modules of one ordinary test crate.
//!
//! trybuild only runs rustc, so on its own it would never show a clippy lint fired by the
//! expanded code. Compiled here, the cases are linted by `cargo clippy --all-targets` (which
//! `.ci/run` runs with `-D warnings`), and their `main`s run as plain tests. Add every new
//! `pass/*.rs` here too.

macro_rules! pass_cases {
    ($($case:ident => $path:literal,)*) => {
        $(
            #[path = $path]
            mod $case;

            #[test]
            fn $case() {
                $case::main();
            }
        )*
    };
}

pass_cases! {
    async_fn => "../pass/async_fn.rs",
    async_trait_impl => "../pass/async_trait_impl.rs",
    attributes => "../pass/attributes.rs",
    borrowed_returns => "../pass/borrowed_returns.rs",
    fallback => "../pass/fallback.rs",
    free_fn => "../pass/free_fn.rs",
    generics_where => "../pass/generics_where.rs",
    impl_trait => "../pass/impl_trait.rs",
    keyed => "../pass/keyed.rs",
    lints => "../pass/lints.rs",
    method_mut_self => "../pass/method_mut_self.rs",
    method_ref_self => "../pass/method_ref_self.rs",
    method_self_by_value => "../pass/method_self_by_value.rs",
    params => "../pass/params.rs",
    policies => "../pass/policies.rs",
    predicates => "../pass/predicates.rs",
    record_ignore => "../pass/record_ignore.rs",
    timeout => "../pass/timeout.rs",
    trait_impl => "../pass/trait_impl.rs",
}
