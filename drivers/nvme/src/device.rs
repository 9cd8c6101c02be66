//! `NvmeDevice` and `NvmeQueue`: the BlockDevice seam over a started
//! [`Controller`]. Each `open_queue` creates one I/O queue pair on the
//! device, owned by the queue (and so by the thread that holds it); submit
//! and poll touch only that queue's memory and doorbells, read one atomic
//! (the controller generation) and the registered ranges (atomics, no
//! lock), and never lock. The admin lock is taken on the cold paths only:
//! opening and closing a queue, a timed-out command, a controller reset,
//! and mapping a buffer that lies outside every registered DMA arena (see
//! [`NvmeDevice::map_dma_arenas`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use floe_blk::{
    BlockDevice, BlockOp, BlockQueue, ChannelCounts, Channels, Completion, Error, Geometry,
    SubmitError, Tag,
};
use floe_rt::{DmaBuffer, DmaRegistrar};

use crate::controller::{Controller, QpairMemory};
use crate::error::NvmeError;
use crate::memory::DmaMapper;
use crate::qpair::{Command, Finished, Payload, Qpair, QpairConfig, SubmitRefused, Transfer};
use crate::spec::{NvmOpcode, Opcode, Sqe};

/// How often (at most) a queue with commands in flight looks for expired
/// ones and reads CSTS for a fatal status: an MMIO read costs about a
/// microsecond, too much for every poll.
const HEALTH_CHECK_INTERVAL_MS: u64 = 100;

/// Depth of the queue pairs blocking requests (`BlockDevice::run`) go
/// through: one per core, so a core's fibers share it.
const CHANNEL_DEPTH: u32 = 64;

/// Arenas a device can have mapped over its life. Slots are never reused
/// (that keeps lookups lock-free); an engine makes a handful of arenas at
/// start, so this bounds a leak, not a workload. Past it, buffers are
/// mapped per request, with a warning.
const REGISTRATIONS_MAX: usize = 32;

/// One registered range; `len_bytes` 0 means empty or ended.
#[derive(Default)]
struct Slot {
    iova: AtomicU64,
    len_bytes: AtomicU64,
}

/// DMA arenas mapped once for the device (whole, IOVA = VA), as floe_rt's
/// registry reports them; shared by the device and its queues.
///
/// Queues look a buffer up on every submit without a lock: slots are
/// filled in order and never reused; a writer stores `iova`, then
/// `len_bytes` (Release), then bumps `used` (Release), so a reader that
/// loads `used` (Acquire) and sees a non-zero length sees its iova. An
/// ended arena's slot drops to length 0; its iova is never rewritten. An
/// arena cannot end while a buffer carved from it exists, so a buffer found
/// inside a slot stays mapped until its request completes.
pub(crate) struct Registrations {
    mapper: Arc<dyn DmaMapper>,
    name: String,
    slots: [Slot; REGISTRATIONS_MAX],
    used: AtomicUsize,
    /// Serialises writers (the registry's lock already does; this keeps
    /// the invariant local).
    writer: Mutex<()>,
    /// Data transfers on registered memory and on buffers mapped for the
    /// one request, summed from queues as they close.
    premapped_ios: AtomicU64,
    mapped_ios: AtomicU64,
}

impl Registrations {
    fn new(mapper: Arc<dyn DmaMapper>, name: String) -> Registrations {
        Registrations {
            mapper,
            name,
            slots: Default::default(),
            used: AtomicUsize::new(0),
            writer: Mutex::new(()),
            premapped_ios: AtomicU64::new(0),
            mapped_ios: AtomicU64::new(0),
        }
    }

    /// True if `[iova, iova + len_bytes)` lies inside one registered range.
    fn contains(&self, iova: u64, len_bytes: u64) -> bool {
        let Some(end) = iova.checked_add(len_bytes) else {
            return false;
        };
        let used = self.used.load(Ordering::Acquire);
        self.slots[..used].iter().any(|slot| {
            let slot_len = slot.len_bytes.load(Ordering::Acquire);
            let slot_iova = slot.iova.load(Ordering::Relaxed);
            slot_len != 0 && iova >= slot_iova && end <= slot_iova.saturating_add(slot_len)
        })
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DmaRegistrar for Registrations {
    unsafe fn register(
        &self,
        iova: u64,
        len_bytes: u64,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let _writer = self.lock_writer();
        let index = self.used.load(Ordering::Acquire);
        if index >= REGISTRATIONS_MAX {
            return Err(format!(
                "{}: all {REGISTRATIONS_MAX} registration slots used",
                self.name
            )
            .into());
        }
        // SAFETY: the registry's contract (DmaRegistrar::register): a whole
        // arena mapping that stays allocated until `unregister` of the same
        // range returns, reached only through buffers handed to the device.
        unsafe { self.mapper.map(iova, len_bytes) }?;
        let slot = &self.slots[index];
        slot.iova.store(iova, Ordering::Relaxed);
        slot.len_bytes.store(len_bytes, Ordering::Release);
        self.used.store(index + 1, Ordering::Release);
        log::info!(
            "{}: DMA arena of {len_bytes} bytes at {iova:#x} mapped for the device (IOVA = VA)",
            self.name
        );
        Ok(())
    }

    fn unregister(&self, iova: u64, len_bytes: u64) {
        let _writer = self.lock_writer();
        let used = self.used.load(Ordering::Acquire);
        let found = self.slots[..used].iter().find(|slot| {
            slot.len_bytes.load(Ordering::Acquire) == len_bytes
                && slot.iova.load(Ordering::Relaxed) == iova
        });
        // Not found: registering it failed, and its I/O was mapped per request.
        let Some(slot) = found else { return };
        slot.len_bytes.store(0, Ordering::Release);
        if let Err(e) = self.mapper.unmap(iova, len_bytes) {
            log::error!("{}: unmapping the DMA arena at {iova:#x}: {e}", self.name);
        }
    }
}

impl Drop for Registrations {
    fn drop(&mut self) {
        // The device and every queue are gone: no request can be in flight.
        let used = *self.used.get_mut();
        for slot in &mut self.slots[..used] {
            let len_bytes = *slot.len_bytes.get_mut();
            let iova = *slot.iova.get_mut();
            if len_bytes != 0 {
                if let Err(e) = self.mapper.unmap(iova, len_bytes) {
                    log::error!("{}: unmapping the DMA arena at {iova:#x}: {e}", self.name);
                }
            }
        }
    }
}

/// How a device's data transfers reached memory, for the log and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaCounts {
    /// Transfers whose buffer lay in a registered arena: no mapping work.
    pub premapped_ios: u64,
    /// Transfers whose buffer was mapped and unmapped for the one request
    /// (two IOMMU ioctls each with VFIO).
    pub mapped_ios: u64,
}

/// A block device on one NVMe namespace.
pub struct NvmeDevice {
    controller: Arc<Controller>,
    geometry: Geometry,
    name: String,
    registrations: Arc<Registrations>,
    /// Set once the device has joined floe_rt's DMA registry.
    registering: AtomicBool,
    /// Blocking requests (`BlockDevice::run`): on a fiber, the core's own
    /// queue pair, created and polled by that core only; elsewhere pooled
    /// queue pairs.
    channels: Channels,
}

impl std::fmt::Debug for NvmeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmeDevice")
            .field("name", &self.name)
            .field("geometry", &self.geometry)
            .finish()
    }
}

impl NvmeDevice {
    /// A device over a started controller. `name` appears in errors.
    pub fn new(controller: Controller, name: impl Into<String>) -> NvmeDevice {
        let name = name.into();
        let identity = controller.identity();
        let namespace = &identity.namespace;
        let geometry = Geometry {
            block_bytes: namespace.format().block_bytes,
            // A request larger than one command is split, and so not
            // atomic: never promise more than one command carries.
            atomic_write_bytes: namespace
                .atomic_write_bytes(&identity.controller)
                .min(controller.max_transfer_bytes())
                .max(namespace.format().block_bytes),
            capacity_blocks: namespace.size_blocks,
        };
        let registrations = Arc::new(Registrations::new(
            Arc::clone(controller.mapper()),
            name.clone(),
        ));
        NvmeDevice {
            controller: Arc::new(controller),
            geometry,
            name,
            registrations,
            registering: AtomicBool::new(false),
            channels: Channels::new(CHANNEL_DEPTH),
        }
    }

    /// Maps every DMA arena for the device, once each and whole (one
    /// `VFIO_IOMMU_MAP_DMA` per arena, IOVA = VA): those alive now and
    /// those made later, through floe_rt's registry, until the device and
    /// its queues are gone. Buffers carved from them (the buffer pool's
    /// frames) are then used as they are; any other buffer is mapped for
    /// its one request. Returns how many arenas were mapped now; a second
    /// call does nothing.
    pub fn map_dma_arenas(&self) -> usize {
        if self.registering.swap(true, Ordering::AcqRel) {
            return 0;
        }
        let registrar: Arc<dyn DmaRegistrar> = self.registrations.clone();
        floe_rt::add_registrar(&registrar)
    }

    /// Transfers so far by how their memory was reached, over the queues
    /// closed so far (a queue adds its counts when it is dropped).
    pub fn dma_counts(&self) -> DmaCounts {
        DmaCounts {
            premapped_ios: self.registrations.premapped_ios.load(Ordering::Relaxed),
            mapped_ios: self.registrations.mapped_ios.load(Ordering::Relaxed),
        }
    }

    /// Queue pairs open for blocking requests: cores' own and pooled.
    pub fn channel_counts(&self) -> ChannelCounts {
        self.channels.counts()
    }

    /// Closes the queue pairs of stopped cores and the idle pooled ones
    /// (their transfer counts then join `dma_counts`).
    pub fn close_idle_queues(&self) {
        self.channels.close_idle();
    }

    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// Opens a queue as [`BlockDevice::open_queue`] does, with its type.
    pub fn open_nvme_queue(&self, depth: u32) -> Result<NvmeQueue, NvmeError> {
        NvmeQueue::open(self, depth)
    }

    /// Resets the controller now (as a fatal status or a stuck command
    /// would); every queue fails what it had in flight with `Reset`.
    pub fn reset(&self) -> Result<(), NvmeError> {
        self.controller.reset(self.controller.generation())
    }
}

impl BlockDevice for NvmeDevice {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn open_queue(&self, depth: u32) -> Result<Box<dyn BlockQueue>, Error> {
        match NvmeQueue::open(self, depth) {
            Ok(queue) => Ok(Box::new(queue)),
            Err(e) => Err(Error::Unusable {
                device: self.name.clone(),
                reason: format!("opening a queue of depth {depth}: {e}"),
            }),
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn run(&self, op: BlockOp, buffer: Option<DmaBuffer>) -> Result<Option<DmaBuffer>, Error> {
        self.channels.run(self, op, buffer)
    }
}

/// What a request remembers while its commands are in flight.
#[derive(Debug)]
struct Request {
    tag: Tag,
    op: BlockOp,
    buffer: Option<DmaBuffer>,
    /// Set when the buffer was mapped for this request alone.
    mapped: Option<(u64, u64)>,
}

/// A request split into one or more commands (a transfer larger than the
/// controller's limit is cut at multiples of it). Preallocated, one per
/// request the queue may hold.
#[derive(Debug, Default)]
struct Parent {
    request: Option<Request>,
    /// Commands submitted and not yet finished.
    children_left: u16,
    /// The first command error, which the whole request reports.
    error: Option<NvmeError>,
}

/// Largest request a queue takes, split as needed; with the controller's
/// transfer limit it sets how many commands one request may need.
const REQUEST_BYTES_MAX: u64 = 4 << 20;
/// Commands one request may be split into, at most.
const CHILDREN_MAX: u64 = 64;

/// One I/O queue pair, owned by one thread.
pub struct NvmeQueue {
    controller: Arc<Controller>,
    name: String,
    geometry: Geometry,
    registrations: Arc<Registrations>,
    /// This queue's share of [`DmaCounts`], added to the device's on drop.
    counts: DmaCounts,
    /// Requests the caller may have in flight.
    depth: usize,
    /// Commands one request may need (transfer limit splits).
    children_max: usize,
    generation: u64,
    /// False after a reset until the device side is created again.
    live: bool,
    /// Set by a reset that did not confirm the controller stopped.
    poisoned: bool,
    parents: Box<[Parent]>,
    /// Free parent slots; capacity `depth`, never grows.
    free_parents: Vec<u16>,
    /// Completions not yet handed to the caller (a reset fails up to
    /// `depth` at once); capacity `depth`, never grows.
    ready: VecDeque<Completion>,
    last_health_check_ms: u64,
    expired: Box<[u16]>,
    // Mappings before the qpair: unmapped before its memory is freed.
    _mappings: [crate::controller::Mapping; 3],
    qpair: Qpair<u16>,
}

impl std::fmt::Debug for NvmeQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmeQueue")
            .field("name", &self.name)
            .field("depth", &self.depth)
            .field("qpair", &self.qpair)
            .finish()
    }
}

fn to_blk(op: BlockOp, lba: u64, device: &str, error: NvmeError) -> Error {
    Error::Io {
        op: op.name(),
        lba,
        device: device.to_owned(),
        source: std::io::Error::other(error),
    }
}

fn op_lba(op: BlockOp) -> u64 {
    match op {
        BlockOp::Read { lba } | BlockOp::Write { lba } | BlockOp::Deallocate { lba, .. } => lba,
        BlockOp::Flush => 0,
    }
}

/// Where finished commands go: their parent, and when it has no command
/// left, a Completion in `out` (its buffer unmapped first if it was mapped
/// for it alone, and leaked instead of returned when `leak_buffers`).
struct Collector<'a> {
    parents: &'a mut [Parent],
    free_parents: &'a mut Vec<u16>,
    mapper: &'a dyn crate::memory::DmaMapper,
    name: &'a str,
    leak_buffers: bool,
}

impl Collector<'_> {
    fn collect(&mut self, finished: Finished<u16>, mut out: impl FnMut(Completion)) {
        let index = usize::from(finished.context);
        let parent = &mut self.parents[index];
        assert!(
            parent.children_left > 0,
            "parent {index} finished too often"
        );
        parent.children_left -= 1;
        if let Err(e) = finished.result {
            parent.error.get_or_insert(e);
        }
        if parent.children_left > 0 {
            return;
        }
        let Some(request) = parent.request.take() else {
            unreachable!("parent {index} with commands but no request")
        };
        let error = parent.error.take();
        self.free_parents.push(finished.context);
        let Request {
            tag,
            op,
            mut buffer,
            mapped,
        } = request;
        let mut result = match error {
            None => Ok(()),
            Some(e) => Err(to_blk(op, op_lba(op), self.name, e)),
        };
        if let Some((iova, len)) = mapped {
            if let Err(e) = self.mapper.unmap(iova, len) {
                if result.is_ok() {
                    result = Err(to_blk(op, op_lba(op), self.name, e));
                }
            }
        }
        if self.leak_buffers {
            if let Some(buffer) = buffer.take() {
                std::mem::forget(buffer);
            }
        }
        out(Completion {
            tag,
            buffer,
            result,
        });
    }
}

impl NvmeQueue {
    fn open(device: &NvmeDevice, depth: u32) -> Result<NvmeQueue, NvmeError> {
        let controller = Arc::clone(&device.controller);
        let max_transfer = u64::from(controller.max_transfer_bytes);
        let children_max = REQUEST_BYTES_MAX.div_ceil(max_transfer).min(CHILDREN_MAX) as u32;
        // Trackers: one per request, plus enough for one request split to
        // the limit, so a queue with room for a request always fits it.
        let max_entries = controller.cap.max_queue_entries.min(4096);
        if depth == 0 || depth + children_max > max_entries {
            return Err(NvmeError::Unsupported {
                reason: format!(
                    "queue depth {depth}: expected 1..={}",
                    max_entries.saturating_sub(children_max)
                ),
            });
        }
        let entries = (depth + children_max) as u16;
        let qid = controller.allocate_qid()?;
        let config = QpairConfig {
            qid,
            entries,
            memory_page_bytes: controller.memory_page_bytes,
            max_transfer_bytes: controller.max_transfer_bytes,
            doorbell_stride_bytes: controller.cap.doorbell_stride_bytes,
        };
        let memory = match QpairMemory::new(controller.mapper(), entries) {
            Ok(memory) => memory,
            Err(e) => {
                controller.release_qid(qid);
                return Err(e);
            }
        };
        let (qpair, mappings) = memory.into_qpair::<u16>(config);
        let generation = controller.generation();
        if let Err(e) = controller.create_io_queues(&qpair) {
            controller.release_qid(qid);
            return Err(e);
        }
        log::debug!("qp {qid}: opened with depth {depth} on {}", device.name);
        let depth = depth as usize;
        Ok(NvmeQueue {
            name: device.name.clone(),
            geometry: device.geometry,
            registrations: Arc::clone(&device.registrations),
            counts: DmaCounts::default(),
            depth,
            children_max: children_max as usize,
            generation,
            live: true,
            poisoned: false,
            parents: (0..depth).map(|_| Parent::default()).collect(),
            free_parents: (0..depth as u16).rev().collect(),
            ready: VecDeque::with_capacity(depth),
            last_health_check_ms: controller.clock().now_ms(),
            expired: vec![0; 8].into_boxed_slice(),
            _mappings: mappings,
            qpair,
            controller,
        })
    }

    pub fn qid(&self) -> u16 {
        self.qpair.qid()
    }

    /// Requests in flight or completed and not yet polled.
    fn requests_held(&self) -> usize {
        self.depth - self.free_parents.len() + self.ready.len()
    }

    /// Fails every command in the qpair (after a reset, or on close) and
    /// collects the requests they belonged to into `ready`.
    fn fail_everything(&mut self, leak_buffers: bool) {
        let mut collector = Collector {
            parents: &mut self.parents,
            free_parents: &mut self.free_parents,
            mapper: self.controller.mapper().as_ref(),
            name: &self.name,
            leak_buffers,
        };
        let ready = &mut self.ready;
        self.qpair.fail_all(|finished| {
            collector.collect(finished, |completion| ready.push_back(completion));
        });
    }

    /// If the controller was reset since we last looked: fail everything in
    /// flight (the device forgot it and no longer touches its memory) and
    /// mark the queue for re-creation.
    fn notice_reset(&mut self) {
        let generation = self.controller.generation();
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        self.live = false;
        // If the controller did not confirm it stopped, it may still write
        // into the buffers of these commands: tell the caller they failed,
        // but never hand the memory back for reuse (leak it instead), and
        // never re-create rings on this queue's memory.
        let clean = self.controller.last_reset_clean();
        self.poisoned |= !clean;
        self.fail_everything(!clean);
    }

    /// Re-creates the device side after a reset, on the owner's thread.
    fn revive(&mut self) -> Result<(), NvmeError> {
        if self.live {
            return Ok(());
        }
        if self.poisoned {
            return Err(NvmeError::Unclean { qid: self.qid() });
        }
        self.controller.create_io_queues(&self.qpair)?;
        self.live = true;
        Ok(())
    }

    fn in_premapped(&self, buffer: &DmaBuffer) -> bool {
        self.registrations
            .contains(buffer.iova(), buffer.len_bytes() as u64)
    }

    /// Submits a read or write of the first `len_bytes` of `buffer` (a
    /// multiple of the block size; for transfers smaller than a 4 KiB
    /// frame). Completes like any other request.
    pub fn submit_partial(
        &mut self,
        op: BlockOp,
        buffer: DmaBuffer,
        len_bytes: usize,
        tag: Tag,
    ) -> Result<(), SubmitError> {
        let block_bytes = self.geometry.block_bytes as usize;
        if len_bytes == 0
            || len_bytes > buffer.len_bytes()
            || !len_bytes.is_multiple_of(block_bytes)
        {
            return Err(SubmitError::Invalid(Error::BadLength {
                op: op.name(),
                len_bytes,
                block_bytes: self.geometry.block_bytes,
            }));
        }
        self.submit_inner(op, Some(buffer), len_bytes, tag)
    }

    fn submit_inner(
        &mut self,
        op: BlockOp,
        buffer: Option<DmaBuffer>,
        len_bytes: usize,
        tag: Tag,
    ) -> Result<(), SubmitError> {
        let block_bytes = u64::from(self.geometry.block_bytes);
        let blocks = len_bytes as u64 / block_bytes;
        let lba = op_lba(op);
        // Check the range with the transfer length actually used.
        if let BlockOp::Read { .. } | BlockOp::Write { .. } = op {
            if lba
                .checked_add(blocks)
                .is_none_or(|end| end > self.geometry.capacity_blocks)
            {
                return Err(SubmitError::Invalid(Error::OutOfRange {
                    op: op.name(),
                    lba,
                    block_count: blocks,
                    capacity_blocks: self.geometry.capacity_blocks,
                }));
            }
        }
        self.notice_reset();
        if self.requests_held() >= self.depth {
            return Err(SubmitError::Busy { op, buffer, tag });
        }
        if let Err(e) = self.revive() {
            // The controller is in trouble; the caller hears of it now.
            return Err(SubmitError::Invalid(to_blk(op, lba, &self.name, e)));
        }
        let max_transfer = u64::from(self.controller.max_transfer_bytes);
        let (opcode, payload, children) = match op {
            BlockOp::Read { .. } | BlockOp::Write { .. } => {
                let opcode = if matches!(op, BlockOp::Read { .. }) {
                    NvmOpcode::Read
                } else {
                    NvmOpcode::Write
                };
                let children = (len_bytes as u64).div_ceil(max_transfer);
                if children > self.children_max as u64 {
                    let e = NvmeError::BadTransfer {
                        qid: self.qid(),
                        iova: buffer.as_ref().map_or(0, DmaBuffer::iova),
                        len_bytes,
                        reason: "larger than the request limit (4 MiB, or 64 commands)",
                    };
                    return Err(SubmitError::Invalid(to_blk(op, lba, &self.name, e)));
                }
                (opcode, Payload::None, children as usize)
            }
            BlockOp::Flush => (NvmOpcode::Flush, Payload::None, 1),
            BlockOp::Deallocate { lba, block_count } => {
                if !self
                    .controller
                    .identity()
                    .controller
                    .optional_commands
                    .dataset_management
                {
                    // No DSM: forgetting nothing is a valid deallocate.
                    self.ready.push_back(Completion {
                        tag,
                        buffer,
                        result: Ok(()),
                    });
                    return Ok(());
                }
                (
                    NvmOpcode::DatasetManagement,
                    Payload::Dsm { lba, block_count },
                    1,
                )
            }
        };
        if !self.qpair.can_take(children) {
            return Err(SubmitError::Busy { op, buffer, tag });
        }
        let mut mapped = None;
        if let Some(buffer) = &buffer {
            if self.in_premapped(buffer) {
                self.counts.premapped_ios += 1;
            } else {
                // Cold path: a buffer outside every registered arena.
                let range = (buffer.iova(), buffer.len_bytes() as u64);
                // SAFETY: the buffer moves into the parent slot below and
                // stays there, unreferenced, until the Collector unmaps it
                // and hands it back; after an unclean reset it is leaked,
                // never freed.
                if let Err(e) = unsafe { self.controller.mapper().map(range.0, range.1) } {
                    return Err(SubmitError::Invalid(to_blk(op, lba, &self.name, e)));
                }
                mapped = Some(range);
                self.counts.mapped_ios += 1;
            }
        }
        let iova = buffer.as_ref().map_or(0, DmaBuffer::iova);
        let Some(index) = self.free_parents.pop() else {
            unreachable!("requests_held < depth leaves a parent slot free")
        };
        let parent = &mut self.parents[usize::from(index)];
        parent.request = Some(Request {
            tag,
            op,
            buffer,
            mapped,
        });
        parent.error = None;
        parent.children_left = 0;
        let nsid = self.controller.identity().nsid;
        let now_ms = self.controller.clock().now_ms();
        for child in 0..children as u64 {
            let (payload, sqe, child_lba) = match payload {
                Payload::None if matches!(op, BlockOp::Flush) => {
                    (Payload::None, Sqe::default(), lba)
                }
                Payload::None => {
                    let offset = child * max_transfer;
                    let child_bytes = (len_bytes as u64 - offset).min(max_transfer);
                    let child_lba = lba + offset / block_bytes;
                    let child_blocks = (child_bytes / block_bytes) as u32;
                    let sqe = Sqe {
                        cdw10: child_lba as u32,
                        cdw11: (child_lba >> 32) as u32,
                        cdw12: child_blocks.saturating_sub(1) & 0xffff,
                        ..Sqe::default()
                    };
                    let transfer = Transfer {
                        iova: iova + offset,
                        len_bytes: child_bytes as u32,
                    };
                    (Payload::Data(transfer), sqe, child_lba)
                }
                dsm => (
                    dsm,
                    Sqe {
                        cdw11: crate::spec::DSM_ATTRIBUTE_DEALLOCATE,
                        ..Sqe::default()
                    },
                    lba,
                ),
            };
            let command = Command {
                opcode: Opcode::Nvm(opcode),
                sqe: Sqe { nsid, ..sqe },
                payload,
                lba: child_lba,
            };
            match self.qpair.submit(command, index, now_ms) {
                Ok(_) => self.parents[usize::from(index)].children_left += 1,
                Err(refused) => {
                    // Checked to fit and to be well formed, so this is a
                    // transfer the qpair refuses (e.g. a wrapped range).
                    let e = match refused {
                        SubmitRefused::Invalid(e, _) => e,
                        SubmitRefused::Busy(_) => NvmeError::BadTransfer {
                            qid: self.qpair.qid(),
                            iova,
                            len_bytes,
                            reason: "queue full in the middle of a split request",
                        },
                    };
                    let parent = &mut self.parents[usize::from(index)];
                    if parent.children_left > 0 {
                        // Some commands are out: the request completes,
                        // failed, when they finish.
                        parent.error.get_or_insert(e);
                        return Ok(());
                    }
                    let Some(request) = parent.request.take() else {
                        unreachable!("parent {index} just filled")
                    };
                    self.free_parents.push(index);
                    if let Some((iova, len)) = request.mapped {
                        if let Err(e) = self.controller.mapper().unmap(iova, len) {
                            log::error!("{}: unmapping a refused buffer: {e}", self.name);
                        }
                    }
                    return Err(SubmitError::Invalid(to_blk(op, lba, &self.name, e)));
                }
            }
        }
        Ok(())
    }

    /// Looks for expired commands (abort them; reset if aborts do not
    /// help) and a fatal controller status (reset). Cold path.
    fn health_check(&mut self, now_ms: u64) {
        if self.qpair.in_flight() == 0
            || now_ms.saturating_sub(self.last_health_check_ms) < HEALTH_CHECK_INTERVAL_MS
        {
            return;
        }
        self.last_health_check_ms = now_ms;
        let timeout_ms = self.controller.options.io_timeout_ms;
        let mut reset = self.controller.is_fatal() || self.qpair.abort_failed(now_ms, timeout_ms);
        let count = self
            .qpair
            .take_expired(now_ms, timeout_ms, &mut self.expired);
        for i in 0..count {
            let cid = self.expired[i];
            log::warn!(
                "{}: qp {} cid {cid}: no completion after {timeout_ms} ms; aborting",
                self.name,
                self.qid()
            );
            if let Err(e) = self.controller.abort(self.qid(), cid) {
                log::warn!("{}: abort of qp {} cid {cid}: {e}", self.name, self.qid());
                reset = true;
            }
        }
        if reset {
            if let Err(e) = self.controller.reset(self.generation) {
                log::error!("{}: controller reset failed: {e}", self.name);
            }
            self.notice_reset();
        }
    }

    /// Submits Write Zeroes of `block_count` (1..=65536) blocks at `lba`.
    pub fn submit_write_zeroes(
        &mut self,
        lba: u64,
        block_count: u32,
        tag: Tag,
    ) -> Result<(), NvmeError> {
        self.notice_reset();
        self.revive()?;
        if block_count == 0
            || block_count > 65536
            || lba
                .checked_add(u64::from(block_count))
                .is_none_or(|end| end > self.geometry.capacity_blocks)
        {
            return Err(NvmeError::BadTransfer {
                qid: self.qid(),
                iova: 0,
                len_bytes: 0,
                reason: "write zeroes range outside the namespace or over 65536 blocks",
            });
        }
        if self.requests_held() >= self.depth || !self.qpair.can_take(1) {
            return Err(NvmeError::NoQueues { granted: 0 });
        }
        let command = Command {
            opcode: Opcode::Nvm(NvmOpcode::WriteZeroes),
            sqe: Sqe {
                nsid: self.controller.identity().nsid,
                cdw10: lba as u32,
                cdw11: (lba >> 32) as u32,
                cdw12: block_count - 1,
                ..Sqe::default()
            },
            payload: Payload::None,
            lba,
        };
        let Some(index) = self.free_parents.pop() else {
            unreachable!("requests_held < depth leaves a parent slot free")
        };
        self.parents[usize::from(index)] = Parent {
            request: Some(Request {
                tag,
                op: BlockOp::Deallocate {
                    lba,
                    block_count: u64::from(block_count),
                },
                buffer: None,
                mapped: None,
            }),
            children_left: 1,
            error: None,
        };
        let now_ms = self.controller.clock().now_ms();
        match self.qpair.submit(command, index, now_ms) {
            Ok(_) => Ok(()),
            Err(refused) => {
                self.parents[usize::from(index)] = Parent::default();
                self.free_parents.push(index);
                match refused {
                    SubmitRefused::Busy(_) => Err(NvmeError::NoQueues { granted: 0 }),
                    SubmitRefused::Invalid(e, _) => Err(e),
                }
            }
        }
    }
}

impl BlockQueue for NvmeQueue {
    fn submit(
        &mut self,
        op: BlockOp,
        buffer: Option<DmaBuffer>,
        tag: Tag,
    ) -> Result<(), SubmitError> {
        if let Err(e) = self.geometry.check_request(op, buffer.as_ref()) {
            return Err(SubmitError::Invalid(e));
        }
        let len_bytes = buffer.as_ref().map_or(0, DmaBuffer::len_bytes);
        self.submit_inner(op, buffer, len_bytes, tag)
    }

    fn poll(&mut self, completions: &mut Vec<Completion>, max: usize) -> usize {
        self.notice_reset();
        if self.live {
            self.qpair
                .ring_doorbell(self.controller.registers().as_ref());
        }
        let mut moved = 0;
        while moved < max {
            let Some(completion) = self.ready.pop_front() else {
                break;
            };
            completions.push(completion);
            moved += 1;
        }
        if moved < max && self.live {
            let now_ms = self.controller.clock().now_ms();
            let mut collector = Collector {
                parents: &mut self.parents,
                free_parents: &mut self.free_parents,
                mapper: self.controller.mapper().as_ref(),
                name: &self.name,
                leak_buffers: false,
            };
            // At most one completion per command, so `max - moved` bounds
            // the requests finished here too.
            let report = self.qpair.poll(
                self.controller.registers().as_ref(),
                now_ms,
                max - moved,
                |finished| {
                    collector.collect(finished, |completion| {
                        completions.push(completion);
                        moved += 1;
                    });
                },
            );
            if report.stray > 0 {
                log::warn!(
                    "{}: qp {}: {} completions for commands not in flight",
                    self.name,
                    self.qpair.qid(),
                    report.stray
                );
            }
            // Throttled inside: at most every HEALTH_CHECK_INTERVAL_MS.
            self.health_check(now_ms);
        }
        moved
    }

    fn in_flight(&self) -> usize {
        self.requests_held()
    }
}

impl Drop for NvmeQueue {
    fn drop(&mut self) {
        // Delete the device side first, so the controller stops using the
        // rings before they are unmapped and freed.
        if self.live && self.controller.generation() == self.generation {
            if let Err(e) = self.controller.delete_io_queues(self.qid()) {
                log::error!("{}: deleting qp {}: {e}; resetting", self.name, self.qid());
                if let Err(e) = self.controller.reset(self.generation) {
                    log::error!("{}: controller reset failed: {e}", self.name);
                }
            }
        }
        let clean = !self.poisoned && self.controller.last_reset_clean();
        self.fail_everything(!clean);
        self.controller.release_qid(self.qid());
        let totals = &self.registrations;
        totals
            .premapped_ios
            .fetch_add(self.counts.premapped_ios, Ordering::Relaxed);
        totals
            .mapped_ios
            .fetch_add(self.counts.mapped_ios, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{ControllerOptions, TestClock};
    use crate::model::{Match, ModelConfig, ModelController};
    use crate::spec::{MediaStatus, StatusCode};

    struct Rig {
        model: Arc<ModelController>,
        clock: Arc<TestClock>,
        device: NvmeDevice,
    }

    fn rig(config: ModelConfig, options: ControllerOptions) -> Rig {
        let model = Arc::new(ModelController::new(config));
        let clock = Arc::new(TestClock::new(0));
        let controller =
            Controller::start(model.clone(), model.clone(), clock.clone(), options).expect("start");
        Rig {
            model,
            clock,
            device: NvmeDevice::new(controller, "model"),
        }
    }

    fn default_rig() -> Rig {
        rig(
            ModelConfig::default(),
            ControllerOptions {
                io_timeout_ms: 1000,
                ..ControllerOptions::default()
            },
        )
    }

    /// The NvmeError inside a completion's error.
    fn nvme_error(error: &Error) -> Option<&NvmeError> {
        match error {
            Error::Io { source, .. } => source.get_ref()?.downcast_ref::<NvmeError>(),
            _ => None,
        }
    }

    fn drain(queue: &mut NvmeQueue, want: usize) -> Vec<Completion> {
        let mut completions = Vec::new();
        for _ in 0..10_000 {
            if completions.len() >= want {
                break;
            }
            let left = want - completions.len();
            queue.poll(&mut completions, left);
        }
        assert_eq!(completions.len(), want, "completions within 10000 polls");
        completions
    }

    fn filled(byte: u8) -> DmaBuffer {
        let mut buffer = DmaBuffer::new(4096);
        buffer.as_mut_slice().fill(byte);
        buffer
    }

    /// Blocking requests (`BlockDevice::run`) from fibers go through one
    /// queue pair per core, created on and polled by that core only (its
    /// poller wakes the parked fibers); a plain thread's request takes a
    /// pooled queue pair instead.
    #[test]
    fn fibers_share_their_cores_queue_pair() {
        use floe_rt::sched::{Scheduler, SchedulerConfig};
        let rig = default_rig();
        let device: Arc<NvmeDevice> = Arc::new(rig.device);
        let available = floe_rt::available_cores();
        let scheduler = Scheduler::start(SchedulerConfig {
            cores: (0..2).map(|i| available[i % available.len()]).collect(),
            pin: false,
            name: "nvme-test-core".to_owned(),
            ..SchedulerConfig::default()
        })
        .expect("scheduler starts");
        const FIBERS: u64 = 32;
        const ROUNDS: u64 = 20;
        let (tx, rx) = std::sync::mpsc::channel();
        for fiber in 0..FIBERS {
            let device = Arc::clone(&device);
            let tx = tx.clone();
            let core = (fiber % 2) as usize;
            scheduler
                .handle()
                .spawn(core, "io", move || {
                    let device: &dyn BlockDevice = &*device;
                    let mut checked = 0;
                    for round in 0..ROUNDS {
                        let lba = (fiber * ROUNDS + round) * 8;
                        let byte = (fiber * ROUNDS + round) as u8;
                        let written = device.write(lba, filled(byte)).expect("write");
                        drop(written);
                        let read = device.read(lba, DmaBuffer::new(4096)).expect("read");
                        assert!(read.as_slice().iter().all(|&b| b == byte));
                        checked += 1;
                    }
                    tx.send(checked).expect("test waits");
                })
                .expect("spawn");
        }
        let checked: u64 = (0..FIBERS).map(|_| rx.recv().expect("fiber done")).sum();
        assert_eq!(checked, FIBERS * ROUNDS);
        let counts = device.channel_counts();
        assert_eq!((counts.core_queues, counts.pooled_queues), (2, 0));
        // Off the cores: a pooled queue pair.
        let plain: &dyn BlockDevice = &*device;
        plain.flush().expect("flush");
        assert_eq!(device.channel_counts().pooled_queues, 1);
        scheduler.shutdown();
        // With the cores stopped their queue pairs can be closed from here,
        // and every transfer is counted.
        device.close_idle_queues();
        let counts = device.channel_counts();
        assert_eq!((counts.core_queues, counts.pooled_queues), (0, 0));
        assert_eq!(
            (counts.core_queues_opened, counts.pooled_queues_opened),
            (2, 1)
        );
        let dma = device.dma_counts();
        assert_eq!(dma.premapped_ios + dma.mapped_ios, FIBERS * ROUNDS * 2);
        drop(rig.model);
    }

    /// A reset in the middle of a run fails exactly the commands in flight
    /// (hung ones and ones never rung) with Reset, hands every buffer back,
    /// leaves completed writes intact, and the queue works again after.
    #[test]
    fn reset_mid_run_fails_in_flight_cleanly() {
        let rig = default_rig();
        let mut queue = rig.device.open_nvme_queue(16).expect("open");
        let hung_lbas = 100..104u64;
        for lba in hung_lbas.clone() {
            rig.model.hang(
                Match {
                    opcode: Some(NvmOpcode::Read),
                    lba: Some(lba * 8),
                },
                1,
            );
        }
        for lba in 0..8u64 {
            BlockQueue::submit(
                &mut queue,
                BlockOp::Write { lba: lba * 8 },
                Some(filled(lba as u8 + 1)),
                Tag(lba),
            )
            .expect("submit write");
        }
        for lba in hung_lbas.clone() {
            BlockQueue::submit(
                &mut queue,
                BlockOp::Read { lba: lba * 8 },
                Some(DmaBuffer::new(4096)),
                Tag(lba),
            )
            .expect("submit read");
        }
        let done = drain(&mut queue, 8);
        assert!(done.iter().all(|c| c.result.is_ok() && c.tag.0 < 8));
        assert_eq!(rig.model.hung_commands(), 4);
        // Two more, submitted but never rung: the reset beats them.
        for tag in 200..202 {
            BlockQueue::submit(&mut queue, BlockOp::Flush, None, Tag(tag)).expect("submit flush");
        }
        assert_eq!(queue.in_flight(), 6);
        rig.device.reset().expect("reset");
        let failed = drain(&mut queue, 6);
        for completion in &failed {
            let error = completion.result.as_ref().expect_err("failed by the reset");
            assert!(
                matches!(nvme_error(error), Some(NvmeError::Reset { .. })),
                "{error}"
            );
            if completion.tag.0 < 200 {
                assert!(completion
                    .buffer
                    .as_ref()
                    .is_some_and(|b| b.len_bytes() == 4096));
            }
        }
        assert_eq!(queue.in_flight(), 0);
        assert_eq!(rig.model.hung_commands(), 0);
        assert_eq!(rig.model.counters().resets, 1);
        // The queue comes back by itself, and the writes are still there.
        let queue: &mut dyn BlockQueue = &mut queue;
        for lba in 0..8u64 {
            let got = queue
                .read(lba * 8, DmaBuffer::new(4096))
                .expect("read after reset");
            assert!(
                got.as_slice().iter().all(|&b| b == lba as u8 + 1),
                "lba {lba}"
            );
        }
        assert_eq!(rig.model.io_queue_count(), 1);
    }

    /// CSTS.CFS while commands are in flight: the next health check resets
    /// the controller, the stuck commands fail with Reset, and I/O resumes.
    #[test]
    fn fatal_status_leads_to_reset() {
        let rig = default_rig();
        let mut queue = rig.device.open_nvme_queue(8).expect("open");
        rig.model.hang(
            Match {
                opcode: Some(NvmOpcode::Flush),
                lba: None,
            },
            2,
        );
        for tag in 0..2 {
            BlockQueue::submit(&mut queue, BlockOp::Flush, None, Tag(tag)).expect("submit");
        }
        let mut completions = Vec::new();
        assert_eq!(queue.poll(&mut completions, 8), 0);
        rig.model.set_fatal();
        // Before the health check interval nothing is noticed.
        assert_eq!(queue.poll(&mut completions, 8), 0);
        rig.clock.advance(HEALTH_CHECK_INTERVAL_MS);
        let failed = drain(&mut queue, 2);
        assert!(failed.iter().all(|c| matches!(
            c.result.as_ref().map_err(nvme_error),
            Err(Some(NvmeError::Reset { .. }))
        )));
        assert_eq!(rig.model.counters().resets, 1);
        let queue: &mut dyn BlockQueue = &mut queue;
        queue.flush().expect("flush after the reset");
    }

    /// A command that does not complete in its timeout is aborted and
    /// completes as Timeout; when the abort does not take, the controller
    /// is reset after twice the timeout and the command fails as Reset.
    #[test]
    fn stuck_commands_are_aborted_then_reset() {
        let rig = default_rig();
        let mut queue = rig.device.open_nvme_queue(8).expect("open");
        rig.model.hang(
            Match {
                opcode: Some(NvmOpcode::Write),
                lba: None,
            },
            1,
        );
        BlockQueue::submit(
            &mut queue,
            BlockOp::Write { lba: 0 },
            Some(filled(1)),
            Tag(1),
        )
        .expect("submit");
        let mut completions = Vec::new();
        assert_eq!(queue.poll(&mut completions, 1), 0);
        rig.clock.advance(999);
        assert_eq!(queue.poll(&mut completions, 1), 0);
        assert_eq!(rig.model.counters().aborts, 0, "aborted before its time");
        // Health checks run at most every 100 ms.
        rig.clock.advance(HEALTH_CHECK_INTERVAL_MS);
        let done = drain(&mut queue, 1);
        assert!(
            matches!(
                done[0].result.as_ref().map_err(nvme_error),
                Err(Some(NvmeError::Timeout { lba: 0, .. }))
            ),
            "{:?}",
            done[0].result
        );
        assert!(done[0].buffer.is_some());

        rig.model.set_abort_works(false);
        rig.model.hang(
            Match {
                opcode: Some(NvmOpcode::Read),
                lba: None,
            },
            1,
        );
        BlockQueue::submit(
            &mut queue,
            BlockOp::Read { lba: 8 },
            Some(DmaBuffer::new(4096)),
            Tag(2),
        )
        .expect("submit");
        assert_eq!(queue.poll(&mut completions, 1), 0);
        rig.clock.advance(1000);
        assert_eq!(queue.poll(&mut completions, 1), 0);
        assert_eq!(rig.model.counters().aborts, 2);
        assert_eq!(rig.model.counters().resets, 0);
        rig.clock.advance(1000);
        let done = drain(&mut queue, 1);
        assert!(matches!(
            done[0].result.as_ref().map_err(nvme_error),
            Err(Some(NvmeError::Reset { .. }))
        ));
        assert_eq!(rig.model.counters().resets, 1);
    }

    /// A reset that cannot confirm the controller stopped still fails the
    /// commands in flight (nothing hangs), but keeps their buffers from
    /// reuse, and the queue refuses to re-create its rings.
    #[test]
    fn unclean_reset_keeps_buffers_from_reuse() {
        let model = Arc::new(ModelController::new(ModelConfig::default()));
        let clock = Arc::new(TestClock::new(1));
        let controller = Controller::start(
            model.clone(),
            model.clone(),
            clock,
            ControllerOptions::default(),
        )
        .expect("start");
        let device = NvmeDevice::new(controller, "model");
        let mut queue = device.open_nvme_queue(4).expect("open");
        model.hang(
            Match {
                opcode: Some(NvmOpcode::Read),
                lba: None,
            },
            1,
        );
        BlockQueue::submit(
            &mut queue,
            BlockOp::Read { lba: 0 },
            Some(DmaBuffer::new(4096)),
            Tag(9),
        )
        .expect("submit");
        let mut completions = Vec::new();
        assert_eq!(queue.poll(&mut completions, 1), 0);
        model.set_never_stops(true);
        assert!(matches!(
            device.reset(),
            Err(NvmeError::ReadyTimeout { wanted: false, .. })
        ));
        assert!(!device.controller().last_reset_clean());
        let done = drain(&mut queue, 1);
        assert!(matches!(
            done[0].result.as_ref().map_err(nvme_error),
            Err(Some(NvmeError::Reset { .. }))
        ));
        assert!(
            done[0].buffer.is_none(),
            "a buffer the device may write came back"
        );
        match BlockQueue::submit(&mut queue, BlockOp::Flush, None, Tag(10)) {
            Err(SubmitError::Invalid(error)) => assert!(
                matches!(nvme_error(&error), Some(NvmeError::Unclean { .. })),
                "{error}"
            ),
            other => panic!("expected Unclean, got {other:?}"),
        }
    }

    /// An arena alive before `map_dma_arenas` and one made after it are
    /// each mapped once, whole; buffers carved from them need no per-I/O
    /// mapping, while a heap buffer is mapped for its one request and
    /// unmapped before it comes back; the counts say which was which; an
    /// arena's window goes when the arena ends. Data round-trips either way.
    #[test]
    fn registered_arenas_need_no_per_io_mapping() {
        use floe_rt::{DmaArena, HugePages};
        let model = Arc::new(ModelController::new(ModelConfig::default()));
        let controller = Controller::start(
            model.clone(),
            model.clone(),
            Arc::new(TestClock::new(0)),
            ControllerOptions::default(),
        )
        .expect("start");
        let device = NvmeDevice::new(controller, "model");
        let mut early = DmaArena::new(1 << 20, HugePages::Never).expect("arena");
        let early_range = (early.iova(), early.capacity_bytes() as u64);
        assert!(!model.window_mapped(early_range.0, early_range.1));
        assert!(device.map_dma_arenas() >= 1);
        assert_eq!(device.map_dma_arenas(), 0, "a second call maps again");
        assert!(model.window_mapped(early_range.0, early_range.1));
        let mut late = DmaArena::new(64 << 10, HugePages::Never).expect("arena");
        let late_range = (late.iova(), late.capacity_bytes() as u64);
        assert!(model.window_mapped(late_range.0, late_range.1));

        let mut queue = device.open_queue(4).expect("open");
        let mut write_buffer = early.alloc(4096).expect("carve");
        let read_buffer = late.alloc(4096).expect("carve");
        write_buffer.as_mut_slice().fill(0x3c);
        let windows = model.mapped_windows();
        queue
            .submit(BlockOp::Write { lba: 16 }, Some(write_buffer), Tag(1))
            .expect("write");
        // Submitted, not yet polled: no window was added for it.
        assert_eq!(model.mapped_windows(), windows);
        let done = drain_dyn(queue.as_mut(), 1);
        assert!(done[0].result.is_ok());
        let got = queue.read(16, read_buffer).expect("read");
        assert!(got.as_slice().iter().all(|&b| b == 0x3c));
        let heap = DmaBuffer::new(4096);
        let heap_range = (heap.iova(), 4096);
        queue
            .submit(BlockOp::Read { lba: 16 }, Some(heap), Tag(2))
            .expect("heap read");
        assert!(
            model.window_mapped(heap_range.0, heap_range.1),
            "heap buffer mapped"
        );
        let done = drain_dyn(queue.as_mut(), 1);
        assert!(done[0]
            .buffer
            .as_ref()
            .is_some_and(|b| b.as_slice().iter().all(|&b| b == 0x3c)));
        assert!(
            !model.window_mapped(heap_range.0, heap_range.1),
            "heap buffer unmapped"
        );
        drop(queue);
        assert_eq!(
            device.dma_counts(),
            DmaCounts {
                premapped_ios: 2,
                mapped_ios: 1
            }
        );
        drop((got, done, late));
        assert!(
            !model.window_mapped(late_range.0, late_range.1),
            "an ended arena stayed mapped"
        );
        drop(device);
        assert!(
            !model.window_mapped(early_range.0, early_range.1),
            "a dropped device left its arena mapped"
        );
    }

    fn drain_dyn(queue: &mut dyn BlockQueue, want: usize) -> Vec<Completion> {
        let mut completions = Vec::new();
        for _ in 0..10_000 {
            if completions.len() >= want {
                break;
            }
            let left = want - completions.len();
            queue.poll(&mut completions, left);
        }
        assert_eq!(completions.len(), want, "completions within 10000 polls");
        completions
    }

    /// With a 128 KiB transfer limit, a 1 MiB write is split into eight
    /// commands at 128 KiB boundaries and completes once; a media error on
    /// one of them fails the whole request naming that command's LBA; a
    /// depth-1 queue still takes a split request; the geometry promises no
    /// atomic write larger than one command.
    #[test]
    fn large_requests_are_split_at_the_transfer_limit() {
        let rig = rig(
            ModelConfig {
                mdts: 5,
                atomic_write_blocks: 1024,
                ..ModelConfig::default()
            },
            ControllerOptions::default(),
        );
        assert_eq!(rig.device.controller().max_transfer_bytes(), 128 * 1024);
        assert_eq!(rig.device.geometry().atomic_write_bytes, 128 * 1024);
        let mut queue = rig.device.open_nvme_queue(1).expect("open");
        let mut buffer = DmaBuffer::new(1 << 20);
        for (i, byte) in buffer.as_mut_slice().iter_mut().enumerate() {
            *byte = (i / 4096) as u8;
        }
        let expected = buffer.as_slice().to_vec();
        let writes = rig.model.counters().writes;
        BlockQueue::submit(&mut queue, BlockOp::Write { lba: 8 }, Some(buffer), Tag(1))
            .expect("submit");
        assert_eq!(queue.in_flight(), 1);
        let done = drain(&mut queue, 1);
        assert!(done[0].result.is_ok(), "{:?}", done[0].result);
        assert_eq!(rig.model.counters().writes - writes, 8);
        assert_eq!(rig.model.namespace_bytes(8 * 512, 1 << 20), expected);
        let queue_dyn: &mut dyn BlockQueue = &mut queue;
        let got = queue_dyn.read(8, DmaBuffer::new(1 << 20)).expect("read");
        assert!(got.as_slice() == expected.as_slice());

        // The fifth 128 KiB piece starts at lba 8 + 4 * 256.
        rig.model.inject_status(
            Match {
                opcode: Some(NvmOpcode::Read),
                lba: Some(8 + 4 * 256),
            },
            StatusCode::Media(MediaStatus::UnrecoveredReadError),
            1,
        );
        match queue_dyn.read(8, DmaBuffer::new(1 << 20)) {
            Err(error) => match nvme_error(&error) {
                Some(NvmeError::Command { lba, status, .. }) => {
                    assert_eq!(*lba, 8 + 4 * 256);
                    assert_eq!(
                        status.code,
                        StatusCode::Media(MediaStatus::UnrecoveredReadError)
                    );
                }
                other => panic!("expected a command error, got {other:?}"),
            },
            Ok(_) => panic!("a read with a failed piece succeeded"),
        }
        assert_eq!(queue_dyn.in_flight(), 0);
        // Beyond 4 MiB a request is refused, not split further.
        assert!(matches!(
            queue_dyn.submit(
                BlockOp::Read { lba: 0 },
                Some(DmaBuffer::new(5 << 20)),
                Tag(3)
            ),
            Err(SubmitError::Invalid(_))
        ));
    }

    /// A controller that never sets CSTS.RDY fails bring-up with
    /// ReadyTimeout after CAP.TO by the clock passed in.
    #[test]
    fn never_ready_controller_times_out() {
        let model = Arc::new(ModelController::new(ModelConfig::default()));
        model.set_never_ready(true);
        let clock = Arc::new(TestClock::new(1));
        match Controller::start(
            model.clone(),
            model.clone(),
            clock,
            ControllerOptions::default(),
        ) {
            Err(NvmeError::ReadyTimeout {
                wanted: true,
                timeout_ms: 1000,
                ..
            }) => {}
            other => panic!("expected ReadyTimeout, got {other:?}"),
        }
    }

    /// Queues beyond what the controller granted are refused; closing one
    /// frees its qid and its device queues.
    #[test]
    fn queue_count_is_bounded_by_the_grant() {
        let rig = rig(
            ModelConfig {
                max_io_queues: 2,
                ..ModelConfig::default()
            },
            ControllerOptions::default(),
        );
        assert_eq!(rig.device.controller().granted_queues(), 2);
        let first = rig.device.open_nvme_queue(4).expect("first");
        let _second = rig.device.open_nvme_queue(4).expect("second");
        assert!(matches!(
            rig.device.open_nvme_queue(4),
            Err(NvmeError::NoQueues { granted: 2 })
        ));
        drop(first);
        assert_eq!(rig.model.io_queue_count(), 1);
        rig.device.open_nvme_queue(4).expect("after a close");
        assert!(rig.device.open_nvme_queue(0).is_err());
        assert!(rig.device.open_nvme_queue(5000).is_err());
    }

    /// 512-byte transfers from part of a frame, and write zeroes, reach
    /// the namespace as asked.
    #[test]
    fn partial_transfers_and_write_zeroes() {
        let rig = default_rig();
        let mut queue = rig.device.open_nvme_queue(4).expect("open");
        queue
            .submit_partial(BlockOp::Write { lba: 3 }, filled(0xab), 512, Tag(1))
            .expect("submit");
        let done = drain(&mut queue, 1);
        assert!(done[0].result.is_ok());
        assert_eq!(rig.model.namespace_bytes(3 * 512, 512), vec![0xab; 512]);
        assert_eq!(rig.model.namespace_bytes(4 * 512, 512), vec![0; 512]);
        assert!(queue
            .submit_partial(BlockOp::Write { lba: 3 }, filled(0), 100, Tag(2))
            .is_err());
        queue
            .submit_write_zeroes(3, 1, Tag(3))
            .expect("write zeroes");
        let done = drain(&mut queue, 1);
        assert!(done[0].result.is_ok());
        assert_eq!(rig.model.namespace_bytes(3 * 512, 512), vec![0; 512]);
        assert!(queue.submit_write_zeroes(u64::MAX, 1, Tag(4)).is_err());
    }
}
