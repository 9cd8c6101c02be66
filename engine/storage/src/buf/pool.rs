//! The buffer pool: a fixed set of page frames allocated at start (on huge
//! pages when the host has them), a sharded page table, pin counts, a page
//! latch per frame, the midpoint LRU (`lru`) and the flush list ordered by
//! oldest modification.
//!
//! Protocol. A page is found under its table shard's mutex and pinned there
//! (pins > 0 forbids eviction); the shard mutex is released before the page
//! latch is taken. A miss claims a free frame, X-latches it, publishes it in
//! the table and reads the page with the latch held, so threads that find it
//! meanwhile wait on the latch. Eviction removes a clean, unpinned page from
//! the table under the shard mutex. Lock order: lru -> table shard;
//! log buffer -> flush list. No pool mutex is held across an I/O.
//!
//! Writes obey the WAL rule: the redo up to a page's newest modification is
//! durable before the page is written, and a page is written only while its
//! S latch is held (so no mtr changes it mid-write) and sealed with its
//! CRC32C in a copy.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use floe_blk::BlockDevice;
use floe_rt::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use floe_rt::{DmaArena, DmaBuffer, HugePages};

use super::dblwr::{Doublewrite, DOUBLEWRITE_SLOTS};
use super::lru::Lru;
use crate::fil::{self, Lsn, PageError, PageId, SpaceId, PAGE_BYTES};
use crate::log::writer::LogWriter;
use crate::util::clock::Clock;
use crate::util::counter::Counter;

const TABLE_SHARDS: usize = 64;

/// Page-sized buffers carved for reads and home writes (more are made on
/// the heap if ever short).
const SPARE_BUFFERS: usize = 16;

/// Flush batch buffers carved, each the doublewrite area's size: the page
/// cleaner and one foreground flush at once.
const BATCH_BUFFERS: usize = 2;

/// Hashes a `PageId` (two u32 writes) with one multiply: the page table is
/// looked up on every page access, and SipHash cost more than the lookup.
/// Page ids are not attacker-chosen, so no keyed hash is needed.
#[derive(Default)]
struct PageIdHasher(u64);

impl std::hash::Hasher for PageIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.0 = (self.0.rotate_left(32) ^ u64::from(value)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

type PageTable = HashMap<PageId, usize, std::hash::BuildHasherDefault<PageIdHasher>>;
/// Frames examined from the cold end per eviction attempt.
const EVICTION_SCAN_FRAMES: usize = 64;

#[derive(Clone, Copy, Debug)]
pub struct BufConfig {
    pub pool_pages: usize,
    /// Share of the LRU kept as the old sublist (innodb_old_blocks_pct).
    pub old_pct: u8,
    /// How long a page stays old before an access makes it young
    /// (innodb_old_blocks_time).
    pub old_time_ms: u64,
    pub huge_pages: HugePages,
}

impl Default for BufConfig {
    fn default() -> Self {
        Self {
            pool_pages: 8192,
            old_pct: 37,
            old_time_ms: 1000,
            huge_pages: HugePages::Prefer,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BufError {
    #[error("reading {page}")]
    Corrupt {
        page: PageId,
        #[source]
        source: PageError,
    },
    #[error("{what} {page}")]
    Io {
        what: &'static str,
        page: PageId,
        #[source]
        source: floe_blk::Error,
    },
    #[error("{page}: space {space} is not open", space = page.space.0)]
    NoSuchSpace { page: PageId },
    #[error("{page}: beyond the end of its file ({capacity_pages} pages)")]
    BeyondFile { page: PageId, capacity_pages: u64 },
    #[error("buffer pool of {pool_pages} pages has no frame to spare: every page is pinned")]
    Exhausted { pool_pages: usize },
    #[error("allocating the buffer pool ({pool_pages} pages)")]
    Memory {
        pool_pages: usize,
        #[source]
        source: floe_rt::RtError,
    },
    #[error("making redo durable before writing {page}")]
    Wal {
        page: PageId,
        #[source]
        source: crate::log::RedoError,
    },
}

/// The contents of a frame, behind its latch.
pub struct FrameData {
    id: Option<PageId>,
    page: DmaBuffer,
}

struct Frame {
    latch: RwLock<FrameData>,
    pins: AtomicU32,
    /// Start LSN of the first mtr that dirtied the page since its last
    /// write; 0 when clean. Changed under the X latch (mtr commit) or,
    /// by the one flusher holding `flushing`, under the S latch.
    oldest_modification: AtomicU64,
    newest_modification: AtomicU64,
    flushing: AtomicBool,
}

struct SpaceFile {
    device: Arc<dyn BlockDevice>,
    block_bytes: u64,
    capacity_pages: u64,
}

/// Counter snapshot for the server's status output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufStats {
    pub pool_pages: usize,
    pub huge_pages: bool,
    pub hits: u64,
    pub reads: u64,
    pub writes: u64,
    pub evictions: u64,
    pub made_young: u64,
    pub dirty_pages: usize,
    pub lru_pages: usize,
    pub old_pages: usize,
    pub free_pages: usize,
}

#[derive(Default)]
struct Counters {
    hits: Counter,
    reads: Counter,
    writes: Counter,
    evictions: Counter,
    made_young: Counter,
}

pub struct BufferPool {
    frames: Box<[Frame]>,
    old: Box<[AtomicBool]>,
    table: Box<[Mutex<PageTable>]>,
    lru: Mutex<Lru>,
    flush_list: Mutex<BTreeSet<(Lsn, usize)>>,
    free: Mutex<Vec<usize>>,
    spaces: RwLock<HashMap<SpaceId, Arc<SpaceFile>>>,
    wal: OnceLock<Arc<LogWriter>>,
    doublewrite: OnceLock<Arc<Doublewrite>>,
    clock: Arc<dyn Clock>,
    huge_pages: bool,
    counters: Counters,
    /// Spare page-sized buffers for writes (a frame is copied, then sealed).
    spare_buffers: Mutex<Vec<DmaBuffer>>,
    /// Flush batch buffers kept for reuse (zeroing a fresh 1 MiB batch per
    /// flush cost 9% of an insert run's instructions).
    batch_buffers: Mutex<Vec<DmaBuffer>>,
}

impl BufferPool {
    pub fn new(config: BufConfig, clock: Arc<dyn Clock>) -> Result<Self, BufError> {
        let pool_pages = config.pool_pages;
        assert!(
            pool_pages >= 8,
            "a buffer pool needs at least 8 pages, got {pool_pages}"
        );
        let memory = |source| BufError::Memory { pool_pages, source };
        // One arena for the frames and the buffers writes go through, so a
        // device that registers arenas (the NVMe driver's IOMMU mappings)
        // maps none of them per request.
        let io_pages = SPARE_BUFFERS + BATCH_BUFFERS * DOUBLEWRITE_SLOTS;
        let mut arena = DmaArena::new((pool_pages + io_pages) * PAGE_BYTES, config.huge_pages)
            .map_err(memory)?;
        let huge_pages = arena.is_huge();
        let buffers = arena.carve(PAGE_BYTES, pool_pages).map_err(memory)?;
        let spares = arena.carve(PAGE_BYTES, SPARE_BUFFERS).map_err(memory)?;
        let batches = arena
            .carve(DOUBLEWRITE_SLOTS * PAGE_BYTES, BATCH_BUFFERS)
            .map_err(memory)?;
        let frames: Box<[Frame]> = buffers
            .into_iter()
            .map(|page| Frame {
                latch: RwLock::new(FrameData { id: None, page }),
                pins: AtomicU32::new(0),
                oldest_modification: AtomicU64::new(0),
                newest_modification: AtomicU64::new(0),
                flushing: AtomicBool::new(false),
            })
            .collect();
        log::info!(
            "buffer pool: {pool_pages} pages of {PAGE_BYTES} bytes on {} pages",
            if huge_pages { "huge" } else { "ordinary" }
        );
        Ok(Self {
            old: (0..pool_pages).map(|_| AtomicBool::new(false)).collect(),
            table: (0..TABLE_SHARDS)
                .map(|_| Mutex::new(PageTable::default()))
                .collect(),
            lru: Mutex::new(Lru::new(pool_pages, config.old_pct, config.old_time_ms)),
            flush_list: Mutex::new(BTreeSet::new()),
            free: Mutex::new((0..pool_pages).rev().collect()),
            spaces: RwLock::new(HashMap::new()),
            wal: OnceLock::new(),
            doublewrite: OnceLock::new(),
            clock,
            huge_pages,
            counters: Counters::default(),
            spare_buffers: Mutex::new(spares),
            batch_buffers: Mutex::new(batches),
            frames,
        })
    }

    /// From now on every page write first makes its redo durable. Until
    /// this is set (during recovery) every change in memory came from redo
    /// already on disk, so there is nothing to wait for.
    pub fn set_wal(&self, log: Arc<LogWriter>) {
        if self.wal.set(log).is_err() {
            panic!("buffer pool: WAL writer set twice");
        }
    }

    /// From now on every page write goes through the doublewrite area.
    pub fn set_doublewrite(&self, doublewrite: Arc<Doublewrite>) {
        if self.doublewrite.set(doublewrite).is_err() {
            panic!("buffer pool: doublewrite area set twice");
        }
    }

    pub fn open_space(&self, space: SpaceId, device: Arc<dyn BlockDevice>) {
        let geometry = device.geometry();
        let block_bytes = u64::from(geometry.block_bytes);
        assert!((PAGE_BYTES as u64).is_multiple_of(block_bytes));
        let file = SpaceFile {
            capacity_pages: geometry.capacity_bytes() / PAGE_BYTES as u64,
            block_bytes,
            device,
        };
        self.spaces.write().insert(space, Arc::new(file));
    }

    pub fn space_capacity_pages(&self, space: SpaceId) -> Option<u64> {
        self.spaces.read().get(&space).map(|f| f.capacity_pages)
    }

    /// The smallest atomic write unit among open spaces' devices.
    pub fn atomic_write_bytes(&self) -> u32 {
        self.spaces
            .read()
            .values()
            .map(|f| f.device.geometry().atomic_write_bytes)
            .min()
            .unwrap_or(0)
    }

    fn shard(&self, id: PageId) -> &Mutex<PageTable> {
        let hash = (u64::from(id.space.0) << 32 | u64::from(id.page.0))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &self.table[(hash >> 58) as usize % TABLE_SHARDS]
    }

    /// Pins the frame holding `id` if it is in the pool.
    fn pin_if_present(&self, id: PageId) -> Option<usize> {
        let table = self.shard(id).lock();
        let frame = *table.get(&id)?;
        self.frames[frame].pins.fetch_add(1, Ordering::AcqRel);
        Some(frame)
    }

    fn unpin(&self, frame: usize) {
        let previous = self.frames[frame].pins.fetch_sub(1, Ordering::AcqRel);
        assert!(
            previous > 0,
            "frame {frame} unpinned more often than pinned"
        );
    }

    fn touch(&self, frame: usize) {
        if self.old[frame].load(Ordering::Relaxed) {
            let now_ms = self.clock.now_ms();
            if self.lru.lock().touch_old(frame, now_ms, &self.old) {
                self.counters.made_young.increment();
            }
        }
    }

    /// If `id` is in the pool: pins it and takes its latch with `latch`.
    /// A frame whose read failed after it was published loses its page id;
    /// then this lets go and looks again.
    fn find_latched<'a, G: std::ops::Deref<Target = FrameData>>(
        &'a self,
        id: PageId,
        latch: impl Fn(&'a RwLock<FrameData>) -> G,
    ) -> Option<(G, Pin<'a>)> {
        loop {
            let frame = self.pin_if_present(id)?;
            let pin = Pin { pool: self, frame };
            let guard = latch(&self.frames[frame].latch);
            if guard.id == Some(id) {
                return Some((guard, pin));
            }
        }
    }

    fn hit(&self, frame: usize) {
        self.counters.hits.increment();
        self.touch(frame);
    }

    /// The page `id`, S-latched.
    pub fn fix(&self, id: PageId) -> Result<PageRef<'_>, BufError> {
        loop {
            if let Some((guard, pin)) = self.find_latched(id, RwLock::read) {
                self.hit(pin.frame);
                return Ok(PageRef { guard, pin });
            }
            if let Some(page) = self.load(id, Load::Read)? {
                return Ok(page.downgrade());
            }
        }
    }

    /// The page `id`, X-latched.
    pub fn fix_mut(&self, id: PageId) -> Result<PageMut<'_>, BufError> {
        loop {
            if let Some((guard, pin)) = self.find_latched(id, RwLock::write) {
                self.hit(pin.frame);
                return Ok(PageMut { guard, pin });
            }
            if let Some(page) = self.load(id, Load::Read)? {
                return Ok(page);
            }
        }
    }

    /// A page that holds nothing yet (newly allocated), X-latched, zeroed.
    /// Its old contents are not read: the caller initialises it.
    pub fn fix_new(&self, id: PageId) -> Result<PageMut<'_>, BufError> {
        loop {
            if let Some((mut guard, pin)) = self.find_latched(id, RwLock::write) {
                guard.page.as_mut_slice().fill(0);
                return Ok(PageMut { guard, pin });
            }
            if let Some(page) = self.load(id, Load::Zero)? {
                return Ok(page);
            }
        }
    }

    /// For recovery: the page X-latched, and why its on-disk image did not
    /// verify, if it did not (redo may rebuild it from an init or image).
    pub fn fix_for_recovery(
        &self,
        id: PageId,
    ) -> Result<(PageMut<'_>, Option<PageError>), BufError> {
        loop {
            if let Some((guard, pin)) = self.find_latched(id, RwLock::write) {
                return Ok((PageMut { guard, pin }, None));
            }
            match self.load(id, Load::Read) {
                Ok(Some(page)) => return Ok((page, None)),
                Ok(None) => continue,
                Err(BufError::Corrupt { source, .. }) => {
                    if let Some(page) = self.load(id, Load::Zero)? {
                        return Ok((page, Some(source)));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Brings `id` into a free frame. `None` when another thread published
    /// it first (the caller looks again).
    fn load(&self, id: PageId, how: Load) -> Result<Option<PageMut<'_>>, BufError> {
        let space = self.space_of(id)?;
        if u64::from(id.page.0) >= space.capacity_pages {
            return Err(BufError::BeyondFile {
                page: id,
                capacity_pages: space.capacity_pages,
            });
        }
        let frame = self.claim_free_frame()?;
        let mut guard = self.frames[frame].latch.write();
        {
            let mut table = self.shard(id).lock();
            if table.contains_key(&id) {
                drop(table);
                drop(guard);
                self.free.lock().push(frame);
                return Ok(None);
            }
            self.frames[frame].pins.store(1, Ordering::Release);
            table.insert(id, frame);
        }
        guard.id = Some(id);
        let result = match how {
            Load::Zero => {
                guard.page.as_mut_slice().fill(0);
                Ok(())
            }
            Load::Read => self.read_page(&space, id, &mut guard.page),
        };
        if let Err(e) = result {
            self.shard(id).lock().remove(&id);
            guard.id = None;
            drop(guard);
            self.unpin(frame);
            self.free.lock().push(frame);
            return Err(e);
        }
        self.lru
            .lock()
            .insert(frame, self.clock.now_ms(), &self.old);
        Ok(Some(PageMut {
            guard,
            pin: Pin { pool: self, frame },
        }))
    }

    fn read_page(
        &self,
        space: &SpaceFile,
        id: PageId,
        page: &mut DmaBuffer,
    ) -> Result<(), BufError> {
        self.counters.reads.increment();
        let lba = Self::lba_of(space, id);
        let buffer = std::mem::replace(page, self.take_spare());
        let buffer = self.with_device(space, id, "reading", |device| device.read(lba, buffer))?;
        let spare = std::mem::replace(page, buffer);
        self.spare_buffers.lock().push(spare);
        fil::verify(page.as_slice(), id).map_err(|source| BufError::Corrupt { page: id, source })
    }

    fn space_of(&self, id: PageId) -> Result<Arc<SpaceFile>, BufError> {
        self.spaces
            .read()
            .get(&id.space)
            .cloned()
            .ok_or(BufError::NoSuchSpace { page: id })
    }

    fn lba_of(space: &SpaceFile, id: PageId) -> u64 {
        u64::from(id.page.0) * PAGE_BYTES as u64 / space.block_bytes
    }

    /// Runs one blocking request on `space`'s device: on a fiber through
    /// its core's own queue (the fiber parks meanwhile), elsewhere through a
    /// pooled one (`BlockDevice::run`).
    fn with_device<T>(
        &self,
        space: &SpaceFile,
        id: PageId,
        what: &'static str,
        request: impl FnOnce(&dyn BlockDevice) -> Result<T, floe_blk::Error>,
    ) -> Result<T, BufError> {
        request(space.device.as_ref()).map_err(|source| BufError::Io {
            what,
            page: id,
            source,
        })
    }

    fn take_spare(&self) -> DmaBuffer {
        self.spare_buffers
            .lock()
            .pop()
            .unwrap_or_else(|| DmaBuffer::new(PAGE_BYTES))
    }

    /// A frame that is in no list and the table, with no pins. Waits while
    /// cold pages are being written; fails only when every frame is pinned.
    fn claim_free_frame(&self) -> Result<usize, BufError> {
        let mut scan_frames = EVICTION_SCAN_FRAMES.min(self.frames.len());
        let mut all_pinned_rounds = 0;
        loop {
            if let Some(frame) = self.free.lock().pop() {
                if self.frames[frame].pins.load(Ordering::Acquire) == 0 {
                    return Ok(frame);
                }
                // A thread that found this frame before its read failed
                // still holds a pin; it lets go at once.
                self.free.lock().insert(0, frame);
                floe_rt::sched::yield_now();
                continue;
            }
            match self.evict_one(scan_frames)? {
                Eviction::Frame(frame) => return Ok(frame),
                Eviction::Retry => {
                    all_pinned_rounds = 0;
                    floe_rt::sched::yield_now();
                }
                Eviction::AllPinned if scan_frames < self.frames.len() => {
                    scan_frames = (scan_frames * 2).min(self.frames.len());
                }
                Eviction::AllPinned => {
                    all_pinned_rounds += 1;
                    if all_pinned_rounds > 1000 {
                        return Err(BufError::Exhausted {
                            pool_pages: self.frames.len(),
                        });
                    }
                    floe_rt::sched::yield_now();
                }
            }
        }
    }

    /// Evicts a clean, unpinned page from the `scan_frames` coldest; writes
    /// a dirty one first when no clean one is there.
    fn evict_one(&self, scan_frames: usize) -> Result<Eviction, BufError> {
        let mut candidates = Vec::with_capacity(scan_frames);
        let mut lru = self.lru.lock();
        lru.coldest(scan_frames, &mut candidates);
        // Dirty cold pages are written as one batch: one doublewrite round
        // (two syncs) for many pages, not per page.
        let mut dirty: Vec<usize> = Vec::new();
        let mut busy = false;
        for &frame in &candidates {
            let state = &self.frames[frame];
            if state.pins.load(Ordering::Acquire) != 0 {
                continue;
            }
            if state.oldest_modification.load(Ordering::Acquire) != 0 {
                if state.flushing.load(Ordering::Acquire) {
                    busy = true; // another thread is writing it: soon clean
                } else if dirty.len() < DOUBLEWRITE_SLOTS {
                    dirty.push(frame);
                }
                continue;
            }
            // Nobody can pin it while we hold its shard; pins are checked again there.
            let Some(guard) = state.latch.try_write() else {
                busy = true;
                continue;
            };
            let Some(id) = guard.id else { continue };
            let mut table = self.shard(id).lock();
            if state.pins.load(Ordering::Acquire) != 0
                || state.oldest_modification.load(Ordering::Acquire) != 0
            {
                busy = true;
                continue;
            }
            table.remove(&id);
            drop(table);
            lru.remove(frame, &self.old);
            drop(guard);
            self.frames[frame].latch.write().id = None;
            self.counters.evictions.increment();
            return Ok(Eviction::Frame(frame));
        }
        drop(lru);
        if !dirty.is_empty() {
            self.flush_frames(&dirty)?;
            return Ok(Eviction::Retry);
        }
        Ok(if busy {
            Eviction::Retry
        } else {
            Eviction::AllPinned
        })
    }

    /// Called by mtr commit with the log locked: `frame` was changed by the
    /// mtr that spans `start..end`. Keeps the flush list in LSN order.
    pub(crate) fn note_modified(&self, page: &mut PageMut<'_>, start: Lsn, end: Lsn) {
        let frame = &self.frames[page.pin.frame];
        // Under the flush list mutex, so that a flusher deciding whether the
        // page is clean after its write sees this change or none of it.
        let mut flush_list = self.flush_list.lock();
        frame.newest_modification.store(end.0, Ordering::Release);
        if frame.oldest_modification.load(Ordering::Acquire) == 0 {
            frame.oldest_modification.store(start.0, Ordering::Release);
            flush_list.insert((start, page.pin.frame));
        }
    }

    /// Oldest modification of any dirty page: the checkpoint may not pass it.
    pub fn oldest_modification(&self) -> Option<Lsn> {
        self.flush_list.lock().first().map(|&(lsn, _)| lsn)
    }

    pub fn dirty_pages(&self) -> usize {
        self.flush_list.lock().len()
    }

    /// Writes up to `limit` dirty pages, oldest modification first, and
    /// stops at those modified at or after `up_to`. Returns pages written.
    pub fn flush_oldest(&self, limit: usize, up_to: Lsn) -> Result<usize, BufError> {
        let mut written = 0;
        while written < limit {
            let batch: Vec<usize> = self
                .flush_list
                .lock()
                .iter()
                .take_while(|(lsn, _)| *lsn < up_to)
                .take((limit - written).min(DOUBLEWRITE_SLOTS))
                .map(|&(_, frame)| frame)
                .collect();
            if batch.is_empty() {
                break;
            }
            let n = self.flush_frames(&batch)?;
            written += n;
            if n == 0 {
                // Every page of the batch is being written by another thread.
                floe_rt::sched::yield_now();
            }
        }
        Ok(written)
    }

    /// Writes every dirty page (checkpoint at shutdown, tests).
    pub fn flush_all(&self) -> Result<usize, BufError> {
        let mut written = 0;
        while self.dirty_pages() > 0 {
            written += self.flush_oldest(usize::MAX, Lsn(u64::MAX))?;
        }
        Ok(written)
    }

    /// Writes dirty pages from the cold end of the LRU so that eviction
    /// finds clean pages there (the page cleaner's LRU flush).
    pub fn flush_lru_tail(&self, scan_frames: usize) -> Result<usize, BufError> {
        let mut candidates = Vec::with_capacity(scan_frames);
        self.lru.lock().coldest(scan_frames, &mut candidates);
        candidates.retain(|&f| self.frames[f].oldest_modification.load(Ordering::Acquire) != 0);
        candidates.truncate(DOUBLEWRITE_SLOTS);
        if candidates.is_empty() {
            return Ok(0);
        }
        self.flush_frames(&candidates)
    }

    /// Clean frames within `scan_frames` of the LRU's cold end, plus free ones.
    pub fn clean_cold_frames(&self, scan_frames: usize) -> usize {
        let mut candidates = Vec::with_capacity(scan_frames);
        self.lru.lock().coldest(scan_frames, &mut candidates);
        let clean = candidates
            .iter()
            .filter(|&&f| self.frames[f].oldest_modification.load(Ordering::Acquire) == 0)
            .count();
        clean + self.free.lock().len()
    }

    /// Makes every open space's writes durable (before a checkpoint).
    pub fn sync_spaces(&self) -> Result<(), BufError> {
        let spaces: Vec<(SpaceId, Arc<SpaceFile>)> = self
            .spaces
            .read()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (space, file) in spaces {
            let id = PageId {
                space,
                page: fil::PageNo(0),
            };
            self.with_device(&file, id, "flushing the file of", |device| device.flush())?;
        }
        Ok(())
    }

    /// Writes a batch of dirty frames (at most `DOUBLEWRITE_SLOTS`).
    ///
    /// Each page is copied and sealed under its S latch, which is released
    /// at once: a flusher never holds one page latch while waiting for
    /// another. The redo up to the newest copy is made durable first (WAL),
    /// then the batch goes through the doublewrite area if there is one,
    /// then home. A page is marked clean only if no mtr changed it since
    /// its copy; otherwise it stays dirty with its old oldest-modification,
    /// which only holds the checkpoint back until its next write.
    fn flush_frames(&self, frames: &[usize]) -> Result<usize, BufError> {
        struct Claimed {
            frame: usize,
            id: PageId,
            newest: Lsn,
            oldest: Lsn,
        }
        let frames = &frames[..frames.len().min(DOUBLEWRITE_SLOTS)];
        let mut claimed: Vec<Claimed> = Vec::with_capacity(frames.len());
        let batch_bytes = frames.len() * PAGE_BYTES;
        // Any cached buffer large enough serves (set_len): those carved at
        // start-up sit in the registered arena, so the device needs no
        // mapping per flush.
        let cached = {
            let mut cache = self.batch_buffers.lock();
            cache
                .iter()
                .position(|b| b.capacity_bytes() >= batch_bytes)
                .map(|i| cache.swap_remove(i))
        };
        let mut batch = cached.unwrap_or_else(|| DmaBuffer::new(batch_bytes));
        batch.set_len(batch_bytes);
        for &frame in frames {
            let state = &self.frames[frame];
            if state.flushing.swap(true, Ordering::AcqRel) {
                continue;
            }
            let guard = state.latch.read();
            let oldest = state.oldest_modification.load(Ordering::Acquire);
            let (Some(id), true) = (guard.id, oldest != 0) else {
                drop(guard);
                state.flushing.store(false, Ordering::Release);
                continue;
            };
            let newest = Lsn(state.newest_modification.load(Ordering::Acquire));
            assert_eq!(
                fil::page_lsn(guard.page.as_slice()),
                newest,
                "{id}: page LSN differs from its newest modification"
            );
            let slot = claimed.len() * PAGE_BYTES;
            let copy = &mut batch.as_mut_slice()[slot..slot + PAGE_BYTES];
            copy.copy_from_slice(guard.page.as_slice());
            drop(guard);
            fil::seal(copy);
            claimed.push(Claimed {
                frame,
                id,
                newest,
                oldest: Lsn(oldest),
            });
        }
        let release = |claimed: &[Claimed]| {
            for c in claimed {
                self.frames[c.frame]
                    .flushing
                    .store(false, Ordering::Release);
            }
        };
        if claimed.is_empty() {
            return Ok(0);
        }
        let result = self.write_batch(
            &claimed.iter().map(|c| (c.id, c.newest)).collect::<Vec<_>>(),
            batch,
        );
        match result {
            Ok(batch) => self.batch_buffers.lock().push(batch),
            Err(e) => {
                release(&claimed);
                return Err(e);
            }
        }
        {
            let mut flush_list = self.flush_list.lock();
            for c in &claimed {
                let state = &self.frames[c.frame];
                if state.newest_modification.load(Ordering::Acquire) == c.newest.0 {
                    flush_list.remove(&(c.oldest, c.frame));
                    state.oldest_modification.store(0, Ordering::Release);
                }
            }
        }
        release(&claimed);
        self.counters.writes.add(claimed.len() as u64);
        Ok(claimed.len())
    }

    /// WAL, doublewrite, home writes for sealed pages `pages[i]` in slot i.
    fn write_batch(
        &self,
        pages: &[(PageId, Lsn)],
        batch: DmaBuffer,
    ) -> Result<DmaBuffer, BufError> {
        let newest = pages.iter().map(|p| p.1).max().unwrap_or_default();
        if let Some(log) = self.wal.get() {
            log.write_up_to(newest).map_err(|source| BufError::Wal {
                page: pages[0].0,
                source,
            })?;
        }
        let homes = |batch: &DmaBuffer, sync: bool| -> Result<(), BufError> {
            let mut touched: Vec<SpaceId> = Vec::new();
            for (i, &(id, _)) in pages.iter().enumerate() {
                let space = self.space_of(id)?;
                let mut copy = self.take_spare();
                copy.as_mut_slice()
                    .copy_from_slice(&batch.as_slice()[i * PAGE_BYTES..(i + 1) * PAGE_BYTES]);
                let lba = Self::lba_of(&space, id);
                let copy =
                    self.with_device(&space, id, "writing", |device| device.write(lba, copy))?;
                self.spare_buffers.lock().push(copy);
                if !touched.contains(&id.space) {
                    touched.push(id.space);
                }
            }
            if sync {
                for space_id in touched {
                    let id = PageId {
                        space: space_id,
                        page: fil::PageNo(0),
                    };
                    let space = self.space_of(id)?;
                    self.with_device(&space, id, "flushing the file of", |device| device.flush())?;
                }
            }
            Ok(())
        };
        match self.doublewrite.get() {
            Some(doublewrite) => {
                let first = pages[0].0;
                doublewrite.protect(
                    batch,
                    |batch| homes(batch, true),
                    |source| BufError::Io {
                        what: "writing the doublewrite area for",
                        page: first,
                        source,
                    },
                )
            }
            None => homes(&batch, false).map(|()| batch),
        }
    }

    pub fn stats(&self) -> BufStats {
        let lru = self.lru.lock();
        BufStats {
            pool_pages: self.frames.len(),
            huge_pages: self.huge_pages,
            hits: self.counters.hits.get(),
            reads: self.counters.reads.get(),
            writes: self.counters.writes.get(),
            evictions: self.counters.evictions.get(),
            made_young: self.counters.made_young.get(),
            dirty_pages: self.flush_list.lock().len(),
            lru_pages: lru.len(),
            old_pages: lru.old_len(),
            free_pages: self.free.lock().len(),
        }
    }

    /// The page ids from hottest to coldest, for a warm-restart dump.
    pub fn page_list(&self, limit: usize) -> Vec<PageId> {
        let mut frames = Vec::new();
        self.lru.lock().hottest(limit, &mut frames);
        frames
            .into_iter()
            .filter_map(|frame| self.frames[frame].latch.try_read().and_then(|g| g.id))
            .collect()
    }

    /// Reads a page's home image straight from its file, bypassing the pool
    /// (doublewrite repair, before the pool holds anything).
    pub fn read_home_page(&self, id: PageId) -> Result<Vec<u8>, BufError> {
        let space = self.space_of(id)?;
        let lba = Self::lba_of(&space, id);
        let buffer = self.with_device(&space, id, "reading", |device| {
            device.read(lba, DmaBuffer::new(PAGE_BYTES))
        })?;
        Ok(buffer.as_slice().to_vec())
    }

    /// Writes a sealed page image home, bypassing the pool (doublewrite repair).
    pub fn write_home_page(&self, id: PageId, image: &[u8]) -> Result<(), BufError> {
        assert!(
            self.shard(id).lock().get(&id).is_none(),
            "{id}: written home while in the pool"
        );
        let space = self.space_of(id)?;
        let lba = Self::lba_of(&space, id);
        let mut buffer = DmaBuffer::new(PAGE_BYTES);
        buffer.as_mut_slice().copy_from_slice(image);
        self.with_device(&space, id, "writing", |device| device.write(lba, buffer))?;
        Ok(())
    }

    /// Checks the LRU's links, counts and old flags (tests).
    pub fn check_lru(&self) -> Result<(), String> {
        self.lru.lock().check(&self.old)
    }
}

/// What one eviction attempt achieved.
enum Eviction {
    Frame(usize),
    /// Pages near the cold end are being written or were just written.
    Retry,
    /// Every frame scanned is pinned.
    AllPinned,
}

#[derive(Clone, Copy)]
enum Load {
    Read,
    Zero,
}

/// Holds one pin on a frame; dropping it unpins.
struct Pin<'a> {
    pool: &'a BufferPool,
    frame: usize,
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        self.pool.unpin(self.frame);
    }
}

/// A page, S-latched and pinned. Fields drop in order: latch, then pin.
pub struct PageRef<'a> {
    guard: RwLockReadGuard<'a, FrameData>,
    pin: Pin<'a>,
}

impl PageRef<'_> {
    pub fn bytes(&self) -> &[u8] {
        self.guard.page.as_slice()
    }

    pub fn id(&self) -> PageId {
        self.guard.id.expect("a fixed frame holds a page")
    }

    pub fn frame(&self) -> usize {
        self.pin.frame
    }
}

/// A page, X-latched and pinned. Changes go through a mini-transaction.
pub struct PageMut<'a> {
    guard: RwLockWriteGuard<'a, FrameData>,
    pin: Pin<'a>,
}

impl<'a> PageMut<'a> {
    pub fn bytes(&self) -> &[u8] {
        self.guard.page.as_slice()
    }

    /// Raw write access: only mtr code and redo apply may call this.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        self.guard.page.as_mut_slice()
    }

    pub fn id(&self) -> PageId {
        self.guard.id.expect("a fixed frame holds a page")
    }

    pub fn frame(&self) -> usize {
        self.pin.frame
    }

    /// Keeps the pin, trades the X latch for an S latch.
    pub fn downgrade(self) -> PageRef<'a> {
        let PageMut { guard, pin } = self;
        PageRef {
            guard: RwLockWriteGuard::downgrade(guard),
            pin,
        }
    }
}
