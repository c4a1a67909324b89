//! A model-based test: random sequences of calls, held permits, clock moves and manual
//! controls, on a manual clock, checked step by step against a small reference model of the
//! specified state machine (counts, cooldown, half-open slots, generations).

use std::time::Duration;

use breaker::{Breaker, Permit, State, clock::ManualClock};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Success,
    Failure,
    Neutral,
    /// The permit is dropped unreported.
    Drop,
}

#[derive(Debug, Clone)]
enum Op {
    /// Acquire and report at once.
    Call(Out),
    /// Acquire and keep the permit.
    Hold,
    /// Report a held permit (index modulo the number held).
    Release(usize, Out),
    /// Move the clock, in milliseconds.
    Advance(u64),
    Open,
    Close,
    HalfOpen,
    ForceOpen,
    Disable,
}

fn out() -> impl Strategy<Value = Out> {
    prop_oneof![
        4 => Just(Out::Success),
        4 => Just(Out::Failure),
        1 => Just(Out::Neutral),
        1 => Just(Out::Drop),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => out().prop_map(Op::Call),
        3 => Just(Op::Hold),
        4 => (any::<usize>(), out()).prop_map(|(i, o)| Op::Release(i, o)),
        6 => (0_u64..40).prop_map(Op::Advance),
        1 => Just(Op::Open),
        1 => Just(Op::Close),
        1 => Just(Op::HalfOpen),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
    ]
}

#[derive(Debug, Clone, Copy)]
struct Config {
    max_failures: u32,
    cooldown_ms: u64,
    trials: u32,
    threshold: u32,
}

fn config() -> impl Strategy<Value = Config> {
    (1_u32..4, 1_u64..30, 1_u32..4, 1_u32..4).prop_map(
        |(max_failures, cooldown_ms, trials, threshold)| Config {
            max_failures,
            cooldown_ms,
            trials,
            threshold,
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Closed { failures: u32 },
    Open { until: u64 },
    HalfOpen { successes: u32, in_flight: u32 },
    Forced,
    Disabled,
}

/// What an admission returned, in both worlds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    Yes,
    Open(Duration),
    Full,
    Forced,
}

/// The state machine as the spec describes it.
#[derive(Debug)]
struct Model {
    cfg: Config,
    now: u64,
    mode: Mode,
    /// Bumped by every transition; outcomes of an earlier generation change nothing.
    generation: u64,
    totals: [u64; 4], // successes, failures, rejections, neutral
}

impl Model {
    fn new(cfg: Config) -> Model {
        Model {
            cfg,
            now: 0,
            mode: Mode::Closed { failures: 0 },
            generation: 0,
            totals: [0; 4],
        }
    }

    fn enter(&mut self, mode: Mode) {
        self.mode = mode;
        self.generation += 1;
    }

    fn trip(&mut self) {
        self.enter(Mode::Open {
            until: self.now + self.cfg.cooldown_ms,
        });
    }

    fn state(&self) -> State {
        match self.mode {
            Mode::Closed { .. } => State::Closed,
            Mode::Open { until } if self.now >= until => State::HalfOpen,
            Mode::Open { .. } => State::Open,
            Mode::HalfOpen { .. } => State::HalfOpen,
            Mode::Forced => State::ForcedOpen,
            Mode::Disabled => State::Disabled,
        }
    }

    fn failure_count(&self) -> u64 {
        match self.mode {
            Mode::Closed { failures } => u64::from(failures),
            _ => 0,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self.mode {
            Mode::Open { until } if self.now < until => {
                Some(Duration::from_millis(until - self.now))
            }
            _ => None,
        }
    }

    /// Admits a call; `Some(generation)` is its ticket.
    fn acquire(&mut self) -> (Admit, Option<u64>) {
        let admit = match self.mode {
            Mode::Closed { .. } | Mode::Disabled => Admit::Yes,
            Mode::Forced => Admit::Forced,
            Mode::Open { until } if self.now < until => {
                Admit::Open(Duration::from_millis(until - self.now))
            }
            Mode::Open { .. } => {
                self.enter(Mode::HalfOpen {
                    successes: 0,
                    in_flight: 1,
                });
                Admit::Yes
            }
            Mode::HalfOpen { in_flight, .. } if in_flight >= self.cfg.trials => Admit::Full,
            Mode::HalfOpen {
                successes,
                in_flight,
            } => {
                self.mode = Mode::HalfOpen {
                    successes,
                    in_flight: in_flight + 1,
                };
                Admit::Yes
            }
        };
        if admit == Admit::Yes {
            (admit, Some(self.generation))
        } else {
            self.totals[2] += 1;
            (admit, None)
        }
    }

    fn complete(&mut self, ticket: u64, out: Out) {
        let current = ticket == self.generation;
        match out {
            Out::Success => {
                self.totals[0] += 1;
                match self.mode {
                    Mode::Closed { .. } if current => self.mode = Mode::Closed { failures: 0 },
                    Mode::HalfOpen {
                        successes,
                        in_flight,
                    } if current => {
                        if successes + 1 >= self.cfg.threshold {
                            self.enter(Mode::Closed { failures: 0 });
                        } else {
                            self.mode = Mode::HalfOpen {
                                successes: successes + 1,
                                in_flight: in_flight - 1,
                            };
                        }
                    }
                    _ => {}
                }
            }
            Out::Failure => {
                self.totals[1] += 1;
                match self.mode {
                    Mode::Closed { failures } if current => {
                        if failures + 1 >= self.cfg.max_failures {
                            self.trip();
                        } else {
                            self.mode = Mode::Closed {
                                failures: failures + 1,
                            };
                        }
                    }
                    Mode::HalfOpen { .. } if current => self.trip(),
                    _ => {}
                }
            }
            Out::Neutral | Out::Drop => {
                self.totals[3] += 1;
                if let Mode::HalfOpen {
                    successes,
                    in_flight,
                } = self.mode
                    && current
                {
                    self.mode = Mode::HalfOpen {
                        successes,
                        in_flight: in_flight - 1,
                    };
                }
            }
        }
    }
}

fn report(permit: Permit<'_>, out: Out) {
    match out {
        Out::Success => permit.success(),
        Out::Failure => permit.failure(),
        Out::Neutral => permit.neutral(),
        Out::Drop => drop(permit),
    }
}

fn admit_of(result: &Result<Permit<'_>, breaker::Error>) -> Admit {
    match result {
        Ok(_) => Admit::Yes,
        Err(breaker::Error::Open { retry_after, .. }) => Admit::Open(*retry_after),
        Err(breaker::Error::HalfOpenFull { .. }) => Admit::Full,
        Err(breaker::Error::ForcedOpen { .. }) => Admit::Forced,
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

fn run(cfg: Config, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let breaker = Breaker::builder("model")
        .max_failures(cfg.max_failures)
        .cooldown(Duration::from_millis(cfg.cooldown_ms))
        .half_open_calls(cfg.trials)
        .success_threshold(cfg.threshold)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut model = Model::new(cfg);
    let mut held: Vec<(Permit<'_>, u64)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Call(out) => {
                let real = breaker.acquire();
                let (admit, ticket) = model.acquire();
                prop_assert_eq!(admit_of(&real), admit, "step {}: {:?}", step, op);
                if let (Ok(permit), Some(ticket)) = (real, ticket) {
                    report(permit, out);
                    model.complete(ticket, out);
                }
            }
            Op::Hold => {
                let real = breaker.acquire();
                let (admit, ticket) = model.acquire();
                prop_assert_eq!(admit_of(&real), admit, "step {}: {:?}", step, op);
                if let (Ok(permit), Some(ticket)) = (real, ticket) {
                    held.push((permit, ticket));
                }
            }
            Op::Release(i, out) => {
                if !held.is_empty() {
                    let (permit, ticket) = held.swap_remove(i % held.len());
                    report(permit, out);
                    model.complete(ticket, out);
                }
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(ms));
                model.now += ms;
            }
            Op::Open => {
                breaker.open();
                model.trip();
            }
            Op::Close => {
                breaker.close();
                model.enter(Mode::Closed { failures: 0 });
            }
            Op::HalfOpen => {
                breaker.half_open();
                model.enter(Mode::HalfOpen {
                    successes: 0,
                    in_flight: 0,
                });
            }
            Op::ForceOpen => {
                breaker.force_open();
                model.enter(Mode::Forced);
            }
            Op::Disable => {
                breaker.disable();
                model.enter(Mode::Disabled);
            }
        }
        prop_assert_eq!(
            breaker.state(),
            model.state(),
            "step {}: {:?}; model {:?}",
            step,
            op,
            model
        );
        prop_assert_eq!(
            breaker.failure_count(),
            model.failure_count(),
            "step {}: {:?}",
            step,
            op
        );
        prop_assert_eq!(
            breaker.retry_after(),
            model.retry_after(),
            "step {}: {:?}",
            step,
            op
        );
        let r = breaker.report();
        prop_assert_eq!(
            [r.successes(), r.failures(), r.rejections(), r.neutral()],
            model.totals,
            "step {}: {:?}",
            step,
            op
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_breaker_follows_the_model(cfg in config(), ops in prop::collection::vec(op(), 1..80)) {
        run(cfg, &ops)?;
    }
}
