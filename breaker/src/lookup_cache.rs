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
//! are cached, in two levels:
//!
//! - [`SLOTS`] slots inline in the thread-local, enough for a thread with a few hot names;
//! - for a thread whose names outgrow them (its misses keep finding their slot taken, see
//!   [`SECOND_AFTER`]), a table on the heap, probed on a miss in the first level before the
//!   map. It starts at [`SECOND_FIRST`] slots and doubles whenever as many misses found their
//!   slots held by other live names within [`GROW_WINDOW`] times as many misses, up to
//!   [`SECOND_MAX`] slots: 48 bytes each, so at most 192 KiB per thread (and the old 96 KiB
//!   beside it while the last doubling moves the breakers). A thread cycling over a thousand
//!   names then finds 49 in 50 lookups in its own cache, over two thousand names 4 in 5; one
//!   that never outgrows the first level never allocates.
//!
//! A name has one slot in the first level and a bucket of two in the second, given by the top
//! bits of its hash: doubling the table sends bucket `i` to `2i` or `2i + 1`, each of which
//! then receives at most the two breakers of one old bucket, so growth moves breakers without
//! touching their reference counts. Two ways per bucket keep names that share a bucket from
//! taking turns evicting each other: with 1 000 names in 4 096 direct-mapped slots, one lookup
//! in ten still missed.
//!
//! A slot holds an `Arc` of its breaker, so a removed breaker stays allocated (with what its
//! listeners hold, and its slot of the lifetime totals) until the thread lets it go: in the
//! first level when the slot is refilled, at most [`SLOTS`] per thread; in the second when the
//! table grows, or within a quarter of the table's length of lookups (at most 1 024, hits
//! included) after the process-wide registry retired breakers, when the thread scrubs it. Each
//! thread also lets go of everything at exit.

use std::cell::{Cell, UnsafeCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::breaker::Breaker;

/// Slots per thread in the first level: 48 bytes each.
pub(crate) const SLOTS: usize = 64;

/// Slots of the second level when first allocated.
const SECOND_FIRST: usize = 256;

/// The most slots of the second level: 4 096 x 48 bytes = 192 KiB per thread.
const SECOND_MAX: usize = 4096;

/// The second level doubles when its length in conflicts comes within this many times its
/// length in misses.
const GROW_WINDOW: usize = 4;

/// Slots per bucket of the second level.
const WAYS: usize = 2;

/// The second level is allocated once this many misses found their first-level slot held by
/// another live name (most of which [`FILL_ONE_IN`] then declines to fill).
const SECOND_AFTER: u32 = 4 * FILL_ONE_IN;

/// An occupied slot goes to a name that misses in it twice in a row, and otherwise to one miss
/// in this many: names looked up once each in turn (a scan over many hosts) then rarely pay
/// for a fill (a reference count taken and one dropped, on breakers not in any cache), while a
/// name used again and again soon gets its slot.
const FILL_ONE_IN: u32 = 64;

/// Breakers of the process-wide registry retired so far: a thread scrubs its second level only
/// after some.
static RETIRED: AtomicU64 = AtomicU64::new(0);

/// Called after the process-wide registry retired a breaker, so that threads drop it from their
/// second level. Release: a thread that sees the count sees the breaker's retired mark.
pub(crate) fn note_retired() {
    RETIRED.fetch_add(1, Ordering::Release);
}

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
        slot_of(self.hash(), SLOTS)
    }
}

/// The slot for `hash` in a level of `len` slots, a power of two: the top bits, so that a
/// doubled level splits each slot in two.
#[inline]
fn slot_of(hash: u64, len: usize) -> usize {
    (hash >> (64 - len.trailing_zeros())) as usize
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

    /// The breaker for `query`, marked looked up, unless this slot holds another name or a
    /// retired breaker.
    #[inline]
    fn lendable(&self, query: &Query) -> Option<&Arc<Breaker>> {
        self.breaker
            .as_ref()
            .filter(|breaker| self.holds(query) && breaker.mark_looked_up())
    }

    /// Whether a miss of the name hashing to `hash` takes this slot, held by another live
    /// name: at its second miss in a row here, or as one miss in [`FILL_ONE_IN`] (`misses`
    /// counts them).
    fn taken_by(&self, hash: u64, misses: &Cell<u32>) -> bool {
        if self.missed.replace(hash) == hash {
            return true;
        }
        let count = misses.get().wrapping_add(1);
        misses.set(count);
        count.is_multiple_of(FILL_ONE_IN)
    }

    /// Empty, or holding a retired breaker: a miss takes it at once.
    fn stale(&self) -> bool {
        self.breaker.as_ref().is_none_or(|b| b.is_retired())
    }

    /// The hash of the name held.
    fn hash(&self) -> u64 {
        Query {
            len: self.len,
            words: self.words,
        }
        .hash()
    }
}

struct Cache {
    /// Changed only while `lending` is 0, so that no breaker lent from a slot is dropped
    /// under the call using it.
    slots: UnsafeCell<[Slot; SLOTS]>,
    /// The second level's buckets, `None` until the thread needs them; a power of two of them.
    /// Changed (filled, grown, scrubbed) only while `lending` is 0, as `slots`.
    second: UnsafeCell<Option<Box<[Bucket]>>>,
    /// How many calls on this thread's stack are using a lent breaker (more than one when a
    /// call looks up another breaker).
    lending: Cell<u32>,
    /// Misses that found their first-level slot held by another live name.
    misses: Cell<u32>,
    /// The same for the second level's buckets, counted apart so that each level takes one
    /// such miss in [`FILL_ONE_IN`].
    second_misses: Cell<u32>,
    /// Misses that found their bucket of the second level held by other live names, since it
    /// last grew or the window last began.
    conflicts: Cell<usize>,
    /// Misses in the second level since it last grew or the window last began.
    since_window: Cell<usize>,
    /// Lookups that found retirements pending since the second level was last scrubbed.
    since_scrub: Cell<usize>,
    /// [`RETIRED`] when the second level was last scrubbed.
    retired_seen: Cell<u64>,
}

thread_local! {
    static CACHE: Cache = const {
        Cache {
            slots: UnsafeCell::new([const { Slot::empty() }; SLOTS]),
            second: UnsafeCell::new(None),
            lending: Cell::new(0),
            misses: Cell::new(0),
            second_misses: Cell::new(0),
            conflicts: Cell::new(0),
            since_window: Cell::new(0),
            since_scrub: Cell::new(0),
            retired_seen: Cell::new(0),
        }
    };
}

type Bucket = [Slot; WAYS];

impl Cache {
    /// The bucket of the second level for `hash`, if it is allocated.
    ///
    /// SAFETY: the caller keeps the reference only while nothing can change the second level:
    /// inside a lend, or until it next runs code that may drop a breaker.
    #[inline]
    unsafe fn second_bucket(&self, hash: u64) -> Option<&Bucket> {
        // SAFETY: as the caller promises.
        let buckets = unsafe { (*self.second.get()).as_deref()? };
        buckets.get(slot_of(hash, buckets.len()))
    }

    /// Slots in the second level, 0 until it is allocated.
    fn second_len(&self) -> usize {
        // SAFETY: read and let go at once.
        unsafe { (*self.second.get()).as_ref().map_or(0, |b| WAYS * b.len()) }
    }

    /// Allocates the second level if this thread outgrew the first, or doubles it if misses
    /// keep finding their slot taken. Only while nothing is lent: it may drop breakers, running
    /// their owners' code.
    fn maintain(&self) {
        debug_assert_eq!(self.lending.get(), 0);
        let len = self.second_len();
        if len == 0 {
            if self.misses.get() >= SECOND_AFTER {
                self.grow();
            }
            return;
        }
        let since_window = self.since_window.get() + 1;
        if since_window > GROW_WINDOW * len {
            // Conflicts spread thinly over a long life do not add up to a larger table.
            self.since_window.set(0);
            self.conflicts.set(0);
        } else {
            self.since_window.set(since_window);
        }
        if self.conflicts.get() >= len && len < SECOND_MAX {
            self.grow();
        }
    }

    /// A lookup that finds breakers retired since this thread last dropped them from its
    /// second level: the scrub comes after a quarter of the table's length of such lookups, so
    /// that removals in a steady stream cost each thread a pass over its table now and then.
    #[cold]
    #[inline(never)]
    fn retirements_pending(&self) {
        if self.lending.get() != 0 {
            return;
        }
        let len = self.second_len();
        let since = self.since_scrub.get() + 1;
        if len == 0 {
            // Nothing to drop.
            self.retired_seen.set(RETIRED.load(Ordering::Acquire));
        } else if since >= len / 4 {
            self.scrub();
        } else {
            self.since_scrub.set(since);
        }
    }

    /// Allocates the second level, or doubles it: each live breaker moves to the bucket its
    /// hash picks (one of the two its old bucket split into), retired ones are dropped.
    #[cold]
    #[inline(never)]
    fn grow(&self) {
        self.conflicts.set(0);
        self.since_window.set(0);
        self.since_scrub.set(0);
        self.retired_seen.set(RETIRED.load(Ordering::Acquire));
        // SAFETY: nothing is lent (see `maintain`), so no reference into the second level
        // exists; no code runs that could take one until the old table is dropped below.
        let second = unsafe { &mut *self.second.get() };
        let mut old = second.take();
        let len = old
            .as_ref()
            .map_or(SECOND_FIRST / WAYS, |old| 2 * old.len());
        let mut buckets: Box<[Bucket]> =
            (0..len).map(|_| [const { Slot::empty() }; WAYS]).collect();
        for slot in old.iter_mut().flat_map(|old| old.as_flattened_mut()) {
            if !slot.stale() {
                let to = buckets[slot_of(slot.hash(), len)]
                    .iter_mut()
                    .find(|to| to.breaker.is_none())
                    .expect("a bucket receives the breakers of one old bucket at most");
                *to = std::mem::replace(slot, Slot::empty());
            }
        }
        *second = Some(buckets);
        // Only retired breakers are left: dropping one may run arbitrary code (a last reference
        // drops its listeners), and the new table is in place by then.
        drop(old);
    }

    /// Drops the retired breakers of the second level.
    #[cold]
    #[inline(never)]
    fn scrub(&self) {
        self.since_scrub.set(0);
        // Acquire, with `note_retired`'s Release: the retired marks counted are seen below.
        self.retired_seen.set(RETIRED.load(Ordering::Acquire));
        for index in 0.. {
            // Found afresh at each slot: dropping a breaker may run code that looks up others,
            // filling or growing the table.
            // SAFETY: nothing is lent, and the reference ends before anything is dropped.
            let Some(slot) = (unsafe { &mut *self.second.get() })
                .as_deref_mut()
                .and_then(|buckets| buckets.as_flattened_mut().get_mut(index))
            else {
                break;
            };
            if slot.stale() {
                drop(slot.breaker.take());
            }
        }
    }

    /// Where a miss of `query` in both levels puts the breaker the map will find, if anywhere:
    /// the first-level slot if it is empty or holds this name's retired breaker, else a slot of
    /// the second-level bucket that is empty or holds a retired breaker, else either level's
    /// as [`Slot::taken_by`] says (in the bucket, the slot a bit of the hash picks).
    fn vacancy(&self, query: &Query, hash: u64, index: usize) -> Option<Vacancy> {
        // SAFETY: nothing is lent, and no code runs here that could change the slots.
        let first = unsafe { &(*self.slots.get())[index] };
        // Holding this name, it missed only because its breaker is retired.
        if first.breaker.is_none() || first.holds(query) {
            return Some(Vacancy::First(index));
        }
        // SAFETY: as above.
        let bucket = unsafe { self.second_bucket(hash) };
        if let Some(way) = bucket.and_then(|b| b.iter().position(Slot::stale)) {
            return Some(Vacancy::Second(way));
        }
        if first.taken_by(hash, &self.misses) {
            return Some(Vacancy::First(index));
        }
        let bucket = bucket?;
        self.conflicts.set(self.conflicts.get() + 1);
        // The top bits chose the bucket; one from the middle chooses the way.
        let way = (hash >> 32) as usize % WAYS;
        bucket[way]
            .taken_by(hash, &self.second_misses)
            .then_some(Vacancy::Second(way))
    }
}

/// Ends a lend, also when the call panics.
struct Lend<'a>(&'a Cell<u32>);

impl Drop for Lend<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A slot that a miss decided to fill with the breaker the map will find: in the first level,
/// or one of the query's bucket in the second.
pub(crate) enum Vacancy {
    First(usize),
    Second(usize),
}

/// Runs `call` with the breaker this thread cached for `query`, and marks it looked up. On a
/// miss (or while the thread is being torn down) gives `call` back, with the slot to
/// [`fill`] if this miss should take it (see [`Cache::vacancy`]); never while a lent breaker
/// is in use. Deciding here keeps the common miss to one thread-local access.
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
    // Before any reference into the slots is taken: a scrub drops breakers, running their
    // owners' code, which may look names up. Checked on every lookup, hits included, so that a
    // thread that stopped missing still lets removed breakers go.
    if RETIRED.load(Ordering::Relaxed) != cache.retired_seen.get() {
        cache.retirements_pending();
    }
    let hash = query.hash();
    let index = slot_of(hash, SLOTS);
    // SAFETY: slots are written only by `fill`, only while nothing is lent, and never while a
    // reference from here is alive: the reference below lives until `call` returns, inside the
    // lend that keeps `fill` out.
    let slot = unsafe { &(*cache.slots.get())[index] };
    if let Some(breaker) = slot.lendable(query) {
        return Ok(lent(&cache.lending, breaker, call));
    }
    // SAFETY: the second level changes only while nothing is lent, as the first, and the
    // reference lives as long as `slot`'s would.
    let bucket = unsafe { cache.second_bucket(hash) };
    if let Some(breaker) = bucket.and_then(|b| b.iter().find_map(|s| s.lendable(query))) {
        return Ok(lent(&cache.lending, breaker, call));
    }
    Err((call, miss(cache, query, hash, index)))
}

/// Runs `call` with `breaker`, lent for the time of the call.
#[inline(always)]
fn lent<R>(
    lending: &Cell<u32>,
    breaker: &Arc<Breaker>,
    call: impl FnOnce(&Arc<Breaker>) -> R,
) -> R {
    lending.set(lending.get() + 1);
    let _lend = Lend(lending);
    call(breaker)
}

/// A miss in both levels: where to put the breaker the map will find, if anywhere.
#[inline(never)]
fn miss(cache: &Cache, query: &Query, hash: u64, index: usize) -> Option<Vacancy> {
    if cache.lending.get() != 0 {
        return None;
    }
    cache.maintain();
    cache.vacancy(query, hash, index)
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
        // SAFETY: nothing is lent, so no reference into either level exists; the thread-local
        // is not shared with other threads.
        let slot = match vacancy {
            Vacancy::First(index) => unsafe { &mut (*cache.slots.get())[index] },
            Vacancy::Second(way) => {
                let Some(buckets) = (unsafe { &mut *cache.second.get() }).as_deref_mut() else {
                    return;
                };
                let len = buckets.len();
                &mut buckets[slot_of(query.hash(), len)][way]
            }
        };
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

    fn named(name: &str) -> Arc<Breaker> {
        Arc::new(Breaker::builder(name.to_owned()).build().unwrap())
    }

    /// `count` names and their breakers.
    fn names(prefix: &str, count: usize) -> Vec<(Query, Arc<Breaker>)> {
        (0..count)
            .map(|i| {
                let name = format!("{prefix}{i}");
                (query_for(&name), named(&name))
            })
            .collect()
    }

    /// Looks the names up in turn, `rounds` times: how many of the last round were lent.
    fn cycle(names: &[(Query, Arc<Breaker>)], rounds: usize) -> usize {
        let mut lent = 0;
        for _ in 0..rounds {
            lent = 0;
            for (query, found) in names {
                if let Some(name) = look_up(query, found) {
                    assert_eq!(name, found.name(), "the breaker of the name asked for");
                    lent += 1;
                }
            }
        }
        lent
    }

    fn second_len() -> usize {
        CACHE.with(Cache::second_len)
    }

    fn bucket_of(query: &Query) -> usize {
        slot_of(query.hash(), second_len() / WAYS)
    }

    /// Whether the second level holds a live breaker for `query` (without a lookup's effects on
    /// the cache).
    fn in_second(query: &Query) -> bool {
        // SAFETY: nothing is lent in these tests while this runs, and the reference ends here.
        CACHE.with(|cache| {
            unsafe { cache.second_bucket(query.hash()) }
                .is_some_and(|b| b.iter().any(|s| s.lendable(query).is_some()))
        })
    }

    /// Whether either level holds a live breaker for `query`.
    fn held(query: &Query) -> bool {
        // SAFETY: as in `in_second`.
        let first = CACHE
            .with(|cache| unsafe { (*cache.slots.get())[query.slot()].lendable(query).is_some() });
        first || in_second(query)
    }

    /// `name` with its breaker, cached in the second level (allocated if need be) and not in
    /// the first, whose slot for it holds another name.
    fn in_second_level(name: &str) -> (Query, Arc<Breaker>) {
        if second_len() == 0 {
            CACHE.with(Cache::grow);
        }
        let (query, found) = (query_for(name), named(name));
        look_up(
            &name_in_slot(&query, true, &[]),
            &named("cache:first-level"),
        );
        assert_eq!(look_up(&query, &found), None);
        assert!(
            in_second(&query),
            "a slot of the second level is taken at once"
        );
        (query, found)
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

    #[test]
    fn a_thread_whose_names_fit_the_first_level_allocates_no_second() {
        let mut own_slot = [false; SLOTS];
        let few: Vec<_> = names("few:", 10 * SLOTS)
            .into_iter()
            .filter(|(query, _)| !std::mem::replace(&mut own_slot[query.slot()], true))
            .take(SLOTS / 2)
            .collect();
        assert_eq!(cycle(&few, 100), few.len());
        assert_eq!(second_len(), 0);
    }

    #[test]
    fn the_second_level_is_allocated_once_misses_keep_finding_their_slot_taken() {
        let a = query_for("cache:a");
        let b = name_in_slot(&a, true, &[]);
        let pair = [(a, breaker("cache:a")), (b, breaker("cache:b"))];
        cycle(&pair, SECOND_AFTER as usize / 4);
        assert_eq!(second_len(), 0, "not after a few misses");
        cycle(&pair, 2 * SECOND_AFTER as usize);
        assert_eq!(second_len(), SECOND_FIRST);
        assert_eq!(cycle(&pair, 1), 2, "both lent, from either level");
    }

    #[test]
    fn only_conflicts_in_a_short_span_double_the_second_level() {
        let pair = [
            (query_for("cache:a"), breaker("cache:a")),
            (query_for("cache:b"), breaker("cache:b")),
        ];
        CACHE.with(|cache| cache.misses.set(SECOND_AFTER));
        cycle(&pair, 1);
        let len = second_len();
        assert_eq!(len, SECOND_FIRST);
        CACHE.with(|cache| {
            // One miss in eight a conflict: `len` of them take longer than the window.
            for miss in 0..16 * len {
                if miss % 8 == 0 {
                    cache.conflicts.set(cache.conflicts.get() + 1);
                }
                cache.maintain();
            }
        });
        assert_eq!(second_len(), len, "thin conflicts do not grow it");
        CACHE.with(|cache| {
            cache.since_window.set(0);
            cache.conflicts.set(0);
            for _ in 0..len {
                cache.conflicts.set(cache.conflicts.get() + 1);
                cache.maintain();
            }
        });
        assert_eq!(second_len(), 2 * len, "dense ones do");
    }

    #[test]
    fn names_beyond_the_first_level_are_lent_from_the_second() {
        let scan = names("scan:", 300);
        let lent = cycle(&scan, 40);
        assert!(lent >= 280, "{lent} of 300 lent");
        assert!(
            scan.iter().filter(|(query, _)| in_second(query)).count() > 200,
            "from the second level"
        );
    }

    #[test]
    fn the_second_level_doubles_on_conflicts_up_to_its_cap() {
        let scan = names("wide:", 2000);
        cycle(&scan, 4);
        let len = second_len();
        assert!(len > SECOND_FIRST, "grown from {SECOND_FIRST} to {len}");
        cycle(&scan, 60);
        assert_eq!(second_len(), SECOND_MAX, "up to the cap, not beyond");
        let lent = cycle(&scan, 1);
        assert!(lent >= 1600, "{lent} of 2000 lent");
    }

    #[test]
    fn growth_keeps_every_entry_reachable() {
        let scan = names("grow:", 600);
        cycle(&scan, 2);
        let held_before: Vec<bool> = scan.iter().map(|(query, _)| held(query)).collect();
        assert!(held_before.iter().filter(|&&h| h).count() > SLOTS);
        while second_len() < SECOND_MAX {
            CACHE.with(Cache::grow);
            let held_now: Vec<bool> = scan.iter().map(|(query, _)| held(query)).collect();
            assert_eq!(held_now, held_before, "at {} slots", second_len());
        }
        for (query, found) in scan.iter().filter(|(query, _)| held(query)) {
            assert_eq!(lent_name(query).as_deref(), Some(found.name()));
        }
    }

    #[test]
    fn a_retired_breaker_in_the_second_level_is_not_lent_and_its_slot_is_refilled() {
        let (query, old) = in_second_level("cache:second");
        assert_eq!(lent_name(&query).as_deref(), Some("cache:second"));
        old.retire();
        assert_eq!(lent_name(&query), None);
        let new = breaker("cache:renewed");
        assert_eq!(look_up(&query, &new), None, "at once");
        assert_eq!(lent_name(&query).as_deref(), Some("cache:renewed"));
        assert_eq!(Arc::strong_count(&old), 1, "the retired breaker is dropped");
        // Another name's retired breaker gives way at once too, a live one does not.
        let mut others = (0..)
            .map(|i| query_for(&format!("cache:other-{i}")))
            .filter(|q| bucket_of(q) == bucket_of(&query) && q.slot() == query.slot());
        let mut other = || others.next().unwrap();
        let (live, taking, refused) = (other(), other(), other());
        assert_eq!(look_up(&live, &breaker("cache:live")), None);
        assert!(in_second(&live), "into the bucket's empty slot");
        assert_eq!(look_up(&refused, &breaker("cache:refused")), None);
        assert!(!in_second(&refused), "the bucket is full of live breakers");
        new.retire();
        assert_eq!(look_up(&taking, &breaker("cache:taking")), None);
        assert!(in_second(&taking) && in_second(&live));
    }

    #[test]
    fn growth_drops_retired_breakers() {
        let (query, found) = in_second_level("cache:grows");
        let (kept, kept_breaker) = in_second_level("cache:kept");
        found.retire();
        assert_eq!(Arc::strong_count(&found), 2, "kept until the table grows");
        CACHE.with(Cache::grow);
        assert_eq!(Arc::strong_count(&found), 1);
        assert!(!held(&query));
        assert_eq!(Arc::strong_count(&kept_breaker), 2);
        assert!(in_second(&kept));
    }

    #[test]
    fn retired_breakers_are_scrubbed_from_the_second_level_after_a_quarter_of_its_length_of_lookups()
     {
        let (_, found) = in_second_level("cache:scrubbed");
        let quarter = second_len() / 4;
        // Lookups since other tests retired breakers count too: start afresh.
        CACHE.with(|cache| cache.since_scrub.set(0));
        found.retire();
        note_retired();
        let absent = names("absent:", quarter);
        for (i, (query, _)) in absent.iter().enumerate() {
            assert_eq!(Arc::strong_count(&found), 2, "kept for {i} misses");
            assert_eq!(lent_name(query), None);
        }
        assert_eq!(Arc::strong_count(&found), 1, "scrubbed after {quarter}");
    }

    #[test]
    fn a_thread_that_only_hits_still_lets_retired_breakers_go() {
        let (_, found) = in_second_level("cache:gone");
        let hot = query_for("cache:hot");
        look_up(&hot, &breaker("cache:hot"));
        let quarter = second_len() / 4;
        CACHE.with(|cache| cache.since_scrub.set(0));
        found.retire();
        note_retired();
        for _ in 0..quarter {
            assert_eq!(lent_name(&hot).as_deref(), Some("cache:hot"));
        }
        assert_eq!(
            Arc::strong_count(&found),
            1,
            "scrubbed after {quarter} hits"
        );
    }

    #[test]
    fn nothing_is_allocated_grown_or_filled_while_a_breaker_is_lent() {
        let q = query_for("cache:lent");
        look_up(&q, &breaker("cache:lent"));
        // As many misses as allocate the second level at the next one, outside a lend.
        CACHE.with(|cache| cache.misses.set(SECOND_AFTER));
        let inner = names("inner:", 2 * SLOTS);
        assert_eq!(lend(&q, |_| cycle(&inner, 2)).ok(), Some(0), "none filled");
        assert_eq!(second_len(), 0, "not allocated while lent");
        assert_eq!(cycle(&inner[..1], 1), 0);
        assert_eq!(second_len(), SECOND_FIRST, "but at the next miss");

        let (outer, _) = in_second_level("cache:lent-second");
        // As many conflicts as double the second level at the next miss.
        CACHE.with(|cache| cache.conflicts.set(SECOND_FIRST));
        let inner = names("inner-second:", 2 * SLOTS);
        let nested = lend(&outer, |_| {
            let lending = CACHE.with(|cache| cache.lending.get());
            (lending, cycle(&inner, 2), second_len())
        });
        assert_eq!(
            nested.ok(),
            Some((1, 0, SECOND_FIRST)),
            "lent from the second level"
        );
        assert_eq!(cycle(&inner[..1], 1), 0);
        assert_eq!(second_len(), 2 * SECOND_FIRST, "grown at the next miss");
    }

    #[test]
    fn a_panicking_call_ends_its_lend_from_the_second_level() {
        let (query, _) = in_second_level("cache:panics-second");
        let panicked =
            std::panic::catch_unwind(|| lend(&query, |_| panic!("inside the call")).is_ok());
        assert!(panicked.is_err());
        CACHE.with(|cache| assert_eq!(cache.lending.get(), 0));
    }

    #[test]
    fn a_hit_in_the_second_level_marks_the_breaker_looked_up() {
        let (query, found) = in_second_level("cache:marks-second");
        found.take_looked_up();
        assert!(!found.take_looked_up());
        assert!(lend(&query, |_| ()).is_ok());
        assert!(found.take_looked_up());
    }

    /// Every live slot of the second level sits in the bucket its hash picks (what `grow`'s
    /// `expect` relies on).
    fn check_second() {
        CACHE.with(|cache| {
            assert_eq!(cache.lending.get(), 0);
            // SAFETY: nothing is lent.
            let second = unsafe { &*cache.second.get() };
            if let Some(buckets) = second.as_deref() {
                for (i, bucket) in buckets.iter().enumerate() {
                    for s in bucket {
                        if s.breaker.is_some() {
                            assert_eq!(slot_of(s.hash(), buckets.len()), i, "misplaced");
                        }
                    }
                }
            }
        });
    }

    /// Doubles the second level up to its cap, checking every entry's bucket each time.
    fn grow_to_the_cap_checking() {
        while second_len() < SECOND_MAX {
            CACHE.with(Cache::grow);
            check_second();
        }
    }

    /// Owned by a breaker's listener: when the breaker is dropped, looks names up, growing the
    /// second level at each miss and filling it.
    struct Reenter(
        Vec<(Query, Arc<Breaker>)>,
        Arc<std::sync::atomic::AtomicUsize>,
    );

    impl Drop for Reenter {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
            for (query, found) in &self.0 {
                let _ = CACHE.try_with(|cache| cache.conflicts.set(usize::MAX / 2));
                look_up(query, found);
            }
            cycle(&self.0, 3);
        }
    }

    /// A breaker, cached in the second level only, whose drop runs `Reenter`; retired, with the
    /// cache holding its last reference.
    fn reentering_victim(
        name: &'static str,
        prefix: &str,
    ) -> (Query, Arc<std::sync::atomic::AtomicUsize>) {
        let (query, victim) = in_second_level(name);
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let reenter = Reenter(names(prefix, 400), Arc::clone(&ran));
        victim.on_event(move |_| {
            let _ = &reenter;
        });
        victim.retire();
        note_retired();
        drop(victim);
        (query, ran)
    }

    #[test]
    fn scrub_reentered_by_a_drop_that_grows_and_fills() {
        let (_query, ran) = reentering_victim("cache:victim-scrub", "rs:");
        assert_eq!(second_len(), SECOND_FIRST);
        CACHE.with(|cache| {
            cache.conflicts.set(0);
            cache.since_scrub.set(1 << 20);
        });
        // The next lookup scrubs, dropping the victim, whose listener grows the table under the
        // scrub's iteration.
        assert_eq!(lent_name(&query_for("cache:absent-x")), None);
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "the victim was dropped by the scrub"
        );
        assert!(
            second_len() > SECOND_FIRST,
            "grown under the scrub: {}",
            second_len()
        );
        check_second();
        let more = names("rs2:", 2000);
        cycle(&more, 10);
        check_second();
        grow_to_the_cap_checking();
    }

    #[test]
    fn grow_reentered_by_a_drop_that_grows_and_fills() {
        let (_query, ran) = reentering_victim("cache:victim-grow", "rg:");
        CACHE.with(|cache| cache.conflicts.set(SECOND_FIRST));
        assert_eq!(lent_name(&query_for("cache:absent-y")), None);
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "the victim was dropped by the growth"
        );
        check_second();
        grow_to_the_cap_checking();
        let more = names("rg2:", 2000);
        cycle(&more, 10);
        check_second();
    }

    #[test]
    fn fill_reentered_by_an_evicted_drop() {
        let (query, victim) = in_second_level("cache:victim-fill");
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let reenter = Reenter(names("rf:", 400), Arc::clone(&ran));
        victim.on_event(move |_| {
            let _ = &reenter;
        });
        drop(victim);
        // Another name in the same bucket, filled over the victim's way.
        let other = (0..)
            .map(|i| query_for(&format!("cache:fo-{i}")))
            .find(|q| bucket_of(q) == bucket_of(&query) && !q.same_name(&query))
            .unwrap();
        let way = CACHE.with(|cache| {
            let b = unsafe { cache.second_bucket(query.hash()) }.unwrap();
            b.iter().position(|s| s.holds(&query)).unwrap()
        });
        fill(Vacancy::Second(way), &other, &named("cache:fo"));
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        check_second();
        grow_to_the_cap_checking();
    }

    #[test]
    fn thread_exit_with_reentering_drops() {
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ran2 = Arc::clone(&ran);
        std::thread::spawn(move || {
            let many = names("rx:", 1500);
            cycle(&many, 5);
            assert!(second_len() > 0);
            for (_, b) in &many {
                let reenter = Reenter(names("rx-in:", 3), Arc::clone(&ran2));
                b.on_event(move |_| {
                    let _ = &reenter;
                });
            }
            drop(many);
        })
        .join()
        .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1500);
    }
}
