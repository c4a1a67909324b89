//! Keyed names assembled without `core::fmt`: whatever the parameters' types, a keyed function's
//! breaker is the one `format!` names, and the call runs with it (inside the registry's guard
//! for sync functions, holding a reference count for async ones).

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::sync::Arc;

use breaker::{State, circuit, registry};

fn exists(name: &str) -> bool {
    registry().get(name).is_some()
}

#[circuit(name = "keyed-int:{a}/{b}/{c}/{d}/{e}")]
fn integers(a: u8, b: i64, c: usize, d: u64, e: i16) -> io::Result<String> {
    Ok(format!("{a}/{b}/{c}/{d}/{e}"))
}

#[test]
fn integer_keys_name_the_breaker_format_names() {
    for (a, b, c, d, e) in [
        (0, 0, 0, 0, 0),
        (7, -1, 42, 10_000_000_000_000_000, -300),
        (u8::MAX, i64::MIN, usize::MAX, u64::MAX, i16::MIN),
    ] {
        let text = integers(a, b, c, d, e).unwrap();
        let name = format!("keyed-int:{text}");
        assert_eq!(name, format!("keyed-int:{a}/{b}/{c}/{d}/{e}"));
        assert!(exists(&name), "{name}");
    }
}

#[circuit(name = "keyed-str:{host}:{tenant}:{region}:{flag}:{grade}")]
fn strings(
    host: &str,
    tenant: String,
    region: Cow<'_, str>,
    flag: bool,
    grade: char,
) -> io::Result<usize> {
    Ok(host.len() + tenant.len() + region.len() + usize::from(flag) + grade.len_utf8())
}

#[test]
fn string_char_and_bool_keys_name_the_breaker_format_names() {
    strings("a.example", "acme".into(), "eu".into(), true, 'é').unwrap();
    assert!(exists("keyed-str:a.example:acme:eu:true:é"));
    // Long enough to leave the three inline words, and to leave the stack buffer.
    let long = "h".repeat(40);
    strings(&long, "t".repeat(150), Cow::Owned("x".into()), false, '€').unwrap();
    assert!(exists(&format!(
        "keyed-str:{long}:{}:x:false:€",
        "t".repeat(150)
    )));
}

/// A type without a faster way: formatted with `Display`.
struct Shard(u32);

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard-{:03}", self.0)
    }
}

#[circuit(name = "keyed-display:{shard}:{ratio}")]
fn display(shard: &Shard, ratio: f32) -> io::Result<u32> {
    Ok(shard.0 + ratio as u32)
}

#[circuit(name = "keyed-generic:{key}")]
fn generic<K: fmt::Display>(key: K) -> io::Result<()> {
    drop(key);
    Ok(())
}

#[test]
fn other_keys_are_formatted_with_display() {
    display(&Shard(7), 0.5).unwrap();
    assert!(exists("keyed-display:shard-007:0.5"));
    generic(Shard(3)).unwrap();
    generic(12_u8).unwrap();
    generic("text").unwrap();
    for name in ["shard-003", "12", "text"] {
        assert!(exists(&format!("keyed-generic:{name}")), "{name}");
    }
}

struct Client {
    calls: u32,
}

impl Client {
    #[circuit(name = "keyed-mut:{host}", max_failures = 1, cooldown = "1h")]
    fn call(&mut self, host: Arc<str>, up: bool) -> io::Result<u32> {
        self.calls += 1;
        if up {
            Ok(self.calls)
        } else {
            Err(io::Error::other("down"))
        }
    }
}

#[test]
fn a_sync_method_with_mut_self_runs_with_its_keys_breaker() {
    let mut client = Client { calls: 0 };
    assert_eq!(client.call("a".into(), true).unwrap(), 1);
    client.call("b".into(), false).unwrap_err();
    assert_eq!(registry().get("keyed-mut:b").unwrap().state(), State::Open);
    // Rejected without running; the other key is unaffected.
    client.call("b".into(), true).unwrap_err();
    assert_eq!(client.call("a".into(), true).unwrap(), 3);
}

#[circuit(name = "keyed-reentrant:{depth}")]
fn nested(depth: u32) -> io::Result<u32> {
    if depth == 0 {
        // Removing this call's own breaker while it runs: the call keeps a working breaker,
        // and the next call gets a fresh one.
        let removed = registry()
            .remove("keyed-reentrant:0")
            .expect("created by this call");
        assert_eq!(removed.state(), State::Closed);
        Ok(0)
    } else {
        Ok(nested(depth - 1)? + 1)
    }
}

#[test]
fn keyed_calls_nest_and_may_remove_their_own_breaker() {
    assert_eq!(nested(3).unwrap(), 3);
    assert!(!exists("keyed-reentrant:0"));
    assert!(exists("keyed-reentrant:3"));
    let first = registry().get("keyed-reentrant:1").unwrap();
    assert_eq!(first.report().successes(), 1);
    assert_eq!(nested(0).unwrap(), 0);
}

#[circuit(name = "keyed-async:{id}:{tenant}", max_failures = 1, cooldown = "1h")]
async fn fetch(id: u64, tenant: &str, up: bool) -> io::Result<u64> {
    tokio::task::yield_now().await;
    if up {
        Ok(id)
    } else {
        Err(io::Error::other("down"))
    }
}

#[tokio::test]
async fn async_keyed_functions_use_the_same_keys() {
    assert_eq!(fetch(17, "acme", true).await.unwrap(), 17);
    assert!(exists("keyed-async:17:acme"));
    fetch(18, "acme", false).await.unwrap_err();
    assert_eq!(
        registry().get("keyed-async:18:acme").unwrap().state(),
        State::Open
    );
    assert_eq!(fetch(17, "acme", true).await.unwrap(), 17);
}
