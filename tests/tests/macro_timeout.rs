//! `timeout` on `async fn`s through `#[circuit]`, on tokio: a call that runs longer is cut
//! short, counts as a failure and returns `breaker::Error::Timeout`, whose message names the
//! breaker and the limit.
//!
//! The limits are a few milliseconds of real time and the slow bodies sleep for a minute, so a
//! timeout cannot be missed; a body that finishes on its first poll always beats the timer
//! (`tokio::time::timeout` polls the future before the deadline).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use breaker::{Settings, State, circuit, registry};

const MINUTE: Duration = Duration::from_secs(60);

static FINISHED: AtomicUsize = AtomicUsize::new(0);

#[circuit(
    name = "timeout-io",
    timeout = "20ms",
    max_failures = 2,
    cooldown = "1h"
)]
async fn call(delay: Duration) -> io::Result<u32> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    FINISHED.fetch_add(1, Ordering::SeqCst);
    Ok(1)
}

/// The `breaker::Error` inside an `io::Error`.
fn inner(err: &io::Error) -> &breaker::Error {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<breaker::Error>())
        .unwrap_or_else(|| panic!("expected a breaker::Error in {err:?}"))
}

#[tokio::test]
async fn a_call_longer_than_the_timeout_is_cut_short_and_counts_as_a_failure() {
    let name = "timeout-io";
    assert_eq!(call(Duration::ZERO).await.unwrap(), 1);
    let breaker = registry().get(name).unwrap();
    assert_eq!(
        breaker.settings(),
        &Settings::default()
            .timeout(Duration::from_millis(20))
            .max_failures(2)
            .cooldown(Duration::from_secs(3600))
    );

    let finished = FINISHED.load(Ordering::SeqCst);
    let err = call(MINUTE).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(
        inner(&err),
        &breaker::Error::Timeout {
            name: name.into(),
            limit: Duration::from_millis(20),
        }
    );
    assert_eq!(
        inner(&err).to_string(),
        "circuit `timeout-io`: call timed out after 20ms"
    );
    assert!(!inner(&err).is_rejection());
    assert_eq!(
        FINISHED.load(Ordering::SeqCst),
        finished,
        "the body was dropped"
    );
    assert_eq!(breaker.report().failures(), 1);

    call(MINUTE).await.unwrap_err();
    assert_eq!(breaker.state(), State::Open, "two timeouts in a row");
    let rejected = call(Duration::ZERO).await.unwrap_err();
    assert_eq!(rejected.kind(), io::ErrorKind::ConnectionRefused);
}

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("bad request")]
    BadRequest,
    #[error(transparent)]
    Circuit(#[from] breaker::Error),
}

struct Api;

impl Api {
    #[circuit(name = "timeout-method", timeout = "10ms")]
    async fn get(&self, delay: Duration) -> Result<&'static str, ApiError> {
        tokio::time::sleep(delay).await;
        Err(ApiError::BadRequest)
    }
}

#[tokio::test]
async fn a_method_returns_the_timeout_through_its_own_error_type() {
    assert!(matches!(
        Api.get(Duration::ZERO).await,
        Err(ApiError::BadRequest)
    ));
    match Api.get(MINUTE).await {
        Err(ApiError::Circuit(breaker::Error::Timeout { name, limit })) => {
            assert_eq!(name, "timeout-method");
            assert_eq!(limit, Duration::from_millis(10));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let report = registry().get("timeout-method").unwrap().report();
    assert_eq!((report.successes(), report.failures()), (0, 2));
}

static SLOW_RAN: AtomicBool = AtomicBool::new(false);

async fn cached(_key: u32) -> io::Result<String> {
    Ok("cached".to_owned())
}

#[circuit(name = "timeout-fallback", timeout = "10ms", fallback = cached, fallback_on = "any")]
async fn lookup(key: u32) -> io::Result<String> {
    tokio::time::sleep(MINUTE).await;
    SLOW_RAN.store(true, Ordering::SeqCst);
    Ok(key.to_string())
}

#[tokio::test]
async fn with_fallback_on_any_a_timeout_is_answered_by_the_fallback() {
    assert_eq!(lookup(7).await.unwrap(), "cached");
    assert!(!SLOW_RAN.load(Ordering::SeqCst));
    let report = registry().get("timeout-fallback").unwrap().report();
    assert_eq!(
        (report.successes(), report.failures(), report.neutral()),
        (0, 1, 0),
        "the timeout is the failure; the fallback's answer counts as nothing"
    );
}

#[circuit(name = "timeout-configured")]
async fn configured(delay: Duration) -> io::Result<u32> {
    tokio::time::sleep(delay).await;
    Ok(1)
}

#[tokio::test]
async fn a_timeout_configured_at_run_time_applies_to_a_function_without_the_key() {
    assert_eq!(configured(Duration::ZERO).await.unwrap(), 1);
    registry()
        .configure(
            "timeout-configured",
            Settings::default().timeout(Duration::from_millis(10)),
        )
        .unwrap();
    let err = configured(MINUTE).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}
