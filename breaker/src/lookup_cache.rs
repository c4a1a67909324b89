//! Each thread's cache of the breakers it looked up recently in the process-wide
//! [`registry()`](crate::registry()), in front of the registry's map.
//!
//! A hit costs a thread-local access, a few word comparisons and a load of the breaker's
//! [retired](crate::breaker::Breaker::retire) mark, in a line the call reads anyway: no epoch
//! guard, no reference count, no locked instruction. The map's own lookup pays for an epoch
//! guard whose exit is a locked swap, plus a probe through its table.
//!
//! The registry marks a breaker retired before it leaves the map, so a lookup that happens after
//! a removal (or sees the map without the breaker) finds the mark and asks the map instead.
//! Only the process-wide registry is cached: it is never dropped, so a cached breaker never
//! outlives its registry (or the registry's listeners through it).
//!
//! Only short names (up to [`SHORT`](crate::name::SHORT) bytes, the common `"http:{host}"` case)
//! are cached. A slot holds an `Arc` of its breaker, so a removed breaker stays allocated until
//! its slot is refilled or the thread exits: at most [`SLOTS`] breakers per thread.

use std::cell::{Cell, UnsafeCell};
use std::sync::Arc;

use crate::breaker::Breaker;

/// Slots per thread: 48 bytes each.
pub(crate) const SLOTS: usize = 64;

/// An occupied slot goes to a name that misses in it twice in a row, and otherwise to one miss
/// in this many: names looked up once each in turn (a scan over many hosts) then rarely pay
/// for a fill (a reference count taken and one dropped, on breakers not in any cache), while a
/// name used again and again soon gets its slot.
const FILL_ONE_IN: u32 = 64;

/// What a lookup asks the cache: a short name, as the registry hashes and compares it.
#[derive(Clone, Copy)]
pub(crate) struct Query {
    len: usize,
    words: [u64; 3],
}

impl Query {
    /// A multiply of the folded words: its top bits choose the slot.
    #[inline]
    fn hash(&self) -> u64 {
        let [a, b, c] = self.words;
        let folded = a ^ b.rotate_left(21) ^ c.rotate_left(42) ^ self.len as u64;
        folded.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    #[cfg(test)]
    fn slot(&self) -> usize {
        slot_of(self.hash())
    }
}

#[inline]
fn slot_of(hash: u64) -> usize {
    (hash >> (64 - SLOTS.trailing_zeros())) as usize
}

/// The query for a name of `len` bytes, if it is short enough to be cached (`words` is its
/// [`short_words`](crate::name::short_words)).
#[inline]
pub(crate) fn query(len: usize, words: Option<[u64; 3]>) -> Option<Query> {
    Some(Query { len, words: words? })
}

/// A cached lookup; empty while `breaker` is `None`.
struct Slot {
    len: usize,
    words: [u64; 3],
    breaker: Option<Arc<Breaker>>,
    /// The hash of the name that last missed here.
    missed: Cell<u64>,
}

impl Slot {
    const fn empty() -> Slot {
        Slot {
            len: 0,
            words: [0; 3],
            breaker: None,
            missed: Cell::new(0),
        }
    }

    /// Without a branch per field: on a miss, which field differs is unpredictable.
    #[inline]
    fn holds(&self, query: &Query) -> bool {
        let [a, b, c] = self.words;
        let [x, y, z] = query.words;
        (self.len ^ query.len) as u64 | (a ^ x) | (b ^ y) | (c ^ z) == 0
    }
}

struct Cache {
    /// Changed only while `lending` is 0, so that no breaker lent from a slot is dropped
    /// under the call using it.
    slots: UnsafeCell<[Slot; SLOTS]>,
    /// How many calls on this thread's stack are using a breaker lent from `slots` (more than
    /// one when a call looks up another breaker).
    lending: Cell<u32>,
    misses: Cell<u32>,
}

thread_local! {
    static CACHE: Cache = const {
        Cache {
            slots: UnsafeCell::new([const { Slot::empty() }; SLOTS]),
            lending: Cell::new(0),
            misses: Cell::new(0),
        }
    };
}

/// Ends a lend, also when the call panics.
struct Lend<'a>(&'a Cell<u32>);

impl Drop for Lend<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A slot that a miss decided to fill with the breaker the map will find.
pub(crate) struct Vacancy(usize);

/// Runs `call` with the breaker this thread cached for `query`, and marks it looked up. On a
/// miss (or while the thread is being torn down) gives `call` back, with the slot to
/// [`fill`] if this miss should take it: one that is empty or holds this name's retired
/// breaker, or an occupied one as [`FILL_ONE_IN`] says; never while a lent breaker is in use.
/// Deciding here keeps the common miss to one thread-local access.
#[inline]
pub(crate) fn lend<R, F: FnOnce(&Arc<Breaker>) -> R>(
    query: &Query,
    call: F,
) -> Result<R, (F, Option<Vacancy>)> {
    let Ok(cache) = CACHE.try_with(|cache| cache as *const Cache) else {
        return Err((call, None));
    };
    // SAFETY: the thread-local outlives this call: it is destroyed only after the thread's
    // code has returned, and `try_with` succeeded.
    let cache = unsafe { &*cache };
    let hash = query.hash();
    let index = slot_of(hash);
    // SAFETY: slots are written only by `fill`, only while nothing is lent, and never while a
    // reference from here is alive: the reference below lives until `call` returns, inside the
    // lend that keeps `fill` out.
    let slot = unsafe { &(*cache.slots.get())[index] };
    let mut stale = slot.breaker.is_none();
    if let Some(breaker) = &slot.breaker
        && slot.holds(query)
    {
        if breaker.mark_looked_up() {
            cache.lending.set(cache.lending.get() + 1);
            let _lend = Lend(&cache.lending);
            return Ok(call(breaker));
        }
        stale = true;
    }
    if cache.lending.get() != 0 {
        return Err((call, None));
    }
    if !stale && slot.missed.replace(hash) != hash {
        let misses = cache.misses.get().wrapping_add(1);
        cache.misses.set(misses);
        if misses % FILL_ONE_IN != 0 {
            return Err((call, None));
        }
    }
    Err((call, Some(Vacancy(index))))
}

/// Puts `breaker`, which the map just gave for `query`, in the slot a miss chose, unless it is
/// being removed.
#[cold]
#[inline(never)]
pub(crate) fn fill(vacancy: Vacancy, query: &Query, breaker: &Arc<Breaker>) {
    if breaker.is_retired() {
        return;
    }
    let _ = CACHE.try_with(|cache| {
        // Nothing ran between the miss and here that could lend a breaker.
        debug_assert_eq!(cache.lending.get(), 0);
        // SAFETY: nothing is lent, so no reference into the slots exists; the thread-local
        // is not shared with other threads.
        let slot = unsafe { &mut (*cache.slots.get())[vacancy.0] };
        let evicted = std::mem::replace(
            slot,
            Slot {
                len: query.len,
                words: query.words,
                breaker: Some(Arc::clone(breaker)),
                missed: Cell::new(0),
            },
        );
        // Dropping the evicted breaker may run arbitrary code (a last reference drops its
        // listeners); the slot is consistent by then.
        drop(evicted);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::short_words;

    fn breaker(name: &'static str) -> Arc<Breaker> {
        Arc::new(Breaker::builder(name).build().unwrap())
    }

    fn query_for(name: &str) -> Query {
        query(name.len(), short_words(name.as_bytes())).unwrap()
    }

    /// A lookup served by the cache: the name of the breaker lent, if any.
    fn lent_name(query: &Query) -> Option<String> {
        lend(query, |b| b.name().to_owned()).ok()
    }

    /// A lookup as the registry makes it, with `found` as what the map has: lent from the
    /// cache, or else offered to it.
    fn look_up(query: &Query, found: &Arc<Breaker>) -> Option<String> {
        match lend(query, |b| b.name().to_owned()) {
            Ok(name) => Some(name),
            Err((_, vacancy)) => {
                if let Some(vacancy) = vacancy {
                    fill(vacancy, query, found);
                }
                None
            }
        }
    }

    /// Another name than `name` and `taken`, in the slot of `name` or in another one.
    fn name_in_slot(name: &Query, same_slot: bool, taken: &[&Query]) -> Query {
        (0..)
            .map(|i| query_for(&format!("cache:{i}")))
            .find(|q| {
                (q.slot() == name.slot()) == same_slot
                    && !q.same_name(name)
                    && !taken.iter().any(|t| q.same_name(t))
            })
            .unwrap()
    }

    impl Query {
        fn same_name(&self, other: &Query) -> bool {
            self.len == other.len && self.words == other.words
        }
    }

    #[test]
    fn a_found_name_is_lent_from_then_on() {
        let q = query_for("cache:a");
        assert_eq!(
            look_up(&q, &breaker("cache:a")),
            None,
            "a miss fills an empty slot"
        );
        assert_eq!(lent_name(&q).as_deref(), Some("cache:a"));
        assert_eq!(lent_name(&name_in_slot(&q, true, &[])), None);
    }

    #[test]
    fn a_retired_breaker_is_not_lent_and_its_slot_is_refilled() {
        let q = query_for("cache:retired");
        let old = breaker("cache:retired");
        look_up(&q, &old);
        old.retire();
        assert_eq!(lent_name(&q), None);
        let new = breaker("cache:renewed");
        assert_eq!(look_up(&q, &new), None, "at once");
        assert_eq!(lent_name(&q).as_deref(), Some("cache:renewed"));
        let retired = breaker("cache:never");
        retired.retire();
        let other = name_in_slot(&q, false, &[]);
        look_up(&other, &retired);
        assert_eq!(
            lent_name(&other),
            None,
            "a retired breaker is never filled in"
        );
    }

    #[test]
    fn long_names_are_not_cached() {
        let name = "cache:a-name-longer-than-24-bytes";
        assert!(query(name.len(), short_words(name.as_bytes())).is_none());
    }

    #[test]
    fn a_name_missing_twice_in_a_row_takes_an_occupied_slot() {
        let first = query_for("cache:first");
        look_up(&first, &breaker("cache:first"));
        let other = name_in_slot(&first, true, &[]);
        let other_breaker = breaker("cache:other");
        assert_eq!(look_up(&other, &other_breaker), None);
        assert_eq!(
            lent_name(&first).as_deref(),
            Some("cache:first"),
            "not at once"
        );
        assert_eq!(look_up(&other, &other_breaker), None);
        assert_eq!(
            lent_name(&other).as_deref(),
            Some("cache:other"),
            "at the second"
        );
        assert_eq!(lent_name(&first), None, "the slot holds one name");
    }

    #[test]
    fn names_missing_in_turn_rarely_take_an_occupied_slot() {
        let first = query_for("cache:first");
        look_up(&first, &breaker("cache:first"));
        let (a, b) = (name_in_slot(&first, true, &[]), breaker("cache:a"));
        let c = name_in_slot(&first, true, &[&a]);
        let d = breaker("cache:c");
        let mut taken_after = None;
        for miss in 1..=2 * FILL_ONE_IN {
            let (name, found) = if miss % 2 == 0 { (&a, &b) } else { (&c, &d) };
            look_up(name, found);
            if lent_name(&first).is_none() {
                taken_after = Some(miss);
                break;
            }
        }
        assert_eq!(taken_after, Some(FILL_ONE_IN), "one miss in FILL_ONE_IN");
    }

    #[test]
    fn nothing_is_filled_while_a_breaker_is_lent() {
        let q = query_for("cache:lent");
        look_up(&q, &breaker("cache:lent"));
        // In an empty slot, it would otherwise be filled at its first miss.
        let inner = name_in_slot(&q, false, &[]);
        let inner_breaker = breaker("cache:inner");
        let nested = lend(&q, |outer| {
            let inner_lookup = look_up(&inner, &inner_breaker);
            (outer.name().to_owned(), inner_lookup, lent_name(&inner))
        });
        assert_eq!(nested.ok(), Some(("cache:lent".to_owned(), None, None)));
        look_up(&inner, &inner_breaker);
        assert_eq!(lent_name(&inner).as_deref(), Some("cache:inner"));
    }

    #[test]
    fn a_panicking_call_ends_its_lend() {
        let q = query_for("cache:panics");
        look_up(&q, &breaker("cache:panics"));
        let panicked = std::panic::catch_unwind(|| lend(&q, |_| panic!("inside the call")).is_ok());
        assert!(panicked.is_err());
        CACHE.with(|cache| assert_eq!(cache.lending.get(), 0));
    }

    #[test]
    fn a_hit_marks_the_breaker_looked_up() {
        let q = query_for("cache:marks");
        let b = breaker("cache:marks");
        look_up(&q, &b);
        assert!(!b.take_looked_up());
        assert!(lend(&q, |_| ()).is_ok());
        assert!(b.take_looked_up());
    }
}
