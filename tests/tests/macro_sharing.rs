//! Which functions share a breaker: the same `name` shares one; default names keep functions
//! of different types and modules apart; each function caches its breaker.

mod common;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use breaker::{State, circuit, registry};

static READS: AtomicUsize = AtomicUsize::new(0);
static WRITES: AtomicUsize = AtomicUsize::new(0);

struct Db {
    up: bool,
}

impl Db {
    #[circuit(name = "sharing-db", max_failures = 3)]
    fn read(&self) -> io::Result<u32> {
        READS.fetch_add(1, Ordering::SeqCst);
        if self.up {
            Ok(1)
        } else {
            Err(io::Error::other("read failed"))
        }
    }

    #[circuit(name = "sharing-db", max_failures = 3)]
    fn write(&mut self, value: u32) -> io::Result<u32> {
        WRITES.fetch_add(1, Ordering::SeqCst);
        if self.up {
            Ok(value)
        } else {
            Err(io::Error::other("write failed"))
        }
    }
}

#[test]
fn two_methods_with_one_name_share_one_breaker() {
    let mut db = Db { up: false };
    db.read().unwrap_err();
    db.write(1).unwrap_err();
    assert_eq!(
        registry().get("sharing-db").unwrap().failure_count(),
        2,
        "both count on one breaker"
    );
    db.read().unwrap_err(); // the third failure in a row, across both methods, opens it
    let breaker = registry().get("sharing-db").unwrap();
    assert_eq!(breaker.state(), State::Open);

    db.up = true;
    let writes = WRITES.load(Ordering::SeqCst);
    let err = db.write(2).unwrap_err();
    assert_eq!(
        err.kind(),
        io::ErrorKind::ConnectionRefused,
        "failures in read opened it for write"
    );
    assert_eq!(
        WRITES.load(Ordering::SeqCst),
        writes,
        "the rejected write never ran"
    );
    let reads = READS.load(Ordering::SeqCst);
    db.read().unwrap_err();
    assert_eq!(READS.load(Ordering::SeqCst), reads);
    let report = registry().report();
    let entry = report.get("sharing-db").unwrap();
    assert_eq!((entry.failures(), entry.rejections()), (3, 2));
    assert!(
        entry.conflicts().is_empty(),
        "same settings at both sites are no conflict"
    );

    breaker.half_open();
    assert_eq!(
        db.write(3).unwrap(),
        3,
        "a trial through write closes it for read too"
    );
    assert_eq!(db.read().unwrap(), 1);
}

#[circuit(name = "sharing-mixed", max_failures = 1)]
fn free_side() -> io::Result<()> {
    Err(io::Error::other("down"))
}

struct Other;

impl Other {
    #[circuit(name = "sharing-mixed", max_failures = 1)]
    async fn async_side(&self) -> io::Result<u8> {
        Ok(1)
    }
}

#[tokio::test]
async fn a_free_function_and_an_async_method_can_share_a_name() {
    assert_eq!(Other.async_side().await.unwrap(), 1);
    free_side().unwrap_err();
    let err = Other.async_side().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

struct Alpha;
struct Beta;

impl Alpha {
    #[circuit(max_failures = 1)]
    fn fetch(&self, fail: bool) -> io::Result<&'static str> {
        if fail {
            Err(io::Error::other("alpha down"))
        } else {
            Ok("alpha")
        }
    }
}

impl Beta {
    #[circuit(max_failures = 1)]
    fn fetch(&self, fail: bool) -> io::Result<&'static str> {
        if fail {
            Err(io::Error::other("beta down"))
        } else {
            Ok("beta")
        }
    }
}

#[test]
fn same_named_methods_of_different_types_get_different_breakers() {
    assert_eq!(Beta.fetch(false).unwrap(), "beta");
    Alpha.fetch(true).unwrap_err();
    let alpha = registry()
        .get("macro_sharing::Alpha::fetch")
        .expect("default name is type path + fn");
    let beta = registry()
        .get("macro_sharing::Beta::fetch")
        .expect("default name is type path + fn");
    assert!(!Arc::ptr_eq(&alpha, &beta));
    assert_eq!(alpha.state(), State::Open);
    assert_eq!(beta.state(), State::Closed);
    assert_eq!(
        Beta.fetch(false).unwrap(),
        "beta",
        "Alpha's failures do not reject Beta"
    );
    assert_eq!(
        Alpha.fetch(false).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

mod north {
    use super::*;

    #[circuit(max_failures = 1)]
    pub(crate) fn lookup(fail: bool) -> io::Result<&'static str> {
        if fail {
            Err(io::Error::other("north down"))
        } else {
            Ok("north")
        }
    }
}

mod south {
    use super::*;

    #[circuit(max_failures = 1)]
    pub(crate) fn lookup(fail: bool) -> io::Result<&'static str> {
        if fail {
            Err(io::Error::other("south down"))
        } else {
            Ok("south")
        }
    }
}

#[circuit]
fn top_level() -> io::Result<()> {
    Ok(())
}

#[test]
fn a_free_function_is_named_by_module_path_and_name() {
    top_level().unwrap();
    let name = concat!(module_path!(), "::top_level");
    assert_eq!(name, "macro_sharing::top_level");
    assert_eq!(
        registry()
            .get(name)
            .expect("module_path::fn_name")
            .report()
            .successes(),
        1
    );

    assert_eq!(south::lookup(false).unwrap(), "south");
    north::lookup(true).unwrap_err();
    let north = registry().get("macro_sharing::north::lookup").unwrap();
    let south = registry().get("macro_sharing::south::lookup").unwrap();
    assert_eq!(north.state(), State::Open);
    assert_eq!(south.state(), State::Closed);
    assert_eq!(
        south::lookup(false).unwrap(),
        "south",
        "same fn name, other module, other breaker"
    );
}

#[circuit(name = "sharing-cached", max_failures = 1)]
fn cached(fail: bool) -> io::Result<()> {
    if fail {
        Err(io::Error::other("down"))
    } else {
        Ok(())
    }
}

#[test]
fn each_function_caches_its_breaker_after_the_first_call() {
    cached(false).unwrap();
    let first = registry()
        .remove("sharing-cached")
        .expect("created by the first call");
    // The function keeps its breaker: the registry is not consulted again.
    cached(true).unwrap_err();
    assert!(registry().get("sharing-cached").is_none());
    assert_eq!(first.state(), State::Open);
    assert_eq!(first.report().failures(), 1);
    assert_eq!(
        cached(false).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

struct Shard<T>(T);
struct Left;
struct Right;

impl Shard<Left> {
    #[circuit(max_failures = 1)]
    fn ping(&self, fail: bool) -> io::Result<&'static str> {
        if fail {
            Err(io::Error::other("left down"))
        } else {
            Ok("left")
        }
    }
}

impl Shard<Right> {
    #[circuit(max_failures = 1)]
    fn ping(&self, fail: bool) -> io::Result<&'static str> {
        if fail {
            Err(io::Error::other("right down"))
        } else {
            Ok("right")
        }
    }
}

#[test]
fn methods_of_separate_impls_for_different_instantiations_do_not_share() {
    assert_eq!(Shard(Right).ping(false).unwrap(), "right");
    Shard(Left).ping(true).unwrap_err();
    let right = Shard(Right).ping(false);
    assert!(
        right.is_ok(),
        "Shard<Left>'s failure rejected Shard<Right>: {right:?}"
    );
}
