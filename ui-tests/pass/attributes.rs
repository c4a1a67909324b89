//! Outer attributes, doc comments and visibility are kept, inner attributes stay at the top
//! of the body, and a `#[expect(dead_code)]` is still fulfilled: the signature is the user's.

#![deny(warnings)]

use breaker::circuit;

mod api {
    use breaker::circuit;

    /// Documented, public, `#[must_use]`, `#[inline]`: all of it survives the expansion.
    #[must_use = "the response may be an error"]
    #[inline]
    #[circuit(name = "api")]
    pub fn get() -> Result<u8, std::io::Error> {
        #![allow(clippy::unnecessary_wraps)]
        Ok(1)
    }

    #[circuit]
    pub(crate) fn crate_visible() -> Result<u8, std::io::Error> {
        Ok(2)
    }
}

#[expect(
    dead_code,
    reason = "proves the macro keeps the function and its name as they are"
)]
#[circuit]
fn never_called() -> Result<(), std::io::Error> {
    Ok(())
}

#[circuit]
unsafe fn raw_read(pointer: *const u8) -> Result<u8, std::io::Error> {
    // SAFETY: the caller passes a valid pointer.
    Ok(unsafe { *pointer })
}

#[circuit]
extern "Rust" fn explicit_abi() -> Result<(), std::io::Error> {
    Ok(())
}

#[circuit]
fn r#match() -> Result<(), std::io::Error> {
    Ok(())
}

pub fn main() {
    assert_eq!(api::get().ok(), Some(1));
    assert_eq!(api::crate_visible().ok(), Some(2));
    let byte = 5u8;
    // SAFETY: `byte` is a valid `u8`.
    assert_eq!(unsafe { raw_read(&byte) }.ok(), Some(5));
    assert!(explicit_abi().is_ok());
    assert!(r#match().is_ok());
}
