//! `#[circuit]` on every supported function shape: it keeps the function working, guards it
//! with a breaker of the expected name and settings, and trips it like the builder does.

mod common;

use std::error::Error as StdError;
use std::fmt::Display;
use std::io;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use breaker::{Breaker, Settings, State, circuit, registry};
use common::io_circuit_error;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The global breaker named `name`, which must exist by now.
fn breaker_named(name: &str) -> Arc<Breaker> {
    registry().get(name).unwrap_or_else(|| {
        panic!(
            "no breaker `{name}`; have: {:?}",
            registry()
                .report()
                .iter()
                .map(|b| b.name().to_owned())
                .collect::<Vec<_>>()
        )
    })
}

static FREE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[circuit(max_failures = 2, cooldown = "1h")]
fn free_fn(input: &str) -> Result<u32, BoxError> {
    FREE_RUNS.fetch_add(1, Ordering::SeqCst);
    if input.is_empty() {
        return Err("empty input".into());
    }
    let n: u32 = input.parse()?;
    Ok(n * 2)
}

#[test]
fn a_free_function_keeps_return_and_question_mark_and_trips() {
    assert_eq!(free_fn("21").unwrap(), 42);
    let breaker = breaker_named("macro_shapes::free_fn");
    assert_eq!(
        breaker.settings(),
        &Settings::default()
            .max_failures(2)
            .cooldown(Duration::from_secs(3600))
    );
    assert_eq!(
        free_fn("").unwrap_err().to_string(),
        "empty input",
        "early return is the body's own"
    );
    assert_eq!(breaker.failure_count(), 1);
    assert!(
        free_fn("x").unwrap_err().is::<std::num::ParseIntError>(),
        "`?` converts as written"
    );
    assert_eq!(breaker.state(), State::Open);
    let runs = FREE_RUNS.load(Ordering::SeqCst);
    let err = free_fn("1").unwrap_err();
    assert!(
        matches!(err.downcast_ref::<breaker::Error>(), Some(breaker::Error::Open { name, .. }) if name == "macro_shapes::free_fn")
    );
    assert_eq!(
        FREE_RUNS.load(Ordering::SeqCst),
        runs,
        "the body must not run while open"
    );
    breaker.half_open();
    assert_eq!(free_fn("2").unwrap(), 4);
    assert_eq!(breaker.state(), State::Closed);
    let report = breaker.report();
    assert_eq!(
        (report.successes(), report.failures(), report.rejections()),
        (2, 2, 1)
    );
}

#[circuit(
    max_failures = 3,
    cooldown = "1m30s",
    half_open_calls = 2,
    success_threshold = 4
)]
fn every_key() -> io::Result<()> {
    Ok(())
}

#[circuit(cooldown = "250ms")]
fn cooldown_ms() -> io::Result<()> {
    Ok(())
}

#[circuit(cooldown = "5m")]
fn cooldown_minutes() -> io::Result<()> {
    Ok(())
}

#[circuit(cooldown = "1h2m3s4ms")]
fn cooldown_compound() -> io::Result<()> {
    Ok(())
}

#[circuit]
fn no_keys() -> io::Result<()> {
    Ok(())
}

#[test]
fn every_key_reaches_the_breaker_settings() {
    every_key().unwrap();
    cooldown_ms().unwrap();
    cooldown_minutes().unwrap();
    cooldown_compound().unwrap();
    no_keys().unwrap();
    assert_eq!(
        breaker_named("macro_shapes::every_key").settings(),
        &Settings::default()
            .max_failures(3)
            .cooldown(Duration::from_secs(90))
            .half_open_calls(2)
            .success_threshold(4)
    );
    let cooldown = |name| breaker_named(name).settings().get_cooldown();
    assert_eq!(
        cooldown("macro_shapes::cooldown_ms"),
        Duration::from_millis(250)
    );
    assert_eq!(
        cooldown("macro_shapes::cooldown_minutes"),
        Duration::from_secs(300)
    );
    assert_eq!(
        cooldown("macro_shapes::cooldown_compound"),
        Duration::from_millis(3_723_004)
    );
    assert_eq!(
        breaker_named("macro_shapes::no_keys").settings(),
        &Settings::default()
    );
}

#[circuit(half_open_calls = 2, success_threshold = 2, max_failures = 1)]
fn trial_shape(fail: bool) -> io::Result<u8> {
    if fail {
        Err(io::Error::other("down"))
    } else {
        Ok(1)
    }
}

#[test]
fn half_open_calls_and_success_threshold_from_the_macro_behave() {
    trial_shape(true).unwrap_err();
    let breaker = breaker_named("macro_shapes::trial_shape");
    assert_eq!(breaker.state(), State::Open);
    breaker.half_open();
    let a = breaker.acquire().unwrap();
    let b = breaker.acquire().unwrap();
    let err = trial_shape(false).unwrap_err();
    assert!(
        matches!(io_circuit_error(&err), breaker::Error::HalfOpenFull { .. }),
        "{err:?}"
    );
    drop((a, b));
    trial_shape(false).unwrap();
    assert_eq!(breaker.state(), State::HalfOpen, "two successes needed");
    trial_shape(false).unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[circuit]
fn borrowed<'a>(text: &'a str, sep: char) -> Result<&'a str, io::Error> {
    text.split(sep)
        .next()
        .ok_or_else(|| io::Error::other("empty"))
}

#[circuit]
fn patterns((a, b): (u32, u32), mut extra: Vec<u32>) -> io::Result<u32> {
    extra.push(a);
    extra.push(b);
    Ok(extra.iter().sum())
}

#[circuit]
fn impl_trait_arg(items: impl IntoIterator<Item = u32>, label: impl Display) -> io::Result<String> {
    Ok(format!("{label}: {}", items.into_iter().sum::<u32>()))
}

#[circuit]
fn impl_trait_ok() -> Result<impl Display, io::Error> {
    Ok(42)
}

#[circuit]
fn generic<T>(text: &str) -> Result<T, BoxError>
where
    T: FromStr,
    T::Err: StdError + Send + Sync + 'static,
{
    Ok(text.parse()?)
}

#[circuit]
fn r#type() -> io::Result<&'static str> {
    Ok("raw")
}

#[circuit]
unsafe fn unsafe_fn(ptr: *const u32) -> io::Result<u32> {
    // SAFETY: the caller passes a valid pointer.
    Ok(unsafe { *ptr })
}

#[test]
fn signatures_with_lifetimes_patterns_impl_trait_and_generics_work() {
    assert_eq!(borrowed("a,b", ',').unwrap(), "a");
    assert_eq!(patterns((1, 2), vec![3]).unwrap(), 6);
    assert_eq!(impl_trait_arg([1, 2, 3], "sum").unwrap(), "sum: 6");
    assert_eq!(impl_trait_ok().unwrap().to_string(), "42");
    assert_eq!(generic::<u8>("7").unwrap(), 7);
    assert_eq!(generic::<i64>("-7").unwrap(), -7);
    assert!(generic::<u8>("300").is_err());
    assert_eq!(r#type().unwrap(), "raw");
    let value = 5;
    // SAFETY: `value` outlives the call.
    assert_eq!(unsafe { unsafe_fn(&value) }.unwrap(), 5);

    for name in [
        "borrowed",
        "patterns",
        "impl_trait_arg",
        "impl_trait_ok",
        "type",
        "unsafe_fn",
    ] {
        let report = breaker_named(&format!("macro_shapes::{name}")).report();
        assert_eq!(report.successes(), 1, "{name}");
    }
    let generic = breaker_named("macro_shapes::generic").report();
    assert_eq!(
        (generic.successes(), generic.failures()),
        (2, 1),
        "one breaker for every instantiation"
    );
}

mod inner {
    use super::*;

    pub(crate) struct Client {
        pub(crate) calls: u32,
        pub(crate) healthy: bool,
    }

    impl Client {
        #[circuit(max_failures = 2)]
        pub(crate) fn by_ref(&self) -> io::Result<u32> {
            if self.healthy {
                Ok(self.calls)
            } else {
                Err(io::Error::other("down"))
            }
        }

        #[circuit]
        pub(crate) fn by_mut(&mut self) -> io::Result<u32> {
            self.calls += 1;
            Ok(self.calls)
        }

        #[circuit]
        pub(crate) fn by_value(self) -> io::Result<u32> {
            Ok(self.calls * 100)
        }

        #[circuit]
        pub(crate) fn by_box(self: Box<Self>) -> io::Result<u32> {
            Ok(self.calls + 1000)
        }

        /// An associated function: no `self`, so named like a free function.
        #[circuit]
        pub(crate) fn connect(healthy: bool) -> io::Result<Client> {
            Ok(Client { calls: 0, healthy })
        }
    }
}

#[test]
fn methods_taking_self_in_every_way_work_and_are_named_after_their_type() {
    let mut client = inner::Client::connect(true).unwrap();
    assert_eq!(client.by_mut().unwrap(), 1);
    assert_eq!(client.by_mut().unwrap(), 2);
    assert_eq!(client.by_ref().unwrap(), 2);
    assert_eq!(
        Box::new(inner::Client::connect(true).unwrap())
            .by_box()
            .unwrap(),
        1000
    );
    assert_eq!(client.by_value().unwrap(), 200);

    assert_eq!(
        std::any::type_name::<inner::Client>(),
        "macro_shapes::inner::Client"
    );
    assert_eq!(
        breaker_named("macro_shapes::inner::Client::by_mut")
            .report()
            .successes(),
        2
    );
    assert_eq!(
        breaker_named("macro_shapes::inner::Client::by_ref")
            .report()
            .successes(),
        1
    );
    assert_eq!(
        breaker_named("macro_shapes::inner::Client::by_value")
            .report()
            .successes(),
        1
    );
    assert_eq!(
        breaker_named("macro_shapes::inner::Client::by_box")
            .report()
            .successes(),
        1
    );
    assert_eq!(
        breaker_named("macro_shapes::inner::Client::connect")
            .report()
            .successes(),
        2
    );

    let sick = inner::Client::connect(false).unwrap();
    sick.by_ref().unwrap_err();
    sick.by_ref().unwrap_err();
    let err = client_by_ref_rejected();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

fn client_by_ref_rejected() -> io::Error {
    let healthy = inner::Client {
        calls: 0,
        healthy: true,
    };
    healthy
        .by_ref()
        .expect_err("the breaker is shared by every Client: open for all")
}

trait Fetch {
    fn fetch(&self, key: u32) -> io::Result<u32>;
}

pub(crate) struct Cache;

impl Fetch for Cache {
    #[circuit(max_failures = 1)]
    fn fetch(&self, key: u32) -> io::Result<u32> {
        if key == 0 {
            Err(io::Error::other("miss"))
        } else {
            Ok(key)
        }
    }
}

#[test]
fn trait_impl_methods_are_guarded_and_work_through_dyn() {
    let cache: &dyn Fetch = &Cache;
    assert_eq!(cache.fetch(3).unwrap(), 3);
    cache.fetch(0).unwrap_err();
    let breaker = breaker_named("<macro_shapes::Cache as macro_shapes::Fetch>::fetch");
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        cache.fetch(3).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

pub(crate) struct Wrapper<T>(T);

impl<T: Clone> Wrapper<T> {
    #[circuit]
    fn get(&self) -> io::Result<T> {
        Ok(self.0.clone())
    }
}

#[test]
fn a_generic_impl_has_one_breaker_named_without_generics() {
    assert_eq!(Wrapper(1u8).get().unwrap(), 1);
    assert_eq!(Wrapper("s").get().unwrap(), "s");
    assert_eq!(
        breaker_named("macro_shapes::Wrapper<_>::get")
            .report()
            .successes(),
        2
    );
}
