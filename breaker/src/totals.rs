//! Lifetime totals of successes and rejections, counted without contention.
//!
//! These two totals move on every successful or rejected call, so a shared counter would make
//! every core write the same cache line on the hot path. Instead each thread owns a table of
//! cells, one per breaker, that only it writes (a plain load and store, no locked instruction).
//! A report adds up the cells of every live thread plus a `retired` table into which exiting
//! threads fold their counts.
//!
//! Each breaker owns a slot index into these tables. A slot is freed when its breaker is dropped:
//! its cells are zeroed in every table before the index is handed out again.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The totals a thread counts for itself.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Success = 0,
    Rejection = 1,
}

const KINDS: usize = 2;
const PAGE_SLOTS: usize = 64;
const MAX_PAGES: usize = 1024;
/// Breakers beyond this many live at once count into shared atomics instead.
const MAX_SLOTS: usize = PAGE_SLOTS * MAX_PAGES;

/// Aligned to two cache lines (the unit adjacent-line prefetchers pull in), so one thread's
/// page never shares a line with another thread's.
#[repr(align(128))]
struct Page {
    cells: [[AtomicU64; KINDS]; PAGE_SLOTS],
}

impl Page {
    fn new() -> Box<Page> {
        Box::new(Page {
            cells: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        })
    }
}

/// One thread's cells: the first page inline, the others allocated the first time the thread
/// touches a slot in them.
struct Table {
    /// Slots below `PAGE_SLOTS`, which is every slot while fewer breakers than that are alive:
    /// inline, so reaching a cell costs one load fewer.
    first: Page,
    /// Pages from the second on; entry 0 stays null.
    pages: Box<[AtomicPtr<Page>]>,
}

impl Table {
    fn new() -> Table {
        Table {
            first: Page {
                cells: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            },
            pages: (0..MAX_PAGES)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        }
    }

    #[inline(always)]
    fn cell(&self, slot: usize, kind: Kind) -> &AtomicU64 {
        if slot < PAGE_SLOTS {
            return &self.first.cells[slot][kind as usize];
        }
        self.cell_in_pages(slot, kind)
    }

    fn cell_in_pages(&self, slot: usize, kind: Kind) -> &AtomicU64 {
        let page = &self.pages[slot / PAGE_SLOTS];
        let mut ptr = page.load(Ordering::Acquire);
        if ptr.is_null() {
            ptr = self.install_page(page);
        }
        // SAFETY: a non-null page pointer comes from `Box::into_raw` in `install_page` and is freed
        // only when the table is dropped, which outlives this borrow of `self`.
        let page = unsafe { &*ptr };
        &page.cells[slot % PAGE_SLOTS][kind as usize]
    }

    #[cold]
    fn install_page(&self, page: &AtomicPtr<Page>) -> *mut Page {
        let fresh = Box::into_raw(Page::new());
        match page.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(existing) => {
                // SAFETY: `fresh` was never shared, so this is its only owner.
                drop(unsafe { Box::from_raw(fresh) });
                existing
            }
        }
    }

    fn read(&self, slot: usize, kind: Kind) -> u64 {
        if slot < PAGE_SLOTS {
            return self.first.cells[slot][kind as usize].load(Ordering::Relaxed);
        }
        let ptr = self.pages[slot / PAGE_SLOTS].load(Ordering::Acquire);
        if ptr.is_null() {
            return 0;
        }
        // SAFETY: as in `cell`.
        unsafe { &*ptr }.cells[slot % PAGE_SLOTS][kind as usize].load(Ordering::Relaxed)
    }

    fn pages(&self) -> impl Iterator<Item = (usize, &Page)> {
        let others = self.pages.iter().enumerate().filter_map(|(i, p)| {
            let ptr = p.load(Ordering::Acquire);
            // SAFETY: as in `cell`.
            (!ptr.is_null()).then(|| (i, unsafe { &*ptr }))
        });
        std::iter::once((0, &self.first)).chain(others)
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        for page in self.pages.iter() {
            let ptr = page.load(Ordering::Acquire);
            if !ptr.is_null() {
                // SAFETY: the table is being dropped, so nothing borrows its pages any more.
                drop(unsafe { Box::from_raw(ptr) });
            }
        }
    }
}

struct Global {
    live: Vec<Arc<Table>>,
    free_slots: Vec<usize>,
    next_slot: usize,
}

struct Shared {
    global: Mutex<Global>,
    /// Counts of threads that have exited, and of threads whose table is gone (during their exit).
    retired: Table,
}

fn shared() -> &'static Shared {
    static SHARED: std::sync::OnceLock<Shared> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| Shared {
        global: Mutex::new(Global {
            live: Vec::new(),
            free_slots: Vec::new(),
            next_slot: 0,
        }),
        retired: Table::new(),
    })
}

fn lock() -> MutexGuard<'static, Global> {
    // Nothing panics while holding this lock, but a poisoned lock still holds consistent counts.
    shared()
        .global
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The calling thread's table; registered on first use, folded into `retired` at thread exit.
struct Local(Arc<Table>);

impl Local {
    fn register() -> Local {
        let table = Arc::new(Table::new());
        lock().live.push(Arc::clone(&table));
        Local(table)
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // Later counts on this thread (from other destructors) go to the shared table.
        TABLE.with(|t| t.set(std::ptr::null()));
        let shared = shared();
        let mut global = lock();
        for (index, page) in self.0.pages() {
            for (offset, cell) in page.cells.iter().enumerate() {
                for kind in [Kind::Success, Kind::Rejection] {
                    let n = cell[kind as usize].load(Ordering::Relaxed);
                    if n != 0 {
                        let slot = index * PAGE_SLOTS + offset;
                        shared
                            .retired
                            .cell(slot, kind)
                            .fetch_add(n, Ordering::Relaxed);
                    }
                }
            }
        }
        global.live.retain(|t| !Arc::ptr_eq(t, &self.0));
    }
}

thread_local! {
    /// Registers the thread's table and folds it away at thread exit.
    static LOCAL: Local = Local::register();
    /// The same table, read on the hot path: a constant-initialised thread local without a
    /// destructor costs one load, where `LOCAL` checks its lazy-initialisation state first.
    static TABLE: Cell<*const Table> = const { Cell::new(std::ptr::null()) };
}

/// A breaker's handle on its totals.
pub(crate) enum Totals {
    Slot(usize),
    /// Used only when more than `MAX_SLOTS` breakers are alive at once.
    Shared(Box<[AtomicU64; KINDS]>),
}

impl Totals {
    pub(crate) fn new() -> Totals {
        if cfg!(loom) {
            // Model tests run many "threads" on one OS thread; shared counters keep them exact.
            return Totals::Shared(Box::new([AtomicU64::new(0), AtomicU64::new(0)]));
        }
        let mut global = lock();
        if let Some(slot) = global.free_slots.pop() {
            return Totals::Slot(slot);
        }
        if global.next_slot < MAX_SLOTS {
            global.next_slot += 1;
            return Totals::Slot(global.next_slot - 1);
        }
        Totals::Shared(Box::new([AtomicU64::new(0), AtomicU64::new(0)]))
    }

    /// Adds one to `kind`. Lock-free and, once the thread has touched this breaker, allocation-free.
    #[inline(always)]
    pub(crate) fn bump(&self, kind: Kind) {
        match self {
            Totals::Slot(slot) => {
                let table = TABLE.with(Cell::get);
                if table.is_null() {
                    return bump_registering(*slot, kind);
                }
                // SAFETY: `TABLE` points into the `Arc<Table>` that `LOCAL` holds; `LOCAL`'s
                // destructor clears `TABLE` before releasing it.
                let cell = unsafe { &*table }.cell(*slot, kind);
                // Only this thread writes this cell, so a load and a store cannot lose a count
                // and cost less than a locked read-modify-write.
                cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            Totals::Shared(cells) => {
                cells[kind as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The total of `kind` over every thread. Exact once the counting threads have finished.
    pub(crate) fn read(&self, kind: Kind) -> u64 {
        match self {
            Totals::Slot(slot) => read_slot(*slot, kind),
            Totals::Shared(cells) => cells[kind as usize].load(Ordering::Relaxed),
        }
    }

    /// Bytes of heap this breaker's totals use on each thread that counted for it.
    pub(crate) const CELL_BYTES: usize = KINDS * std::mem::size_of::<u64>();
}

fn read_slot(slot: usize, kind: Kind) -> u64 {
    let global = lock();
    let live: u64 = global.live.iter().map(|t| t.read(slot, kind)).sum();
    live + shared().retired.read(slot, kind)
}

impl Drop for Totals {
    fn drop(&mut self) {
        if let Totals::Slot(slot) = *self {
            // The breaker is gone, so no thread writes this slot any more: zero it everywhere
            // before the next breaker gets it.
            let mut global = lock();
            for table in &global.live {
                for kind in [Kind::Success, Kind::Rejection] {
                    if table.read(slot, kind) != 0 {
                        table.cell(slot, kind).store(0, Ordering::Relaxed);
                    }
                }
            }
            for kind in [Kind::Success, Kind::Rejection] {
                if shared().retired.read(slot, kind) != 0 {
                    shared()
                        .retired
                        .cell(slot, kind)
                        .store(0, Ordering::Relaxed);
                }
            }
            global.free_slots.push(slot);
        }
    }
}

/// The first count on a thread registers its table; counts after the thread's table is gone
/// (from other thread-local destructors) go to the shared table.
#[cold]
fn bump_registering(slot: usize, kind: Kind) {
    let registered = LOCAL.try_with(|local| {
        TABLE.with(|t| t.set(Arc::as_ptr(&local.0)));
        let cell = local.0.cell(slot, kind);
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    });
    if registered.is_err() {
        shared()
            .retired
            .cell(slot, kind)
            .fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up_after_they_exit() {
        let totals = Arc::new(Totals::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let totals = Arc::clone(&totals);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        totals.bump(Kind::Success);
                    }
                    totals.bump(Kind::Rejection);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(totals.read(Kind::Success), 80_000);
        assert_eq!(totals.read(Kind::Rejection), 8);
    }

    #[test]
    fn a_freed_slot_is_zeroed_for_its_next_owner() {
        let totals = Totals::new();
        let Totals::Slot(slot) = totals else {
            unreachable!("tests never exhaust the slots")
        };
        std::thread::scope(|s| {
            s.spawn(|| totals.bump(Kind::Success));
        });
        totals.bump(Kind::Success);
        totals.bump(Kind::Rejection);
        drop(totals);
        assert_eq!(read_slot(slot, Kind::Success), 0);
        assert_eq!(read_slot(slot, Kind::Rejection), 0);
    }
}
