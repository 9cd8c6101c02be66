//! A software NVMe controller, for tests of the driver without hardware.
//! Not a mock: it implements the parts of the base spec the driver uses,
//! from the device's side, and the BlockDevice contract suite runs against
//! the driver driving it.
//!
//! It owns an in-memory namespace and reaches host memory only through DMA
//! windows the driver mapped ([`DmaMapper`]), as a device behind an IOMMU
//! would: an access outside them fails the command with Data Transfer
//! Error instead of touching memory. It reacts to register writes: CC.EN
//! resets or enables it (reading AQA/ASQ/ACQ), an SQ tail doorbell makes it
//! fetch and execute every new SQE at once (walking PRP lists, chained or
//! not), a CQ head doorbell frees CQ slots for completions that waited for
//! room. Faults can be injected: an error status for matching commands,
//! commands that never complete (until aborted or reset), and a fatal
//! controller status (CSTS.CFS) after which it ignores every doorbell.

use std::collections::VecDeque;
use std::sync::atomic::{fence, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::error::NvmeError;
use crate::memory::{DmaMapper, Registers};
use crate::spec::{
    self, csts, reg, AdminOpcode, CommandSpecificStatus, Cqe, GenericStatus, NvmOpcode, Sqe,
    Status, StatusCode, CQE_BYTES, SQE_BYTES,
};

/// The shape of the simulated controller and namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    pub block_bytes: u32,
    pub capacity_blocks: u64,
    /// CAP.MQES + 1.
    pub max_queue_entries: u16,
    /// I/O queue pairs the controller grants at most.
    pub max_io_queues: u16,
    /// Identify Controller MDTS (power of two of 4 KiB pages; 0: none).
    pub mdts: u8,
    /// CAP.DSTRD.
    pub doorbell_stride_shift: u8,
    /// Namespace atomic write unit (power fail), in blocks; NSFEAT bit 1 set.
    pub atomic_write_blocks: u16,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            block_bytes: 512,
            capacity_blocks: 16 * 1024,
            max_queue_entries: 1024,
            max_io_queues: 8,
            mdts: 8, // 1 MiB
            doorbell_stride_shift: 0,
            atomic_write_blocks: 32,
        }
    }
}

/// Which commands an injected fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// I/O queue commands with this opcode (None: any I/O command).
    pub opcode: Option<NvmOpcode>,
    /// Only commands whose LBA range contains this LBA.
    pub lba: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Injection {
    matches: Match,
    status: StatusCode,
    remaining: u32,
}

#[derive(Clone, Copy, Debug)]
struct HangRule {
    matches: Match,
    remaining: u32,
}

#[derive(Debug)]
struct ModelSq {
    qid: u16,
    base: u64,
    entries: u16,
    cqid: u16,
    head: u16,
    tail: u16,
}

#[derive(Debug)]
struct ModelCq {
    qid: u16,
    base: u64,
    entries: u16,
    /// Next slot the model writes, and the phase it writes there.
    tail: u16,
    phase: bool,
    /// Head as last written by the host.
    head: u16,
    /// Completions waiting for a free slot.
    backlog: VecDeque<Cqe>,
}

/// A command held back by a hang rule: completes only on Abort.
#[derive(Debug)]
struct Hung {
    sqid: u16,
    cid: u16,
}

/// Counters the tests read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelCounters {
    pub sq_doorbell_writes: u64,
    pub cq_doorbell_writes: u64,
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    pub deallocates: u64,
    pub write_zeroes: u64,
    pub aborts: u64,
    pub resets: u64,
    /// PRP lists walked (a data transfer of more than two pages).
    pub prp_lists: u64,
    /// DMA attempts outside every mapped window.
    pub dma_faults: u64,
}

struct ModelState {
    config: ModelConfig,
    cc: u32,
    csts: u32,
    aqa: u32,
    asq: u64,
    acq: u64,
    sqs: Vec<ModelSq>,
    cqs: Vec<ModelCq>,
    granted_queues: u16,
    namespace: Vec<u8>,
    windows: Vec<(u64, u64)>,
    injections: Vec<Injection>,
    hang_rules: Vec<HangRule>,
    hung: Vec<Hung>,
    /// CC.EN=1 leaves CSTS.RDY at 0 (a controller that never comes up).
    never_ready: bool,
    never_stops: bool,
    abort_works: bool,
    counters: ModelCounters,
}

/// The simulated controller. Shared (`Arc`) between the driver, as its
/// [`Registers`] and [`DmaMapper`], and the test, which injects faults.
pub struct ModelController {
    state: Mutex<ModelState>,
}

/// An outcome of executing one command: status and dword 0.
type Outcome = (StatusCode, u32);

const SUCCESS: Outcome = (StatusCode::Success, 0);

fn generic(status: GenericStatus) -> Outcome {
    (StatusCode::Generic(status), 0)
}

impl ModelController {
    pub fn new(config: ModelConfig) -> ModelController {
        let namespace_bytes = config.capacity_blocks as usize * config.block_bytes as usize;
        ModelController {
            state: Mutex::new(ModelState {
                config,
                cc: 0,
                csts: 0,
                aqa: 0,
                asq: 0,
                acq: 0,
                sqs: Vec::new(),
                cqs: Vec::new(),
                granted_queues: 0,
                namespace: vec![0; namespace_bytes],
                windows: Vec::new(),
                injections: Vec::new(),
                hang_rules: Vec::new(),
                hung: Vec::new(),
                never_ready: false,
                never_stops: false,
                abort_works: true,
                counters: ModelCounters::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ModelState> {
        // A panic in a test thread poisons the lock; the state is still
        // what the test wants to inspect.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn counters(&self) -> ModelCounters {
        self.lock().counters
    }

    /// Matching I/O commands complete with `status` (no data moved), for
    /// the next `count` matches.
    pub fn inject_status(&self, matches: Match, status: StatusCode, count: u32) {
        self.lock().injections.push(Injection {
            matches,
            status,
            remaining: count,
        });
    }

    /// The next `count` matching I/O commands never complete on their own.
    pub fn hang(&self, matches: Match, count: u32) {
        self.lock().hang_rules.push(HangRule {
            matches,
            remaining: count,
        });
    }

    /// Commands held back by a hang rule and not yet aborted or reset.
    pub fn hung_commands(&self) -> usize {
        self.lock().hung.len()
    }

    /// When false, Abort finds nothing to abort (a controller whose abort
    /// does not work): only a reset frees a hung command.
    pub fn set_abort_works(&self, works: bool) {
        self.lock().abort_works = works;
    }

    /// Sets CSTS.CFS: the controller stops processing until reset.
    pub fn set_fatal(&self) {
        self.lock().csts |= csts::CFS;
    }

    /// CSTS.RDY stays 1 after CC.EN=0 (a controller that will not stop).
    pub fn set_never_stops(&self, never: bool) {
        self.lock().never_stops = never;
    }

    /// CSTS.RDY never follows CC.EN=1.
    pub fn set_never_ready(&self, never: bool) {
        self.lock().never_ready = never;
    }

    /// Live I/O submission queues (the driver deletes what it creates).
    pub fn io_queue_count(&self) -> usize {
        self.lock().sqs.iter().filter(|sq| sq.qid != 0).count()
    }

    /// Reads namespace bytes directly (to check what a write left).
    pub fn namespace_bytes(&self, offset_bytes: usize, len_bytes: usize) -> Vec<u8> {
        self.lock().namespace[offset_bytes..offset_bytes + len_bytes].to_vec()
    }

    pub fn mapped_windows(&self) -> usize {
        self.lock().windows.len()
    }

    /// True if exactly this window is mapped.
    pub fn window_mapped(&self, iova: u64, len_bytes: u64) -> bool {
        self.lock().windows.contains(&(iova, len_bytes))
    }
}

impl DmaMapper for ModelController {
    unsafe fn map(&self, iova: u64, len_bytes: u64) -> Result<(), NvmeError> {
        let mut state = self.lock();
        let end = iova.saturating_add(len_bytes);
        if state
            .windows
            .iter()
            .any(|&(start, len)| iova < start + len && start < end)
        {
            return Err(NvmeError::DmaMap {
                iova,
                len_bytes,
                source: std::io::Error::from_raw_os_error(libc::EEXIST),
            });
        }
        state.windows.push((iova, len_bytes));
        Ok(())
    }

    fn unmap(&self, iova: u64, len_bytes: u64) -> Result<(), NvmeError> {
        let mut state = self.lock();
        match state
            .windows
            .iter()
            .position(|&window| window == (iova, len_bytes))
        {
            Some(index) => {
                state.windows.swap_remove(index);
                Ok(())
            }
            None => Err(NvmeError::DmaMap {
                iova,
                len_bytes,
                source: std::io::Error::from_raw_os_error(libc::ENOENT),
            }),
        }
    }
}

impl Registers for ModelController {
    fn read_u32(&self, offset_bytes: usize) -> u32 {
        let state = self.lock();
        let cap = state.cap();
        match offset_bytes {
            reg::CAP => cap as u32,
            o if o == reg::CAP + 4 => (cap >> 32) as u32,
            reg::VS => 0x0001_0400, // 1.4.0
            reg::CC => state.cc,
            reg::CSTS => state.csts,
            reg::AQA => state.aqa,
            reg::ASQ => state.asq as u32,
            o if o == reg::ASQ + 4 => (state.asq >> 32) as u32,
            reg::ACQ => state.acq as u32,
            o if o == reg::ACQ + 4 => (state.acq >> 32) as u32,
            _ => 0,
        }
    }

    fn write_u32(&self, offset_bytes: usize, value: u32) {
        let mut state = self.lock();
        match offset_bytes {
            reg::CC => state.write_cc(value),
            reg::INTMS => {}
            reg::AQA => state.aqa = value,
            reg::ASQ => state.asq = (state.asq & !0xffff_ffff) | u64::from(value),
            o if o == reg::ASQ + 4 => {
                state.asq = (state.asq & 0xffff_ffff) | (u64::from(value) << 32)
            }
            reg::ACQ => state.acq = (state.acq & !0xffff_ffff) | u64::from(value),
            o if o == reg::ACQ + 4 => {
                state.acq = (state.acq & 0xffff_ffff) | (u64::from(value) << 32)
            }
            o if o >= reg::DOORBELL_BASE => {
                let stride = 4usize << state.config.doorbell_stride_shift;
                let index = (o - reg::DOORBELL_BASE) / stride;
                let qid = (index / 2) as u16;
                if index.is_multiple_of(2) {
                    state.counters.sq_doorbell_writes += 1;
                    state.sq_doorbell(qid, value as u16);
                } else {
                    state.counters.cq_doorbell_writes += 1;
                    state.cq_doorbell(qid, value as u16);
                }
            }
            _ => {}
        }
    }
}

impl ModelState {
    fn cap(&self) -> u64 {
        u64::from(self.config.max_queue_entries - 1)
            | (1 << 16) // CQR
            | (2 << 24) // TO: 1 s
            | (u64::from(self.config.doorbell_stride_shift) << 32)
            | (1 << 37) // CSS: NVM
            | (4 << 52) // MPSMAX: 64 KiB
    }

    fn enabled(&self) -> bool {
        self.csts & csts::RDY != 0 && self.csts & csts::CFS == 0
    }

    fn memory_page_bytes(&self) -> u64 {
        1 << (12 + ((self.cc >> 7) & 0xf))
    }

    fn write_cc(&mut self, value: u32) {
        let was_enabled = self.cc & spec::cc::EN != 0;
        self.cc = value;
        let enable = value & spec::cc::EN != 0;
        if was_enabled && !enable && self.never_stops {
            // Keeps running as if nothing happened (and keeps RDY).
        } else if was_enabled && !enable {
            // Controller reset: every queue and held command is forgotten.
            self.sqs.clear();
            self.cqs.clear();
            self.hung.clear();
            self.granted_queues = 0;
            self.csts = 0;
            self.counters.resets += 1;
        } else if enable && !was_enabled {
            if self.never_ready {
                return;
            }
            let sq_entries = (self.aqa & 0xfff) as u16 + 1;
            let cq_entries = ((self.aqa >> 16) & 0xfff) as u16 + 1;
            self.sqs.push(ModelSq {
                qid: 0,
                base: self.asq,
                entries: sq_entries,
                cqid: 0,
                head: 0,
                tail: 0,
            });
            self.cqs.push(ModelCq {
                qid: 0,
                base: self.acq,
                entries: cq_entries,
                tail: 0,
                phase: true,
                head: 0,
                backlog: VecDeque::new(),
            });
            self.csts = csts::RDY;
        }
    }

    fn window_contains(&self, iova: u64, len_bytes: usize) -> bool {
        let Some(end) = iova.checked_add(len_bytes as u64) else {
            return false;
        };
        self.windows
            .iter()
            .any(|&(start, len)| iova >= start && end <= start + len)
    }

    /// Device-side read of host memory: only inside a mapped window.
    fn dma_read(&mut self, iova: u64, out: &mut [u8]) -> Result<(), ()> {
        if !self.window_contains(iova, out.len()) {
            self.counters.dma_faults += 1;
            return Err(());
        }
        let source = iova as usize as *const u8;
        // SAFETY: [iova, iova + len) lies inside a window mapped with
        // `DmaMapper::map` and not yet unmapped, whose contract is that the
        // memory is owned, allocated and not referenced while mapped; IOVA
        // equals the virtual address. `out` is model memory: no overlap.
        unsafe { std::ptr::copy_nonoverlapping(source, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Device-side write of host memory: only inside a mapped window.
    fn dma_write(&mut self, iova: u64, data: &[u8]) -> Result<(), ()> {
        if !self.window_contains(iova, data.len()) {
            self.counters.dma_faults += 1;
            return Err(());
        }
        let target = iova as usize as *mut u8;
        // SAFETY: as in `dma_read`: inside a window mapped under the
        // `DmaMapper::map` contract (owned, allocated, unreferenced while
        // mapped); `data` is model memory, so the ranges do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), target, data.len()) };
        Ok(())
    }

    fn sq_doorbell(&mut self, qid: u16, tail: u16) {
        if !self.enabled() {
            return;
        }
        let Some(sq) = self.sqs.iter_mut().find(|sq| sq.qid == qid) else {
            return;
        };
        if tail >= sq.entries {
            // A real controller posts an asynchronous event; we stop.
            self.csts |= csts::CFS;
            return;
        }
        sq.tail = tail;
        self.process(qid);
    }

    fn cq_doorbell(&mut self, qid: u16, head: u16) {
        if !self.enabled() {
            return;
        }
        let Some(cq) = self.cqs.iter_mut().find(|cq| cq.qid == qid) else {
            return;
        };
        if head >= cq.entries {
            self.csts |= csts::CFS;
            return;
        }
        cq.head = head;
        self.drain_backlog(qid);
    }

    /// Fetches and executes every SQE between head and tail.
    fn process(&mut self, qid: u16) {
        // Bounded by the ring size: a tail can be at most entries - 1 ahead.
        for _ in 0..usize::from(self.config.max_queue_entries) {
            let Some(sq) = self.sqs.iter().find(|sq| sq.qid == qid) else {
                return;
            };
            if sq.head == sq.tail || !self.enabled() {
                return;
            }
            let (slot, entries, cqid, base) = (sq.head, sq.entries, sq.cqid, sq.base);
            let mut bytes = [0u8; SQE_BYTES];
            let fetched = self.dma_read(base + u64::from(slot) * SQE_BYTES as u64, &mut bytes);
            let head = if slot + 1 == entries { 0 } else { slot + 1 };
            if let Some(sq) = self.sqs.iter_mut().find(|sq| sq.qid == qid) {
                sq.head = head;
            }
            if fetched.is_err() {
                // Cannot even read the command: the controller gives up.
                self.csts |= csts::CFS;
                return;
            }
            let (sqe, flags) = Sqe::decode(&bytes);
            let outcome = if flags.fuse != 0 || flags.psdt != 0 {
                Some(generic(GenericStatus::InvalidField))
            } else if qid == 0 {
                Some(self.admin(&sqe))
            } else {
                self.io(qid, &sqe)
            };
            if let Some((code, dw0)) = outcome {
                self.post(cqid, qid, sqe.cid, code, dw0);
            }
        }
    }

    /// Queues a completion on CQ `cqid` and writes what fits.
    fn post(&mut self, cqid: u16, sqid: u16, cid: u16, code: StatusCode, dw0: u32) {
        let sq_head = self
            .sqs
            .iter()
            .find(|sq| sq.qid == sqid)
            .map_or(0, |sq| sq.head);
        let Some(cq) = self.cqs.iter_mut().find(|cq| cq.qid == cqid) else {
            return;
        };
        cq.backlog.push_back(Cqe {
            dw0,
            sq_head,
            sq_id: sqid,
            cid,
            phase: false,
            status_raw: Status::raw(code, code != StatusCode::Success),
        });
        self.drain_backlog(cqid);
    }

    fn drain_backlog(&mut self, cqid: u16) {
        loop {
            let Some(cq) = self.cqs.iter_mut().find(|cq| cq.qid == cqid) else {
                return;
            };
            let next = if cq.tail + 1 == cq.entries {
                0
            } else {
                cq.tail + 1
            };
            if next == cq.head {
                return; // full: wait for the host to move its head
            }
            let Some(mut cqe) = cq.backlog.pop_front() else {
                return;
            };
            cqe.phase = cq.phase;
            let address = cq.base + u64::from(cq.tail) * CQE_BYTES as u64;
            cq.tail = next;
            if next == 0 {
                cq.phase = !cq.phase;
            }
            let bytes = cqe.encode();
            // Dwords 0-2 first, the phase dword last, as a device does.
            if self.dma_write(address, &bytes[..12]).is_err() {
                self.csts |= csts::CFS;
                return;
            }
            fence(Ordering::Release);
            if self.dma_write(address + 12, &bytes[12..]).is_err() {
                self.csts |= csts::CFS;
                return;
            }
        }
    }

    /// The data segments a PRP pair (and its lists) describes, or a status.
    fn walk_prps(&mut self, sqe: &Sqe, len_bytes: u64) -> Result<Vec<(u64, u64)>, Outcome> {
        let page = self.memory_page_bytes();
        let mut segments = Vec::new();
        let first = len_bytes.min(page - sqe.prp1 % page);
        if !sqe.prp1.is_multiple_of(4) {
            return Err(generic(GenericStatus::InvalidPrpOffset));
        }
        segments.push((sqe.prp1, first));
        let mut remaining = len_bytes - first;
        if remaining == 0 {
            return Ok(segments);
        }
        if remaining <= page {
            if !sqe.prp2.is_multiple_of(page) {
                return Err(generic(GenericStatus::InvalidPrpOffset));
            }
            segments.push((sqe.prp2, remaining));
            return Ok(segments);
        }
        self.counters.prp_lists += 1;
        let mut list = sqe.prp2;
        if !list.is_multiple_of(8) {
            return Err(generic(GenericStatus::InvalidPrpOffset));
        }
        // Bounded: each pass consumes at least one page of data.
        while remaining > 0 {
            let slots = (page - list % page) / 8;
            let needed = remaining.div_ceil(page);
            let data_slots = if needed > slots { slots - 1 } else { needed };
            for i in 0..data_slots {
                let mut entry = [0u8; 8];
                if self.dma_read(list + 8 * i, &mut entry).is_err() {
                    return Err(generic(GenericStatus::DataTransferError));
                }
                let address = u64::from_le_bytes(entry);
                if address % page != 0 {
                    return Err(generic(GenericStatus::InvalidPrpOffset));
                }
                let len = remaining.min(page);
                segments.push((address, len));
                remaining -= len;
            }
            if remaining > 0 {
                let mut entry = [0u8; 8];
                if self.dma_read(list + 8 * data_slots, &mut entry).is_err() {
                    return Err(generic(GenericStatus::DataTransferError));
                }
                list = u64::from_le_bytes(entry);
                if !list.is_multiple_of(8) {
                    return Err(generic(GenericStatus::InvalidPrpOffset));
                }
            }
        }
        Ok(segments)
    }

    fn write_prp_data(&mut self, sqe: &Sqe, data: &[u8]) -> Outcome {
        let segments = match self.walk_prps(sqe, data.len() as u64) {
            Ok(segments) => segments,
            Err(outcome) => return outcome,
        };
        let mut offset = 0usize;
        for (address, len) in segments {
            let len = len as usize;
            if self
                .dma_write(address, &data[offset..offset + len])
                .is_err()
            {
                return generic(GenericStatus::DataTransferError);
            }
            offset += len;
        }
        SUCCESS
    }

    fn admin(&mut self, sqe: &Sqe) -> Outcome {
        let Some(opcode) = AdminOpcode::from_u8(sqe.opcode) else {
            return generic(GenericStatus::InvalidOpcode);
        };
        match opcode {
            AdminOpcode::Identify => {
                let page = match (sqe.cdw10 & 0xff, sqe.nsid) {
                    (spec::CNS_CONTROLLER, _) => self.identify_controller(),
                    (spec::CNS_NAMESPACE, 1) => self.identify_namespace(),
                    (spec::CNS_NAMESPACE, _) => {
                        return generic(GenericStatus::InvalidNamespaceOrFormat)
                    }
                    _ => return generic(GenericStatus::InvalidField),
                };
                self.write_prp_data(sqe, &page)
            }
            AdminOpcode::SetFeatures if sqe.cdw10 & 0xff == spec::FEATURE_NUMBER_OF_QUEUES => {
                let asked = ((sqe.cdw11 & 0xffff) as u16).saturating_add(1);
                let granted = asked.min(self.config.max_io_queues);
                self.granted_queues = granted;
                let field = u32::from(granted - 1);
                (StatusCode::Success, field | (field << 16))
            }
            AdminOpcode::CreateIoCq => {
                let qid = (sqe.cdw10 & 0xffff) as u16;
                let entries = ((sqe.cdw10 >> 16) as u16).saturating_add(1);
                if qid == 0 || qid > self.granted_queues || self.cqs.iter().any(|cq| cq.qid == qid)
                {
                    return (
                        StatusCode::CommandSpecific(CommandSpecificStatus::InvalidQueueIdentifier),
                        0,
                    );
                }
                if entries < 2 || entries > self.config.max_queue_entries {
                    return (
                        StatusCode::CommandSpecific(CommandSpecificStatus::InvalidQueueSize),
                        0,
                    );
                }
                if sqe.cdw11 & 1 == 0 || !sqe.prp1.is_multiple_of(self.memory_page_bytes()) {
                    return generic(GenericStatus::InvalidField);
                }
                self.cqs.push(ModelCq {
                    qid,
                    base: sqe.prp1,
                    entries,
                    tail: 0,
                    phase: true,
                    head: 0,
                    backlog: VecDeque::new(),
                });
                SUCCESS
            }
            AdminOpcode::CreateIoSq => {
                let qid = (sqe.cdw10 & 0xffff) as u16;
                let entries = ((sqe.cdw10 >> 16) as u16).saturating_add(1);
                let cqid = (sqe.cdw11 >> 16) as u16;
                if qid == 0 || qid > self.granted_queues || self.sqs.iter().any(|sq| sq.qid == qid)
                {
                    return (
                        StatusCode::CommandSpecific(CommandSpecificStatus::InvalidQueueIdentifier),
                        0,
                    );
                }
                if !self.cqs.iter().any(|cq| cq.qid == cqid) || cqid == 0 {
                    return (
                        StatusCode::CommandSpecific(CommandSpecificStatus::CompletionQueueInvalid),
                        0,
                    );
                }
                if entries < 2 || entries > self.config.max_queue_entries {
                    return (
                        StatusCode::CommandSpecific(CommandSpecificStatus::InvalidQueueSize),
                        0,
                    );
                }
                if sqe.cdw11 & 1 == 0 || !sqe.prp1.is_multiple_of(self.memory_page_bytes()) {
                    return generic(GenericStatus::InvalidField);
                }
                self.sqs.push(ModelSq {
                    qid,
                    base: sqe.prp1,
                    entries,
                    cqid,
                    head: 0,
                    tail: 0,
                });
                SUCCESS
            }
            AdminOpcode::DeleteIoSq => {
                let qid = (sqe.cdw10 & 0xffff) as u16;
                match self.sqs.iter().position(|sq| sq.qid == qid && qid != 0) {
                    Some(index) => {
                        self.sqs.remove(index);
                        self.hung.retain(|hung| hung.sqid != qid);
                        SUCCESS
                    }
                    None => (
                        StatusCode::CommandSpecific(CommandSpecificStatus::InvalidQueueIdentifier),
                        0,
                    ),
                }
            }
            AdminOpcode::DeleteIoCq => {
                let qid = (sqe.cdw10 & 0xffff) as u16;
                if self.sqs.iter().any(|sq| sq.cqid == qid) {
                    return (
                        StatusCode::CommandSpecific(CommandSpecificStatus::InvalidQueueDeletion),
                        0,
                    );
                }
                match self.cqs.iter().position(|cq| cq.qid == qid && qid != 0) {
                    Some(index) => {
                        self.cqs.remove(index);
                        SUCCESS
                    }
                    None => (
                        StatusCode::CommandSpecific(CommandSpecificStatus::InvalidQueueIdentifier),
                        0,
                    ),
                }
            }
            AdminOpcode::Abort => {
                self.counters.aborts += 1;
                let sqid = (sqe.cdw10 & 0xffff) as u16;
                let cid = (sqe.cdw10 >> 16) as u16;
                let found = self
                    .hung
                    .iter()
                    .position(|hung| hung.sqid == sqid && hung.cid == cid);
                match found.filter(|_| self.abort_works) {
                    Some(index) => {
                        self.hung.swap_remove(index);
                        let cqid = self
                            .sqs
                            .iter()
                            .find(|sq| sq.qid == sqid)
                            .map_or(0, |sq| sq.cqid);
                        self.post(
                            cqid,
                            sqid,
                            cid,
                            StatusCode::Generic(GenericStatus::AbortRequested),
                            0,
                        );
                        SUCCESS // dw0 bit 0 clear: aborted
                    }
                    None => (StatusCode::Success, 1), // not aborted
                }
            }
            _ => generic(GenericStatus::InvalidField),
        }
    }

    fn matches(rule: Match, opcode: NvmOpcode, sqe: &Sqe) -> bool {
        if rule.opcode.is_some_and(|want| want != opcode) {
            return false;
        }
        match rule.lba {
            None => true,
            Some(lba) => {
                let start = sqe.slba();
                let end = start.saturating_add(u64::from(sqe.block_count()));
                matches!(
                    opcode,
                    NvmOpcode::Read | NvmOpcode::Write | NvmOpcode::WriteZeroes
                ) && (start..end).contains(&lba)
            }
        }
    }

    /// Executes an I/O command; None when it is held back (hang rule).
    fn io(&mut self, qid: u16, sqe: &Sqe) -> Option<Outcome> {
        let Some(opcode) = NvmOpcode::from_u8(sqe.opcode) else {
            return Some(generic(GenericStatus::InvalidOpcode));
        };
        if sqe.nsid != 1 {
            return Some(generic(GenericStatus::InvalidNamespaceOrFormat));
        }
        if let Some(rule) = self
            .hang_rules
            .iter_mut()
            .find(|rule| rule.remaining > 0 && Self::matches(rule.matches, opcode, sqe))
        {
            rule.remaining -= 1;
            self.hung.push(Hung {
                sqid: qid,
                cid: sqe.cid,
            });
            return None;
        }
        if let Some(injection) = self
            .injections
            .iter_mut()
            .find(|rule| rule.remaining > 0 && Self::matches(rule.matches, opcode, sqe))
        {
            injection.remaining -= 1;
            return Some((injection.status, 0));
        }
        let block_bytes = u64::from(self.config.block_bytes);
        let capacity_blocks = self.config.capacity_blocks;
        let in_range = move |lba: u64, count: u64| {
            lba.checked_add(count)
                .is_some_and(|end| end <= capacity_blocks)
        };
        Some(match opcode {
            NvmOpcode::Flush => {
                self.counters.flushes += 1;
                SUCCESS
            }
            NvmOpcode::Read | NvmOpcode::Write => {
                let lba = sqe.slba();
                let count = u64::from(sqe.block_count());
                if !in_range(lba, count) {
                    return Some(generic(GenericStatus::LbaOutOfRange));
                }
                let len_bytes = count * block_bytes;
                if self.config.mdts != 0 && len_bytes > (4096u64 << self.config.mdts) {
                    return Some(generic(GenericStatus::InvalidField));
                }
                let start = (lba * block_bytes) as usize;
                let end = start + len_bytes as usize;
                if opcode == NvmOpcode::Read {
                    self.counters.reads += 1;
                    let data = self.namespace[start..end].to_vec();
                    self.write_prp_data(sqe, &data)
                } else {
                    self.counters.writes += 1;
                    let segments = match self.walk_prps(sqe, len_bytes) {
                        Ok(segments) => segments,
                        Err(outcome) => return Some(outcome),
                    };
                    // Gather first, then apply: a fault midway leaves the
                    // namespace untouched.
                    let mut data = vec![0u8; len_bytes as usize];
                    let mut offset = 0usize;
                    for (address, len) in segments {
                        let len = len as usize;
                        if self
                            .dma_read(address, &mut data[offset..offset + len])
                            .is_err()
                        {
                            return Some(generic(GenericStatus::DataTransferError));
                        }
                        offset += len;
                    }
                    self.namespace[start..end].copy_from_slice(&data);
                    SUCCESS
                }
            }
            NvmOpcode::WriteZeroes => {
                let lba = sqe.slba();
                let count = u64::from(sqe.block_count());
                if !in_range(lba, count) {
                    return Some(generic(GenericStatus::LbaOutOfRange));
                }
                self.counters.write_zeroes += 1;
                let start = (lba * block_bytes) as usize;
                self.namespace[start..start + (count * block_bytes) as usize].fill(0);
                SUCCESS
            }
            NvmOpcode::DatasetManagement => {
                let range_count = (sqe.cdw10 & 0xff) as usize + 1;
                let mut ranges = vec![0u8; range_count * spec::DSM_RANGE_BYTES];
                let segments = match self.walk_prps(sqe, ranges.len() as u64) {
                    Ok(segments) => segments,
                    Err(outcome) => return Some(outcome),
                };
                let mut offset = 0usize;
                for (address, len) in segments {
                    let len = len as usize;
                    if self
                        .dma_read(address, &mut ranges[offset..offset + len])
                        .is_err()
                    {
                        return Some(generic(GenericStatus::DataTransferError));
                    }
                    offset += len;
                }
                if sqe.cdw11 & spec::DSM_ATTRIBUTE_DEALLOCATE == 0 {
                    return Some(SUCCESS); // hints only
                }
                // Parse every range before changing anything.
                let mut parsed = Vec::with_capacity(range_count);
                for range in ranges.chunks_exact(spec::DSM_RANGE_BYTES) {
                    let count =
                        u64::from(u32::from_le_bytes([range[4], range[5], range[6], range[7]]));
                    let mut lba_bytes = [0u8; 8];
                    lba_bytes.copy_from_slice(&range[8..16]);
                    let lba = u64::from_le_bytes(lba_bytes);
                    if !in_range(lba, count) {
                        return Some(generic(GenericStatus::LbaOutOfRange));
                    }
                    parsed.push((lba, count));
                }
                for (lba, count) in parsed {
                    let start = (lba * block_bytes) as usize;
                    self.namespace[start..start + (count * block_bytes) as usize].fill(0);
                }
                self.counters.deallocates += 1;
                SUCCESS
            }
        })
    }

    fn identify_controller(&self) -> Vec<u8> {
        let mut page = vec![0u8; spec::IDENTIFY_BYTES];
        page[0..2].copy_from_slice(&0x1b36u16.to_le_bytes());
        page[4..24].copy_from_slice(b"FLOE-MODEL-0001     ");
        page[24..64].copy_from_slice(b"Floe software NVMe controller           ");
        page[64..72].copy_from_slice(b"1.0     ");
        page[77] = self.config.mdts;
        page[78..80].copy_from_slice(&1u16.to_le_bytes());
        page[512] = 0x66;
        page[513] = 0x44;
        page[516..520].copy_from_slice(&1u32.to_le_bytes());
        page[520..522].copy_from_slice(&0b1100u16.to_le_bytes());
        page[525] = 1; // volatile write cache present
        page
    }

    fn identify_namespace(&self) -> Vec<u8> {
        let mut page = vec![0u8; spec::IDENTIFY_BYTES];
        page[0..8].copy_from_slice(&self.config.capacity_blocks.to_le_bytes());
        page[8..16].copy_from_slice(&self.config.capacity_blocks.to_le_bytes());
        page[16..24].copy_from_slice(&self.config.capacity_blocks.to_le_bytes());
        page[24] = 0b10; // NSFEAT: NAWUN/NAWUPF valid
        page[25] = 0; // one format
        page[26] = 0;
        page[33] = 1; // deallocated blocks read as zeroes
        let unit = self.config.atomic_write_blocks.saturating_sub(1);
        page[34..36].copy_from_slice(&unit.to_le_bytes());
        page[36..38].copy_from_slice(&unit.to_le_bytes());
        let lbads = self.config.block_bytes.trailing_zeros();
        page[128..132].copy_from_slice(&(lbads << 16).to_le_bytes());
        page
    }
}
