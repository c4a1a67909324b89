//! A model-based test of the time-window failure and slow-call rates: random sequences of
//! outcomes, slow calls, clock moves, held permits and manual resets on a manual clock, checked
//! after every step against a reference that keeps every outcome of the current closed period
//! and counts the window from scratch. On one thread the window must agree exactly: the breaker
//! opens at the outcome that makes the window reach `min_calls` at a rate, and at no other.

use std::time::Duration;

use breaker::{Breaker, Permit, State, clock::ManualClock};
use proptest::prelude::*;

const WINDOW: Duration = Duration::from_secs(1);
/// A tenth of the window, in nanoseconds.
const BUCKET: u64 = 100_000_000;
/// Calls longer than this are slow.
const SLOW: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Success,
    Failure,
    /// Neither: an ignored error.
    Neutral,
}

#[derive(Debug, Clone)]
enum Op {
    /// Acquire and report at once.
    Call(Out),
    /// The same, so many times: runs of one outcome make the rate swing as buckets leave.
    Burst(Out, u8),
    /// A call that takes longer than `SLOW` (the clock moves during it).
    Slow(Out),
    /// Acquire and keep the permit.
    Hold,
    /// Report a held permit (index modulo the number held).
    Release(usize, Out),
    /// Move the clock, in milliseconds.
    Advance(u64),
    /// Open the breaker and close it again: a new closed period, with a fresh window.
    Reopen,
}

fn out() -> impl Strategy<Value = Out> {
    prop_oneof![
        6 => Just(Out::Success),
        3 => Just(Out::Failure),
        1 => Just(Out::Neutral),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => out().prop_map(Op::Call),
        3 => (out(), 2_u8..120).prop_map(|(o, n)| Op::Burst(o, n)),
        2 => out().prop_map(Op::Slow),
        2 => Just(Op::Hold),
        3 => (any::<usize>(), out()).prop_map(|(i, o)| Op::Release(i, o)),
        // Mostly within a bucket, sometimes across several, now and then past the window.
        4 => (0_u64..40).prop_map(Op::Advance),
        2 => (40_u64..400).prop_map(Op::Advance),
        1 => (400_u64..2_500).prop_map(Op::Advance),
        1 => Just(Op::Reopen),
    ]
}

/// The window in the reference: calls, failures and slow calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    calls: u64,
    failures: u64,
    slow: u64,
}

/// The reference: the counted outcomes of the current closed period.
struct Model {
    rate: f64,
    slow_rate: Option<f64>,
    min_calls: u64,
    now: u64,
    /// (time, failed, slow)
    outcomes: Vec<(u64, bool, bool)>,
    /// Bumped by every new closed period; a permit from an earlier one counts nothing.
    period: u64,
}

impl Model {
    /// The window that ends with the bucket of `now`.
    fn window(&self) -> Counts {
        let first = (self.now / BUCKET).saturating_sub(9);
        let inside = self.outcomes.iter().filter(|(t, ..)| t / BUCKET >= first);
        let mut counts = Counts {
            calls: 0,
            failures: 0,
            slow: 0,
        };
        for &(_, failed, slow) in inside {
            counts.calls += 1;
            counts.failures += u64::from(failed);
            counts.slow += u64::from(slow);
        }
        counts
    }

    fn trips(&self) -> bool {
        let w = self.window();
        let reaches = |hits: u64, rate: f64| hits as f64 >= rate * w.calls as f64;
        w.calls != 0
            && w.calls >= self.min_calls
            && (reaches(w.failures, self.rate)
                || self.slow_rate.is_some_and(|r| reaches(w.slow, r)))
    }

    /// Records an outcome of a permit from `period`; returns whether the breaker opens.
    fn record(&mut self, period: u64, out: Out, slow: bool) -> bool {
        if period != self.period || out == Out::Neutral {
            return false;
        }
        self.outcomes.push((self.now, out == Out::Failure, slow));
        self.trips()
    }

    fn new_period(&mut self) {
        self.outcomes.clear();
        self.period += 1;
    }
}

fn report(permit: Permit<'_>, out: Out) {
    match out {
        Out::Success => permit.success(),
        Out::Failure => permit.failure(),
        Out::Neutral => permit.neutral(),
    }
}

fn run(rate: f64, slow_rate: Option<f64>, min_calls: u32, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let mut builder = Breaker::builder("window-model")
        .clock(clock.clone())
        .failure_rate(rate)
        .window(WINDOW)
        .min_calls(min_calls)
        .cooldown(Duration::from_secs(3_600));
    if let Some(slow_rate) = slow_rate {
        builder = builder.slow_call(SLOW).slow_rate(slow_rate);
    }
    let breaker = builder.build().expect("valid settings");
    let mut model = Model {
        rate,
        slow_rate,
        min_calls: u64::from(min_calls),
        now: 0,
        outcomes: Vec::new(),
        period: 0,
    };
    // Each held permit with its closed period and the time it was taken.
    let mut held: Vec<(Permit<'_>, u64, u64)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let opened = match *op {
            Op::Call(out) => {
                report(breaker.acquire().expect("closed"), out);
                model.record(model.period, out, false)
            }
            Op::Slow(out) => {
                let permit = breaker.acquire().expect("closed");
                let took = SLOW + Duration::from_millis(10);
                clock.advance(took);
                model.now += took.as_nanos() as u64;
                report(permit, out);
                // Slow only where slow calls are measured.
                model.record(model.period, out, slow_rate.is_some())
            }
            Op::Burst(out, n) => {
                let mut opened = false;
                for _ in 0..n {
                    report(breaker.acquire().expect("closed"), out);
                    if model.record(model.period, out, false) {
                        opened = true;
                        break;
                    }
                    prop_assert_eq!(breaker.state(), State::Closed, "step {}: {:?}", step, op);
                }
                opened
            }
            Op::Hold => {
                held.push((breaker.acquire().expect("closed"), model.period, model.now));
                false
            }
            Op::Release(i, out) => {
                if held.is_empty() {
                    continue;
                }
                let (permit, period, taken) = held.swap_remove(i % held.len());
                report(permit, out);
                let slow = slow_rate.is_some() && model.now - taken > SLOW.as_nanos() as u64;
                model.record(period, out, slow)
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(ms));
                model.now += ms * 1_000_000;
                false
            }
            Op::Reopen => {
                breaker.open();
                breaker.close();
                model.new_period();
                false
            }
        };
        let window = model.window();
        let expected = if opened { State::Open } else { State::Closed };
        prop_assert_eq!(
            breaker.state(),
            expected,
            "step {}: {:?}, window {:?}",
            step,
            op,
            window
        );
        if opened {
            // Start a new closed period, so that every step is checked while closed.
            breaker.close();
            model.new_period();
        } else {
            prop_assert_eq!(
                breaker.failure_count(),
                window.failures,
                "step {}: {:?}",
                step,
                op
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_time_window_follows_the_model(
        rate in 0.05_f64..=1.0,
        slow_rate in proptest::option::of(0.05_f64..=1.0),
        min_calls in 1_u32..25,
        ops in prop::collection::vec(op(), 1..150),
    ) {
        run(rate, slow_rate, min_calls, &ops)?;
    }
}
