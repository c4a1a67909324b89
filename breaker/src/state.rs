//! The state machine's single word.
//!
//! Everything a call needs to decide whether it may run lives in one `AtomicU64`, so admission in
//! the closed state is one load and most outcomes are one compare-and-swap. Layout, low bits first:
//!
//! | bits  | field     | meaning                                                              |
//! |-------|-----------|----------------------------------------------------------------------|
//! | 0-2   | mode      | closed, open, half-open, forced open, disabled, recovering           |
//! | 3-23  | count     | closed: the policy's failure counter; half-open: trial successes     |
//! | 24-39 | in flight | half-open: trial calls admitted and not finished                     |
//! | 40-63 | generation| bumped by every transition, so late outcomes of an earlier state are dropped |
//!
//! The generation wraps after 16.7 million transitions; an outcome would have to arrive exactly
//! that many transitions late to be mistaken for a current one.

use std::fmt;

/// The state of a breaker, as reported by [`Breaker::state`](crate::Breaker::state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Calls pass; failures are counted.
    Closed,
    /// Calls are rejected until the cooldown is over.
    Open,
    /// The cooldown is over: a few trial calls decide whether to close or re-open.
    HalfOpen,
    /// Opened by an operator: calls are rejected until [`close`](crate::Breaker::close).
    ForcedOpen,
    /// Switched off by an operator: every call passes and nothing trips it until
    /// [`close`](crate::Breaker::close).
    Disabled,
    /// The trials succeeded and the breaker is ramping up (`ramp_up`): it admits a share of calls
    /// that grows from 10 % to 100 %, and the failure policy still applies.
    Recovering,
}

impl State {
    /// The lower-case name used in reports and events: `closed`, `open`, `half-open`,
    /// `forced-open`, `disabled`, `recovering`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced-open",
            State::Disabled => "disabled",
            State::Recovering => "recovering",
        }
    }

    /// Whether calls are currently turned away (open or forced open).
    pub fn is_open(self) -> bool {
        matches!(self, State::Open | State::ForcedOpen)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The stored mode. It differs from [`State`] in one way: a stored `Open` whose cooldown is over
/// reads as [`State::HalfOpen`] without anyone writing, because nothing runs a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
    ForcedOpen = 3,
    Disabled = 4,
    Recovering = 5,
}

impl Mode {
    fn from_bits(bits: u64) -> Mode {
        match bits {
            0 => Mode::Closed,
            1 => Mode::Open,
            2 => Mode::HalfOpen,
            3 => Mode::ForcedOpen,
            4 => Mode::Disabled,
            _ => Mode::Recovering,
        }
    }

    /// Whether outcomes in this mode feed the failure policy.
    pub(crate) fn counts_outcomes(self) -> bool {
        matches!(self, Mode::Closed | Mode::Recovering)
    }

    pub(crate) fn state(self) -> State {
        match self {
            Mode::Closed => State::Closed,
            Mode::Open => State::Open,
            Mode::HalfOpen => State::HalfOpen,
            Mode::ForcedOpen => State::ForcedOpen,
            Mode::Disabled => State::Disabled,
            Mode::Recovering => State::Recovering,
        }
    }
}

const MODE_MASK: u64 = 0b111;
const COUNT_SHIFT: u32 = 3;
const COUNT_BITS: u32 = 21;
const IN_FLIGHT_SHIFT: u32 = 24;
const IN_FLIGHT_BITS: u32 = 16;
const GEN_SHIFT: u32 = 40;
const GEN_BITS: u32 = 24;

/// The largest value the count field holds; settings that feed it are validated against it.
pub(crate) const MAX_COUNT: u32 = (1 << COUNT_BITS) - 1;
/// The largest number of concurrent half-open trials.
pub(crate) const MAX_IN_FLIGHT: u32 = (1 << IN_FLIGHT_BITS) - 1;
pub(crate) const GEN_MASK: u32 = (1 << GEN_BITS) - 1;

/// How many generations `generation` comes after `earlier`, modulo the field's width: under
/// half of it, `generation` is not the older of the two.
pub(crate) fn generations_since(generation: u32, earlier: u32) -> u32 {
    generation.wrapping_sub(earlier) & GEN_MASK
}

/// One decoded value of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    /// A fresh word in `mode` at `generation`, with zero count and nothing in flight.
    pub(crate) fn new(mode: Mode, generation: u32) -> Word {
        Word(mode as u64 | (u64::from(generation & GEN_MASK) << GEN_SHIFT))
    }

    /// The closed word of this generation with no failure count: where a success changes
    /// nothing.
    #[inline(always)]
    pub(crate) fn settled(self) -> Word {
        Word(self.0 & !((1 << GEN_SHIFT) - 1))
    }

    /// Whether the word is in `mode`, comparing the bits without decoding them.
    #[inline(always)]
    pub(crate) fn is(self, mode: Mode) -> bool {
        self.0 & MODE_MASK == mode as u64
    }

    pub(crate) fn mode(self) -> Mode {
        Mode::from_bits(self.0 & MODE_MASK)
    }

    pub(crate) fn generation(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32 & GEN_MASK
    }

    pub(crate) fn count(self) -> u32 {
        (self.0 >> COUNT_SHIFT) as u32 & MAX_COUNT
    }

    pub(crate) fn in_flight(self) -> u32 {
        (self.0 >> IN_FLIGHT_SHIFT) as u32 & MAX_IN_FLIGHT
    }

    /// The same word with the count replaced (saturating at the field's width).
    pub(crate) fn with_count(self, count: u32) -> Word {
        let count = u64::from(count.min(MAX_COUNT));
        Word((self.0 & !(u64::from(MAX_COUNT) << COUNT_SHIFT)) | (count << COUNT_SHIFT))
    }

    /// The same word with the in-flight trials replaced (saturating at the field's width).
    pub(crate) fn with_in_flight(self, in_flight: u32) -> Word {
        let in_flight = u64::from(in_flight.min(MAX_IN_FLIGHT));
        Word(
            (self.0 & !(u64::from(MAX_IN_FLIGHT) << IN_FLIGHT_SHIFT))
                | (in_flight << IN_FLIGHT_SHIFT),
        )
    }

    /// The first word of the next state: `mode`, the generation bumped, counters zeroed.
    pub(crate) fn next(self, mode: Mode) -> Word {
        Word::new(mode, self.generation().wrapping_add(1))
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Word")
            .field("mode", &self.mode())
            .field("count", &self.count())
            .field("in_flight", &self.in_flight())
            .field("generation", &self.generation())
            .finish()
    }
}

/// When the current open period ends, tagged with the generation that opened it.
///
/// It is written before the word that announces the open state, so a reader that sees an open
/// word and a deadline of another generation knows it raced a transition and reads again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Deadline(pub(crate) u64);

const DEADLINE_MILLIS_BITS: u32 = 40;
const DEADLINE_MILLIS_MASK: u64 = (1 << DEADLINE_MILLIS_BITS) - 1;

impl Deadline {
    /// `until_nanos` is rounded down to the millisecond, so the time left never exceeds the
    /// cooldown; 40 bits of milliseconds last 34 years.
    pub(crate) fn new(generation: u32, until_nanos: u64) -> Deadline {
        let millis = (until_nanos / 1_000_000).min(DEADLINE_MILLIS_MASK);
        Deadline(millis | (u64::from(generation & GEN_MASK) << DEADLINE_MILLIS_BITS))
    }

    pub(crate) fn generation(self) -> u32 {
        (self.0 >> DEADLINE_MILLIS_BITS) as u32 & GEN_MASK
    }

    pub(crate) fn until_nanos(self) -> u64 {
        (self.0 & DEADLINE_MILLIS_MASK) * 1_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let w = Word::new(Mode::HalfOpen, GEN_MASK)
            .with_count(MAX_COUNT)
            .with_in_flight(MAX_IN_FLIGHT);
        assert_eq!(w.mode(), Mode::HalfOpen);
        assert_eq!(w.count(), MAX_COUNT);
        assert_eq!(w.in_flight(), MAX_IN_FLIGHT);
        assert_eq!(w.generation(), GEN_MASK);
        let w = w.with_count(7).with_in_flight(3);
        assert_eq!((w.count(), w.in_flight(), w.generation()), (7, 3, GEN_MASK));
        assert_eq!(w.mode(), Mode::HalfOpen);
    }

    #[test]
    fn next_bumps_the_generation_and_wraps() {
        let w = Word::new(Mode::Closed, GEN_MASK).with_count(4);
        let n = w.next(Mode::Open);
        assert_eq!((n.mode(), n.generation(), n.count()), (Mode::Open, 0, 0));
    }

    #[test]
    fn counts_saturate_instead_of_spilling_into_other_fields() {
        let w = Word::new(Mode::Closed, 5).with_count(u32::MAX);
        assert_eq!(
            (w.count(), w.in_flight(), w.generation()),
            (MAX_COUNT, 0, 5)
        );
    }

    #[test]
    fn deadline_rounds_down_to_the_millisecond() {
        let d = Deadline::new(9, 1_999_999);
        assert_eq!((d.generation(), d.until_nanos()), (9, 1_000_000));
    }
}
