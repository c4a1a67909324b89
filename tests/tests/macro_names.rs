//! Default names: without `name`, a breaker is named after the function's path as the compiler
//! spells it, impl header included, so functions in different impls never share a breaker.

use std::io;

use breaker::{State, circuit, registry};

fn exists(name: &str) -> bool {
    registry().get(name).is_some()
}

/// The names of the global registry, for failure messages.
fn names() -> Vec<String> {
    registry()
        .report()
        .iter()
        .map(|breaker| breaker.name().to_owned())
        .collect()
}

#[circuit]
fn free() -> io::Result<()> {
    Ok(())
}

#[circuit]
async fn free_async() -> io::Result<()> {
    Ok(())
}

mod inner {
    #[breaker::circuit]
    pub(crate) fn connect() -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn free_functions_are_named_by_their_path() {
    free().unwrap();
    free_async().await.unwrap();
    inner::connect().unwrap();
    for name in [
        "macro_names::free",
        "macro_names::free_async",
        "macro_names::inner::connect",
    ] {
        assert!(exists(name), "no `{name}` in {:?}", names());
    }
}

struct Shard<T>(T);
struct Left;
struct Right;

impl Shard<Left> {
    #[circuit(max_failures = 1, cooldown = "1h")]
    fn ping(&self, fail: bool) -> io::Result<&'static str> {
        if fail {
            Err(io::Error::other("left down"))
        } else {
            Ok("left")
        }
    }

    #[circuit]
    fn open() -> io::Result<Self> {
        Ok(Shard(Left))
    }
}

impl Shard<Right> {
    #[circuit(max_failures = 1, cooldown = "1h")]
    fn ping(&self, fail: bool) -> io::Result<&'static str> {
        if fail {
            Err(io::Error::other("right down"))
        } else {
            Ok("right")
        }
    }
}

#[test]
fn methods_of_two_impls_of_one_generic_type_have_different_breakers() {
    let left = "macro_names::Shard<macro_names::Left>::ping";
    let right = "macro_names::Shard<macro_names::Right>::ping";
    Shard(Left).ping(true).unwrap_err();
    assert_eq!(
        Shard(Right).ping(false).unwrap(),
        "right",
        "Shard<Left>'s failure must not reject Shard<Right>"
    );
    assert_eq!(registry().get(left).map(|b| b.state()), Some(State::Open));
    assert_eq!(
        registry().get(right).map(|b| b.state()),
        Some(State::Closed),
        "{:?}",
        names()
    );
}

#[test]
fn associated_functions_without_self_are_named_by_their_impl() {
    let _ = Shard::<Left>::open().unwrap();
    assert!(
        exists("macro_names::Shard<macro_names::Left>::open"),
        "{:?}",
        names()
    );
}

trait Store {
    fn load(&self) -> io::Result<u8>;

    async fn save(&self) -> io::Result<u8>;

    #[circuit]
    fn describe(&self) -> io::Result<&'static str> {
        Ok("a store")
    }
}

impl Store for Left {
    #[circuit]
    fn load(&self) -> io::Result<u8> {
        Ok(1)
    }

    #[circuit]
    async fn save(&self) -> io::Result<u8> {
        Ok(1)
    }
}

impl Store for Right {
    #[circuit]
    fn load(&self) -> io::Result<u8> {
        Ok(2)
    }

    #[circuit]
    async fn save(&self) -> io::Result<u8> {
        Ok(2)
    }
}

#[tokio::test]
async fn trait_impl_methods_are_named_by_type_and_trait() {
    Left.load().unwrap();
    Right.load().unwrap();
    Left.save().await.unwrap();
    for name in [
        "<macro_names::Left as macro_names::Store>::load",
        "<macro_names::Right as macro_names::Store>::load",
        "<macro_names::Left as macro_names::Store>::save",
    ] {
        assert!(exists(name), "no `{name}` in {:?}", names());
    }
}

#[test]
fn a_default_trait_method_is_one_breaker_for_every_implementor() {
    Left.describe().unwrap();
    Right.describe().unwrap();
    let report = registry().report();
    let shared = report
        .get("macro_names::Store::describe")
        .unwrap_or_else(|| panic!("{:?}", names()));
    assert_eq!(shared.successes(), 2);
}

struct Cache<T>(T);

impl<T: Clone> Cache<Vec<T>> {
    #[circuit]
    fn first(&self) -> io::Result<Option<T>> {
        Ok(self.0.first().cloned())
    }
}

#[test]
fn a_generic_impl_is_one_breaker_for_all_its_instantiations() {
    Cache(vec![1_u8]).first().unwrap();
    Cache(vec!["a"]).first().unwrap();
    let report = registry().report();
    let generic: Vec<_> = report
        .iter()
        .filter(|b| b.name().starts_with("macro_names::Cache<") && b.name().ends_with(">::first"))
        .collect();
    assert_eq!(generic.len(), 1, "{:?}", names());
    assert_eq!(generic[0].successes(), 2);
}
