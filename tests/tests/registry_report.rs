//! Registries (global and isolated), lazily created breakers, conflicting declarations, and the
//! report: lookups, readiness answers and the aligned table.

mod common;

use std::sync::Arc;
use std::time::Duration;

use breaker::clock::ManualClock;
use breaker::{Breaker, Conflict, Registry, Settings, Site, State, circuit, registry};

fn site(line: u32) -> Option<Site> {
    Some(Site {
        file: file!(),
        line,
    })
}

/// `registry.get_or_create(name, settings)`, and the line it was called from. The registry
/// records its caller's location, which `#[track_caller]` makes this function's caller's.
#[track_caller]
fn declare(registry: &Registry, name: &'static str, settings: Settings) -> (Arc<Breaker>, u32) {
    let caller = std::panic::Location::caller();
    assert_eq!(caller.file(), file!());
    let breaker = registry.get_or_create(name, settings).unwrap();
    (breaker, caller.line())
}

#[test]
fn a_new_registry_is_isolated_from_the_global_one_and_from_others() {
    let mine = Registry::new();
    assert!(mine.is_empty());
    let db = mine
        .get_or_create("registry-isolated-db", Settings::default())
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert!(Arc::ptr_eq(&db, &mine.get("registry-isolated-db").unwrap()));
    assert!(
        registry().get("registry-isolated-db").is_none(),
        "leaked into the global registry"
    );
    assert!(registry().report().get("registry-isolated-db").is_none());
    let other = Registry::new();
    assert!(other.get("registry-isolated-db").is_none());
    let other_db = other
        .get_or_create("registry-isolated-db", Settings::default())
        .unwrap();
    db.force_open();
    assert_eq!(
        other_db.state(),
        State::Closed,
        "same name, different registries, different breakers"
    );
}

#[test]
fn the_global_registry_is_one_instance() {
    assert!(std::ptr::eq(registry(), registry()));
    let a = registry()
        .get_or_create("registry-global-one", Settings::default())
        .unwrap();
    let b = std::thread::spawn(|| registry().get("registry-global-one").unwrap())
        .join()
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn the_same_name_is_the_same_breaker_everywhere() {
    let registry = Registry::new();
    let a = registry
        .get_or_create("db", Settings::default().max_failures(1))
        .unwrap();
    let b = registry
        .get_or_create("db", Settings::default().max_failures(1))
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    a.acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
    assert!(
        registry.report().get("db").unwrap().conflicts().is_empty(),
        "same settings are no conflict"
    );
}

#[test]
fn the_same_name_from_many_threads_is_created_once() {
    let registry = Registry::new();
    let breakers: Vec<Arc<Breaker>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| registry.get_or_create("racy", Settings::default()).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(breakers.iter().all(|b| Arc::ptr_eq(b, &breakers[0])));
    assert_eq!(registry.len(), 1);
    assert!(
        registry
            .report()
            .get("racy")
            .unwrap()
            .conflicts()
            .is_empty()
    );
}

#[test]
fn a_conflicting_declaration_keeps_the_first_settings_and_lists_the_second_site() {
    let registry = Registry::new();
    let first_settings = Settings::default()
        .max_failures(3)
        .cooldown(Duration::from_secs(10));
    let second_settings = Settings::default().max_failures(7);
    let (first, first_line) = declare(&registry, "db", first_settings.clone());
    let (second, second_line) = declare(&registry, "db", second_settings.clone());
    assert!(Arc::ptr_eq(&first, &second), "the first declaration wins");
    assert_eq!(second.settings(), &first_settings);

    let report = registry.report();
    let db = report.get("db").unwrap();
    assert_eq!(db.settings(), &first_settings);
    assert_eq!(db.site(), site(first_line));
    assert_eq!(
        db.conflicts(),
        [Conflict {
            site: site(second_line),
            settings: second_settings.clone()
        }]
    );
    let table = report.to_string();
    let expected = format!(
        "conflict: `db` declared again at {}:{second_line} with {second_settings}; keeping {}:{first_line}",
        file!(),
        file!()
    );
    assert!(
        table.contains(&expected),
        "missing {expected:?} in\n{table}"
    );
}

#[test]
fn each_conflicting_site_is_listed_once() {
    let registry = Registry::new();
    registry.get_or_create("db", Settings::default()).unwrap();
    let mut lines = Vec::new();
    for _ in 0..10 {
        let (_, line) = declare(&registry, "db", Settings::default().max_failures(2));
        lines.push(line);
    }
    let (_, other) = declare(&registry, "db", Settings::default().half_open_calls(4));
    // A later declaration with the first's settings is not a conflict.
    registry.get_or_create("db", Settings::default()).unwrap();
    let report = registry.report();
    let sites: Vec<_> = report
        .get("db")
        .unwrap()
        .conflicts()
        .iter()
        .map(|c| c.site)
        .collect();
    assert_eq!(sites, [site(lines[0]), site(other)]);
    assert_eq!(report.to_string().matches("conflict:").count(), 2);
}

#[test]
fn insert_keeps_an_existing_breaker_and_remove_forgets_it() {
    let registry = Registry::new();
    let built = registry.insert(Breaker::builder("db").max_failures(2).build().unwrap());
    let again = registry.insert(Breaker::builder("db").max_failures(9).build().unwrap());
    assert!(Arc::ptr_eq(&built, &again));
    assert_eq!(again.settings(), &Settings::default().max_failures(2));
    let conflicts = registry.report().get("db").unwrap().conflicts().to_vec();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].site, None);
    assert!(
        registry
            .report()
            .to_string()
            .contains("declared again at a builder")
    );

    let removed = registry.remove("db").unwrap();
    assert!(Arc::ptr_eq(&removed, &built));
    assert!(registry.get("db").is_none());
    removed.force_open();
    let fresh = registry.get_or_create("db", Settings::default()).unwrap();
    assert_eq!(fresh.state(), State::Closed);
    assert!(registry.remove("nothing").is_none());
}

#[test]
fn breakers_of_a_registry_with_a_clock_share_it() {
    let clock = ManualClock::new();
    let registry = Registry::with_clock(clock.clone());
    let settings = Settings::default()
        .max_failures(1)
        .cooldown(Duration::from_secs(60));
    let a = registry.get_or_create("a", settings.clone()).unwrap();
    let b = registry.get_or_create("b", settings).unwrap();
    a.acquire().unwrap().failure();
    clock.advance(Duration::from_secs(30));
    b.acquire().unwrap().failure();
    assert_eq!(a.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(b.retry_after(), Some(Duration::from_secs(60)));
    clock.advance(Duration::from_secs(30));
    assert_eq!(a.state(), State::HalfOpen);
    assert_eq!(b.state(), State::Open);
}

/// A registry with one breaker in each state, on a manual clock.
fn zoo() -> (Registry, ManualClock) {
    let clock = ManualClock::new();
    let registry = Registry::with_clock(clock.clone());
    let settings = Settings::default()
        .max_failures(2)
        .cooldown(Duration::from_secs(60));
    let get = |name: &'static str| registry.get_or_create(name, settings.clone()).unwrap();

    let closed = get("closed");
    closed.acquire().unwrap().success();
    closed.acquire().unwrap().failure();

    let half = get("half-open");
    half.open();
    clock.advance(Duration::from_secs(60));

    let open = get("open");
    open.acquire().unwrap().success();
    open.acquire().unwrap().failure();
    open.acquire().unwrap().failure();
    let _ = open.acquire();
    clock.advance(Duration::from_millis(12_345));

    get("forced").force_open();
    get("disabled").disable();
    (registry, clock)
}

#[test]
fn the_report_lists_every_breaker_by_name_with_its_state_and_counts() {
    let (registry, _clock) = zoo();
    let report = registry.report();
    assert_eq!(report.len(), 5);
    assert!(!report.is_empty());
    let names: Vec<_> = report.iter().map(|b| b.name()).collect();
    assert_eq!(
        names,
        ["closed", "disabled", "forced", "half-open", "open"],
        "sorted by name"
    );
    let state = |name| report.get(name).unwrap().state();
    assert_eq!(state("closed"), State::Closed);
    assert_eq!(state("half-open"), State::HalfOpen);
    assert_eq!(state("open"), State::Open);
    assert_eq!(state("forced"), State::ForcedOpen);
    assert_eq!(state("disabled"), State::Disabled);
    assert!(report.get("missing").is_none());

    let closed = report.get("closed").unwrap();
    assert_eq!(
        (
            closed.successes(),
            closed.failures(),
            closed.rejections(),
            closed.failure_count()
        ),
        (1, 1, 0, 1)
    );
    assert_eq!(closed.retry_after(), None);
    let open = report.get("open").unwrap();
    assert_eq!(
        (
            open.successes(),
            open.failures(),
            open.rejections(),
            open.failure_count()
        ),
        (1, 2, 1, 0)
    );
    assert_eq!(
        open.retry_after(),
        Some(Duration::from_millis(60_000 - 12_345))
    );
    assert_eq!(
        open.settings(),
        &Settings::default()
            .max_failures(2)
            .cooldown(Duration::from_secs(60))
    );
    assert_eq!(report.get("forced").unwrap().retry_after(), None);
    assert_eq!(report.get("half-open").unwrap().retry_after(), None);
    assert_eq!((&report).into_iter().count(), 5);
}

#[test]
fn open_circuits_and_is_healthy_answer_readiness() {
    let (registry, _clock) = zoo();
    let report = registry.report();
    let open: Vec<_> = report.open_circuits().map(|b| b.name()).collect();
    assert_eq!(
        open,
        ["forced", "open"],
        "half-open and disabled breakers are not turning calls away"
    );
    assert!(!report.is_healthy());

    registry.get("open").unwrap().close();
    assert!(!registry.report().is_healthy());
    registry.get("forced").unwrap().close();
    let report = registry.report();
    assert!(report.is_healthy());
    assert_eq!(report.open_circuits().count(), 0);
    assert!(
        Registry::new().report().is_healthy(),
        "an empty registry is healthy"
    );
}

/// The character column where `needle` starts in `line`.
fn column(line: &str, needle: &str) -> usize {
    let byte = line
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {line:?}"));
    line[..byte].chars().count()
}

#[test]
fn the_table_is_aligned_and_shows_every_breaker() {
    let (registry, _clock) = zoo();
    registry
        .get_or_create("a-much-longer-breaker-name-ü", Settings::default())
        .unwrap()
        .acquire()
        .unwrap()
        .success();
    let table = registry.report().to_string();
    println!("{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 7, "a header and one row per breaker:\n{table}");
    let header = lines[0];
    for title in [
        "BREAKER", "STATE", "FAILING", "RETRY IN", "OK", "FAILED", "REJECTED", "SETTINGS",
    ] {
        assert!(header.contains(title), "header {header:?} lacks {title}");
    }
    assert!(header.starts_with("BREAKER"));
    let left = |title| column(header, title);
    let right = |title: &str| column(header, title) + title.chars().count();

    let row = |name: &str| -> Vec<char> {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{table}"));
        line.chars().collect()
    };
    let cell_at = |row: &[char], start: usize| -> String {
        row[start..].iter().take_while(|c| **c != ' ').collect()
    };
    let cell_ending = |row: &[char], end: usize| -> String {
        let mut cell: Vec<char> = row[..end]
            .iter()
            .rev()
            .take_while(|c| **c != ' ')
            .copied()
            .collect();
        cell.reverse();
        cell.into_iter().collect()
    };

    let expect = [
        ("closed", "closed", "1", "-", "1", "1", "0"),
        ("open", "open", "0", "47.7s", "1", "2", "1"),
        ("forced", "forced-open", "0", "-", "0", "0", "0"),
        ("half-open", "half-open", "0", "-", "0", "0", "0"),
        ("disabled", "disabled", "0", "-", "0", "0", "0"),
        (
            "a-much-longer-breaker-name-ü",
            "closed",
            "0",
            "-",
            "1",
            "0",
            "0",
        ),
    ];
    for (name, state, failing, retry, ok, failed, rejected) in expect {
        let row = row(name);
        assert_eq!(cell_at(&row, left("STATE")), state, "{name}\n{table}");
        assert_eq!(
            cell_ending(&row, right("FAILING")),
            failing,
            "{name}\n{table}"
        );
        // RETRY IN has a space in its title: compare the right edge.
        assert_eq!(
            cell_ending(&row, right("RETRY IN")),
            retry,
            "{name}\n{table}"
        );
        assert_eq!(cell_ending(&row, right("OK")), ok, "{name}\n{table}");
        assert_eq!(
            cell_ending(&row, right("FAILED")),
            failed,
            "{name}\n{table}"
        );
        assert_eq!(
            cell_ending(&row, right("REJECTED")),
            rejected,
            "{name}\n{table}"
        );
        let policy = if name.starts_with("a-much") {
            "consecutive(5),"
        } else {
            "consecutive(2),"
        };
        assert_eq!(cell_at(&row, left("SETTINGS")), policy, "{name}\n{table}");
    }
}

// ---- breakers created by the macro in the global registry ----

const FIRST_SITE_LINE: u32 = line!() + 1;
#[circuit(name = "registry-macro-conflict", max_failures = 3, cooldown = "10s")]
fn first_declaration(fail: bool) -> Result<(), breaker::Error> {
    if fail {
        Err(breaker::Error::ForcedOpen {
            name: "test".into(),
        })
    } else {
        Ok(())
    }
}

const SECOND_SITE_LINE: u32 = line!() + 1;
#[circuit(name = "registry-macro-conflict", max_failures = 4)]
fn second_declaration() -> Result<(), breaker::Error> {
    Ok(())
}

#[test]
fn two_macro_sites_with_different_settings_share_the_first_and_report_the_second() {
    first_declaration(false).unwrap();
    second_declaration().unwrap();
    let report = registry().report();
    let entry = report.get("registry-macro-conflict").unwrap();
    assert_eq!(
        entry.settings(),
        &Settings::default()
            .max_failures(3)
            .cooldown(Duration::from_secs(10)),
        "the site called first wins"
    );
    assert_eq!(entry.site(), site(FIRST_SITE_LINE));
    assert_eq!(entry.conflicts().len(), 1, "{:?}", entry.conflicts());
    assert_eq!(entry.conflicts()[0].site, site(SECOND_SITE_LINE));
    assert_eq!(
        entry.conflicts()[0].settings,
        Settings::default().max_failures(4)
    );
    let table = report.to_string();
    let expected = format!(
        "conflict: `registry-macro-conflict` declared again at {}:{SECOND_SITE_LINE} with consecutive(4), cooldown 30.0s; keeping {}:{FIRST_SITE_LINE}",
        file!(),
        file!()
    );
    assert!(
        table.contains(&expected),
        "missing {expected:?} in\n{table}"
    );
    // One breaker: three failures through the first function reject the second.
    for _ in 0..3 {
        first_declaration(true).unwrap_err();
    }
    assert!(matches!(
        second_declaration(),
        Err(breaker::Error::Open { .. })
    ));
}

#[circuit(name = "registry-macro-report", max_failures = 2)]
fn reported() -> std::io::Result<()> {
    Ok(())
}

#[test]
fn a_macro_breaker_appears_in_the_global_report_once_called() {
    assert!(
        registry().get("registry-macro-report").is_none(),
        "created lazily, on the first call"
    );
    reported().unwrap();
    reported().unwrap();
    let report = registry().report();
    let entry = report.get("registry-macro-report").unwrap();
    assert_eq!(entry.successes(), 2);
    assert_eq!(entry.state(), State::Closed);
    assert_eq!(entry.site().map(|s| s.file), Some(file!()));
    assert!(
        report
            .to_string()
            .lines()
            .any(|l| l.starts_with("registry-macro-report "))
    );
}

#[test]
fn names_built_at_run_time_work_like_literals() {
    let registry = Registry::new();
    for tenant in 0..20 {
        let name = format!("tenant-{tenant}");
        registry
            .get_or_create(name, Settings::default().max_failures(1))
            .unwrap();
    }
    assert_eq!(registry.len(), 20);
    let seven = registry.get("tenant-7").unwrap();
    seven.acquire().unwrap().failure();
    assert_eq!(seven.name(), "tenant-7");
    let err = seven.acquire().unwrap_err();
    assert_eq!(err.name(), "tenant-7");
    let report = registry.report();
    let open: Vec<_> = report.open_circuits().map(|b| b.name()).collect();
    assert_eq!(open, ["tenant-7"]);
}

#[test]
fn invalid_settings_create_nothing() {
    let registry = Registry::new();
    let err = registry
        .get_or_create("bad", Settings::default().half_open_calls(0))
        .unwrap_err();
    assert_eq!(err.field(), "half_open_calls");
    assert!(registry.get("bad").is_none());
    assert!(registry.is_empty());
}
