//! Which errors count: `record` and `ignore`, through `source()` chains, `io::Error::new`,
//! `Box<dyn Error + Send + Sync>` and `anyhow::Error`, via the builder and via the macro.

mod common;

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use breaker::{AsError, Breaker, BreakerReport, State, circuit, registry};

type BoxError = Box<dyn StdError + Send + Sync>;

#[derive(Debug, thiserror::Error)]
#[error("not found")]
struct NotFound;

#[derive(Debug, thiserror::Error)]
#[error("timed out")]
struct Timeout;

#[derive(Debug, thiserror::Error)]
enum RepoError {
    #[error("query failed")]
    Query(#[source] io::Error),
    #[error("lookup failed")]
    Lookup(#[source] NotFound),
    #[error("invalid input: {0}")]
    Invalid(&'static str),
    #[error("request failed")]
    Request(#[source] Box<RepoError>),
    #[error(transparent)]
    Circuit(#[from] breaker::Error),
}

/// What one failed call did to the breaker's lifetime totals.
#[derive(Debug, PartialEq, Eq)]
enum Counted {
    Failure,
    Success,
    Neutral,
}

fn totals(report: &BreakerReport) -> (u64, u64, u64) {
    (report.failures(), report.successes(), report.neutral())
}

fn delta(before: (u64, u64, u64), after: (u64, u64, u64)) -> Counted {
    match (after.0 - before.0, after.1 - before.1, after.2 - before.2) {
        (1, 0, 0) => Counted::Failure,
        (0, 1, 0) => Counted::Success,
        (0, 0, 1) => Counted::Neutral,
        other => panic!("one call changed the totals by {other:?}"),
    }
}

/// Runs one call through `breaker` that returns `err`, and says how it was counted.
fn counted<E, Via>(breaker: &Breaker, err: E) -> Counted
where
    E: From<breaker::Error> + AsError<Via> + std::fmt::Debug,
{
    breaker.close();
    let before = totals(&breaker.report());
    breaker.call(|| Err::<(), E>(err)).unwrap_err();
    delta(before, totals(&breaker.report()))
}

fn record_io_ignore_not_found() -> Breaker {
    Breaker::builder("classify")
        .record::<io::Error>()
        .ignore::<NotFound>()
        .build()
        .unwrap()
}

#[test]
fn concrete_error_types_and_their_source_chains() {
    let b = record_io_ignore_not_found();
    assert_eq!(
        counted(&b, RepoError::Query(io::Error::other("reset"))),
        Counted::Failure
    );
    assert_eq!(counted(&b, RepoError::Lookup(NotFound)), Counted::Neutral);
    assert_eq!(
        counted(&b, RepoError::Invalid("id")),
        Counted::Success,
        "not recorded"
    );
    let deep = |inner| RepoError::Request(Box::new(RepoError::Request(Box::new(inner))));
    assert_eq!(
        counted(&b, deep(RepoError::Query(io::Error::other("x")))),
        Counted::Failure
    );
    assert_eq!(
        counted(&b, deep(RepoError::Lookup(NotFound))),
        Counted::Neutral
    );
    assert_eq!(counted(&b, deep(RepoError::Invalid("x"))), Counted::Success);
}

#[test]
fn io_errors_and_what_they_wrap() {
    let b = record_io_ignore_not_found();
    assert_eq!(counted(&b, io::Error::other("reset")), Counted::Failure);
    assert_eq!(
        counted(&b, io::Error::new(io::ErrorKind::TimedOut, Timeout)),
        Counted::Failure
    );
    assert_eq!(
        counted(&b, io::Error::new(io::ErrorKind::NotFound, NotFound)),
        Counted::Neutral,
        "ignore wins over record when both are in the chain"
    );
    assert_eq!(
        counted(
            &b,
            io::Error::other(RepoError::Request(Box::new(RepoError::Lookup(NotFound))))
        ),
        Counted::Neutral,
        "the chain is followed through the io::Error's inner error and further down"
    );

    let only_timeouts = Breaker::builder("classify-io-inner")
        .record::<Timeout>()
        .build()
        .unwrap();
    assert_eq!(
        counted(
            &only_timeouts,
            io::Error::new(io::ErrorKind::TimedOut, Timeout)
        ),
        Counted::Failure
    );
    assert_eq!(
        counted(
            &only_timeouts,
            io::Error::other(RepoError::Request(Box::new(RepoError::Query(
                io::Error::other(Timeout)
            ))))
        ),
        Counted::Failure
    );
    assert_eq!(
        counted(&only_timeouts, io::Error::from(io::ErrorKind::TimedOut)),
        Counted::Success
    );
    assert_eq!(
        counted(&only_timeouts, io::Error::other("timeout, but as text")),
        Counted::Success
    );
}

#[test]
fn boxed_errors() {
    let b = record_io_ignore_not_found();
    assert_eq!(
        counted::<BoxError, _>(&b, Box::new(io::Error::other("x"))),
        Counted::Failure
    );
    assert_eq!(
        counted::<BoxError, _>(&b, Box::new(NotFound)),
        Counted::Neutral
    );
    assert_eq!(
        counted::<BoxError, _>(&b, Box::new(Timeout)),
        Counted::Success
    );
    assert_eq!(
        counted::<BoxError, _>(&b, "plain text".into()),
        Counted::Success
    );
    assert_eq!(
        counted::<BoxError, _>(&b, Box::new(RepoError::Query(io::Error::other("x")))),
        Counted::Failure
    );
    assert_eq!(
        counted::<BoxError, _>(&b, Box::new(RepoError::Lookup(NotFound))),
        Counted::Neutral
    );
    assert_eq!(
        counted::<BoxError, _>(&b, Box::new(io::Error::other(NotFound))),
        Counted::Neutral
    );
}

#[test]
fn anyhow_errors_with_context() {
    let b = record_io_ignore_not_found();
    let io_err = anyhow::Error::new(io::Error::other("reset"))
        .context("loading user")
        .context("handling request");
    assert_eq!(counted(&b, io_err), Counted::Failure);
    assert_eq!(
        counted(&b, anyhow::Error::new(NotFound).context("loading user")),
        Counted::Neutral
    );
    assert_eq!(
        counted(&b, anyhow::anyhow!("plain message")),
        Counted::Success
    );
    assert_eq!(
        counted(&b, anyhow::Error::new(Timeout).context("x")),
        Counted::Success
    );
    assert_eq!(
        counted(
            &b,
            anyhow::Error::new(RepoError::Lookup(NotFound)).context("x")
        ),
        Counted::Neutral
    );
    assert_eq!(
        counted(
            &b,
            anyhow::Error::new(RepoError::Query(io::Error::other("x"))).context("x")
        ),
        Counted::Failure
    );
    let via_question_mark = || -> anyhow::Result<()> {
        let result: Result<(), RepoError> = Err(RepoError::Lookup(NotFound));
        result?;
        Ok(())
    };
    assert_eq!(
        counted(&b, via_question_mark().unwrap_err()),
        Counted::Neutral
    );
}

#[test]
fn without_lists_every_err_counts() {
    let b = Breaker::builder("classify-all").build().unwrap();
    assert_eq!(counted(&b, RepoError::Lookup(NotFound)), Counted::Failure);
    assert_eq!(counted(&b, RepoError::Invalid("x")), Counted::Failure);
    assert_eq!(counted::<BoxError, _>(&b, "x".into()), Counted::Failure);
    assert_eq!(counted(&b, anyhow::anyhow!("x")), Counted::Failure);
}

#[test]
fn ignore_alone_counts_everything_else() {
    let b = Breaker::builder("classify-ignore-only")
        .ignore::<NotFound>()
        .build()
        .unwrap();
    assert_eq!(counted(&b, RepoError::Lookup(NotFound)), Counted::Neutral);
    assert_eq!(counted(&b, RepoError::Invalid("x")), Counted::Failure);
    assert_eq!(counted(&b, anyhow::anyhow!("x")), Counted::Failure);
}

#[test]
fn ignored_errors_neither_trip_nor_reset_the_count() {
    let b = Breaker::builder("classify-ignored-count")
        .max_failures(2)
        .ignore::<NotFound>()
        .build()
        .unwrap();
    b.call(|| Err::<(), _>(RepoError::Invalid("x")))
        .unwrap_err();
    for _ in 0..20 {
        b.call(|| Err::<(), _>(RepoError::Lookup(NotFound)))
            .unwrap_err();
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.failure_count(), 1, "ignored errors leave the count alone");
    b.call(|| Err::<(), _>(RepoError::Invalid("x")))
        .unwrap_err();
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.report().neutral(), 20);
}

#[test]
fn unrecorded_errors_are_answers_from_a_healthy_dependency() {
    let b = Breaker::builder("classify-unrecorded")
        .max_failures(2)
        .record::<io::Error>()
        .build()
        .unwrap();
    for _ in 0..20 {
        b.call(|| Err::<(), _>(RepoError::Invalid("x")))
            .unwrap_err();
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.report().failures(), 0);
    b.call(|| Err::<(), _>(RepoError::Query(io::Error::other("x"))))
        .unwrap_err();
    b.call(|| Err::<(), _>(RepoError::Invalid("x")))
        .unwrap_err();
    assert_eq!(
        b.failure_count(),
        0,
        "an unrecorded error is a success and resets the count"
    );
}

#[test]
fn in_half_open_an_ignored_error_gives_the_slot_back_and_decides_nothing() {
    let clock = breaker::clock::ManualClock::new();
    let b = Breaker::builder("classify-half-open")
        .max_failures(1)
        .cooldown(Duration::from_secs(1))
        .record::<io::Error>()
        .ignore::<NotFound>()
        .clock(clock.clone())
        .build()
        .unwrap();
    b.call(|| Err::<(), _>(io::Error::other("x"))).unwrap_err();
    clock.advance(Duration::from_secs(1));
    for _ in 0..5 {
        b.call(|| Err::<(), _>(RepoError::Lookup(NotFound)))
            .unwrap_err();
        assert_eq!(
            b.state(),
            State::HalfOpen,
            "an ignored error neither closes nor re-opens"
        );
    }
    let trial = b
        .acquire()
        .expect("the ignored trials gave their slot back");
    drop(trial);
    b.call(|| Err::<(), _>(RepoError::Invalid("x")))
        .unwrap_err();
    assert_eq!(
        b.state(),
        State::Closed,
        "an unrecorded error is a successful trial"
    );
}

#[test]
fn permit_record_classifies_too() {
    let b = record_io_ignore_not_found();
    let p = b.acquire().unwrap();
    p.record(&Err::<(), _>(anyhow::Error::new(NotFound).context("x")));
    let p = b.acquire().unwrap();
    p.record(&Err::<(), BoxError>(Box::new(io::Error::other("x"))));
    let p = b.acquire().unwrap();
    p.record(&Ok::<_, io::Error>(()));
    assert_eq!(totals(&b.report()), (1, 1, 1));
}

#[test]
fn a_type_both_recorded_and_ignored_is_a_config_error() {
    let err = Breaker::builder("classify-both")
        .record::<NotFound>()
        .ignore::<NotFound>()
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "ignore");
    assert_eq!(err.name(), "classify-both");
    assert!(err.to_string().contains("NotFound"), "{err}");
}

#[test]
fn the_lists_are_visible_in_the_settings() {
    let b = record_io_ignore_not_found();
    let record: Vec<_> = b
        .settings()
        .get_record()
        .iter()
        .map(|k| k.type_name())
        .collect();
    let ignore: Vec<_> = b
        .settings()
        .get_ignore()
        .iter()
        .map(|k| k.type_name())
        .collect();
    assert_eq!(record, [std::any::type_name::<io::Error>()]);
    assert_eq!(ignore, [std::any::type_name::<NotFound>()]);
    let line = b.settings().to_string();
    assert!(
        line.contains("record io::Error") && line.contains("ignore classification::NotFound"),
        "{line}"
    );
}

// ---- the same through the macro ----

#[circuit(name = "classify-macro-box", max_failures = 2, record = [io::Error], ignore = [NotFound])]
fn macro_box(err: BoxError) -> Result<(), BoxError> {
    Err(err)
}

#[circuit(name = "classify-macro-anyhow", max_failures = 2, record = [std::io::Error], ignore = [NotFound])]
fn macro_anyhow(err: anyhow::Error) -> anyhow::Result<()> {
    Err(err)
}

#[circuit(name = "classify-macro-enum", max_failures = 2, record = [io::Error], ignore = [NotFound])]
fn macro_enum(err: RepoError) -> Result<(), RepoError> {
    Err(err)
}

#[circuit(name = "classify-macro-io", max_failures = 2, ignore = [NotFound])]
fn macro_io(err: io::Error) -> io::Result<()> {
    Err(err)
}

#[circuit(name = "classify-macro-record-only", max_failures = 2, record = [Timeout])]
fn macro_record_only(err: RepoError) -> Result<u8, RepoError> {
    Err(err)
}

/// Runs `call` against the named macro breaker and says how it was counted.
fn macro_counted<T: std::fmt::Debug, E: std::fmt::Debug>(
    name: &str,
    call: impl FnOnce() -> Result<T, E>,
) -> Counted {
    let before = registry().get(name).map(|b| {
        b.close();
        totals(&b.report())
    });
    call().unwrap_err();
    let after = totals(&registry().get(name).unwrap().report());
    delta(before.unwrap_or((0, 0, 0)), after)
}

#[test]
fn the_macro_classifies_boxed_errors() {
    let name = "classify-macro-box";
    assert_eq!(
        macro_counted(name, || macro_box(Box::new(io::Error::other("x")))),
        Counted::Failure
    );
    assert_eq!(
        macro_counted(name, || macro_box(Box::new(RepoError::Lookup(NotFound)))),
        Counted::Neutral
    );
    assert_eq!(
        macro_counted(name, || macro_box("text".into())),
        Counted::Success
    );
    assert_eq!(
        macro_counted(name, || macro_box(Box::new(io::Error::other(NotFound)))),
        Counted::Neutral
    );
}

#[test]
fn the_macro_classifies_anyhow_errors() {
    let name = "classify-macro-anyhow";
    let io_err = || anyhow::Error::new(io::Error::other("x")).context("ctx");
    assert_eq!(
        macro_counted(name, || macro_anyhow(io_err())),
        Counted::Failure
    );
    assert_eq!(
        macro_counted(name, || macro_anyhow(
            anyhow::Error::new(NotFound).context("ctx")
        )),
        Counted::Neutral
    );
    assert_eq!(
        macro_counted(name, || macro_anyhow(anyhow::anyhow!("x"))),
        Counted::Success
    );
    // Two recorded failures in a row open it.
    registry().get(name).unwrap().close();
    macro_anyhow(io_err()).unwrap_err();
    macro_anyhow(anyhow::Error::new(NotFound)).unwrap_err();
    macro_anyhow(io_err()).unwrap_err();
    let rejected = macro_anyhow(io_err()).unwrap_err();
    assert!(
        matches!(
            rejected.downcast_ref::<breaker::Error>(),
            Some(breaker::Error::Open { .. })
        ),
        "{rejected:?}"
    );
}

#[test]
fn the_macro_classifies_thiserror_enums_through_their_sources() {
    let name = "classify-macro-enum";
    assert_eq!(
        macro_counted(name, || macro_enum(RepoError::Query(io::Error::other("x")))),
        Counted::Failure
    );
    assert_eq!(
        macro_counted(name, || macro_enum(RepoError::Lookup(NotFound))),
        Counted::Neutral
    );
    assert_eq!(
        macro_counted(name, || macro_enum(RepoError::Invalid("x"))),
        Counted::Success
    );
    let nested = RepoError::Request(Box::new(RepoError::Lookup(NotFound)));
    assert_eq!(macro_counted(name, || macro_enum(nested)), Counted::Neutral);
}

#[test]
fn the_macro_classifies_io_errors_by_what_they_wrap() {
    let name = "classify-macro-io";
    assert_eq!(
        macro_counted(name, || macro_io(io::Error::other("x"))),
        Counted::Failure
    );
    assert_eq!(
        macro_counted(name, || macro_io(io::Error::new(
            io::ErrorKind::NotFound,
            NotFound
        ))),
        Counted::Neutral
    );
    assert_eq!(
        macro_counted(name, || macro_io(io::Error::from(io::ErrorKind::NotFound))),
        Counted::Failure,
        "only the type counts, not the io::ErrorKind"
    );
}

#[test]
fn the_macro_with_record_only_treats_other_errors_as_successes() {
    let name = "classify-macro-record-only";
    for _ in 0..5 {
        assert_eq!(
            macro_counted(name, || macro_record_only(RepoError::Invalid("x"))),
            Counted::Success
        );
    }
    let timeout = || RepoError::Query(io::Error::new(io::ErrorKind::TimedOut, Timeout));
    assert_eq!(
        macro_counted(name, || macro_record_only(timeout())),
        Counted::Failure
    );
    macro_record_only(timeout()).unwrap_err();
    assert_eq!(registry().get(name).unwrap().state(), State::Open);
    assert!(matches!(
        macro_record_only(timeout()),
        Err(RepoError::Circuit(breaker::Error::Open { .. }))
    ));
}
