//! Compile-fail and compile-pass cases for `#[circuit]`, run with trybuild.
//!
//! `fail/*.rs`: one misuse per file; the committed `.stderr` next to it is the exact
//! diagnostic. `pass/*.rs`: one supported function shape per file; each must compile and its
//! `main` must run. See `README.md` for how to bless a changed diagnostic.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
    t.pass("pass/*.rs");
}
