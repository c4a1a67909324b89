//! Compile-time parsing of duration strings such as `"250ms"`, `"30s"` or `"1m30s"`.
//!
//! The grammar is deliberately small: one or more `<digits><unit>` pairs, units `h`, `m`, `s`
//! and `ms`, each unit at most once and from largest to smallest. Anything else is rejected
//! with a message that says how to write it instead, because a typo in a cooldown should be
//! a compile error, not a surprise in production.

const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000 * NANOS_PER_MILLI;

/// The units we accept, largest first. The order is the order they must appear in.
const UNITS: [(&str, u64); 4] = [
    ("h", 3_600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", NANOS_PER_MILLI),
];

/// Parses a duration string into nanoseconds.
///
/// The error is a complete sentence meant to be shown to the user under the literal.
pub(crate) fn parse_nanos(text: &str) -> Result<u64, String> {
    if text.trim().is_empty() {
        return Err(r#"empty duration; write a number and a unit, e.g. "30s" or "250ms""#.into());
    }
    let mut rest = text;
    let mut total: u64 = 0;
    // Index into `UNITS` of the last unit seen, so a repeated or out-of-order unit is caught.
    let mut last_unit: Option<usize> = None;

    while !rest.is_empty() {
        let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (digits, after_digits) = rest.split_at(digits_len);
        let unit_len = after_digits
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        let (unit, after_unit) = after_digits.split_at(unit_len);

        if digits.is_empty() {
            return Err(match after_digits.chars().next() {
                Some(c) if c.is_whitespace() => {
                    r#"spaces are not allowed in a duration; write e.g. "1m30s""#.into()
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    format!(r#"expected a number before `{unit}`, e.g. "30{unit}""#)
                }
                Some('-') => "a duration cannot be negative".into(),
                Some(c) => format!("unexpected `{c}` in duration; expected a number"),
                None => unreachable_empty(),
            });
        }
        if unit.is_empty() {
            return Err(match after_digits.chars().next() {
                Some('.' | ',') => format!(
                    r#"fractions are not supported in `{text}`; combine units instead, e.g. "1s500ms""#
                ),
                Some(c) if c.is_whitespace() => {
                    r#"spaces are not allowed in a duration; write e.g. "1m30s""#.into()
                }
                Some(c) => {
                    format!("unexpected `{c}` after `{digits}`; expected a unit (h, m, s or ms)")
                }
                None => format!(
                    r#"missing unit after `{digits}`; write e.g. "{digits}s" or "{digits}ms" (units: h, m, s, ms)"#
                ),
            });
        }

        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(unknown_unit(unit));
        };
        if let Some(last) = last_unit {
            if index == last {
                return Err(format!(
                    "the unit `{unit}` appears more than once in `{text}`"
                ));
            }
            if index < last {
                return Err(format!(
                    r#"units in `{text}` must go from largest to smallest (h, m, s, ms), e.g. "1h2m3s4ms""#
                ));
            }
        }
        last_unit = Some(index);

        let too_long = || format!("the duration `{text}` is too long; it must be under 584 years");
        let value: u64 = digits.parse().map_err(|_| too_long())?;
        let nanos = value.checked_mul(UNITS[index].1).ok_or_else(too_long)?;
        total = total.checked_add(nanos).ok_or_else(too_long)?;
        rest = after_unit;
    }

    if total == 0 {
        return Err(format!(
            r#"the duration `{text}` is zero; it must be greater than zero, e.g. "30s""#
        ));
    }
    Ok(total)
}

/// Writes nanoseconds the way `parse_nanos` reads them, e.g. `"1m30s"`; for messages.
pub(crate) fn format_nanos(nanos: u64) -> String {
    let mut rest = nanos;
    let mut text = String::new();
    for (unit, size) in UNITS {
        let count = rest / size;
        rest %= size;
        if count > 0 {
            text.push_str(&format!("{count}{unit}"));
        }
    }
    if text.is_empty() || rest > 0 {
        // Below a millisecond: not writable as a key, but a message must still say something.
        text = format!("{:?}", std::time::Duration::from_nanos(nanos));
    }
    text
}

/// The loop only runs while `rest` is non-empty and digits were empty, so the next char exists.
/// Kept as a message rather than a panic: a macro must never panic on user input.
fn unreachable_empty() -> String {
    "unexpected end of duration".into()
}

fn unknown_unit(unit: &str) -> String {
    let hint = match unit {
        "sec" | "secs" | "second" | "seconds" | "S" => " (did you mean `s`?)",
        "min" | "mins" | "minute" | "minutes" | "M" => " (did you mean `m`?)",
        "hr" | "hrs" | "hour" | "hours" | "H" => " (did you mean `h`?)",
        "msec" | "msecs" | "millis" | "MS" | "Ms" => " (did you mean `ms`?)",
        "d" | "day" | "days" => " (write days as hours, e.g. \"24h\")",
        "us" | "ns" | "µs" => " (the smallest unit is `ms`)",
        _ => "",
    };
    format!("unknown unit `{unit}`{hint}; use h, m, s or ms, e.g. \"1m30s\"")
}

#[cfg(test)]
mod tests {
    use super::{NANOS_PER_MILLI, NANOS_PER_SEC, format_nanos, parse_nanos};

    fn err(text: &str) -> String {
        match parse_nanos(text) {
            Ok(nanos) => panic!("{text:?} parsed as {nanos}ns, expected an error"),
            Err(message) => message,
        }
    }

    #[test]
    fn single_units() {
        assert_eq!(parse_nanos("250ms"), Ok(250 * NANOS_PER_MILLI));
        assert_eq!(parse_nanos("30s"), Ok(30 * NANOS_PER_SEC));
        assert_eq!(parse_nanos("5m"), Ok(300 * NANOS_PER_SEC));
        assert_eq!(parse_nanos("1h"), Ok(3_600 * NANOS_PER_SEC));
    }

    #[test]
    fn combined_units() {
        assert_eq!(parse_nanos("1m30s"), Ok(90 * NANOS_PER_SEC));
        assert_eq!(
            parse_nanos("1h2m3s4ms"),
            Ok(3_723 * NANOS_PER_SEC + 4 * NANOS_PER_MILLI)
        );
        // A zero component is fine as long as the total is not zero.
        assert_eq!(parse_nanos("0m30s"), Ok(30 * NANOS_PER_SEC));
        // Values above a unit's natural range are accepted, like "90s".
        assert_eq!(parse_nanos("90s"), Ok(90 * NANOS_PER_SEC));
        assert_eq!(parse_nanos("1500ms"), Ok(1_500 * NANOS_PER_MILLI));
    }

    #[test]
    fn rejects_empty() {
        assert!(err("").contains("empty duration"));
        assert!(err("   ").contains("empty duration"));
    }

    #[test]
    fn rejects_zero() {
        assert!(err("0s").contains("is zero"));
        assert!(err("0h0m0s0ms").contains("is zero"));
    }

    #[test]
    fn rejects_unknown_units() {
        assert!(err("30x").contains("unknown unit `x`"));
        assert!(err("30secs").contains("did you mean `s`?"));
        assert!(err("2d").contains("24h"));
        assert!(err("10us").contains("smallest unit is `ms`"));
        assert!(err("30S").contains("did you mean `s`?"));
    }

    #[test]
    fn rejects_missing_pieces() {
        assert!(err("30").contains("missing unit after `30`"));
        assert!(err("1m30").contains("missing unit after `30`"));
        assert!(err("s").contains("expected a number before `s`"));
        assert!(err("-5s").contains("negative"));
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(err("1.5s").contains("fractions"));
        assert!(err("1m 30s").contains("spaces"));
        assert!(err(" 30s").contains("spaces"));
        assert!(err("30s ").contains("spaces"));
        assert!(err("30s1m").contains("largest to smallest"));
        assert!(err("1s2s").contains("more than once"));
        assert!(err("1_000ms").contains("unexpected `_`"));
    }

    #[test]
    fn formats_what_it_parses() {
        for text in ["250ms", "30s", "1m30s", "1h2m3s4ms", "2h"] {
            assert_eq!(parse_nanos(text).map(format_nanos).as_deref(), Ok(text));
        }
        assert_eq!(format_nanos(90 * NANOS_PER_SEC), "1m30s");
        assert_eq!(format_nanos(1), "1ns");
    }

    #[test]
    fn rejects_overflow() {
        assert!(err("99999999999999999999999s").contains("too long"));
        assert!(err("18446744073709551615h").contains("too long"));
        // Each part fits, the sum does not.
        assert!(err("5000000h5000000000s").contains("too long"));
        // The largest value that fits still parses.
        assert_eq!(
            parse_nanos("18446744073ms"),
            Ok(18_446_744_073 * NANOS_PER_MILLI)
        );
    }
}
