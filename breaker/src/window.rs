//! Sliding windows of recent outcomes, for the rate-based policies.
//!
//! Both windows are lock-free. The time window keeps ten buckets, each one atomic word holding a
//! bucket tag and two counts, so recording an outcome is one compare-and-swap on one word. The
//! call window keeps one bit per recent call in a ring.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::duration_to_nanos;

/// What a window saw: outcomes that counted, and how many of them were failures and slow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// How many buckets a time window has: it slides in tenths of its length.
const BUCKETS: u64 = 10;
const TAG_BITS: u32 = 20;
const COUNT_BITS: u32 = 22;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// A bucket word: `tag | calls | hits`, where `hits` are failures or slow calls.
#[derive(Clone, Copy)]
struct Packed(u64);

impl Packed {
    fn new(tag: u64, calls: u64, hits: u64) -> Packed {
        Packed((tag & TAG_MASK) | (calls << TAG_BITS) | (hits << (TAG_BITS + COUNT_BITS)))
    }
    fn tag(self) -> u64 {
        self.0 & TAG_MASK
    }
    fn calls(self) -> u64 {
        (self.0 >> TAG_BITS) & COUNT_MASK
    }
    fn hits(self) -> u64 {
        (self.0 >> (TAG_BITS + COUNT_BITS)) & COUNT_MASK
    }
}

/// Outcomes over the last `length` of time, in ten buckets.
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    /// `2^64 / bucket_nanos`, rounded down: a bucket's index is two multiplications away, not a
    /// division (tens of cycles on every outcome).
    per_bucket: u64,
    failures: Box<[AtomicU64]>,
    /// Present when slow calls are measured: the same buckets, counting slow calls as hits.
    slow: Option<Box<[AtomicU64]>>,
    /// One more than the index of the last bucket that saw a failure or a slow call. A success
    /// can only trip the breaker while such outcomes are in the window, so the common success
    /// checks this one word instead of summing the buckets.
    last_hit: AtomicU64,
}

fn buckets() -> Box<[AtomicU64]> {
    (0..BUCKETS).map(|_| AtomicU64::new(0)).collect()
}

impl TimeWindow {
    pub(crate) fn new(length: Duration, slow: bool) -> TimeWindow {
        let bucket_nanos = (duration_to_nanos(length) / BUCKETS).max(2);
        TimeWindow {
            bucket_nanos,
            per_bucket: ((1u128 << 64) / u128::from(bucket_nanos)) as u64,
            failures: buckets(),
            slow: slow.then(buckets),
            last_hit: AtomicU64::new(0),
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

    /// Adds one outcome at `now`. Counts saturate at four million per bucket, keeping the
    /// proportion of what was counted.
    #[inline]
    pub(crate) fn record(&self, now: u64, failure: bool, slow: bool) {
        let index = self.index(now);
        add(&self.failures, index, failure);
        if let Some(buckets) = &self.slow {
            add(buckets, index, slow);
        }
        if failure || slow {
            self.last_hit.fetch_max(index + 1, Ordering::Relaxed);
        }
    }

    /// Whether a failure or a slow call may still be inside the window at `now`.
    #[inline]
    pub(crate) fn may_hold_hits(&self, now: u64) -> bool {
        let last = self.last_hit.load(Ordering::Relaxed);
        last != 0 && self.index(now) < last - 1 + BUCKETS
    }

    pub(crate) fn sample(&self, now: u64) -> Sample {
        let index = self.index(now);
        let (calls, failures) = sum(&self.failures, index);
        let slow = self.slow.as_ref().map_or(0, |b| sum(b, index).1);
        Sample {
            calls,
            failures,
            slow,
        }
    }

    pub(crate) fn reset(&self) {
        for bucket in self
            .failures
            .iter()
            .chain(self.slow.iter().flat_map(|b| b.iter()))
        {
            bucket.store(0, Ordering::Relaxed);
        }
        self.last_hit.store(0, Ordering::Relaxed);
    }
}

#[inline]
fn add(buckets: &[AtomicU64], index: u64, hit: bool) {
    let bucket = &buckets[(index % BUCKETS) as usize];
    let tag = index & TAG_MASK;
    let mut current = Packed(bucket.load(Ordering::Relaxed));
    loop {
        let next = if current.tag() == tag {
            if current.calls() == COUNT_MASK {
                return;
            }
            Packed::new(tag, current.calls() + 1, current.hits() + u64::from(hit))
        } else {
            // The bucket holds an older period: start it afresh.
            Packed::new(tag, 1, u64::from(hit))
        };
        match bucket.compare_exchange_weak(current.0, next.0, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => return,
            Err(actual) => current = Packed(actual),
        }
    }
}

/// Calls and hits over the buckets of the last `BUCKETS` periods up to `index`.
fn sum(buckets: &[AtomicU64], index: u64) -> (u64, u64) {
    buckets.iter().fold((0, 0), |(calls, hits), bucket| {
        let b = Packed(bucket.load(Ordering::Relaxed));
        let age = index.wrapping_sub(b.tag()) & TAG_MASK;
        if b.calls() != 0 && age < BUCKETS {
            (calls + b.calls(), hits + b.hits())
        } else {
            (calls, hits)
        }
    })
}

/// Outcomes of the last `size` calls, one bit each.
pub(crate) struct CallWindow {
    size: u64,
    cursor: AtomicU64,
    failures: Ring,
    slow: Option<Ring>,
}

/// A ring of bits and the number of bits set.
struct Ring {
    bits: Box<[AtomicU64]>,
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

    fn reset(&self) {
        for word in self.bits.iter() {
            word.store(0, Ordering::Relaxed);
        }
        self.set.store(0, Ordering::Relaxed);
    }
}

impl CallWindow {
    pub(crate) fn new(size: u32, slow: bool) -> CallWindow {
        let size = u64::from(size.max(1));
        CallWindow {
            size,
            cursor: AtomicU64::new(0),
            failures: Ring::new(size),
            slow: slow.then(|| Ring::new(size)),
        }
    }

    #[inline]
    pub(crate) fn record(&self, failure: bool, slow: bool) {
        let position = self.cursor.fetch_add(1, Ordering::Relaxed) % self.size;
        self.failures.write(position, failure);
        if let Some(ring) = &self.slow {
            ring.write(position, slow);
        }
    }

    /// Whether a failure or a slow call is among the last calls.
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
            failures: self.failures.set.load(Ordering::Relaxed),
            slow: self
                .slow
                .as_ref()
                .map_or(0, |r| r.set.load(Ordering::Relaxed)),
        }
    }

    pub(crate) fn reset(&self) {
        self.cursor.store(0, Ordering::Relaxed);
        self.failures.reset();
        if let Some(ring) = &self.slow {
            ring.reset();
        }
    }
}

/// Either window.
pub(crate) enum Window {
    Time(TimeWindow),
    Calls(CallWindow),
}

impl Window {
    #[inline]
    pub(crate) fn record(&self, now: u64, failure: bool, slow: bool) {
        match self {
            Window::Time(w) => w.record(now, failure, slow),
            Window::Calls(w) => w.record(failure, slow),
        }
    }

    pub(crate) fn sample(&self, now: u64) -> Sample {
        match self {
            Window::Time(w) => w.sample(now),
            Window::Calls(w) => w.sample(),
        }
    }

    /// Whether a success at `now` could be the call that trips the breaker.
    #[inline]
    pub(crate) fn may_hold_hits(&self, now: u64) -> bool {
        match self {
            Window::Time(w) => w.may_hold_hits(now),
            Window::Calls(w) => w.may_hold_hits(),
        }
    }

    pub(crate) fn reset(&self) {
        match self {
            Window::Time(w) => w.reset(),
            Window::Calls(w) => w.reset(),
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let words = match self {
            Window::Time(w) => w.failures.len() + w.slow.as_ref().map_or(0, |b| b.len()),
            Window::Calls(w) => w.failures.bits.len() + w.slow.as_ref().map_or(0, |r| r.bits.len()),
        };
        words * std::mem::size_of::<AtomicU64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

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
            let w = TimeWindow::new(Duration::from_nanos(length), false);
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
        let w = TimeWindow::new(Duration::from_secs(10), false);
        w.record(0, true, false);
        w.record(SEC, false, false);
        assert_eq!(w.sample(SEC).calls, 2);
        // At 10 s the first bucket (0-1 s) has left the window; the second has not.
        assert_eq!(
            w.sample(10 * SEC),
            Sample {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(w.sample(11 * SEC).calls, 0);
    }

    #[test]
    fn a_reused_bucket_starts_afresh() {
        let w = TimeWindow::new(Duration::from_secs(10), false);
        w.record(0, true, false);
        w.record(10 * SEC, false, false);
        assert_eq!(w.sample(10 * SEC).failures, 0);
        assert_eq!(w.sample(10 * SEC).calls, 1);
    }

    #[test]
    fn hits_are_remembered_only_while_in_the_window() {
        let w = TimeWindow::new(Duration::from_secs(10), true);
        assert!(!w.may_hold_hits(0));
        w.record(3 * SEC, false, true);
        assert!(w.may_hold_hits(12 * SEC));
        assert!(!w.may_hold_hits(13 * SEC));
        assert_eq!(w.sample(4 * SEC).slow, 1);
    }

    #[test]
    fn call_window_wraps_and_forgets_the_oldest() {
        let w = CallWindow::new(3, false);
        w.record(true, false);
        w.record(true, false);
        w.record(false, false);
        assert_eq!((w.sample().calls, w.sample().failures), (3, 2));
        w.record(false, false); // overwrites the first failure
        assert_eq!((w.sample().calls, w.sample().failures), (3, 1));
        w.reset();
        assert_eq!(w.sample(), Sample::default());
    }

    #[test]
    fn concurrent_records_lose_nothing() {
        let w = TimeWindow::new(Duration::from_secs(60), false);
        std::thread::scope(|s| {
            for t in 0..4 {
                let w = &w;
                s.spawn(move || {
                    for i in 0..10_000 {
                        w.record(0, (i + t) % 2 == 0, false);
                    }
                });
            }
        });
        assert_eq!(w.sample(0).calls, 40_000);
        assert_eq!(w.sample(0).failures, 20_000);
    }
}
