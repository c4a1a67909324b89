//! Sliding windows of recent outcomes, for the rate-based policies.
//!
//! The time window counts its successes in the breaker's lifetime totals, which each thread
//! keeps for itself (see [`crate::totals`]), so a success writes nothing shared: it only checks
//! that its time falls in the bucket that began last. A bucket begins at its first outcome,
//! which notes the success total there (the first bucket after a reset starts at the reset);
//! the successes in the window are the total now minus the total at the start of its oldest
//! bucket. Failures and slow calls, which are rare while a breaker stays closed, are one
//! compare-and-swap each on a bucket word. Summing every thread's totals costs a read of each
//! thread's cell, so a failure first compares against a lower bound on the window's successes,
//! and sums only when that bound cannot rule a trip out.
//!
//! The call window keeps one bit per recent call in a ring.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use crate::clock::duration_to_nanos;
use crate::state::{GEN_MASK, generations_since};
use crate::totals::{Kind, Totals, tables_made};

/// What a window saw: outcomes that counted, and how many of them were failures and slow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// The rates that open a breaker, and the outcomes a window needs before they count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) min_calls: u64,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) slow_rate: Option<f64>,
}

impl Limits {
    /// Whether a rate is reached, however few the calls.
    fn reached(&self, sample: Sample) -> bool {
        let reaches = |hits: u64, rate: Option<f64>| {
            rate.is_some_and(|rate| hits as f64 >= rate * sample.calls as f64)
        };
        reaches(sample.failures, self.failure_rate) || reaches(sample.slow, self.slow_rate)
    }

    /// Whether `sample` opens the breaker.
    pub(crate) fn trips(&self, sample: Sample) -> bool {
        sample.calls != 0 && sample.calls >= self.min_calls && self.reached(sample)
    }

    /// Whether a success could still open the breaker: a rate is reached, but not yet over
    /// enough calls.
    fn success_may_trip(&self, sample: Sample) -> bool {
        sample.calls < self.min_calls && self.reached(sample)
    }
}

/// How many buckets a time window has: it slides in tenths of its length.
const BUCKETS: u64 = 10;
/// Bucket words tag their counts with the bucket's index modulo `2^32`, and a bucket's slot is
/// cleared when the bucket begins, so an old count passes for a current one only if its slot
/// went untouched for `5 × 2^32` buckets (see [`sum`]).
const TAG_BITS: u32 = 32;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const COUNT_MASK: u64 = u64::MAX >> TAG_BITS;

/// A bucket word, or the window's lower bound on its successes: `count << TAG_BITS | tag`,
/// where the tag is the bucket's index modulo `2^TAG_BITS`.
#[derive(Clone, Copy)]
struct Tagged(u64);

impl Tagged {
    fn new(index: u64, count: u64) -> Tagged {
        Tagged((index & TAG_MASK) | (count.min(COUNT_MASK) << TAG_BITS))
    }
    fn is(self, index: u64) -> bool {
        self.0 & TAG_MASK == index & TAG_MASK
    }
    fn count(self) -> u64 {
        self.0 >> TAG_BITS
    }
}

/// No bucket: in [`Starts`], a slot no bucket has used.
const NO_BUCKET: u64 = u64::MAX;
/// Set in `current` while a success could open the breaker.
const SUCCESS_MAY_TRIP: u64 = 1 << 63;
/// `current` while the window counts its successes in shared words. Like a set
/// [`SUCCESS_MAY_TRIP`], it puts every time at least `2^62` past it, so that a success never
/// finds its bucket begun and always takes the counting path.
const SHARED: u64 = 1 << 62;
/// Times are clamped to this (146 years past the clock's origin), so that a bucket's start
/// never reaches the bits above.
const LATEST: u64 = (1 << 62) - 1;

/// From how many successes in one bucket the window counts them per thread, and below half of
/// which a bucket sends the next one back to shared words. A bucket counted per thread costs a
/// read of every thread's table when it begins, so the bar rises with the number of tables.
fn busy() -> u64 {
    16 + 2 * tables_made() as u64
}

/// Outcomes over the last `length` of time, in ten buckets.
///
/// Successes are counted in one of two ways, chosen per bucket. A quiet window adds each one
/// to a shared word per bucket, as failures are. A busy one leaves them in the breaker's
/// lifetime totals, which only the counting thread writes, and notes those totals when a bucket
/// begins: a common success then writes nothing shared, and a bucket's start sums every
/// thread's table instead. A window becomes busy when a bucket's shared count reaches
/// [`busy`], and quiet again when a bucket begins after one with fewer than half as many.
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    /// `2^64 / bucket_nanos`, rounded down: a bucket's index is two multiplications away, not a
    /// division (tens of cycles on every failure).
    per_bucket: u64,
    limits: Limits,
    /// While busy, the start (in nanoseconds) of the latest bucket that has begun, with
    /// [`SUCCESS_MAY_TRIP`]: the one word a success reads, and one subtraction tells it whether
    /// its time is in that bucket. [`SHARED`] while quiet.
    current: AtomicU64,
    failures: Box<Buckets>,
    /// Present when slow calls are measured.
    slow: Option<Box<Buckets>>,
    /// Successes per bucket, while quiet.
    successes: Box<Buckets>,
    /// While busy, a lower bound on the successes in the window while the current bucket is
    /// the tagged one: what the last sum found. Successes only grow until the window slides.
    successes_at_least: AtomicU64,
    /// The latest bucket that has begun, in shared words or by `current`: where an outcome
    /// older than the window counts, rather than in its own slot, which a current bucket holds.
    newest: AtomicU64,
    /// Successes in the lifetime totals that the window does not count: those of calls
    /// admitted in another state or generation. Moves only on those rare successes.
    excluded: AtomicU64,
    /// See [`claim_reset`].
    emptied_for: AtomicU32,
    /// While busy, the success total at the start of each bucket. Only written and read under
    /// the lock, which also keeps two threads from beginning the same bucket or switching the
    /// way of counting together. Boxed: the window's other fields are the ones every outcome
    /// reads.
    starts: Mutex<Box<Starts>>,
}

/// The counted success total at each bucket's first outcome.
struct Starts {
    /// The bucket that each total belongs to, or [`NO_BUCKET`] if no bucket of that slot has
    /// begun since the window became busy.
    index: [u64; BUCKETS as usize],
    total: [u64; BUCKETS as usize],
    /// The bucket and view of the last judgement after which a success could trip.
    success_may_trip: Option<(u64, Sample)>,
}

impl Starts {
    const EMPTY: Starts = Starts {
        index: [NO_BUCKET; BUCKETS as usize],
        total: [0; BUCKETS as usize],
        success_may_trip: None,
    };

    /// The total at the start of the oldest bucket of the window that ends with `index`.
    fn oldest(&self, index: u64) -> Option<u64> {
        (0..BUCKETS as usize)
            .filter(|&slot| self.index[slot] <= index && index - self.index[slot] < BUCKETS)
            .min_by_key(|&slot| self.index[slot])
            .map(|slot| self.total[slot])
    }
}

/// What [`TimeWindow::begin`] did.
enum Begun {
    /// The bucket had begun already.
    Already,
    /// It began, counting per thread; the success total read.
    Counted(u64),
    /// It began quiet: the window now counts in shared words.
    Shared,
}

/// One word per bucket: a fixed ten, so that summing them is a loop the compiler unrolls.
type Buckets = [AtomicU64; BUCKETS as usize];

fn buckets() -> Box<Buckets> {
    Box::new(std::array::from_fn(|_| AtomicU64::new(0)))
}

fn slot(index: u64) -> usize {
    (index % BUCKETS) as usize
}

impl TimeWindow {
    pub(crate) fn new(length: Duration, limits: Limits) -> TimeWindow {
        let bucket_nanos = (duration_to_nanos(length) / BUCKETS).max(2);
        TimeWindow {
            bucket_nanos,
            per_bucket: ((1u128 << 64) / u128::from(bucket_nanos)) as u64,
            limits,
            current: AtomicU64::new(SHARED),
            failures: buckets(),
            slow: limits.slow_rate.is_some().then(buckets),
            successes: buckets(),
            successes_at_least: AtomicU64::new(0),
            newest: AtomicU64::new(0),
            excluded: AtomicU64::new(0),
            emptied_for: AtomicU32::new(NO_GENERATION),
            starts: Mutex::new(Box::new(Starts::EMPTY)),
        }
    }

    /// The bucket `now` falls in: `now / bucket_nanos`.
    #[inline]
    fn index(&self, now: u64) -> u64 {
        // The reciprocal rounds down, so the estimate is exact or one short.
        let estimate = ((u128::from(now) * u128::from(self.per_bucket)) >> 64) as u64;
        let short = now - estimate * self.bucket_nanos >= self.bucket_nanos;
        estimate + u64::from(short)
    }

    /// The bucket an outcome of bucket `index` counts in: its own, or the newest if it is older
    /// than the window (a thread that read the clock a window ago).
    fn in_window(&self, index: u64) -> u64 {
        let newest = self.newest.load(Ordering::Relaxed);
        if index + BUCKETS <= newest {
            newest
        } else {
            index
        }
    }

    /// `current` for bucket `index`.
    fn current_for(&self, index: u64, success_may_trip: bool) -> u64 {
        let flag = if success_may_trip {
            SUCCESS_MAY_TRIP
        } else {
            0
        };
        (index * self.bucket_nanos) | flag
    }

    /// The latest bucket that has begun, by `current`, while busy.
    fn current_index(&self, current: u64) -> Option<u64> {
        (current != SHARED).then(|| self.index(current & !SUCCESS_MAY_TRIP))
    }

    /// Adds one outcome at `now`; a success must already be in `successes`, the breaker's
    /// lifetime totals. Returns the window's view when the outcome may open the breaker.
    #[inline(always)]
    pub(crate) fn record(
        &self,
        now: u64,
        failure: bool,
        slow: bool,
        successes: &Totals,
    ) -> Option<Sample> {
        let now = now.min(LATEST);
        if failure || slow {
            return self.record_hit(self.in_window(self.index(now)), failure, slow, successes);
        }
        if self.holds_success(now) {
            return None;
        }
        let index = self.in_window(self.index(now));
        let current = self.current.load(Ordering::Relaxed);
        if current == SHARED {
            return self.shared_success(index, successes);
        }
        // A thread whose clock lags: a later bucket has begun, and no success can trip.
        if current & SUCCESS_MAY_TRIP == 0 && self.has_begun(current, index) {
            return None;
        }
        self.success_to_check(index, successes)
    }

    /// Whether a success at `now`, already in the lifetime totals, is all counted: the window
    /// is busy, the success's time is in the bucket that began last, and no success can trip.
    /// The common success.
    #[inline(always)]
    pub(crate) fn holds_success(&self, now: u64) -> bool {
        // A set flag or a quiet window puts every time far past `current`.
        now.min(LATEST)
            .wrapping_sub(self.current.load(Ordering::Relaxed))
            < self.bucket_nanos
    }

    /// A success while busy that begins a bucket, or that may trip the breaker.
    #[cold]
    #[inline(never)]
    fn success_to_check(&self, index: u64, successes: &Totals) -> Option<Sample> {
        // Another thread is beginning the bucket or judging. If its sum missed this success,
        // the next judgement sees it, and looks back at the moment `min_calls` was reached;
        // unless that thread turns the window quiet, which loses it.
        let mut starts = match self.starts.try_lock() {
            Ok(starts) => starts,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let current = self.current.load(Ordering::Relaxed);
        let total = match self.begin(&mut starts, index, current, successes, true) {
            Begun::Counted(total) => total,
            Begun::Shared => {
                drop(starts);
                return self.shared_success(index, successes);
            }
            Begun::Already if current & SUCCESS_MAY_TRIP != 0 => self.counted_total(successes),
            Begun::Already => return None,
        };
        let sample = self.judge(&mut starts, index, total);
        // A success opens the breaker only if failures or slow calls are in the window.
        (sample.failures != 0 || sample.slow != 0).then_some(sample)
    }

    /// A success while quiet: added to its bucket's shared word.
    #[cold]
    #[inline(never)]
    fn shared_success(&self, index: u64, successes: &Totals) -> Option<Sample> {
        // Pairs with the release in `share`: the shared words are the ones it wrote.
        fence(Ordering::Acquire);
        if self.add_shared(&self.successes, index) >= busy() {
            return self.count_per_thread(index, successes);
        }
        // A success opens the breaker only if failures or slow calls are in the window: the
        // common quiet success sums no successes.
        let (failures, slow) = self.hits(index);
        if failures + slow == 0 {
            return None;
        }
        let sample = self.shared_sample(index, failures, slow);
        // The words are read before `current` is: if the window turned busy meanwhile, they
        // miss the successes counted since, and the judging is left to the per-thread count.
        fence(Ordering::Acquire);
        (self.current.load(Ordering::Relaxed) == SHARED).then_some(sample)
    }

    /// A failure or a slow call.
    #[cold]
    #[inline(never)]
    fn record_hit(
        &self,
        index: u64,
        failure: bool,
        slow: bool,
        successes: &Totals,
    ) -> Option<Sample> {
        let current = self.current.load(Ordering::Relaxed);
        if current == SHARED {
            return self.shared_hit(index, failure, slow, successes);
        }
        let mut begun = None;
        if !self.has_begun(current, index) {
            let mut starts = self.lock();
            let current = self.current.load(Ordering::Relaxed);
            if current == SHARED {
                drop(starts);
                return self.shared_hit(index, failure, slow, successes);
            }
            // A slow success is already in the totals, like any success.
            match self.begin(&mut starts, index, current, successes, !failure) {
                Begun::Counted(total) => begun = Some((starts, total)),
                Begun::Shared => {
                    drop(starts);
                    return self.shared_hit(index, failure, slow, successes);
                }
                Begun::Already => {}
            }
        }
        if failure {
            add(&self.failures, index);
        }
        if let Some(buckets) = &self.slow
            && slow
        {
            add(buckets, index);
        }
        // A new bucket has no lower bound yet: judge now, with the total just read.
        if let Some((mut starts, total)) = begun {
            return Some(self.judge(&mut starts, index, total));
        }
        let (failures, slow) = self.hits(index);
        let bound = Tagged(self.successes_at_least.load(Ordering::Relaxed));
        let fewest = Sample {
            calls: if bound.is(index) { bound.count() } else { 0 } + failures,
            failures,
            slow,
        };
        // With the fewest successes the window can hold, the rates are at their highest.
        if !self.limits.reached(fewest) {
            return None;
        }
        Some(self.judge_locked(index, successes, !failure))
    }

    /// A failure or a slow call while quiet.
    fn shared_hit(
        &self,
        index: u64,
        failure: bool,
        slow: bool,
        successes: &Totals,
    ) -> Option<Sample> {
        fence(Ordering::Acquire);
        // A slow success is a success like any other.
        self.add_shared(
            if failure {
                &self.failures
            } else {
                &self.successes
            },
            index,
        );
        if let Some(buckets) = &self.slow
            && slow
        {
            self.add_shared(buckets, index);
        }
        let sample = self.shared_view(index);
        fence(Ordering::Acquire);
        if self.current.load(Ordering::Relaxed) == SHARED {
            return Some(sample);
        }
        // Turned busy meanwhile: the shared words miss the successes counted since.
        Some(self.judge_locked(index, successes, !failure))
    }

    /// The exact view at bucket `index` of an outcome already added, judged under the lock.
    /// The window may have switched since the caller looked, even to busy at an earlier bucket
    /// (for a success whose clock lags), so the bucket begins first if it has not.
    fn judge_locked(&self, index: u64, successes: &Totals, own_success: bool) -> Sample {
        let mut starts = self.lock();
        let current = self.current.load(Ordering::Relaxed);
        let total = match self.begin(&mut starts, index, current, successes, own_success) {
            Begun::Counted(total) => total,
            Begun::Shared => {
                // `share` leaves the success being recorded to its caller, which here is done
                // with the shared words.
                if own_success {
                    self.add_shared(&self.successes, index);
                }
                self.counted_total(successes)
            }
            Begun::Already => self.counted_total(successes),
        };
        self.judge(&mut starts, index, total)
    }

    /// Adds one to bucket `index` of `words`, one of the window's shared words; the first
    /// outcome of a bucket clears its slot in the others of an older bucket's counts. Returns
    /// the bucket's count.
    fn add_shared(&self, words: &Buckets, index: u64) -> u64 {
        let (count, began) = add(words, index);
        if began {
            self.newest.fetch_max(index, Ordering::Relaxed);
            self.clear_slot(index);
        }
        count
    }

    /// Empties bucket `index`'s slot in every set of words, unless it counts for `index`.
    fn clear_slot(&self, index: u64) {
        for buckets in [&self.failures, &self.successes]
            .into_iter()
            .chain(&self.slow)
        {
            clear_older(&buckets[slot(index)], index);
        }
    }

    /// The failures and slow calls in the window that ends with bucket `index`.
    fn hits(&self, index: u64) -> (u64, u64) {
        let slow = self.slow.as_ref().map_or(0, |b| sum(b, index));
        (sum(&self.failures, index), slow)
    }

    /// The view of the window that ends with bucket `index`, while quiet.
    fn shared_view(&self, index: u64) -> Sample {
        let (failures, slow) = self.hits(index);
        self.shared_sample(index, failures, slow)
    }

    /// The quiet view at bucket `index`, given its failures and slow calls.
    fn shared_sample(&self, index: u64, failures: u64, slow: u64) -> Sample {
        Sample {
            calls: sum(&self.successes, index) + failures,
            failures,
            slow,
        }
    }

    /// Turns a quiet window busy at bucket `index` (or the latest the words hold): each bucket's
    /// start becomes the success total now, less the shared counts of it and the buckets after
    /// it.
    #[cold]
    #[inline(never)]
    fn count_per_thread(&self, index: u64, successes: &Totals) -> Option<Sample> {
        let mut starts = self.lock();
        if self.current.load(Ordering::Relaxed) != SHARED {
            return None;
        }
        let total = self.counted_total(successes);
        // A success whose clock lags may reach the bar in an older bucket: the window turns
        // busy at the latest bucket the words hold, so that the shared counts of every bucket
        // come off the total.
        let index = self.latest_held(index);
        **starts = Starts::EMPTY;
        let mut start = total;
        for bucket in (index.saturating_sub(BUCKETS - 1)..=index).rev() {
            let word = Tagged(self.successes[slot(bucket)].load(Ordering::Relaxed));
            start = start.saturating_sub(if word.is(bucket) { word.count() } else { 0 });
            starts.index[slot(bucket)] = bucket;
            starts.total[slot(bucket)] = start;
        }
        self.newest.fetch_max(index, Ordering::Relaxed);
        self.current
            .store(self.current_for(index, false), Ordering::Relaxed);
        let sample = self.judge(&mut starts, index, total);
        (sample.failures != 0 || sample.slow != 0).then_some(sample)
    }

    /// The latest bucket from `index` on that a shared word holds.
    fn latest_held(&self, index: u64) -> u64 {
        (index + 1..index + BUCKETS)
            .rev()
            .find(|&later| {
                [&self.successes, &self.failures]
                    .into_iter()
                    .chain(&self.slow)
                    .any(|words| Tagged(words[slot(later)].load(Ordering::Relaxed)).is(later))
            })
            .unwrap_or(index)
    }

    /// Turns a busy window quiet at bucket `index`: the shared words get the successes of each
    /// bucket in the window by the starts, the latest begun one ending at the total `end`.
    /// Bucket `index` gets the successes counted since the total `read`: they found the lock
    /// taken or the bucket not begun, and only the totals hold them.
    fn share(&self, starts: &Starts, index: u64, end: u64, read: u64, successes: &Totals) {
        let mut next_start = end;
        for bucket in (index.saturating_sub(BUCKETS - 1)..index).rev() {
            let slot = slot(bucket);
            let count = if starts.index[slot] == bucket {
                let count = next_start.saturating_sub(starts.total[slot]);
                next_start = starts.total[slot];
                count
            } else {
                0
            };
            self.successes[slot].store(Tagged::new(bucket, count).0, Ordering::Relaxed);
        }
        // Read last, so that only successes counted from here until `current` changes (a few
        // instructions) can go unseen.
        let arrived = self.counted_total(successes).saturating_sub(read);
        self.successes[slot(index)].store(Tagged::new(index, arrived).0, Ordering::Relaxed);
        self.clear_slot(index);
        self.current.store(SHARED, Ordering::Release);
    }

    fn lock(&self) -> MutexGuard<'_, Box<Starts>> {
        // Nothing panics under this lock; a poisoned one still holds consistent totals.
        self.starts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether bucket `index` (or a later one) has begun, by `current`, while busy.
    fn has_begun(&self, current: u64, index: u64) -> bool {
        self.current_index(current)
            .is_some_and(|began| began >= index)
    }

    /// Begins bucket `index` of a busy window unless it has begun. If the bucket before it was
    /// quiet, the window turns quiet; if not, notes the success total at the bucket's start
    /// (less the success being recorded, which belongs to the new bucket) and clears its slot
    /// of an older bucket's counts.
    fn begin(
        &self,
        starts: &mut Starts,
        index: u64,
        current: u64,
        successes: &Totals,
        own_success: bool,
    ) -> Begun {
        let Some(latest) = self.current_index(current).filter(|&latest| latest < index) else {
            return Begun::Already;
        };
        let total = self.counted_total(successes);
        let start = total.saturating_sub(u64::from(own_success));
        let last_bucket = if latest + 1 == index {
            start.saturating_sub(starts.total[slot(latest)])
        } else {
            0
        };
        if last_bucket < busy() / 2 {
            self.share(starts, index, start, total, successes);
            return Begun::Shared;
        }
        starts.index[slot(index)] = index;
        starts.total[slot(index)] = start;
        self.newest.fetch_max(index, Ordering::Relaxed);
        for buckets in std::iter::once(&self.failures).chain(&self.slow) {
            clear_older(&buckets[slot(index)], index);
        }
        self.current
            .store(self.current_for(index, false), Ordering::Relaxed);
        Begun::Counted(total)
    }

    /// The successes the window counts, over the breaker's life.
    fn counted_total(&self, successes: &Totals) -> u64 {
        // Read first: an exclusion seen here comes with the count it cancels.
        let excluded = self.excluded.load(Ordering::Acquire);
        successes.read(Kind::Success).saturating_sub(excluded)
    }

    /// A success that the window does not count, already in the lifetime totals.
    pub(crate) fn exclude_success(&self) {
        self.excluded.fetch_add(1, Ordering::Release);
    }

    /// The view of a busy window that ends with bucket `index`, given the success total now.
    fn view(&self, starts: &Starts, index: u64, total: u64) -> (Sample, u64) {
        let counted = starts
            .oldest(index)
            .map_or(0, |start| total.saturating_sub(start));
        let (failures, slow) = self.hits(index);
        let sample = Sample {
            calls: counted + failures,
            failures,
            slow,
        };
        (sample, counted)
    }

    /// The exact view at bucket `index` (or the current bucket, if later), given the success
    /// total now. Keeps the lower bound and the success check in step with it.
    fn judge(&self, starts: &mut Starts, index: u64, total: u64) -> Sample {
        let Some(began) = self.current_index(self.current.load(Ordering::Relaxed)) else {
            // Turned quiet meanwhile.
            return self.shared_view(index);
        };
        // Judging a bucket that has not begun would move `current` past the starts noted.
        debug_assert!(index <= began, "bucket {index} judged before it began");
        let index = index.max(began);
        let (mut sample, counted) = self.view(starts, index, total);
        self.successes_at_least
            .store(Tagged::new(index, counted).0, Ordering::Relaxed);
        // Successes that raced the last judgement (they missed its flag, or it missed them)
        // may have passed `min_calls` unjudged. The window held at least the failures seen
        // then when it reached `min_calls`: if that rate trips, judge by it.
        if let Some((at, then)) = starts.success_may_trip
            && at == index
            && sample.calls >= self.limits.min_calls
            && !self.limits.trips(sample)
        {
            let reaching = Sample {
                calls: self.limits.min_calls,
                ..then
            };
            if self.limits.trips(reaching) {
                sample = reaching;
            }
        }
        let may_trip = self.limits.success_may_trip(sample);
        starts.success_may_trip = may_trip.then_some((index, sample));
        self.current
            .store(self.current_for(index, may_trip), Ordering::Relaxed);
        sample
    }

    /// The failures in the window at `now`.
    pub(crate) fn failures(&self, now: u64) -> u64 {
        sum(&self.failures, self.index(now.min(LATEST)))
    }

    /// The exact view at `now`.
    #[cfg(test)]
    fn sample(&self, now: u64, successes: &Totals) -> Sample {
        let starts = self.lock();
        let index = self.index(now.min(LATEST));
        if self.is_quiet() {
            return self.shared_view(index);
        }
        self.view(&starts, index, self.counted_total(successes)).0
    }

    #[cfg(test)]
    fn is_quiet(&self) -> bool {
        self.current.load(Ordering::Relaxed) == SHARED
    }

    /// Forgets every outcome as the breaker closes (see [`claim_reset`]): the window starts
    /// empty, and quiet. Under the lock, so that a thread whose claim is turned away, and then
    /// makes its transition, does so only once the reset it lost to is done. Returns whether it
    /// emptied the window.
    pub(crate) fn reset(&self, closing: &Closing<'_>) -> bool {
        let mut starts = self.lock();
        if !claim_reset(&self.emptied_for, closing) {
            return false;
        }
        **starts = Starts::EMPTY;
        for bucket in [&self.failures, &self.successes]
            .into_iter()
            .chain(&self.slow)
            .flat_map(|b| b.iter())
        {
            bucket.store(0, Ordering::Relaxed);
        }
        self.successes_at_least.store(0, Ordering::Relaxed);
        self.newest.store(0, Ordering::Relaxed);
        self.current.store(SHARED, Ordering::Release);
        true
    }
}

/// `emptied_for` before any reset.
const NO_GENERATION: u32 = u32::MAX;

/// A breaker closing into a new generation, which empties its window.
pub(crate) struct Closing<'a> {
    /// The generation the breaker's transition leads to.
    pub(crate) generation: u32,
    /// Reads the breaker's generation now.
    pub(crate) live: &'a dyn Fn() -> u32,
    /// Whether the caller emptied the window for this generation already and, its transition
    /// having failed on a change within the generation before it, tries again.
    pub(crate) again: bool,
}

/// Whether the window, last emptied for the generation in `emptied_for`, is emptied as the
/// breaker closes. Each closing thread empties it before its transition, so that the new
/// period's outcomes all land in it; but threads race to close from the same half-open state,
/// and the losers' transitions fail. So the window is emptied only while the transition is
/// still to come (the breaker's generation is the one before), which turns away a loser that
/// comes after it; and once per generation (unless the one that emptied it tries again), so
/// that a loser that comes before it leaves the winner nothing to wait for but its lock.
fn claim_reset(emptied_for: &AtomicU32, closing: &Closing<'_>) -> bool {
    if generations_since(closing.generation, (closing.live)()) != 1 {
        return false;
    }
    emptied_for
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
            (closing.again || last != closing.generation).then_some(closing.generation)
        })
        .is_ok()
}

/// Adds one to bucket `index`, starting it afresh if it holds an older period. Returns the
/// bucket's count, and whether this began it.
fn add(buckets: &Buckets, index: u64) -> (u64, bool) {
    let bucket = &buckets[slot(index)];
    let mut current = Tagged(bucket.load(Ordering::Relaxed));
    loop {
        let began = !current.is(index);
        let count = if began { 1 } else { current.count() + 1 };
        let next = Tagged::new(index, count);
        match bucket.compare_exchange_weak(current.0, next.0, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => return (count, began),
            Err(actual) => current = Tagged(actual),
        }
    }
}

/// Empties `bucket` unless it already counts for bucket `index`.
fn clear_older(bucket: &AtomicU64, index: u64) {
    let mut current = Tagged(bucket.load(Ordering::Relaxed));
    while !current.is(index) {
        let empty = Tagged::new(index, 0);
        match bucket.compare_exchange_weak(current.0, empty.0, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => return,
            Err(actual) => current = Tagged(actual),
        }
    }
}

/// The counts in the buckets of the last `BUCKETS` periods up to `index`. Each slot can hold
/// one of them, so a word counts only if its tag is that bucket's: a tag alone, modulo `2^32`,
/// would let a word untouched for `2^32` buckets pass for another slot's bucket. A word of the
/// same slot still passes for a current one after `5 × 2^32` buckets (68 years of a 1 s
/// window, 25 days of a 1 ms one), which `add` would then count on from.
fn sum(buckets: &Buckets, index: u64) -> u64 {
    let latest = index % BUCKETS;
    // The bucket of `index`'s lap of the slots that is in slot 0.
    let lap = index - latest;
    buckets
        .iter()
        .zip(0..)
        .map(|(bucket, slot)| {
            // Slots after the latest hold buckets of the lap before. In the first lap those
            // wrap below zero, to tags no bucket of the first `2^32` has.
            let lap_back = if slot > latest { BUCKETS } else { 0 };
            let held = (lap + slot).wrapping_sub(lap_back);
            let word = Tagged(bucket.load(Ordering::Relaxed));
            if word.is(held) { word.count() } else { 0 }
        })
        .sum()
}

/// Outcomes of the last `size` calls, one bit each.
pub(crate) struct CallWindow {
    size: u64,
    limits: Limits,
    cursor: AtomicU64,
    failures: Ring,
    slow: Option<Ring>,
    /// See [`claim_reset`].
    emptied_for: AtomicU32,
}

/// A ring of bits and the number of bits set.
struct Ring {
    bits: Box<[AtomicU64]>,
    /// Moves after the bit it counts, so it can dip below zero for a moment (read as a
    /// two's-complement `i64` by [`Ring::count`]).
    set: AtomicU64,
}

impl Ring {
    fn new(size: u64) -> Ring {
        Ring {
            bits: (0..size.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            set: AtomicU64::new(0),
        }
    }

    #[inline]
    fn write(&self, position: u64, bit: bool) {
        let word = &self.bits[(position / 64) as usize];
        let mask = 1 << (position % 64);
        // A success over a success, the common case, changes nothing: a load, no locked write.
        if !bit && word.load(Ordering::Relaxed) & mask == 0 {
            return;
        }
        let previous = if bit {
            word.fetch_or(mask, Ordering::Relaxed)
        } else {
            word.fetch_and(!mask, Ordering::Relaxed)
        };
        match (previous & mask != 0, bit) {
            (false, true) => {
                self.set.fetch_add(1, Ordering::Relaxed);
            }
            (true, false) => {
                self.set.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// The bits set, as far as the count has caught up with them.
    fn count(&self) -> u64 {
        (self.set.load(Ordering::Relaxed) as i64).max(0) as u64
    }

    /// Clears every bit, taking each one off the count: outcomes written meanwhile keep their
    /// bit and their count in step.
    fn reset(&self) {
        for word in self.bits.iter() {
            let cleared = word.swap(0, Ordering::Relaxed).count_ones();
            if cleared != 0 {
                self.set.fetch_sub(u64::from(cleared), Ordering::Relaxed);
            }
        }
    }
}

impl CallWindow {
    pub(crate) fn new(size: u32, limits: Limits) -> CallWindow {
        let size = u64::from(size.max(1));
        CallWindow {
            size,
            limits,
            cursor: AtomicU64::new(0),
            failures: Ring::new(size),
            slow: limits.slow_rate.is_some().then(|| Ring::new(size)),
            emptied_for: AtomicU32::new(NO_GENERATION),
        }
    }

    /// Adds one outcome. Returns the window's view when the outcome may open the breaker.
    #[inline(always)]
    pub(crate) fn record(&self, failure: bool, slow: bool) -> Option<Sample> {
        let position = self.cursor.fetch_add(1, Ordering::Relaxed) % self.size;
        self.failures.write(position, failure);
        if let Some(ring) = &self.slow {
            ring.write(position, slow);
        }
        // A success can only trip while failures or slow calls are in the window.
        (failure || slow || self.may_hold_hits()).then(|| self.sample())
    }

    /// Whether a failure or a slow call may be among the last calls: a count that dipped below
    /// zero for a moment costs a judgement, no more.
    #[inline]
    fn may_hold_hits(&self) -> bool {
        self.failures.set.load(Ordering::Relaxed) != 0
            || self
                .slow
                .as_ref()
                .is_some_and(|r| r.set.load(Ordering::Relaxed) != 0)
    }

    pub(crate) fn sample(&self) -> Sample {
        Sample {
            calls: self.cursor.load(Ordering::Relaxed).min(self.size),
            failures: self.failures.count(),
            slow: self.slow.as_ref().map_or(0, Ring::count),
        }
    }

    /// Forgets every outcome as the breaker closes (see [`claim_reset`]). Without a lock, one
    /// case of the race to close is left: a thread that claims the reset first, loses the
    /// transition, and is preempted between its claim and its clearing empties the window of
    /// what the new period recorded meanwhile. Returns whether it emptied the window.
    pub(crate) fn reset(&self, closing: &Closing<'_>) -> bool {
        if !claim_reset(&self.emptied_for, closing) {
            return false;
        }
        self.cursor.store(0, Ordering::Relaxed);
        self.failures.reset();
        if let Some(ring) = &self.slow {
            ring.reset();
        }
        true
    }
}

/// Either window.
pub(crate) enum Window {
    Time(TimeWindow),
    Calls(CallWindow),
}

impl Window {
    /// Adds one outcome at `now`; a success must already be in `successes`. Returns the
    /// window's view when the outcome may open the breaker.
    #[inline(always)]
    pub(crate) fn record(
        &self,
        now: u64,
        failure: bool,
        slow: bool,
        successes: &Totals,
    ) -> Option<Sample> {
        match self {
            Window::Time(w) => w.record(now, failure, slow, successes),
            Window::Calls(w) => w.record(failure, slow),
        }
    }

    /// A success already in the lifetime totals that the window must not count.
    pub(crate) fn exclude_success(&self) {
        match self {
            Window::Time(w) => w.exclude_success(),
            // A call window counts only what it records.
            Window::Calls(_) => {}
        }
    }

    /// Whether `sample` opens the breaker.
    pub(crate) fn trips(&self, sample: Sample) -> bool {
        match self {
            Window::Time(w) => w.limits.trips(sample),
            Window::Calls(w) => w.limits.trips(sample),
        }
    }

    /// The failures in the window at `now`.
    pub(crate) fn failures(&self, now: u64) -> u64 {
        match self {
            Window::Time(w) => w.failures(now),
            Window::Calls(w) => w.sample().failures,
        }
    }

    pub(crate) fn reset(&self, closing: &Closing<'_>) -> bool {
        match self {
            Window::Time(w) => w.reset(closing),
            Window::Calls(w) => w.reset(closing),
        }
    }

    /// Forgets the generation the window was last emptied for, as the breaker opens into
    /// `opened`: a claim kept through a whole lap of generations would turn a legitimate one
    /// away. Only a claim for `opened` or before, which the breaker has left behind; one a
    /// later close made since (the thread that opened it held up after its transition) may
    /// still be pending.
    pub(crate) fn forget_reset(&self, opened: u32) {
        let emptied_for = match self {
            Window::Time(w) => &w.emptied_for,
            Window::Calls(w) => &w.emptied_for,
        };
        let _ = emptied_for.fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
            let left_behind = generations_since(opened, last) <= GEN_MASK / 2;
            (last != NO_GENERATION && left_behind).then_some(NO_GENERATION)
        });
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let (words, other) = match self {
            Window::Time(w) => (
                w.failures.len() + w.successes.len() + w.slow.as_ref().map_or(0, |b| b.len()),
                std::mem::size_of::<Starts>(),
            ),
            Window::Calls(w) => (
                w.failures.bits.len() + w.slow.as_ref().map_or(0, |r| r.bits.len()),
                0,
            ),
        };
        words * std::mem::size_of::<AtomicU64>() + other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    const HALF: Limits = Limits {
        min_calls: 4,
        failure_rate: Some(0.5),
        slow_rate: None,
    };

    /// The first close of a breaker, from generation 0.
    const FIRST_CLOSE: Closing<'static> = Closing {
        generation: 1,
        live: &generation_zero,
        again: false,
    };

    fn generation_zero() -> u32 {
        0
    }

    /// A time window and the success totals it reads, as a breaker holds them.
    struct Timed {
        window: TimeWindow,
        totals: Totals,
    }

    impl Timed {
        fn new(length: Duration, limits: Limits) -> Timed {
            Timed {
                window: TimeWindow::new(length, limits),
                totals: Totals::new(),
            }
        }

        fn success(&self, now: u64) -> Option<Sample> {
            self.totals.bump(Kind::Success);
            self.window.record(now, false, false, &self.totals)
        }

        fn failure(&self, now: u64) -> Option<Sample> {
            self.window.record(now, true, false, &self.totals)
        }

        fn sample(&self, now: u64) -> Sample {
            self.window.sample(now, &self.totals)
        }

        /// The same window turned busy at bucket `index`, as many successes turn it.
        fn busy_at(length: Duration, limits: Limits, index: u64) -> Timed {
            let w = Timed::new(length, limits);
            w.window.count_per_thread(index, &w.totals);
            assert!(!w.window.is_quiet());
            w
        }

        /// `threads` threads recording together through the first `buckets` one-second buckets,
        /// waiting for each other at the end of each: `per(bucket)` outcomes each, the
        /// `failing`-th of every ten a failure.
        fn threads_through_buckets(
            &self,
            threads: u64,
            buckets: u64,
            per: impl Fn(u64) -> u64 + Sync,
            failing: u64,
        ) {
            let step = std::sync::Barrier::new(threads as usize);
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        for bucket in 0..buckets {
                            for i in 0..per(bucket) {
                                if i % 10 == failing {
                                    self.failure(bucket * SEC);
                                } else {
                                    self.success(bucket * SEC);
                                }
                            }
                            step.wait();
                        }
                    });
                }
            });
        }

        /// Successes at `now` until the window turns busy; how many it took.
        fn successes_until_busy(&self, now: u64) -> u64 {
            (1..)
                .find(|_| {
                    self.success(now);
                    !self.window.is_quiet()
                })
                .expect("turns busy")
        }
    }

    fn calls(calls: u64, failures: u64) -> Sample {
        Sample {
            calls,
            failures,
            slow: 0,
        }
    }

    #[test]
    fn bucket_index_is_exact_division() {
        // Splitmix64 draws, plus the values next to bucket boundaries and the extremes.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut draw = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        for length in [20, 30, 1_000, 7 * SEC + 3, 60 * SEC, 3_600 * SEC, u64::MAX] {
            let w = TimeWindow::new(Duration::from_nanos(length), HALF);
            let b = w.bucket_nanos;
            let mut nows = vec![0, 1, b - 1, b, b + 1, u64::MAX - 1, u64::MAX];
            for _ in 0..2_000 {
                let k = draw() % (u64::MAX / b);
                nows.extend([k * b, k * b + b - 1, draw(), draw() >> 20]);
            }
            for now in nows {
                assert_eq!(w.index(now), now / b, "now {now}, bucket {b} ns");
            }
        }
    }

    #[test]
    fn time_buckets_age_out_one_tenth_at_a_time() {
        let w = Timed::new(Duration::from_secs(10), HALF);
        w.failure(0);
        w.success(SEC);
        assert_eq!(w.sample(SEC), calls(2, 1));
        // At 10 s the first bucket (0-1 s) has left the window; the second has not.
        assert_eq!(w.sample(10 * SEC), calls(1, 0));
        assert_eq!(w.sample(11 * SEC), calls(0, 0));
    }

    #[test]
    fn a_word_untouched_for_2_pow_32_buckets_does_not_pass_for_another_slots_bucket() {
        let w = Timed::new(Duration::from_secs(1), HALF);
        let bucket = SEC / 10;
        w.failure(3 * bucket);
        // Bucket 3 + 2^32 has bucket 3's tag and lies in slot 9; bucket 3's word is in slot 3.
        let aliased = 3 + (1 << TAG_BITS);
        assert_ne!(slot(aliased), slot(3));
        for index in aliased..aliased + BUCKETS {
            assert_eq!(w.window.failures(index * bucket), 0, "bucket {index}");
        }
        assert_eq!(w.window.failures(9 * bucket), 1);
    }

    #[test]
    fn a_reused_bucket_starts_afresh() {
        let w = Timed::new(Duration::from_secs(10), HALF);
        w.failure(0);
        w.success(0);
        w.success(10 * SEC);
        assert_eq!(w.sample(10 * SEC), calls(1, 0));
    }

    #[test]
    fn successes_are_counted_from_their_buckets_first_outcome() {
        let w = Timed::new(Duration::from_secs(10), HALF);
        // Counted by the breaker before the window saw any outcome: not in the window.
        w.totals.bump(Kind::Success);
        for _ in 0..5 {
            w.success(0);
        }
        for _ in 0..3 {
            w.success(5 * SEC);
        }
        assert_eq!(w.sample(5 * SEC), calls(8, 0));
        assert_eq!(w.sample(10 * SEC), calls(3, 0), "the first bucket left");
    }

    #[test]
    fn slow_calls_are_remembered_only_while_in_the_window() {
        let limits = Limits {
            slow_rate: Some(0.5),
            ..HALF
        };
        let w = Timed::new(Duration::from_secs(10), limits);
        w.totals.bump(Kind::Success);
        let seen = w.window.record(3 * SEC, false, true, &w.totals);
        assert_eq!(seen.map(|s| s.slow), Some(1));
        assert_eq!(w.sample(12 * SEC).slow, 1);
        assert_eq!(w.sample(13 * SEC).slow, 0);
    }

    #[test]
    fn a_common_success_reports_nothing() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 0);
        assert_eq!(
            w.success(0),
            None,
            "begins the bucket, no failure in the window"
        );
        assert_eq!(w.success(0), None);
        assert_eq!(
            w.failure(0),
            Some(calls(3, 1)),
            "no bound yet below a 50 % rate"
        );
        // With failures in the window, a success that cannot trip still reports nothing.
        assert_eq!(w.success(0), None);
    }

    #[test]
    fn a_failure_sums_the_totals_only_when_its_lower_bound_cannot_rule_a_trip_out() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 0);
        for _ in 0..100 {
            w.success(0);
        }
        // The bound from the first success alone (1) leaves 1 of 2 failed: sum.
        assert_eq!(w.failure(0), Some(calls(101, 1)));
        // The sum raised the bound to 100: 2 of at least 102 is far below half.
        assert_eq!(w.failure(0), None);
        assert_eq!(w.sample(0), calls(102, 2));
    }

    #[test]
    fn successes_are_judged_while_a_rate_is_reached_below_min_calls() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 0);
        assert_eq!(w.failure(0), Some(calls(1, 1)));
        assert_eq!(w.failure(0), Some(calls(2, 2)));
        // 2 of 3, then 2 of 4: each success could be the one that trips.
        assert_eq!(w.success(0), Some(calls(3, 2)));
        let fourth = w.success(0).expect("judged");
        assert_eq!(fourth, calls(4, 2));
        assert!(HALF.trips(fourth));
        // With enough calls, a success only lowers the rate: it is not judged.
        assert_eq!(w.success(0), None);
        assert_eq!(w.sample(0), calls(5, 2));
    }

    #[test]
    fn a_window_that_slides_is_judged_at_the_next_success() {
        let w = Timed::new(Duration::from_secs(10), HALF);
        for _ in 0..3 {
            w.success(0);
        }
        w.failure(9 * SEC);
        w.failure(9 * SEC);
        w.success(9 * SEC);
        assert!(!HALF.trips(w.sample(9 * SEC)), "2 of 6");
        // At 10 s the three early successes leave the window: 2 of 4 is half.
        let judged = w
            .success(10 * SEC)
            .expect("the window moved with failures in it");
        assert_eq!(judged, calls(4, 2));
        assert!(HALF.trips(judged));
    }

    #[test]
    fn a_reset_forgets_every_outcome_before_it() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 0);
        w.success(0);
        w.failure(0);
        w.window.reset(&FIRST_CLOSE);
        assert!(w.window.is_quiet());
        assert_eq!(w.sample(0), calls(0, 0));
        assert_eq!(w.success(0), None);
        assert_eq!(w.sample(0), calls(1, 0));
        assert_eq!(w.failure(SEC), Some(calls(2, 1)));
    }

    #[test]
    fn a_window_turns_busy_with_its_count_kept() {
        let w = Timed::new(Duration::from_secs(10), HALF);
        assert!(w.window.is_quiet(), "a new window is quiet");
        w.failure(0);
        w.success(3 * SEC);
        let taken = w.successes_until_busy(5 * SEC);
        assert!(taken >= 16, "turned busy after {taken} successes");
        assert_eq!(w.sample(5 * SEC), calls(taken + 2, 1));
        // Counted per thread from here, and each bucket still leaves the window in its turn.
        assert_eq!(w.success(5 * SEC), None);
        assert_eq!(w.sample(10 * SEC), calls(taken + 2, 0), "bucket 0 left");
        assert_eq!(w.sample(13 * SEC), calls(taken + 1, 0), "bucket 3 left");
        assert_eq!(w.sample(15 * SEC), calls(0, 0));
    }

    #[test]
    fn a_busy_window_stays_busy_after_a_busy_bucket_and_turns_quiet_after_a_quiet_one() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 0);
        let many = 10 * busy();
        for _ in 0..many {
            w.success(0);
        }
        w.failure(SEC);
        assert!(!w.window.is_quiet(), "bucket 0 was busy");
        w.success(SEC);
        w.success(2 * SEC);
        assert!(w.window.is_quiet(), "bucket 1 was quiet");
        assert_eq!(w.sample(2 * SEC), calls(many + 3, 1));
        assert_eq!(w.sample(10 * SEC), calls(3, 1), "bucket 0 left");
        assert_eq!(w.sample(11 * SEC), calls(1, 0), "bucket 1 left");
    }

    #[test]
    fn a_busy_window_turns_quiet_after_an_empty_bucket() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 0);
        let many = 10 * busy();
        for _ in 0..many {
            w.success(0);
        }
        assert_eq!(w.failure(2 * SEC), Some(calls(many + 1, 1)));
        assert!(w.window.is_quiet());
        assert_eq!(w.sample(10 * SEC), calls(1, 1), "bucket 0 left");
    }

    #[test]
    fn a_quiet_failure_that_finds_the_window_turned_busy_at_an_earlier_bucket_begins_its_own() {
        let limits = Limits {
            min_calls: 2,
            ..HALF
        };
        let w = Timed::new(Duration::from_secs(10), limits);
        // A failure in bucket 6 is added while quiet; before it judges, a thread whose clock
        // lags turns the window busy at bucket 5.
        w.window.add_shared(&w.window.failures, 6);
        w.successes_until_busy(5 * SEC);
        w.window.shared_hit(6, true, false, &w.totals);
        for _ in 0..1_000 {
            assert_eq!(w.success(6 * SEC), None);
        }
        // Bucket 5 has left the window; bucket 6's successes have not.
        assert_eq!(w.sample(15 * SEC), calls(1_002, 2));
    }

    #[test]
    fn successes_that_find_the_lock_taken_while_the_window_turns_quiet_count_in_their_bucket() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 0);
        // The thread turning the window quiet at bucket 1 holds the lock from its read of the
        // totals to the switch; successes of bucket 1 meanwhile find the lock taken.
        let starts = w.window.lock();
        let read = w.window.counted_total(&w.totals);
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..3 {
                    assert_eq!(w.success(SEC), None);
                }
            });
        });
        w.window.share(&starts, 1, read, read, &w.totals);
        drop(starts);
        assert!(w.window.is_quiet());
        assert_eq!(w.sample(SEC), calls(3, 0));
    }

    #[test]
    fn a_late_success_that_turns_the_window_busy_keeps_the_later_buckets_successes() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 5);
        let b = busy();
        for _ in 0..2 * b {
            w.success(5 * SEC);
        }
        for _ in 0..20 * b {
            w.success(6 * SEC);
        }
        // Bucket 7 sees nothing, so bucket 8 begins quiet.
        w.success(8 * SEC);
        assert!(w.window.is_quiet());
        for _ in 0..2 * b + 3 {
            assert!(!w.failure(8 * SEC).is_some_and(|s| HALF.trips(s)));
        }
        // A success whose clock read bucket 5 lifts that bucket's shared count to the bar.
        w.success(5 * SEC);
        assert!(!w.window.is_quiet());
        let judged = w.success(8 * SEC);
        assert!(!judged.is_some_and(|s| HALF.trips(s)), "judged {judged:?}");
        assert_eq!(w.sample(8 * SEC), calls(24 * b + 6, 2 * b + 3));
    }

    #[test]
    fn a_failure_judged_after_the_window_turned_busy_at_an_earlier_bucket_begins_its_own() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 8);
        // A failure at bucket 8 finds it begun and is added; before it takes the lock to
        // judge, the breaker closes anew (a reset), and successes whose clock lags turn the
        // window busy at bucket 7.
        add(&w.window.failures, 8);
        w.window.reset(&FIRST_CLOSE);
        w.successes_until_busy(7 * SEC);
        w.window.judge_locked(8, &w.totals, false);
        let began = w
            .window
            .current_index(w.window.current.load(Ordering::Relaxed))
            .expect("busy");
        assert_eq!(began, 8);
        assert_eq!(w.window.lock().index[slot(8)], 8, "bucket 8 begun");
    }

    #[test]
    fn a_window_is_emptied_only_before_its_breakers_transition_and_once_unless_again() {
        let w = Timed::new(Duration::from_secs(10), HALF);
        let calls_window = CallWindow::new(10, HALF);
        let fail_once = || {
            w.failure(SEC);
            calls_window.record(true, false);
        };
        let failures = || (w.sample(SEC).failures, calls_window.sample().failures);
        let reset = |generation: u32, live: u32, again: bool| {
            let closing = Closing {
                generation,
                live: &|| live,
                again,
            };
            (w.window.reset(&closing), calls_window.reset(&closing))
        };
        fail_once();
        assert_eq!(reset(8, 7, false), (true, true));
        assert_eq!(failures(), (0, 0));
        fail_once();
        // Other threads closing into the same generation, before or after the transition, and
        // one that lost a race long ago.
        assert_eq!(reset(8, 7, false), (false, false));
        assert_eq!(reset(8, 8, false), (false, false));
        assert_eq!(reset(3, 500, false), (false, false));
        assert_eq!(failures(), (1, 1));
        // The thread that emptied it, trying its transition again.
        assert_eq!(reset(8, 7, true), (true, true));
        assert_eq!(failures(), (0, 0));
        // The next close, however many generations later; generations wrap around.
        fail_once();
        assert_eq!(reset(0, GEN_MASK, false), (true, true));
        assert_eq!(failures(), (0, 0));
    }

    #[test]
    fn a_slow_success_judged_under_the_lock_as_the_window_turns_quiet_is_counted() {
        const SLOW: Limits = Limits {
            min_calls: 1,
            failure_rate: None,
            slow_rate: Some(0.5),
        };
        let w = Timed::busy_at(Duration::from_secs(10), SLOW, 8);
        // A slow success at bucket 8 found the bucket begun, then the breaker closed anew and
        // the window turned busy at bucket 6 before the success took the lock.
        w.window.reset(&FIRST_CLOSE);
        let before = w.successes_until_busy(6 * SEC);
        w.totals.bump(Kind::Success);
        add(w.window.slow.as_ref().unwrap(), 8);
        let judged = w.window.judge_locked(8, &w.totals, true);
        assert!(w.window.is_quiet());
        assert_eq!(
            (judged.calls, judged.slow),
            (before + 1, 1),
            "judged {judged:?}"
        );
    }

    #[test]
    fn a_reset_between_an_outcomes_bit_and_its_count_keeps_them_in_step() {
        let ring = Ring::new(64);
        ring.write(3, true);
        // An outcome's bit is in and its count not yet when the ring is emptied.
        ring.bits[0].fetch_or(1 << 9, Ordering::Relaxed);
        ring.reset();
        assert_eq!(
            ring.count(),
            0,
            "a count below zero for a moment reads as none"
        );
        ring.set.fetch_add(1, Ordering::Relaxed);
        assert_eq!((ring.count(), ring.bits[0].load(Ordering::Relaxed)), (0, 0));
    }

    #[test]
    fn a_call_window_emptied_while_outcomes_land_keeps_its_count_in_step_with_its_bits() {
        let w = CallWindow::new(256, HALF);
        let resets = AtomicU64::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 0_u64;
                while resets.load(Ordering::Relaxed) < 20_000 {
                    w.record(i.is_multiple_of(3), false);
                    i += 1;
                }
            });
            s.spawn(|| {
                let again = Closing {
                    again: true,
                    ..FIRST_CLOSE
                };
                for _ in 0..20_000 {
                    assert!(w.reset(&again));
                    resets.fetch_add(1, Ordering::Relaxed);
                }
            });
        });
        let bits: u64 = (w.failures.bits.iter())
            .map(|word| u64::from(word.load(Ordering::Relaxed).count_ones()))
            .sum();
        assert_eq!(w.sample().failures, bits);
    }

    #[test]
    fn an_outcome_a_window_late_counts_in_the_newest_bucket_not_over_it() {
        let quiet = Timed::new(Duration::from_secs(1), HALF);
        let busy = Timed::busy_at(Duration::from_secs(1), HALF, 15);
        let bucket = SEC / 10;
        for w in [&quiet, &busy] {
            for _ in 0..3 {
                w.failure(15 * bucket);
            }
            w.success(15 * bucket);
            // Threads that read the clock a window ago: bucket 5 shares bucket 15's slot.
            w.success(5 * bucket);
            w.failure(5 * bucket);
            assert_eq!(w.sample(15 * bucket).failures, 4);
        }
        assert_eq!(quiet.sample(15 * bucket), calls(6, 4));
    }

    #[test]
    fn a_quiet_window_judges_its_successes_while_it_holds_failures() {
        let w = Timed::new(Duration::from_secs(10), HALF);
        assert_eq!(w.success(0), None, "nothing to trip on");
        assert_eq!(w.failure(SEC), Some(calls(2, 1)));
        assert_eq!(w.success(2 * SEC), Some(calls(3, 1)));
        assert_eq!(w.success(11 * SEC), None, "the failure left");
        assert!(w.window.is_quiet());
    }

    #[test]
    fn successes_that_raced_past_min_calls_are_judged_at_the_moment_they_reached_it() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 0);
        w.failure(0);
        assert_eq!(w.failure(0), Some(calls(2, 2)), "a success may trip now");
        // Two successes that raced the judgement and were not judged: 2 of 4 went unseen.
        w.totals.bump(Kind::Success);
        w.totals.bump(Kind::Success);
        // The next success sees 2 of 5, but the window held 2 of 4 when it reached `min_calls`.
        let judged = w.success(0).expect("judged");
        assert_eq!(judged, calls(4, 2));
        assert!(HALF.trips(judged));
    }

    #[test]
    fn a_success_past_min_calls_below_the_rate_it_had_then_does_not_trip() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 0);
        w.success(0);
        w.success(0);
        assert_eq!(w.failure(0), Some(calls(3, 1)), "1 of 3: no rate reached");
        w.totals.bump(Kind::Success);
        assert_eq!(w.success(0), None);
        assert_eq!(w.sample(0), calls(5, 1));
    }

    #[test]
    fn excluded_successes_are_not_in_the_window() {
        let w = Timed::new(Duration::from_secs(10), HALF);
        w.success(0);
        // A call from an earlier closed period ends: counted for life, not in the window.
        w.totals.bump(Kind::Success);
        w.window.exclude_success();
        assert_eq!(w.sample(0), calls(1, 0));
        w.failure(SEC);
        assert_eq!(w.sample(SEC), calls(2, 1));
    }

    #[test]
    fn a_slow_failure_is_one_call() {
        let limits = Limits {
            slow_rate: Some(0.9),
            ..HALF
        };
        let w = Timed::new(Duration::from_secs(10), limits);
        w.success(0);
        let seen = w.window.record(0, true, true, &w.totals);
        assert_eq!(
            seen,
            Some(Sample {
                calls: 2,
                failures: 1,
                slow: 1
            })
        );
    }

    #[test]
    fn a_success_on_a_thread_whose_clock_lags_counts_in_the_current_bucket() {
        let w = Timed::busy_at(Duration::from_secs(10), HALF, 5);
        w.success(5 * SEC);
        // Read a bucket earlier: no bucket begins, and the success is in the window.
        assert_eq!(w.success(4 * SEC), None);
        assert_eq!(w.sample(5 * SEC), calls(2, 0));
        assert_eq!(w.sample(14 * SEC), calls(2, 0), "both from bucket 5");
    }

    #[test]
    fn a_failure_from_two_to_the_32_buckets_ago_is_not_counted_again() {
        const BUCKET: u64 = SEC / 10;
        let w = Timed::new(Duration::from_secs(1), HALF);
        w.failure(0);
        // The bucket 2^32 + 4 shares the failure's slot and, modulo 2^32, its tag's window.
        let later = (1 << 32) + 4;
        w.success(later * BUCKET);
        assert_eq!(w.sample((later + 1) * BUCKET), calls(1, 0));
    }

    #[test]
    fn call_window_wraps_and_forgets_the_oldest() {
        let w = CallWindow::new(3, HALF);
        w.record(true, false);
        w.record(true, false);
        w.record(false, false);
        assert_eq!((w.sample().calls, w.sample().failures), (3, 2));
        w.record(false, false); // overwrites the first failure
        assert_eq!((w.sample().calls, w.sample().failures), (3, 1));
        w.reset(&FIRST_CLOSE);
        assert_eq!(w.sample(), Sample::default());
        assert_eq!(w.record(false, false), None, "no failure left to trip on");
    }

    #[test]
    fn concurrent_records_lose_nothing() {
        let w = Timed::new(Duration::from_secs(60), HALF);
        std::thread::scope(|s| {
            for t in 0..4 {
                let w = &w;
                s.spawn(move || {
                    for i in 0..10_000 {
                        if (i + t) % 2 == 0 {
                            w.failure(0);
                        } else {
                            w.success(0);
                        }
                    }
                });
            }
        });
        assert_eq!(w.sample(0), calls(40_000, 20_000));
    }

    #[test]
    fn threads_moving_through_buckets_together_count_each_bucket_once() {
        const THREADS: u64 = 4;
        const PER_BUCKET: u64 = 500;
        let w = Timed::new(Duration::from_secs(10), HALF);
        w.threads_through_buckets(THREADS, 25, |_| PER_BUCKET, 0);
        let seen = w.sample(24 * SEC);
        let each = THREADS * PER_BUCKET;
        assert_eq!(
            seen.failures,
            10 * each / 10,
            "failures are counted in their bucket"
        );
        // A success racing the thread that begins its bucket may land in the bucket before,
        // so the window's oldest bucket may lose a few: never more than one bucket's worth.
        let successes = seen.calls - seen.failures;
        let expected = 10 * each * 9 / 10;
        assert!(
            (expected - each..=expected).contains(&successes),
            "{successes} successes, expected {expected}"
        );
    }

    #[test]
    fn threads_through_alternately_quiet_and_busy_buckets_miss_at_most_one_each_per_switch() {
        const THREADS: u64 = 4;
        let w = Timed::new(Duration::from_secs(10), HALF);
        // Even buckets are busy and odd ones quiet, so the window switches in every bucket:
        // to busy partway through an even one, back to quiet as the next even one begins.
        let per = |bucket: u64| if bucket.is_multiple_of(2) { 300 } else { 2 };
        w.threads_through_buckets(THREADS, 40, per, 5);
        let seen = w.sample(39 * SEC);
        let failures: u64 = (30..40).map(|b| THREADS * (per(b) / 10)).sum();
        let successes: u64 = (30..40).map(|b| THREADS * (per(b) - per(b) / 10)).sum();
        assert_eq!(seen.failures, failures, "failures are never switched");
        let counted = seen.calls - seen.failures;
        assert!(
            counted.abs_diff(successes) <= THREADS * BUCKETS,
            "{counted} successes, expected {successes}"
        );
    }
}
