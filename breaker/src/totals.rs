//! Lifetime totals of successes and rejections, counted without contention.
//!
//! These two totals move on every successful or rejected call, so a shared counter would make
//! every core write the same cache line on the hot path. Instead each thread owns a table of
//! cells, one per breaker, that only it writes (a plain load and store, no locked instruction).
//! Tables are never freed: an exiting thread hands its table, counts and all, to the next thread
//! that starts counting, so there are never more tables than threads ever ran at once. A total
//! is the sum of one cell in every table, read without a lock (the time window's sums read it
//! on a call's path), plus a `retired` table for counts made after a thread's table is gone.
//!
//! Each breaker owns a slot index into these tables. A slot is freed when its breaker is dropped:
//! its cells are zeroed in every table before the index is handed out again.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The totals a thread counts for itself.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Success = 0,
    Rejection = 1,
}

const KINDS: usize = 2;
const PAGE_SLOTS: usize = 64;
const PAGE_CELLS: usize = PAGE_SLOTS * KINDS;
const MAX_PAGES: usize = 1024;
/// Breakers beyond this many live at once count into shared atomics instead.
const MAX_SLOTS: usize = PAGE_SLOTS * MAX_PAGES;

/// Aligned to two cache lines (the unit adjacent-line prefetchers pull in), so one thread's
/// page never shares a line with another thread's.
#[repr(align(128))]
struct Page {
    /// The cells of slot `s` are at `s * KINDS`, in the order of [`Kind`].
    cells: [AtomicU64; PAGE_CELLS],
}

impl Page {
    fn new() -> Page {
        Page {
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn at(&self, slot: usize, kind: Kind) -> &AtomicU64 {
        &self.cells[slot % PAGE_SLOTS * KINDS + kind as usize]
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
    /// The table made before this one, set before this one is linked in.
    next: AtomicPtr<Table>,
}

impl Table {
    fn new() -> Table {
        Table {
            first: Page::new(),
            pages: (0..MAX_PAGES)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    fn cell(&self, slot: usize, kind: Kind) -> &AtomicU64 {
        if slot < PAGE_SLOTS {
            return self.first.at(slot, kind);
        }
        self.cell_in_pages(slot, kind)
    }

    fn cell_in_pages(&self, slot: usize, kind: Kind) -> &AtomicU64 {
        let page = &self.pages[slot / PAGE_SLOTS];
        let mut ptr = page.load(Ordering::Acquire);
        if ptr.is_null() {
            ptr = self.install_page(page);
        }
        // SAFETY: a non-null page pointer comes from `Box::into_raw` in `install_page` and is never
        // freed: tables live for the rest of the process.
        let page = unsafe { &*ptr };
        page.at(slot, kind)
    }

    #[cold]
    fn install_page(&self, page: &AtomicPtr<Page>) -> *mut Page {
        let fresh = Box::into_raw(Box::new(Page::new()));
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
            return self.first.at(slot, kind).load(Ordering::Relaxed);
        }
        let ptr = self.pages[slot / PAGE_SLOTS].load(Ordering::Acquire);
        if ptr.is_null() {
            return 0;
        }
        // SAFETY: as in `cell`.
        unsafe { &*ptr }.at(slot, kind).load(Ordering::Relaxed)
    }
}

/// Every table made, newest first, linked through `next`; readers walk it without the lock.
fn tables() -> impl Iterator<Item = &'static Table> {
    let linked = |link: &AtomicPtr<Table>| {
        // SAFETY: tables are leaked when made and linked in fully built (the Release store in
        // `Local::register`), so every pointer in the list stays valid for the process's life.
        unsafe { link.load(Ordering::Acquire).as_ref() }
    };
    std::iter::successors(linked(&shared().tables), move |table| linked(&table.next))
}

struct Global {
    /// Tables of threads that have exited, for the next threads to count in.
    idle: Vec<&'static Table>,
    free_slots: Vec<usize>,
    next_slot: usize,
}

struct Shared {
    global: Mutex<Global>,
    /// The newest table; see [`tables`]. Written under the lock.
    tables: AtomicPtr<Table>,
    /// How many tables `tables` links.
    made: AtomicUsize,
    /// Counts of threads whose table is gone (from destructors that run during their exit).
    retired: Table,
}

fn shared() -> &'static Shared {
    static SHARED: std::sync::OnceLock<Shared> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| Shared {
        global: Mutex::new(Global {
            idle: Vec::new(),
            free_slots: Vec::new(),
            next_slot: 0,
        }),
        tables: AtomicPtr::new(std::ptr::null_mut()),
        made: AtomicUsize::new(0),
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

/// The calling thread's table: an idle one or a new one on first use, idle again at thread exit.
struct Local(&'static Table);

impl Local {
    fn register() -> Local {
        let shared = shared();
        let mut global = lock();
        if let Some(table) = global.idle.pop() {
            return Local(table);
        }
        let table: &'static Table = Box::leak(Box::new(Table::new()));
        // Under the lock, so no other table is linked in meanwhile.
        table
            .next
            .store(shared.tables.load(Ordering::Relaxed), Ordering::Relaxed);
        shared
            .tables
            .store(std::ptr::from_ref(table).cast_mut(), Ordering::Release);
        shared.made.fetch_add(1, Ordering::Relaxed);
        Local(table)
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // Later counts on this thread (from other destructors) go to the shared table.
        HOT.with(|t| t.set(Hot::UNREGISTERED));
        // The lock orders this thread's last counts before the next owner's first.
        lock().idle.push(self.0);
    }
}

/// What the hot path reads of the calling thread's table.
#[derive(Clone, Copy)]
struct Hot {
    table: *const Table,
    /// `PAGE_CELLS` while `table` is the thread's live table, else 0: one comparison both
    /// checks that the thread has a table and that a breaker's cells are in its first page.
    limit: usize,
}

impl Hot {
    const UNREGISTERED: Hot = Hot {
        table: std::ptr::null(),
        limit: 0,
    };

    /// Cell `at` (`slot * KINDS + kind`) of the thread's table beyond its first page, if the
    /// thread has a table and already has that page: a registry of more than `PAGE_SLOTS`
    /// breakers (keyed ones) counts there without leaving the hot path.
    #[inline(always)]
    fn paged_cell(self, at: usize) -> Option<&'static AtomicU64> {
        if self.limit == 0 || at >= MAX_SLOTS * KINDS {
            return None;
        }
        // SAFETY: as in `Totals::bump`, a nonzero `limit` means `table` is the thread's live
        // table, which outlives every use of the cell (the caller's increment).
        let table = unsafe { &*self.table };
        // In bounds: `at / PAGE_CELLS < MAX_SLOTS * KINDS / PAGE_CELLS = MAX_PAGES`.
        let page = table.pages[at / PAGE_CELLS].load(Ordering::Acquire);
        if page.is_null() {
            return None;
        }
        // SAFETY: a non-null page is a leaked box of the table, never freed (see `cell`).
        Some(unsafe { (*page).cells.get_unchecked(at % PAGE_CELLS) })
    }
}

thread_local! {
    /// Registers the thread's table and hands it on at thread exit.
    static LOCAL: Local = Local::register();
    /// The same table, read on the hot path: a constant-initialised thread local without a
    /// destructor costs plain loads, where `LOCAL` checks its lazy-initialisation state first.
    static HOT: Cell<Hot> = const { Cell::new(Hot::UNREGISTERED) };
}

/// A breaker's handle on its totals.
pub(crate) struct Totals {
    /// `slot * KINDS`: where the breaker's cells start in a thread's first page, if that is
    /// below `PAGE_CELLS`.
    index: usize,
    /// Counts shared by every thread instead, used only when more than `MAX_SLOTS` breakers
    /// are alive at once.
    shared: Option<Box<[AtomicU64; KINDS]>>,
}

impl Totals {
    pub(crate) fn new() -> Totals {
        let shared = || Totals {
            index: MAX_SLOTS * KINDS,
            shared: Some(Box::new([AtomicU64::new(0), AtomicU64::new(0)])),
        };
        if cfg!(loom) {
            // Model tests run many "threads" on one OS thread; shared counters keep them exact.
            return shared();
        }
        let mut global = lock();
        let slot = match global.free_slots.pop() {
            Some(slot) => slot,
            None if global.next_slot < MAX_SLOTS => {
                global.next_slot += 1;
                global.next_slot - 1
            }
            None => return shared(),
        };
        Totals {
            index: slot * KINDS,
            shared: None,
        }
    }

    /// Adds one to `kind`. Lock-free and, once the thread has touched this breaker, allocation-free.
    #[inline(always)]
    pub(crate) fn bump(&self, kind: Kind) {
        let hot = HOT.with(Cell::get);
        let at = self.index + kind as usize;
        let cell = if self.index < hot.limit {
            // SAFETY: a nonzero `limit` means `table` is the leaked table that `LOCAL`
            // holds (`LOCAL`'s destructor resets `HOT` before releasing it), and `index` is a
            // multiple of `KINDS` below `PAGE_CELLS`, so the cell is inside the first page.
            unsafe { (*hot.table).first.cells.get_unchecked(at) }
        } else {
            match hot.paged_cell(at) {
                Some(cell) => cell,
                None => return self.bump_elsewhere(kind),
            }
        };
        // Only this thread writes this cell, so a load and a store cannot lose a count and
        // cost less than a locked read-modify-write.
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Shared counts, a thread without a table yet, or a page this thread has not touched.
    /// Cold only to keep the call out of the way of the other paths.
    #[cold]
    #[inline(never)]
    fn bump_elsewhere(&self, kind: Kind) {
        if let Some(cells) = &self.shared {
            cells[kind as usize].fetch_add(1, Ordering::Relaxed);
            return;
        }
        let slot = self.index / KINDS;
        let hot = HOT.with(Cell::get);
        if hot.limit == 0 {
            return bump_registering(slot, kind);
        }
        // SAFETY: as in `bump`.
        let cell = unsafe { &*hot.table }.cell(slot, kind);
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// The total of `kind` over every thread. Exact once the counting threads have finished.
    pub(crate) fn read(&self, kind: Kind) -> u64 {
        match &self.shared {
            Some(cells) => cells[kind as usize].load(Ordering::Relaxed),
            None => read_slot(self.index / KINDS, kind),
        }
    }

    /// Bytes of heap this breaker's totals use on each thread that counted for it.
    pub(crate) const CELL_BYTES: usize = KINDS * std::mem::size_of::<u64>();
}

/// How many thread tables a read of the totals sums: the most threads that counted at once.
pub(crate) fn tables_made() -> usize {
    shared().made.load(Ordering::Relaxed)
}

fn read_slot(slot: usize, kind: Kind) -> u64 {
    let counted: u64 = tables().map(|t| t.read(slot, kind)).sum();
    counted + shared().retired.read(slot, kind)
}

impl Drop for Totals {
    fn drop(&mut self) {
        if self.shared.is_none() {
            let slot = self.index / KINDS;
            // The breaker is gone, so no thread writes this slot any more: zero it everywhere
            // before the next breaker gets it.
            let mut global = lock();
            for table in tables() {
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
        HOT.with(|t| {
            t.set(Hot {
                table: local.0,
                limit: PAGE_CELLS,
            });
        });
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
    use std::sync::Arc;

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
    fn threads_that_exit_hand_their_tables_on() {
        let totals = Totals::new();
        let before = tables().count();
        for _ in 0..50 {
            std::thread::scope(|s| {
                s.spawn(|| totals.bump(Kind::Success));
            });
        }
        assert_eq!(totals.read(Kind::Success), 50);
        // Each thread took an idle table, if the one before had run its thread-local
        // destructors by then (the scope waits for the closure, not for them), or else one
        // that another test's thread left: far fewer than one new table per thread.
        let made = tables().count() - before;
        assert!(made < 50, "{made} tables for 50 threads in turn");
    }

    #[test]
    fn breakers_beyond_the_first_page_count_exactly() {
        let many: Vec<Totals> = (0..2 * PAGE_SLOTS).map(|_| Totals::new()).collect();
        // At most `PAGE_SLOTS` of them fit in the first page, whatever other tests hold.
        let last = many.iter().rfind(|t| t.index >= PAGE_CELLS).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    // The first count installs the page, the others take the inline path.
                    for _ in 0..1_000 {
                        last.bump(Kind::Success);
                    }
                    last.bump(Kind::Rejection);
                });
            }
        });
        last.bump(Kind::Success);
        assert_eq!(last.read(Kind::Success), 4_001);
        assert_eq!(last.read(Kind::Rejection), 4);
        let slot = last.index / KINDS;
        drop(many);
        assert_eq!(read_slot(slot, Kind::Success), 0, "zeroed when freed");
    }

    #[test]
    fn a_freed_slot_is_zeroed_for_its_next_owner() {
        let totals = Totals::new();
        assert!(totals.shared.is_none(), "tests never exhaust the slots");
        let slot = totals.index / KINDS;
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
