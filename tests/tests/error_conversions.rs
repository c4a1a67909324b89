//! `breaker::Error`: its Display, and how it reaches callers through `io::Error`,
//! `Box<dyn Error + Send + Sync>`, `anyhow::Error` and users' own error enums.

mod common;

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use breaker::{Breaker, circuit, registry};
use common::manual;

type BoxError = Box<dyn StdError + Send + Sync>;

/// A user's own error enum.
#[derive(Debug, thiserror::Error)]
enum ServiceError {
    #[error("database said no: {0}")]
    Database(String),
    #[error(transparent)]
    Circuit(#[from] breaker::Error),
}

/// A breaker named `db` that has tripped and has `cooldown` left.
fn open_db(cooldown: Duration) -> Breaker {
    let (breaker, _clock) = manual("db", |b| b.max_failures(1).cooldown(cooldown));
    breaker.open();
    breaker
}

#[test]
fn display_says_which_circuit_and_when_to_retry() {
    let err = open_db(Duration::from_millis(12_345))
        .acquire()
        .unwrap_err();
    assert_eq!(err.to_string(), "circuit `db` is open; retry in 12.3s");
    let err = open_db(Duration::from_millis(250)).acquire().unwrap_err();
    assert_eq!(err.to_string(), "circuit `db` is open; retry in 250ms");
    let err = open_db(Duration::from_secs(125)).acquire().unwrap_err();
    assert_eq!(err.to_string(), "circuit `db` is open; retry in 2m05s");

    let forced = Breaker::builder("db").build().unwrap();
    forced.force_open();
    assert_eq!(
        forced.acquire().unwrap_err().to_string(),
        "circuit `db` is forced open; it stays open until closed by hand"
    );
    let full = Breaker::builder("db").build().unwrap();
    full.half_open();
    let _trial = full.acquire().unwrap();
    assert_eq!(
        full.acquire().unwrap_err().to_string(),
        "circuit `db` is half-open and its trial calls are taken; retry shortly"
    );
}

#[test]
fn the_error_is_a_well_behaved_value() {
    fn assert_traits<T: StdError + Clone + PartialEq + Send + Sync + 'static>() {}
    assert_traits::<breaker::Error>();
    let err = open_db(Duration::from_secs(3)).acquire().unwrap_err();
    assert_eq!(err.clone(), err);
    assert_eq!(err.name(), "db");
    assert!(err.is_rejection());
    assert!(err.source().is_none());
    assert!(format!("{err:?}").contains("Open"));
}

#[test]
fn into_io_error_refuses_the_connection_and_keeps_the_original() {
    let err = open_db(Duration::from_secs(3)).acquire().unwrap_err();
    let io: io::Error = err.clone().into();
    assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(io.to_string(), err.to_string());
    assert_eq!(
        io.get_ref().unwrap().downcast_ref::<breaker::Error>(),
        Some(&err)
    );
    let back = *io
        .into_inner()
        .unwrap()
        .downcast::<breaker::Error>()
        .unwrap();
    assert_eq!(back, err);
}

#[test]
fn question_mark_works_with_io_result() {
    fn guarded(breaker: &Breaker) -> io::Result<u8> {
        let permit = breaker.acquire()?;
        permit.success();
        Ok(1)
    }
    let breaker = open_db(Duration::from_secs(3));
    let err = guarded(&breaker).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn question_mark_works_with_boxed_errors() {
    fn guarded(breaker: &Breaker) -> Result<u8, BoxError> {
        let permit = breaker.acquire()?;
        permit.success();
        Ok(1)
    }
    let breaker = open_db(Duration::from_secs(3));
    let err = guarded(&breaker).unwrap_err();
    let inner = err
        .downcast_ref::<breaker::Error>()
        .expect("the breaker's error, boxed");
    assert!(matches!(inner, breaker::Error::Open { .. }));
    assert_eq!(err.to_string(), "circuit `db` is open; retry in 3.0s");
    // And through `call`, whose closure returns the boxed type.
    let called: Result<u8, BoxError> = breaker.call(|| Ok(1));
    assert!(called.unwrap_err().is::<breaker::Error>());
}

#[test]
fn question_mark_works_with_anyhow() {
    fn guarded(breaker: &Breaker) -> anyhow::Result<u8> {
        let permit = breaker.acquire()?;
        permit.success();
        Ok(1)
    }
    let breaker = open_db(Duration::from_secs(3));
    let err = guarded(&breaker).unwrap_err();
    assert!(matches!(
        err.downcast_ref::<breaker::Error>(),
        Some(breaker::Error::Open { .. })
    ));
    let called: anyhow::Result<u8> = breaker.call(|| Ok(1));
    assert!(called.unwrap_err().is::<breaker::Error>());
}

#[test]
fn a_user_enum_with_a_from_variant_carries_it() {
    fn guarded(breaker: &Breaker) -> Result<u8, ServiceError> {
        let permit = breaker.acquire()?;
        permit.success();
        Ok(1)
    }
    let breaker = open_db(Duration::from_secs(3));
    assert!(matches!(
        guarded(&breaker),
        Err(ServiceError::Circuit(breaker::Error::Open { .. }))
    ));
    let called = breaker.call(|| Ok::<u8, ServiceError>(1));
    let err = called.unwrap_err();
    assert!(matches!(
        err,
        ServiceError::Circuit(breaker::Error::Open { .. })
    ));
    assert_eq!(
        err.to_string(),
        "circuit `db` is open; retry in 3.0s",
        "transparent"
    );
}

// ---- the same through the macro ----

#[circuit(name = "errors-macro-io", max_failures = 1)]
fn as_io() -> io::Result<()> {
    Err(io::Error::other("down"))
}

#[circuit(name = "errors-macro-box", max_failures = 1)]
fn as_box() -> Result<(), BoxError> {
    Err("down".into())
}

#[circuit(name = "errors-macro-anyhow", max_failures = 1)]
fn as_anyhow() -> anyhow::Result<()> {
    anyhow::bail!("down")
}

#[circuit(name = "errors-macro-enum", max_failures = 1)]
fn as_enum() -> Result<(), ServiceError> {
    Err(ServiceError::Database("down".into()))
}

#[circuit(name = "errors-macro-breaker", max_failures = 1)]
fn as_breaker_error() -> Result<(), breaker::Error> {
    Err(breaker::Error::HalfOpenFull {
        name: "inner".into(),
    })
}

#[test]
fn every_supported_error_type_carries_rejections_from_the_macro() {
    assert_eq!(
        as_io().unwrap_err().to_string(),
        "down",
        "the tripping call returns its own error"
    );
    let err = as_io().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert!(
        err.to_string()
            .starts_with("circuit `errors-macro-io` is open; retry in "),
        "{err}"
    );

    assert_eq!(as_box().unwrap_err().to_string(), "down");
    let err = as_box().unwrap_err();
    assert_eq!(
        err.downcast_ref::<breaker::Error>().map(|e| e.name()),
        Some("errors-macro-box")
    );

    assert_eq!(as_anyhow().unwrap_err().to_string(), "down");
    let err = as_anyhow().unwrap_err();
    assert_eq!(
        err.downcast_ref::<breaker::Error>().map(|e| e.name()),
        Some("errors-macro-anyhow")
    );

    assert!(matches!(as_enum(), Err(ServiceError::Database(_))));
    match as_enum() {
        Err(ServiceError::Circuit(breaker::Error::Open { name, .. })) => {
            assert_eq!(name, "errors-macro-enum")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    assert_eq!(as_breaker_error().unwrap_err().name(), "inner");
    assert_eq!(
        as_breaker_error().unwrap_err().name(),
        "errors-macro-breaker"
    );
    for name in [
        "errors-macro-io",
        "errors-macro-box",
        "errors-macro-anyhow",
        "errors-macro-enum",
        "errors-macro-breaker",
    ] {
        let report = registry().report();
        let entry = report.get(name).unwrap();
        assert_eq!((entry.failures(), entry.rejections()), (1, 1), "{name}");
    }
}

#[test]
fn invalid_settings_are_config_errors_naming_the_field() {
    let cases = [
        (Breaker::builder("cfg").max_failures(0), "max_failures"),
        (Breaker::builder("cfg").cooldown(Duration::ZERO), "cooldown"),
        (
            Breaker::builder("cfg").half_open_calls(0),
            "half_open_calls",
        ),
        (
            Breaker::builder("cfg").success_threshold(0),
            "success_threshold",
        ),
    ];
    for (builder, field) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.field(), field);
        assert_eq!(err.name(), "cfg");
        assert!(
            err.to_string()
                .starts_with(&format!("invalid `{field}` for circuit `cfg`: ")),
            "{err}"
        );
        assert!(!err.reason().is_empty());
    }
    let breaker = Breaker::builder("cfg").build().unwrap();
    let err = breaker
        .reconfigure(breaker::Settings::default().max_failures(0))
        .unwrap_err();
    assert_eq!(err.field(), "max_failures");
    assert_eq!(
        breaker.settings(),
        &breaker::Settings::default(),
        "a rejected reconfigure changes nothing"
    );
}
