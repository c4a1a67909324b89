//! Async functions and methods on tokio: the same behaviour as sync calls, through
//! `Breaker::call_async` and through `#[circuit]` on `async fn`.

mod common;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use breaker::{State, circuit, registry};
use common::{AppError, io_circuit_error, manual};

async fn down() -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    Err(AppError::Down("async boom"))
}

async fn up() -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    Ok(1)
}

#[tokio::test]
async fn call_async_goes_through_the_whole_cycle() {
    let (breaker, clock) = manual("async-cycle", |b| {
        b.max_failures(3).cooldown(Duration::from_secs(5))
    });
    assert_eq!(breaker.call_async(up()).await.unwrap(), 1);
    breaker.call_async(down()).await.unwrap_err();
    breaker.call_async(down()).await.unwrap_err();
    breaker.call_async(up()).await.unwrap();
    assert_eq!(breaker.failure_count(), 0, "a success resets the count");
    breaker.call_async(down()).await.unwrap_err();
    breaker.call_async(down()).await.unwrap_err();
    assert_eq!(breaker.state(), State::Closed);
    let tripping = breaker.call_async(down()).await.unwrap_err();
    assert!(matches!(tripping, AppError::Down(_)), "{tripping:?}");
    assert_eq!(breaker.state(), State::Open);
    let runs = AtomicUsize::new(0);
    let rejected = breaker
        .call_async(async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, AppError>(())
        })
        .await;
    assert!(matches!(
        rejected,
        Err(AppError::Circuit(breaker::Error::Open { .. }))
    ));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    clock.advance(Duration::from_secs(5));
    breaker.call_async(down()).await.unwrap_err();
    assert_eq!(breaker.state(), State::Open, "a failed trial re-opens");
    clock.advance(Duration::from_secs(5));
    breaker.call_async(up()).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
    let report = breaker.report();
    assert_eq!(
        (report.successes(), report.failures(), report.rejections()),
        (3, 6, 1)
    );
}

static FETCHES: AtomicUsize = AtomicUsize::new(0);

#[circuit(max_failures = 2, cooldown = "1h")]
async fn fetch(fail: bool) -> io::Result<u32> {
    FETCHES.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    if fail {
        return Err(io::Error::other("async down"));
    }
    let n: u32 = "7".parse().map_err(io::Error::other)?;
    Ok(n)
}

#[tokio::test]
async fn an_async_fn_trips_and_rejects_without_running() {
    assert_eq!(fetch(false).await.unwrap(), 7);
    let breaker = registry()
        .get("async_tokio::fetch")
        .expect("default name of a free async fn");
    fetch(true).await.unwrap_err();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.failure_count(), 1);
    fetch(false).await.unwrap();
    assert_eq!(breaker.failure_count(), 0);
    fetch(true).await.unwrap_err();
    let tripping = fetch(true).await.unwrap_err();
    assert_eq!(tripping.to_string(), "async down");
    assert_eq!(breaker.state(), State::Open);
    let before = FETCHES.load(Ordering::SeqCst);
    let err = fetch(false).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert!(
        matches!(io_circuit_error(&err), breaker::Error::Open { name, .. } if name == "async_tokio::fetch")
    );
    assert_eq!(FETCHES.load(Ordering::SeqCst), before, "the body never ran");
    breaker.half_open();
    assert_eq!(fetch(false).await.unwrap(), 7);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn a_guarded_future_is_lazy_until_awaited() {
    let future = lazy_probe();
    assert!(
        registry().get("async-lazy").is_none(),
        "nothing happens before the first poll"
    );
    future.await.unwrap();
    assert_eq!(
        registry().get("async-lazy").unwrap().report().successes(),
        1
    );
}

#[circuit(name = "async-lazy")]
async fn lazy_probe() -> io::Result<()> {
    Ok(())
}

struct Api {
    base: String,
}

impl Api {
    #[circuit(name = "async-api", max_failures = 2)]
    async fn get(&self, path: &str) -> Result<String, AppError> {
        tokio::task::yield_now().await;
        if path.is_empty() {
            Err(AppError::Down("no path"))
        } else {
            Ok(format!("{}/{path}", self.base))
        }
    }

    #[circuit(name = "async-api", max_failures = 2)]
    async fn post(&mut self, body: String) -> Result<usize, AppError> {
        tokio::task::yield_now().await;
        if body.is_empty() {
            Err(AppError::Down("no body"))
        } else {
            Ok(body.len())
        }
    }
}

#[tokio::test]
async fn async_methods_sharing_a_name_share_a_breaker() {
    let mut api = Api {
        base: "https://x".into(),
    };
    assert_eq!(api.get("a").await.unwrap(), "https://x/a");
    assert_eq!(api.post("body".into()).await.unwrap(), 4);
    api.get("").await.unwrap_err();
    api.post(String::new()).await.unwrap_err();
    let err = api.get("a").await.unwrap_err();
    assert!(
        matches!(err, AppError::Circuit(breaker::Error::Open { .. })),
        "{err:?}"
    );
    let err = api.post("x".into()).await.unwrap_err();
    assert!(
        matches!(err, AppError::Circuit(breaker::Error::Open { .. })),
        "{err:?}"
    );
    let report = registry().report();
    let entry = report.get("async-api").unwrap();
    assert_eq!(
        (entry.successes(), entry.failures(), entry.rejections()),
        (2, 2, 2)
    );
}

struct Red;
struct Blue;

impl Red {
    #[circuit(max_failures = 1)]
    async fn load(&self, fail: bool) -> io::Result<&'static str> {
        if fail {
            Err(io::Error::other("red down"))
        } else {
            Ok("red")
        }
    }
}

impl Blue {
    #[circuit(max_failures = 1)]
    async fn load(&self, fail: bool) -> io::Result<&'static str> {
        if fail {
            Err(io::Error::other("blue down"))
        } else {
            Ok("blue")
        }
    }
}

#[tokio::test]
async fn same_named_async_methods_of_different_types_do_not_share() {
    Red.load(true).await.unwrap_err();
    assert_eq!(Blue.load(false).await.unwrap(), "blue");
    assert_eq!(
        Red.load(false).await.unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
    assert_eq!(
        registry().get("async_tokio::Red::load").unwrap().state(),
        State::Open
    );
    assert_eq!(
        registry().get("async_tokio::Blue::load").unwrap().state(),
        State::Closed
    );
}

trait Store {
    async fn put(&self, key: u32) -> io::Result<u32>;
}

struct Memory;

impl Store for Memory {
    #[circuit(max_failures = 1)]
    async fn put(&self, key: u32) -> io::Result<u32> {
        tokio::task::yield_now().await;
        if key == 0 {
            Err(io::Error::other("zero"))
        } else {
            Ok(key)
        }
    }
}

#[tokio::test]
async fn async_trait_methods_are_guarded() {
    assert_eq!(Memory.put(4).await.unwrap(), 4);
    Memory.put(0).await.unwrap_err();
    assert_eq!(
        Memory.put(4).await.unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
    assert_eq!(
        registry()
            .get("<async_tokio::Memory as async_tokio::Store>::put")
            .unwrap()
            .report()
            .rejections(),
        1
    );
}

#[derive(Debug, thiserror::Error)]
#[error("not found")]
struct NotFound;

#[circuit(name = "async-classified", max_failures = 1, record = [io::Error], ignore = [NotFound])]
async fn classified(err: anyhow::Error) -> anyhow::Result<()> {
    tokio::task::yield_now().await;
    Err(err)
}

#[tokio::test]
async fn async_fns_classify_errors() {
    classified(anyhow::Error::new(NotFound).context("ctx"))
        .await
        .unwrap_err();
    classified(anyhow::anyhow!("not recorded"))
        .await
        .unwrap_err();
    let breaker = registry().get("async-classified").unwrap();
    assert_eq!(breaker.state(), State::Closed);
    let report = breaker.report();
    assert_eq!(
        (report.neutral(), report.successes(), report.failures()),
        (1, 1, 0)
    );
    classified(anyhow::Error::new(io::Error::other("x")).context("ctx"))
        .await
        .unwrap_err();
    assert_eq!(breaker.state(), State::Open);
}

#[circuit(name = "async-spawned")]
async fn spawned(n: u32) -> io::Result<u32> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_futures_are_send_and_run_on_worker_threads() {
    let handles: Vec<_> = (0..16).map(|n| tokio::spawn(spawned(n))).collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap().unwrap();
    }
    assert_eq!(sum, (0..16).sum());
    assert_eq!(
        registry()
            .get("async-spawned")
            .unwrap()
            .report()
            .successes(),
        16
    );

    let (breaker, _clock) = manual("async-spawned-builder", |b| b);
    let breaker = Arc::new(breaker);
    let task = tokio::spawn({
        let breaker = Arc::clone(&breaker);
        async move { breaker.call_async(up()).await }
    });
    assert_eq!(task.await.unwrap().unwrap(), 1);
}
