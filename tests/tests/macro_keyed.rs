//! Keyed names through `#[circuit]`: `name = "http:{host}"` gives each value of the parameter
//! its own breaker, created on first use, isolated from the others, and removable.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use breaker::{Settings, State, circuit, registry};

static CONNECT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[circuit(name = "keyed-http:{host}", max_failures = 1, cooldown = "1h")]
fn connect(host: &str, up: bool) -> io::Result<String> {
    CONNECT_RUNS.fetch_add(1, Ordering::SeqCst);
    if up {
        Ok(format!("connected to {host}"))
    } else {
        Err(io::Error::other("connection reset"))
    }
}

fn state(name: &str) -> Option<State> {
    registry().get(name).map(|breaker| breaker.state())
}

#[test]
fn each_key_has_its_own_breaker() {
    assert_eq!(state("keyed-http:a.example"), None, "created on first use");
    connect("a.example", false).unwrap_err();
    assert_eq!(state("keyed-http:a.example"), Some(State::Open));

    // Another host is another breaker: the failure of `a` does not reject `b`.
    assert_eq!(
        connect("b.example", true).unwrap(),
        "connected to b.example"
    );
    assert_eq!(state("keyed-http:b.example"), Some(State::Closed));

    let runs = CONNECT_RUNS.load(Ordering::SeqCst);
    let rejected = connect("a.example", true).unwrap_err();
    assert_eq!(rejected.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(CONNECT_RUNS.load(Ordering::SeqCst), runs);
    assert_eq!(
        registry().get("keyed-http:a.example").unwrap().settings(),
        &Settings::default()
            .max_failures(1)
            .cooldown(Duration::from_secs(3600)),
        "every key gets the attribute's settings"
    );
}

#[test]
fn a_removed_key_starts_over_with_a_fresh_breaker() {
    connect("c.example", false).unwrap_err();
    let old = registry()
        .remove("keyed-http:c.example")
        .expect("created by the call");
    assert_eq!(old.state(), State::Open);
    // Unlike a function's own breaker, a keyed one is looked up on every call.
    assert_eq!(
        connect("c.example", true).unwrap(),
        "connected to c.example"
    );
    let fresh = registry().get("keyed-http:c.example").unwrap();
    assert_eq!(fresh.state(), State::Closed);
    assert_eq!(fresh.report().successes(), 1);
    assert_eq!(old.report().successes(), 0);
}

#[circuit(
    name = "keyed-db:{{{tenant}/{shard}}}",
    max_failures = 1,
    idle_ttl = "10m"
)]
async fn query(tenant: String, shard: u8, up: bool) -> anyhow::Result<u8> {
    tokio::task::yield_now().await;
    anyhow::ensure!(up, "shard {shard} of {tenant} is down");
    Ok(shard)
}

#[tokio::test]
async fn several_parameters_and_literal_braces() {
    query("acme".into(), 1, false).await.unwrap_err();
    assert_eq!(query("acme".into(), 2, true).await.unwrap(), 2);
    assert_eq!(query("initech".into(), 1, true).await.unwrap(), 1);
    assert_eq!(state("keyed-db:{acme/1}"), Some(State::Open));
    assert_eq!(state("keyed-db:{acme/2}"), Some(State::Closed));
    assert_eq!(state("keyed-db:{initech/1}"), Some(State::Closed));
    assert_eq!(
        registry()
            .get("keyed-db:{acme/2}")
            .unwrap()
            .settings()
            .get_idle_ttl(),
        Some(Duration::from_secs(600))
    );
}

struct Tenants {
    cache: &'static str,
}

impl Tenants {
    #[circuit(
        name = "keyed-tenant:{tenant}",
        max_failures = 1,
        cooldown = "1h",
        fallback = Self::cached
    )]
    fn load(&self, tenant: u32) -> io::Result<String> {
        if tenant == 0 {
            Err(io::Error::other("no tenant 0"))
        } else {
            Ok(format!("tenant {tenant}"))
        }
    }

    fn cached(&self, tenant: u32) -> io::Result<String> {
        Ok(format!("{} {tenant}", self.cache))
    }
}

#[test]
fn a_keyed_method_with_a_fallback_answers_for_its_open_key_only() {
    let tenants = Tenants { cache: "cached" };
    tenants.load(0).unwrap_err();
    assert_eq!(tenants.load(0).unwrap(), "cached 0");
    assert_eq!(tenants.load(1).unwrap(), "tenant 1");
    let report = registry().report();
    assert_eq!(report.get("keyed-tenant:0").unwrap().rejections(), 1);
    assert_eq!(report.get("keyed-tenant:1").unwrap().rejections(), 0);
}
