//! Breaker names: borrowed for free when they are literals, shared when they are built at run time.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The name of a breaker, cheap to clone.
///
/// Names written in code (`Breaker::builder("db")`, `#[circuit(name = "db")]`) are `'static` and
/// cloning them touches no shared memory, so a rejection error can carry the name without an
/// atomic reference count bouncing between cores. Names built at run time are reference counted.
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Name {
    fn from(s: &'static str) -> Self {
        Self(Repr::Static(s))
    }
}

impl From<String> for Name {
    fn from(s: String) -> Self {
        Self(Repr::Shared(s.into()))
    }
}

impl From<Arc<str>> for Name {
    fn from(s: Arc<str>) -> Self {
        Self(Repr::Shared(s))
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

// Keyed names (`"http:{host}"`) are compared and hashed as little-endian `u64` words, zero past
// the end, plus the length: a key assembled on the stack is written a whole word at a time and
// read back the same way, so no load waits on a store it straddles (assembling it as bytes and
// hashing those cost about 15 ns in stalls), and a comparison is a few word comparisons.

/// The words of `bytes`: bytes `8 * i..8 * i + 8` as a little-endian `u64`, the last one zero
/// past the end of `bytes`.
#[inline]
pub(crate) fn words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let (chunks, rest) = bytes.as_chunks::<8>();
    let last = (!rest.is_empty()).then(|| tail(bytes, rest.len()));
    chunks
        .iter()
        .map(|chunk| u64::from_le_bytes(*chunk))
        .chain(last)
}

/// The longest name hashed and compared as exactly three words.
pub(crate) const SHORT: usize = 24;

/// The three [`words`] of a name of up to [`SHORT`] bytes, zero past its end.
#[inline]
pub(crate) fn short_words(bytes: &[u8]) -> Option<[u64; 3]> {
    let len = bytes.len();
    let (chunks, rest) = bytes.as_chunks::<8>();
    let last = tail(bytes, rest.len());
    Some(match *chunks {
        [] => [last, 0, 0],
        [a] => [u64::from_le_bytes(a), last, 0],
        [a, b] => [u64::from_le_bytes(a), u64::from_le_bytes(b), last],
        [a, b, c] if len == SHORT => [a, b, c].map(u64::from_le_bytes),
        _ => return None,
    })
}

/// The last `n` (0 to 7) bytes of `bytes` as a little-endian word, zero above them, read with
/// at most two loads.
#[inline]
fn tail(bytes: &[u8], n: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    if let Some(last) = bytes.last_chunk::<8>() {
        // The 8 bytes ending the string, shifted so that the last `n` come down.
        return u64::from_le_bytes(*last) >> (8 * (8 - n));
    }
    // The whole string is these `n` bytes.
    match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        (Some(first), Some(last)) => {
            let (first, last) = (u32::from_le_bytes(*first), u32::from_le_bytes(*last));
            u64::from(first) | u64::from(last) << (8 * (n - 4))
        }
        _ => {
            let byte = |i: usize| u64::from(bytes[i]);
            byte(0) | byte(n / 2) << (8 * (n / 2)) | byte(n - 1) << (8 * (n - 1))
        }
    }
}

/// A name assembled on the stack, for keyed breakers (`"http:{host}"`): looking up an existing
/// key allocates nothing. Names longer than 128 bytes move to the heap.
///
/// A short name (up to 24 bytes) is assembled in three words that the compiler keeps in
/// registers, a longer one in words on the stack; either way a lookup reads whole words that
/// were written whole, so it never waits on a store it straddles.
pub struct KeyBuffer {
    len: usize,
    /// Bytes 0 to 15 of a short name, zero past its end.
    low: u128,
    /// Bytes 16 to 23 of a short name, zero past its end.
    high: u64,
    /// A longer name's [`words`]: word `i` is written whole when the name reaches it, and only
    /// or-ed into while the name ends inside it.
    words: [u64; KEY_WORDS],
    /// Every word, once the name outgrows `words`.
    spilled: Vec<u64>,
}

const KEY_WORDS: usize = 16;

impl Default for KeyBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyBuffer {
    /// An empty name.
    #[inline]
    pub fn new() -> KeyBuffer {
        KeyBuffer {
            len: 0,
            low: 0,
            high: 0,
            words: [0; KEY_WORDS],
            spilled: Vec::new(),
        }
    }

    /// Appends `piece`.
    #[inline]
    pub fn push_str(&mut self, piece: &str) {
        let bytes = piece.as_bytes();
        let (chunks, rest) = bytes.as_chunks::<8>();
        for chunk in chunks {
            self.push_word(u64::from_le_bytes(*chunk), 8);
        }
        if !rest.is_empty() {
            self.push_word(tail(bytes, rest.len()), rest.len());
        }
    }

    /// Appends `piece` formatted with `core::fmt`, for values without a faster way.
    pub fn push_fmt(&mut self, piece: fmt::Arguments<'_>) {
        match piece.as_str() {
            Some(text) => self.push_str(text),
            // Writing to the buffer never fails; a `Display` impl that errors leaves a partial
            // name where `format!` would have panicked.
            None => drop(fmt::Write::write_fmt(self, piece)),
        }
    }

    /// Appends `n` in decimal, as `Display` writes it, composing the digits in registers.
    #[inline]
    pub(crate) fn push_decimal(&mut self, negative: bool, n: u64) {
        const E16: u64 = 10_000_000_000_000_000;
        if negative {
            self.push_word(u64::from(b'-'), 1);
        }
        if n >= E16 {
            self.push_digits(n / E16, 0);
            self.push_digits(n % E16, 16);
        } else {
            self.push_digits(n, 0);
        }
    }

    /// Appends the digits of `n` (below 10^16), padded with zeros to `width`.
    #[inline]
    fn push_digits(&mut self, mut n: u64, width: usize) {
        // The lowest byte holds the first digit: each digit found, from the last one, goes in
        // at the bottom and pushes the others up.
        let mut digits: u128 = 0;
        let mut count = 0;
        while n > 0 || count < width.max(1) {
            digits = digits << 8 | u128::from(b'0' + (n % 10) as u8);
            n /= 10;
            count += 1;
        }
        self.push_word(digits as u64, count.min(8));
        if count > 8 {
            self.push_word((digits >> 64) as u64, count - 8);
        }
    }

    /// Appends the `n` (1 to 8) low bytes of `chunk`, which is zero above them.
    #[inline]
    fn push_word(&mut self, chunk: u64, n: usize) {
        let (at, end) = (self.len, self.len + n);
        if end > SHORT {
            return self.push_long(chunk, n);
        }
        let shift = 8 * at as u32;
        if at < 16 {
            self.low |= u128::from(chunk) << shift;
            if at > 8 {
                // What does not fit in `low`.
                self.high |= chunk >> (128 - shift);
            }
        } else {
            self.high |= chunk << (shift - 128);
        }
        self.len = end;
    }

    #[cold]
    fn push_long(&mut self, chunk: u64, n: usize) {
        let (at, end) = (self.len, self.len + n);
        if at <= SHORT {
            // The name outgrows the three words.
            let [a, b, c] = self.short_image();
            self.words[..3].copy_from_slice(&[a, b, c]);
        }
        if end > 8 * KEY_WORDS && self.spilled.is_empty() {
            self.spilled = self.words.to_vec();
        }
        let words = if self.spilled.is_empty() {
            &mut self.words[..]
        } else {
            self.spilled.resize(end.div_ceil(8), 0);
            &mut self.spilled[..]
        };
        let (i, shift) = (at / 8, 8 * (at % 8));
        if shift == 0 {
            words[i] = chunk;
        } else {
            words[i] |= chunk << shift;
            if shift + 8 * n > 64 {
                words[i + 1] = chunk >> (64 - shift);
            }
        }
        self.len = end;
    }

    #[inline]
    fn short_image(&self) -> [u64; 3] {
        [self.low as u64, (self.low >> 64) as u64, self.high]
    }

    /// The length in bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The name's three words, zero past its end, if it is up to [`SHORT`] bytes long.
    #[inline]
    pub(crate) fn short_words(&self) -> Option<[u64; 3]> {
        (self.len <= SHORT).then(|| self.short_image())
    }

    /// The name as [`words`], if it is longer than [`SHORT`] bytes.
    #[inline]
    pub(crate) fn long_words(&self) -> Option<&[u64]> {
        if self.len <= SHORT {
            return None;
        }
        let words = if self.spilled.is_empty() {
            &self.words[..]
        } else {
            &self.spilled[..]
        };
        Some(&words[..self.len.div_ceil(8)])
    }

    /// The name as a string.
    pub(crate) fn to_name(&self) -> String {
        let short;
        let words = match self.long_words() {
            Some(words) => words,
            None => {
                short = self.short_image();
                &short[..]
            }
        };
        let bytes: Vec<u8> = words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .take(self.len)
            .collect();
        // Only whole `&str`s and ASCII digits are ever appended.
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl fmt::Write for KeyBuffer {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

impl fmt::Debug for KeyBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_name(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of `bytes` the slow way: zero-padded to whole words, read as little-endian.
    fn reference(bytes: &[u8]) -> Vec<u64> {
        bytes
            .chunks(8)
            .map(|chunk| {
                let mut word = [0; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                u64::from_le_bytes(word)
            })
            .collect()
    }

    /// `chars` characters, some of them multi-byte, so that pieces end at every offset in a word.
    fn text(chars: usize) -> String {
        "hé-ß.0123456789abcdefghijklmnopqrstuvwxyz"
            .chars()
            .cycle()
            .take(chars)
            .collect()
    }

    fn buffer_words(key: &KeyBuffer) -> Vec<u64> {
        match key.long_words() {
            Some(words) => words.to_vec(),
            None => {
                let short = key.short_words().expect("short or long");
                short[..key.len().div_ceil(8)].to_vec()
            }
        }
    }

    #[test]
    fn words_read_every_length_like_the_reference() {
        for len in 0..=64 {
            let name = text(len);
            let bytes = name.as_bytes();
            assert_eq!(
                words(bytes).collect::<Vec<_>>(),
                reference(bytes),
                "{name:?}"
            );
            match short_words(bytes) {
                Some(short) => {
                    assert!(bytes.len() <= SHORT);
                    let mut expected = reference(bytes);
                    expected.resize(3, 0);
                    assert_eq!(short[..], expected[..], "{name:?}");
                }
                None => assert!(bytes.len() > SHORT),
            }
        }
    }

    #[test]
    fn a_key_assembled_in_pieces_has_the_words_of_the_whole_name() {
        for len in 0..=150 {
            let name = text(len);
            // Every split into three pieces at character boundaries, for short names; a few for
            // long ones.
            let bounds: Vec<usize> = (0..=name.len())
                .filter(|&i| name.is_char_boundary(i))
                .collect();
            let step = if name.len() > 30 { 7 } else { 1 };
            for &i in bounds.iter().step_by(step) {
                for &j in bounds.iter().filter(|&&j| j >= i).step_by(step) {
                    let mut key = KeyBuffer::new();
                    key.push_str(&name[..i]);
                    key.push_str(&name[i..j]);
                    key.push_str(&name[j..]);
                    assert_eq!(key.len(), name.len());
                    assert_eq!(
                        buffer_words(&key),
                        reference(name.as_bytes()),
                        "{name:?} {i} {j}"
                    );
                    assert_eq!(key.to_name(), name);
                }
            }
        }
    }

    #[test]
    fn integers_are_written_as_display_writes_them() {
        let values = [
            0,
            7,
            10,
            417,
            9_999_999,
            99_999_999,
            100_000_000,
            9_999_999_999_999_999,
            10_000_000_000_000_000,
            10_000_000_000_000_005,
            u64::MAX,
        ];
        for n in values {
            for prefix in ["", "k:", "a-longer-prefix-for-keys:"] {
                let mut key = KeyBuffer::new();
                key.push_str(prefix);
                key.push_decimal(false, n);
                assert_eq!(key.to_name(), format!("{prefix}{n}"));
                let mut key = KeyBuffer::new();
                key.push_str(prefix);
                key.push_decimal(true, n);
                assert_eq!(key.to_name(), format!("{prefix}-{n}"));
            }
        }
    }

    #[test]
    fn formatted_pieces_append_like_strings() {
        let mut key = KeyBuffer::new();
        key.push_fmt(format_args!("http:{}:{}", "a.example", 8080));
        key.push_fmt(format_args!("/x"));
        assert_eq!(key.to_name(), "http:a.example:8080/x");
        assert_eq!(format!("{key:?}"), "\"http:a.example:8080/x\"");
    }
}
