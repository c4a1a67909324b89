//! The breaker against a plain reference model of the state machine, over random sequences of
//! calls, held permits finishing late, time passing and operator actions.

use std::time::Duration;

use breaker::clock::ManualClock;
use breaker::{Breaker, Error, Outcome, Permit, State};
use proptest::prelude::*;

const MAX_FAILURES: u32 = 3;
const COOLDOWN_MS: u64 = 100;
const HALF_OPEN_CALLS: u32 = 2;
const SUCCESS_THRESHOLD: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Closed { failures: u32 },
    Open { until: u64 },
    HalfOpen { in_flight: u32, successes: u32 },
    ForcedOpen,
    Disabled,
}

#[derive(Debug, Clone, Copy)]
struct Ticket {
    generation: u64,
    half_open: bool,
}

/// What the spec says, written as directly as possible.
struct Model {
    mode: Mode,
    generation: u64,
    now: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rejection {
    Open,
    Full,
    Forced,
}

impl Model {
    fn enter(&mut self, mode: Mode) {
        self.generation += 1;
        self.mode = mode;
    }

    fn trip(&mut self) {
        let until = self.now + COOLDOWN_MS;
        self.enter(Mode::Open { until });
    }

    fn acquire(&mut self) -> Result<Ticket, Rejection> {
        let ticket = |generation, half_open| Ticket {
            generation,
            half_open,
        };
        match self.mode {
            Mode::Closed { .. } | Mode::Disabled => Ok(ticket(self.generation, false)),
            Mode::ForcedOpen => Err(Rejection::Forced),
            Mode::Open { until } if self.now < until => Err(Rejection::Open),
            Mode::Open { .. } => {
                self.enter(Mode::HalfOpen {
                    in_flight: 1,
                    successes: 0,
                });
                Ok(ticket(self.generation, true))
            }
            Mode::HalfOpen { in_flight, .. } if in_flight >= HALF_OPEN_CALLS => {
                Err(Rejection::Full)
            }
            Mode::HalfOpen {
                in_flight,
                successes,
            } => {
                self.mode = Mode::HalfOpen {
                    in_flight: in_flight + 1,
                    successes,
                };
                Ok(ticket(self.generation, true))
            }
        }
    }

    fn finish(&mut self, ticket: Ticket, outcome: Outcome) {
        if ticket.generation != self.generation {
            return;
        }
        match (self.mode, ticket.half_open, outcome) {
            (Mode::Closed { .. }, false, Outcome::Success) => {
                self.mode = Mode::Closed { failures: 0 };
            }
            (Mode::Closed { failures }, false, Outcome::Failure) => {
                if failures + 1 >= MAX_FAILURES {
                    self.trip();
                } else {
                    self.mode = Mode::Closed {
                        failures: failures + 1,
                    };
                }
            }
            (
                Mode::HalfOpen {
                    in_flight,
                    successes,
                },
                true,
                outcome,
            ) => match outcome {
                Outcome::Success if successes + 1 >= SUCCESS_THRESHOLD => {
                    self.enter(Mode::Closed { failures: 0 });
                }
                Outcome::Success => {
                    self.mode = Mode::HalfOpen {
                        in_flight: in_flight - 1,
                        successes: successes + 1,
                    };
                }
                Outcome::Failure => self.trip(),
                _ => {
                    self.mode = Mode::HalfOpen {
                        in_flight: in_flight - 1,
                        successes,
                    };
                }
            },
            _ => {}
        }
    }

    fn state(&self) -> State {
        match self.mode {
            Mode::Closed { .. } => State::Closed,
            Mode::Open { until } if self.now < until => State::Open,
            Mode::Open { .. } | Mode::HalfOpen { .. } => State::HalfOpen,
            Mode::ForcedOpen => State::ForcedOpen,
            Mode::Disabled => State::Disabled,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Call(Outcome),
    Hold,
    Finish(usize, Outcome),
    DropHeld(usize),
    Advance(u64),
    Open,
    Close,
    HalfOpen,
    ForceOpen,
    Disable,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Success),
        3 => Just(Outcome::Failure),
        1 => Just(Outcome::Neutral),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => outcome().prop_map(Op::Call),
        2 => Just(Op::Hold),
        2 => (any::<usize>(), outcome()).prop_map(|(i, o)| Op::Finish(i, o)),
        1 => any::<usize>().prop_map(Op::DropHeld),
        3 => (0..=150u64).prop_map(Op::Advance),
        1 => Just(Op::Open),
        1 => Just(Op::Close),
        1 => Just(Op::HalfOpen),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
    ]
}

fn rejection(error: &Error) -> Rejection {
    match error {
        Error::Open { .. } => Rejection::Open,
        Error::HalfOpenFull { .. } => Rejection::Full,
        Error::ForcedOpen { .. } => Rejection::Forced,
        other => panic!("unexpected error {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn breaker_follows_the_reference_model(ops in prop::collection::vec(op(), 1..80)) {
        let clock = ManualClock::new();
        let breaker = Breaker::builder("model")
            .max_failures(MAX_FAILURES)
            .cooldown(Duration::from_millis(COOLDOWN_MS))
            .half_open_calls(HALF_OPEN_CALLS)
            .success_threshold(SUCCESS_THRESHOLD)
            .clock(clock.clone())
            .build()
            .unwrap();
        let mut model = Model { mode: Mode::Closed { failures: 0 }, generation: 0, now: 0 };
        let mut held: Vec<(Permit<'_>, Ticket)> = Vec::new();
        for op in ops {
            match op {
                Op::Call(outcome) => {
                    let expected = model.acquire();
                    match (breaker.acquire(), expected) {
                        (Ok(permit), Ok(ticket)) => {
                            permit.outcome(outcome);
                            model.finish(ticket, outcome);
                        }
                        (Err(err), Err(rejected)) => prop_assert_eq!(rejection(&err), rejected),
                        (got, want) => prop_assert!(false, "acquire: got {:?}, model {:?}", got.map(drop), want),
                    }
                }
                Op::Hold => match (breaker.acquire(), model.acquire()) {
                    (Ok(permit), Ok(ticket)) => held.push((permit, ticket)),
                    (Err(err), Err(rejected)) => prop_assert_eq!(rejection(&err), rejected),
                    (got, want) => prop_assert!(false, "hold: got {:?}, model {:?}", got.map(drop), want),
                },
                Op::Finish(i, outcome) if !held.is_empty() => {
                    let (permit, ticket) = held.remove(i % held.len());
                    permit.outcome(outcome);
                    model.finish(ticket, outcome);
                }
                Op::DropHeld(i) if !held.is_empty() => {
                    let (permit, ticket) = held.remove(i % held.len());
                    drop(permit);
                    model.finish(ticket, Outcome::Neutral);
                }
                Op::Finish(..) | Op::DropHeld(_) => {}
                Op::Advance(ms) => {
                    clock.advance(Duration::from_millis(ms));
                    model.now += ms;
                }
                Op::Open => { breaker.open(); model.trip(); }
                Op::Close => { breaker.close(); model.enter(Mode::Closed { failures: 0 }); }
                Op::HalfOpen => {
                    breaker.half_open();
                    model.enter(Mode::HalfOpen { in_flight: 0, successes: 0 });
                }
                Op::ForceOpen => { breaker.force_open(); model.enter(Mode::ForcedOpen); }
                Op::Disable => { breaker.disable(); model.enter(Mode::Disabled); }
            }
            prop_assert_eq!(breaker.state(), model.state());
            if let Mode::Closed { failures } = model.mode {
                prop_assert_eq!(breaker.failure_count(), u64::from(failures));
            }
            if let Mode::Open { until } = model.mode && model.now < until {
                prop_assert_eq!(breaker.retry_after(), Some(Duration::from_millis(until - model.now)));
            }
        }
    }
}
