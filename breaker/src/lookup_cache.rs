//! Each thread's cache of the breakers it looked up recently, in front of a registry's map.
//!
//! A hit costs a thread-local access, a few word comparisons and one load of the registry's
//! [stamp](Stamp): no epoch guard, no reference count, no locked instruction. The map's own
//! lookup pays for an epoch guard whose exit is a locked swap, plus a probe through its table.
//!
//! A slot remembers the stamp its registry had when the slot was filled. A registry takes a
//! new stamp whenever it removes a breaker, so a slot filled before a removal no longer
//! matches and the next lookup goes to the map. Stamps come from one process-wide counter, so
//! they also tell registries apart, and a dropped registry's slots never match again.
//!
//! Only short names (up to [`SHORT`](crate::name::SHORT) bytes, the common `"http:{host}"` case) are cached. A
//! slot holds an `Arc` of its breaker, so a breaker that was removed, or whose registry was
//! dropped, stays allocated until its slot is refilled or the thread exits: at most
//! [`SLOTS`] breakers per thread.

use std::cell::{Cell, UnsafeCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::breaker::Breaker;

/// Slots per thread: 48 bytes each.
pub(crate) const SLOTS: usize = 64;

/// One fill in this many misses of an occupied slot, so that keys looked up once each in turn
/// (a scan over many hosts) do not pay a reference count per lookup to evict each other,
/// while a key looked up again and again gets its slot after a few misses.
const FILL_ONE_IN: u32 = 16;

/// A registry's state as caches see it: a value drawn from a process-wide counter when the
/// registry is made, and again each time it removes a breaker.
pub(crate) struct Stamp(AtomicU64);

/// Never a registry's stamp: marks an empty slot.
const EMPTY: u64 = 0;

fn next_stamp() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(EMPTY + 1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Stamp {
    pub(crate) fn new() -> Stamp {
        Stamp(AtomicU64::new(next_stamp()))
    }

    /// Called after a breaker left the map. Slots filled under any earlier stamp stop
    /// matching. `fetch_max` keeps concurrent removals from storing an older stamp over a
    /// newer one; being a read-modify-write, it also makes a reader that sees the final stamp
    /// see every removal made before it.
    pub(crate) fn renew(&self) {
        self.0.fetch_max(next_stamp(), Ordering::Release);
    }

    /// The stamp to look up and fill with. Read before the map, so that a fill never carries a
    /// stamp newer than what the map showed.
    #[inline]
    pub(crate) fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// What a lookup asks the cache: a short name, as the registry hashes and compares it, under
/// its registry's current stamp.
#[derive(Clone, Copy)]
pub(crate) struct Query {
    pub(crate) stamp: u64,
    pub(crate) len: usize,
    pub(crate) words: [u64; 3],
}

impl Query {
    /// The slot this name maps to: a multiply of the folded words, keeping the top bits.
    #[inline]
    fn slot(&self) -> usize {
        let [a, b, c] = self.words;
        let folded = a ^ b.rotate_left(21) ^ c.rotate_left(42) ^ self.len as u64 ^ self.stamp;
        (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize
    }
}

struct Slot {
    stamp: u64,
    len: usize,
    words: [u64; 3],
    breaker: Option<Arc<Breaker>>,
}

impl Slot {
    const EMPTY: Slot = Slot {
        stamp: EMPTY,
        len: 0,
        words: [0; 3],
        breaker: None,
    };

    /// Without a branch per field: on a miss, which field differs is unpredictable.
    #[inline]
    fn holds(&self, query: &Query) -> bool {
        let [a, b, c] = self.words;
        let [x, y, z] = query.words;
        (self.stamp ^ query.stamp) | (self.len ^ query.len) as u64 | (a ^ x) | (b ^ y) | (c ^ z)
            == 0
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
            slots: UnsafeCell::new([const { Slot::EMPTY }; SLOTS]),
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

/// The query for `name` under `stamp`, if the name is short enough to be cached.
#[inline]
pub(crate) fn query(stamp: u64, len: usize, words: Option<[u64; 3]>) -> Option<Query> {
    Some(Query {
        stamp,
        len,
        words: words?,
    })
}

/// A slot that a miss decided to fill with the breaker the map will find.
pub(crate) struct Vacancy(usize);

/// Runs `call` with the breaker this thread cached for `query`, and marks it looked up. On a
/// miss (or while the thread is being torn down) gives `call` back, with the slot to
/// [`fill`] if this miss should take it: one that is empty or filled under another stamp, or
/// an occupied one on one miss in [`FILL_ONE_IN`]; never while a lent breaker is in use.
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
    // SAFETY: slots are written only by `fill`, only while nothing is lent, and never while a
    // reference from here is alive: the reference below lives until `call` returns, inside the
    // lend that keeps `fill` out.
    let index = query.slot();
    let slot = unsafe { &(*cache.slots.get())[index] };
    if let Some(breaker) = &slot.breaker
        && slot.holds(query)
    {
        breaker.mark_looked_up();
        cache.lending.set(cache.lending.get() + 1);
        let _lend = Lend(&cache.lending);
        return Ok(call(breaker));
    }
    if cache.lending.get() != 0 {
        return Err((call, None));
    }
    if slot.stamp == query.stamp {
        let misses = cache.misses.get().wrapping_add(1);
        cache.misses.set(misses);
        if misses % FILL_ONE_IN != 0 {
            return Err((call, None));
        }
    }
    Err((call, Some(Vacancy(index))))
}

/// Puts `breaker`, which the map just gave for `query`, in the slot a miss chose.
#[cold]
#[inline(never)]
pub(crate) fn fill(vacancy: Vacancy, query: &Query, breaker: &Arc<Breaker>) {
    let _ = CACHE.try_with(|cache| {
        // Nothing ran between the miss and here that could lend a breaker.
        debug_assert_eq!(cache.lending.get(), 0);
        // SAFETY: nothing is lent, so no reference into the slots exists; the thread-local
        // is not shared with other threads.
        let slot = unsafe { &mut (*cache.slots.get())[vacancy.0] };
        let evicted = std::mem::replace(
            slot,
            Slot {
                stamp: query.stamp,
                len: query.len,
                words: query.words,
                breaker: Some(Arc::clone(breaker)),
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

    fn query_for(stamp: u64, name: &str) -> Query {
        query(stamp, name.len(), short_words(name.as_bytes())).unwrap()
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

    #[test]
    fn a_found_name_is_lent_under_its_stamp_only() {
        let stamp = next_stamp();
        let q = query_for(stamp, "cache:a");
        assert_eq!(
            look_up(&q, &breaker("cache:a")),
            None,
            "a miss fills an empty slot"
        );
        assert_eq!(lent_name(&q).as_deref(), Some("cache:a"));
        assert_eq!(lent_name(&query_for(stamp, "cache:b")), None);
        assert_eq!(lent_name(&query_for(next_stamp(), "cache:a")), None);
    }

    #[test]
    fn long_names_are_not_cached() {
        let name = "cache:a-name-longer-than-24-bytes";
        assert!(query(1, name.len(), short_words(name.as_bytes())).is_none());
    }

    #[test]
    fn an_occupied_slot_is_taken_after_a_few_misses() {
        let stamp = next_stamp();
        let first = query_for(stamp, "cache:first");
        look_up(&first, &breaker("cache:first"));
        // Another name of the same stamp and slot.
        let other = (0..)
            .map(|i| query_for(stamp, &format!("cache:{i}")))
            .find(|q| q.slot() == first.slot())
            .unwrap();
        let other_breaker = breaker("cache:other");
        let mut misses = 0;
        while look_up(&other, &other_breaker).is_none() {
            misses += 1;
            assert!(misses <= FILL_ONE_IN, "never taken");
        }
        assert!(misses > 1, "not at the first miss");
        assert_eq!(lent_name(&first), None, "the slot holds one name");
    }

    #[test]
    fn nothing_is_filled_while_a_breaker_is_lent() {
        let q = query_for(next_stamp(), "cache:lent");
        look_up(&q, &breaker("cache:lent"));
        // Under a stamp of its own, it would otherwise take its slot at its first miss.
        let inner = query_for(next_stamp(), "cache:inner");
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
        let q = query_for(next_stamp(), "cache:panics");
        look_up(&q, &breaker("cache:panics"));
        let panicked = std::panic::catch_unwind(|| lend(&q, |_| panic!("inside the call")).is_ok());
        assert!(panicked.is_err());
        CACHE.with(|cache| assert_eq!(cache.lending.get(), 0));
    }

    #[test]
    fn a_hit_marks_the_breaker_looked_up() {
        let q = query_for(next_stamp(), "cache:marks");
        let b = breaker("cache:marks");
        look_up(&q, &b);
        assert!(!b.take_looked_up());
        assert!(lend(&q, |_| ()).is_ok());
        assert!(b.take_looked_up());
    }
}
