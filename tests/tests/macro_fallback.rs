//! `fallback` and `fallback_on` through `#[circuit]`: the fallback answers rejections (and, with
//! `fallback_on = "any"`, failures) with the function's own arguments, and its answers count as
//! neither success nor failure.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use breaker::{BreakerReport, State, circuit, registry};

/// An error type with no `From<breaker::Error>`: with a fallback answering rejections, a sync
/// function does not need one.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum LoadError {
    #[error("database down")]
    Down,
    #[error("lookup failed")]
    NotFound(#[source] Missing),
}

/// A row that is not there: an answer, not a failure of the database.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("no such row")]
struct Missing;

fn report(name: &str) -> BreakerReport {
    registry()
        .report()
        .get(name)
        .unwrap_or_else(|| panic!("no breaker `{name}`"))
        .clone()
}

/// (successes, failures, rejections, neutral)
fn counts(name: &str) -> (u64, u64, u64, u64) {
    let report = report(name);
    (
        report.successes(),
        report.failures(),
        report.rejections(),
        report.neutral(),
    )
}

static LOAD_RUNS: AtomicUsize = AtomicUsize::new(0);

fn cached_row(id: u32, table: &str) -> Result<String, LoadError> {
    Ok(format!("cached {table}/{id}"))
}

#[circuit(name = "fallback-rejected", max_failures = 1, cooldown = "1h", fallback = cached_row)]
fn load(id: u32, table: &str) -> Result<String, LoadError> {
    LOAD_RUNS.fetch_add(1, Ordering::SeqCst);
    if id == 0 {
        Err(LoadError::Down)
    } else {
        Ok(format!("{table}/{id}"))
    }
}

#[test]
fn a_fallback_answers_rejections_with_the_same_arguments() {
    let name = "fallback-rejected";
    assert_eq!(load(1, "users").unwrap(), "users/1");
    // By default the fallback answers rejections only: the failure itself is returned.
    assert_eq!(load(0, "users").unwrap_err(), LoadError::Down);
    assert_eq!(report(name).state(), State::Open);
    let runs = LOAD_RUNS.load(Ordering::SeqCst);
    assert_eq!(load(2, "orders").unwrap(), "cached orders/2");
    assert_eq!(
        LOAD_RUNS.load(Ordering::SeqCst),
        runs,
        "the body did not run"
    );
    assert_eq!(
        counts(name),
        (1, 1, 1, 0),
        "the fallback's answer is not counted"
    );
}

static LOOKUP_RUNS: AtomicUsize = AtomicUsize::new(0);

fn stale(key: String) -> Result<String, LoadError> {
    Ok(format!("stale {key}"))
}

#[circuit(
    name = "fallback-any",
    max_failures = 2,
    cooldown = "1h",
    fallback = stale,
    fallback_on = "any",
    ignore = [Missing]
)]
fn lookup(mut key: String) -> Result<String, LoadError> {
    LOOKUP_RUNS.fetch_add(1, Ordering::SeqCst);
    // The body may consume and change its arguments: the fallback gets copies made before.
    key.push('!');
    match key.as_str() {
        "down!" => Err(LoadError::Down),
        "missing!" => Err(LoadError::NotFound(Missing)),
        _ => Ok(key),
    }
}

#[test]
fn fallback_on_any_answers_failures_after_recording_them() {
    let name = "fallback-any";
    assert_eq!(lookup("a".into()).unwrap(), "a!");
    assert_eq!(lookup("down".into()).unwrap(), "stale down");
    assert_eq!(counts(name), (1, 1, 0, 0), "the failure was recorded");
    // An ignored error is not a failure: it is returned as it is, and counts as nothing.
    assert_eq!(
        lookup("missing".into()).unwrap_err(),
        LoadError::NotFound(Missing)
    );
    assert_eq!(counts(name), (1, 1, 0, 1));
    assert_eq!(lookup("down".into()).unwrap(), "stale down");
    assert_eq!(report(name).state(), State::Open);
    // Open: the fallback answers without running the body.
    let runs = LOOKUP_RUNS.load(Ordering::SeqCst);
    assert_eq!(lookup("b".into()).unwrap(), "stale b");
    assert_eq!(LOOKUP_RUNS.load(Ordering::SeqCst), runs);
    assert_eq!(counts(name), (1, 2, 1, 1));
}

#[derive(Debug)]
struct Response {
    status: u16,
}

fn is_server_error(response: &Response) -> bool {
    response.status >= 500
}

fn placeholder(_status: u16) -> io::Result<Response> {
    Ok(Response { status: 299 })
}

#[circuit(
    name = "fallback-failure-if",
    failure_if = is_server_error,
    fallback = placeholder,
    fallback_on = "any"
)]
fn status(status: u16) -> io::Result<Response> {
    Ok(Response { status })
}

#[test]
fn a_value_failure_if_flags_is_answered_by_the_fallback() {
    assert_eq!(status(200).unwrap().status, 200);
    assert_eq!(status(503).unwrap().status, 299);
    assert_eq!(counts("fallback-failure-if"), (1, 1, 0, 0));
}

#[circuit(name = "fallback-failure-if-only", max_failures = 1, cooldown = "1h", failure_if = is_server_error)]
fn status_without_fallback(status: u16) -> io::Result<Response> {
    Ok(Response { status })
}

#[test]
fn without_a_fallback_a_flagged_value_is_still_returned() {
    assert_eq!(status_without_fallback(503).unwrap().status, 503);
    assert_eq!(report("fallback-failure-if-only").state(), State::Open);
    let rejected = status_without_fallback(200).unwrap_err();
    assert_eq!(rejected.kind(), io::ErrorKind::ConnectionRefused);
}

struct Catalog {
    prefix: &'static str,
}

impl Catalog {
    #[circuit(
        name = "fallback-method",
        max_failures = 1,
        cooldown = "1h",
        fallback = Self::cached_price,
        fallback_on = "any"
    )]
    fn price(&self, item: &str) -> Result<u32, LoadError> {
        if item.is_empty() {
            Err(LoadError::Down)
        } else {
            Ok(u32::try_from(item.len()).unwrap_or(0))
        }
    }

    fn cached_price(&self, item: &str) -> Result<u32, LoadError> {
        Ok(u32::try_from(self.prefix.len() + item.len()).unwrap_or(0) + 100)
    }

    #[circuit(
        name = "fallback-method-async",
        max_failures = 1,
        cooldown = "1h",
        fallback = Self::cached_stock
    )]
    async fn stock(&mut self, item: String) -> io::Result<u32> {
        tokio::task::yield_now().await;
        if item.is_empty() {
            Err(io::Error::other("down"))
        } else {
            self.prefix = "updated";
            Ok(1)
        }
    }

    async fn cached_stock(&mut self, item: String) -> io::Result<u32> {
        Ok(u32::try_from(self.prefix.len() + item.len()).unwrap_or(0))
    }
}

#[test]
fn a_method_falls_back_to_another_method_with_the_receiver() {
    let catalog = Catalog { prefix: "abc" };
    assert_eq!(catalog.price("xy").unwrap(), 2);
    assert_eq!(catalog.price("").unwrap(), 103, "after a failure");
    assert_eq!(catalog.price("xy").unwrap(), 105, "while open");
    assert_eq!(counts("fallback-method"), (1, 1, 1, 0));
}

#[tokio::test]
async fn an_async_method_awaits_its_fallback_on_rejection() {
    let mut catalog = Catalog { prefix: "abc" };
    assert!(catalog.stock(String::new()).await.is_err());
    assert_eq!(report("fallback-method-async").state(), State::Open);
    // `&mut self` is fine when only rejections are answered: the body never ran.
    assert_eq!(catalog.stock("xy".into()).await.unwrap(), 5);
    assert_eq!(catalog.prefix, "abc");
    assert_eq!(counts("fallback-method-async"), (0, 1, 1, 0));
}

static FETCH_RUNS: AtomicUsize = AtomicUsize::new(0);

async fn fetch_cached(key: &str) -> anyhow::Result<String> {
    tokio::task::yield_now().await;
    Ok(format!("cached {key}"))
}

#[circuit(
    name = "fallback-async-any",
    max_failures = 2,
    cooldown = "1h",
    fallback = fetch_cached,
    fallback_on = "any"
)]
async fn fetch(key: &str) -> anyhow::Result<String> {
    FETCH_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    anyhow::ensure!(key != "down", "down");
    Ok(key.to_uppercase())
}

#[tokio::test]
async fn an_async_free_function_falls_back_on_any_failure() {
    let name = "fallback-async-any";
    assert_eq!(fetch("a").await.unwrap(), "A");
    assert_eq!(fetch("down").await.unwrap(), "cached down");
    assert_eq!(fetch("down").await.unwrap(), "cached down");
    assert_eq!(report(name).state(), State::Open);
    let runs = FETCH_RUNS.load(Ordering::SeqCst);
    assert_eq!(fetch("b").await.unwrap(), "cached b");
    assert_eq!(FETCH_RUNS.load(Ordering::SeqCst), runs);
    assert_eq!(counts(name), (1, 2, 1, 0));
}

#[circuit(name = "fallback-half-open", max_failures = 1, cooldown = "1h", fallback = cached_row)]
fn trial(id: u32, table: &str) -> Result<String, LoadError> {
    if id == 0 {
        Err(LoadError::Down)
    } else {
        Ok(format!("{table}/{id}"))
    }
}

#[test]
fn a_fallback_answer_takes_no_half_open_trial() {
    let name = "fallback-half-open";
    trial(0, "t").unwrap_err();
    let breaker = registry().get(name).unwrap();
    breaker.half_open();
    // The trial slot is taken by a call in flight: others get the fallback, which does not
    // count, so the trial alone decides.
    let permit = breaker.acquire().expect("the one trial");
    assert_eq!(trial(1, "t").unwrap(), "cached t/1");
    assert_eq!(breaker.state(), State::HalfOpen);
    permit.success();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(trial(1, "t").unwrap(), "t/1");
}
