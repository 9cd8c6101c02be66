//! One NVMe queue pair, independent of how the controller is reached: a
//! submission ring and a completion ring in [`DeviceMemory`], preallocated
//! trackers (one per command that can be in flight, each with its own
//! frame for a PRP list or DSM ranges), command ids that are tracker
//! indexes, PRP construction, doorbells rung once per batch, and
//! completion polling by the phase bit with a bound per call.
//!
//! Nothing here allocates, locks or reads a clock after construction: time
//! comes in as `now_ms` from the caller (STYLE 3.9).
//!
//! Ring protocol (base spec 4.1): the host writes SQEs at `sq_tail` and
//! publishes them by writing the new tail to the SQ doorbell; the device
//! reports how far it has fetched in each CQE's SQ head. The device posts
//! CQEs with a phase bit that flips each time the CQ wraps; the host
//! consumes entries while their phase matches the one it expects, then
//! writes the new head to the CQ doorbell so the slots can be reused.

use std::sync::atomic::{fence, Ordering};

use crate::error::NvmeError;
use crate::memory::{DeviceMemory, Registers};
use crate::spec::{self, Cqe, GenericStatus, Opcode, Sqe, StatusCode, CQE_BYTES, SQE_BYTES};

/// Bytes of each tracker's PRP list frame: 512 entries. With 4 KiB memory
/// pages that describes 2 MiB, more than the 1 MiB we ever transfer.
pub const PRP_LIST_BYTES: usize = 4096;
const PRP_LIST_ENTRIES: usize = PRP_LIST_BYTES / 8;
/// Dataset management ranges one tracker frame holds (the spec's maximum).
const MAX_DSM_RANGES: usize = PRP_LIST_BYTES / spec::DSM_RANGE_BYTES;

/// The shape of a queue pair, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QpairConfig {
    /// 0 for the admin queue, 1.. for I/O queues.
    pub qid: u16,
    /// Entries in each ring (2..=CAP.MQES+1). One slot always stays empty,
    /// so `entries - 1` commands can be in flight.
    pub entries: u16,
    /// CC.MPS memory page size in bytes (4 KiB and up, power of two).
    pub memory_page_bytes: u32,
    /// Largest transfer in bytes (from MDTS; capped by the PRP list).
    pub max_transfer_bytes: u32,
    /// Distance between doorbells (4 << CAP.DSTRD).
    pub doorbell_stride_bytes: usize,
}

impl QpairConfig {
    pub fn depth(&self) -> usize {
        usize::from(self.entries) - 1
    }
}

/// A data transfer: contiguous IOVA range (a DMA buffer or part of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub iova: u64,
    pub len_bytes: u32,
}

/// What a tracker's own frame carries to the device besides PRPs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    None,
    /// Data at an IOVA range, described by PRP1/PRP2 (and a list).
    Data(Transfer),
    /// Dataset management ranges covering `block_count` blocks at `lba`
    /// (each range at most u32::MAX blocks, at most 256 ranges), written
    /// into the tracker's frame, which PRP1 points to; cdw10 gets NR.
    Dsm {
        lba: u64,
        block_count: u64,
    },
}

/// A command as the caller describes it: the SQE without cid and PRPs, plus
/// the LBA named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    pub opcode: Opcode,
    pub sqe: Sqe,
    pub payload: Payload,
    /// The LBA an error about this command names (0 for admin commands).
    pub lba: u64,
}

/// Why `submit` did not take a command; the context comes back.
#[derive(Debug)]
pub enum SubmitRefused<T> {
    /// Every tracker or SQ slot is in use: poll, then retry.
    Busy(T),
    /// The command can never be sent as asked (bad transfer).
    Invalid(NvmeError, T),
}

/// A finished command handed back by `poll` or `fail_all`.
#[derive(Debug)]
pub struct Finished<T> {
    pub cid: u16,
    pub context: T,
    /// Ok(dword 0 of the CQE) or the typed error.
    pub result: Result<u32, NvmeError>,
}

/// What `poll` found besides completions: things the owner must act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    pub completed: usize,
    /// CQEs that named no command in flight or carried a bad SQ head: a
    /// controller bug or a lost reset. Consumed and counted, never trusted.
    pub stray: usize,
}

#[derive(Debug)]
struct Tracker<T> {
    context: Option<T>,
    opcode: Opcode,
    lba: u64,
    submitted_ms: u64,
    abort_sent: bool,
}

pub struct Qpair<T> {
    config: QpairConfig,
    sq: DeviceMemory,
    cq: DeviceMemory,
    /// One PRP_LIST_BYTES frame per tracker, tracker i at offset i * 4096.
    frames: DeviceMemory,
    trackers: Box<[Tracker<T>]>,
    /// Free tracker indexes; capacity `depth`, never grows.
    free: Vec<u16>,
    sq_tail: u16,
    /// Last SQ head the device reported: slots before it are reusable.
    sq_head: u16,
    /// SQ tail already written to the doorbell.
    sq_tail_rung: u16,
    cq_head: u16,
    phase: bool,
    in_flight: usize,
    stray_total: u64,
}

impl<T> Qpair<T> {
    /// Builds a queue pair over zeroed rings and frames the caller has made
    /// reachable by the device (`sq`: entries * 64 bytes, `cq`: entries * 16
    /// bytes, `frames`: (entries - 1) * 4 KiB).
    pub fn new(
        config: QpairConfig,
        sq: DeviceMemory,
        cq: DeviceMemory,
        frames: DeviceMemory,
    ) -> Qpair<T> {
        assert!(config.entries >= 2);
        assert!(config.memory_page_bytes.is_power_of_two());
        assert!(config.memory_page_bytes >= 4096);
        assert!(config.max_transfer_bytes >= config.memory_page_bytes);
        let entries = usize::from(config.entries);
        assert!(sq.len_bytes() >= entries * SQE_BYTES);
        assert!(cq.len_bytes() >= entries * CQE_BYTES);
        assert!(frames.len_bytes() >= config.depth() * PRP_LIST_BYTES);
        let depth = config.depth();
        let trackers = (0..depth)
            .map(|_| Tracker {
                context: None,
                opcode: Opcode::Nvm(spec::NvmOpcode::Flush),
                lba: 0,
                submitted_ms: 0,
                abort_sent: false,
            })
            .collect();
        // Popped from the end: hand out cid 0 first.
        let free = (0..depth as u16).rev().collect();
        Qpair {
            config,
            sq,
            cq,
            frames,
            trackers,
            free,
            sq_tail: 0,
            sq_head: 0,
            sq_tail_rung: 0,
            cq_head: 0,
            phase: true,
            in_flight: 0,
            stray_total: 0,
        }
    }

    pub fn config(&self) -> &QpairConfig {
        &self.config
    }

    pub fn qid(&self) -> u16 {
        self.config.qid
    }

    pub fn sq_iova(&self) -> u64 {
        self.sq.iova()
    }

    pub fn cq_iova(&self) -> u64 {
        self.cq.iova()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// True if `count` more commands fit now (trackers and SQ slots), so a
    /// request split into `count` commands can be submitted whole.
    pub fn can_take(&self, count: usize) -> bool {
        let entries = usize::from(self.config.entries);
        let used_slots =
            (usize::from(self.sq_tail) + entries - usize::from(self.sq_head)) % entries;
        self.free.len() >= count && entries - 1 - used_slots >= count
    }

    pub fn stray_total(&self) -> u64 {
        self.stray_total
    }

    fn next(&self, index: u16) -> u16 {
        if index + 1 == self.config.entries {
            0
        } else {
            index + 1
        }
    }

    fn bad_transfer(&self, transfer: Transfer, reason: &'static str) -> NvmeError {
        NvmeError::BadTransfer {
            qid: self.config.qid,
            iova: transfer.iova,
            len_bytes: transfer.len_bytes as usize,
            reason,
        }
    }

    /// Checks a transfer against the PRP rules before anything is written:
    /// non-empty, dword-aligned start, within the transfer limit, and
    /// describable with one list frame.
    fn check_transfer(&self, transfer: Transfer) -> Result<(), NvmeError> {
        let page_bytes = u64::from(self.config.memory_page_bytes);
        if transfer.len_bytes == 0 {
            return Err(self.bad_transfer(transfer, "empty transfer"));
        }
        if !transfer.iova.is_multiple_of(4) {
            return Err(self.bad_transfer(transfer, "start is not dword aligned"));
        }
        if transfer.len_bytes > self.config.max_transfer_bytes {
            return Err(self.bad_transfer(transfer, "larger than the controller's MDTS"));
        }
        if transfer
            .iova
            .checked_add(u64::from(transfer.len_bytes))
            .is_none()
        {
            return Err(self.bad_transfer(transfer, "range wraps the address space"));
        }
        let first_bytes = page_bytes - transfer.iova % page_bytes;
        let rest_bytes = u64::from(transfer.len_bytes).saturating_sub(first_bytes);
        if rest_bytes.div_ceil(page_bytes) > PRP_LIST_ENTRIES as u64 {
            return Err(self.bad_transfer(transfer, "needs more than one PRP list frame"));
        }
        Ok(())
    }

    /// Fills PRP1/PRP2 (and the tracker's list frame when more than two
    /// memory pages are touched), per base spec 4.3: PRP1 may start inside
    /// a page; every later entry is page aligned.
    fn build_prps(&self, cid: u16, transfer: Transfer, sqe: &mut Sqe) {
        let page_bytes = u64::from(self.config.memory_page_bytes);
        let len_bytes = u64::from(transfer.len_bytes);
        sqe.prp1 = transfer.iova;
        let first_bytes = page_bytes - transfer.iova % page_bytes;
        if len_bytes <= first_bytes {
            sqe.prp2 = 0;
            return;
        }
        let second_page = transfer.iova + first_bytes;
        let rest_bytes = len_bytes - first_bytes;
        if rest_bytes <= page_bytes {
            sqe.prp2 = second_page;
            return;
        }
        let frame_offset = usize::from(cid) * PRP_LIST_BYTES;
        let entry_count = rest_bytes.div_ceil(page_bytes) as usize;
        for i in 0..entry_count {
            self.frames
                .write_u64(frame_offset + 8 * i, second_page + i as u64 * page_bytes);
        }
        sqe.prp2 = self.frames.iova() + frame_offset as u64;
    }

    /// Takes a tracker, writes the SQE into the ring (not yet visible to the
    /// device: call [`Qpair::ring_doorbell`] once per batch). Returns the cid.
    pub fn submit(
        &mut self,
        command: Command,
        context: T,
        now_ms: u64,
    ) -> Result<u16, SubmitRefused<T>> {
        match command.payload {
            Payload::Data(transfer) => {
                if let Err(e) = self.check_transfer(transfer) {
                    return Err(SubmitRefused::Invalid(e, context));
                }
            }
            Payload::Dsm { block_count, .. } => {
                let ranges = block_count.div_ceil(u64::from(u32::MAX));
                if ranges == 0 || ranges > MAX_DSM_RANGES as u64 {
                    let e = NvmeError::BadTransfer {
                        qid: self.config.qid,
                        iova: 0,
                        len_bytes: 0,
                        reason: "deallocate of 0 or more than 256 * (2^32 - 1) blocks",
                    };
                    return Err(SubmitRefused::Invalid(e, context));
                }
            }
            Payload::None => {}
        }
        if self.next(self.sq_tail) == self.sq_head {
            return Err(SubmitRefused::Busy(context));
        }
        let Some(cid) = self.free.pop() else {
            return Err(SubmitRefused::Busy(context));
        };
        let mut sqe = command.sqe;
        sqe.opcode = command.opcode.code();
        sqe.cid = cid;
        match command.payload {
            Payload::None => {}
            Payload::Data(transfer) => self.build_prps(cid, transfer, &mut sqe),
            Payload::Dsm { lba, block_count } => {
                let frame_offset = usize::from(cid) * PRP_LIST_BYTES;
                let mut range_lba = lba;
                let mut left = block_count;
                let mut ranges = 0;
                // Bounded: checked above to need at most 256 ranges.
                while left > 0 {
                    let count = left.min(u64::from(u32::MAX));
                    let offset = frame_offset + ranges * spec::DSM_RANGE_BYTES;
                    self.frames.write_u32(offset, 0);
                    self.frames.write_u32(offset + 4, count as u32);
                    self.frames.write_u64(offset + 8, range_lba);
                    range_lba += count;
                    left -= count;
                    ranges += 1;
                }
                sqe.cdw10 = (ranges - 1) as u32;
                sqe.prp1 = self.frames.iova() + frame_offset as u64;
                sqe.prp2 = 0;
            }
        }
        let tracker = &mut self.trackers[usize::from(cid)];
        assert!(tracker.context.is_none(), "cid {cid} handed out twice");
        tracker.context = Some(context);
        tracker.opcode = command.opcode;
        tracker.lba = command.lba;
        tracker.submitted_ms = now_ms;
        tracker.abort_sent = false;
        self.sq
            .write_bytes(usize::from(self.sq_tail) * SQE_BYTES, &sqe.encode());
        self.sq_tail = self.next(self.sq_tail);
        self.in_flight += 1;
        Ok(cid)
    }

    /// Publishes every SQE written since the last call with one doorbell
    /// write. A fence first, so the device cannot see the new tail before
    /// the entries (and PRP lists) it covers.
    pub fn ring_doorbell(&mut self, registers: &dyn Registers) {
        if self.sq_tail == self.sq_tail_rung {
            return;
        }
        fence(Ordering::SeqCst);
        registers.write_u32(
            spec::sq_tail_doorbell(self.config.qid, self.config.doorbell_stride_bytes),
            u32::from(self.sq_tail),
        );
        self.sq_tail_rung = self.sq_tail;
    }

    /// Consumes at most `max` completions (and never more than a quarter of
    /// the ring per call, so one busy queue cannot starve the poller),
    /// handing each to `on_finished`; writes the CQ head doorbell once.
    pub fn poll(
        &mut self,
        registers: &dyn Registers,
        now_ms: u64,
        max: usize,
        mut on_finished: impl FnMut(Finished<T>),
    ) -> PollReport {
        let cap = max.min((usize::from(self.config.entries) / 4).max(1));
        let mut report = PollReport::default();
        let mut consumed = 0;
        while report.completed < cap && consumed < usize::from(self.config.entries) {
            let offset = usize::from(self.cq_head) * CQE_BYTES;
            // The phase dword first; the rest only once it says the entry
            // is new, with a fence between so the other dwords are not read
            // from before the device finished writing them.
            let dword3 = self.cq.read_u32(offset + 12);
            if (dword3 & (1 << 16) != 0) != self.phase {
                break;
            }
            fence(Ordering::Acquire);
            let mut bytes = [0u8; CQE_BYTES];
            self.cq.read_bytes(offset, &mut bytes);
            let cqe = Cqe::decode(&bytes);
            self.cq_head = self.next(self.cq_head);
            if self.cq_head == 0 {
                self.phase = !self.phase;
            }
            consumed += 1;
            match self.complete(&cqe, now_ms) {
                Some(finished) => {
                    report.completed += 1;
                    on_finished(finished);
                }
                None => {
                    report.stray += 1;
                    self.stray_total += 1;
                }
            }
        }
        if consumed > 0 {
            registers.write_u32(
                spec::cq_head_doorbell(self.config.qid, self.config.doorbell_stride_bytes),
                u32::from(self.cq_head),
            );
        }
        report
    }

    /// Parses one CQE fully before acting on it: a cid that is in flight
    /// and an SQ head inside the ring, or it is stray.
    fn complete(&mut self, cqe: &Cqe, now_ms: u64) -> Option<Finished<T>> {
        let qid = self.config.qid;
        if cqe.sq_head >= self.config.entries {
            log::debug!(
                "qp {qid}: CQE with sq head {} of {}",
                cqe.sq_head,
                self.config.entries
            );
            return None;
        }
        let tracker = self.trackers.get_mut(usize::from(cqe.cid))?;
        let context = tracker.context.take()?;
        self.sq_head = cqe.sq_head;
        self.in_flight -= 1;
        self.free.push(cqe.cid);
        let status = cqe.status();
        let result = if status.is_success() {
            Ok(cqe.dw0)
        } else if tracker.abort_sent
            && status.code == StatusCode::Generic(GenericStatus::AbortRequested)
        {
            // We aborted it because it took too long: say so.
            Err(NvmeError::Timeout {
                qid,
                cid: cqe.cid,
                opcode: tracker.opcode,
                lba: tracker.lba,
                waited_ms: now_ms.saturating_sub(tracker.submitted_ms),
            })
        } else {
            Err(NvmeError::Command {
                qid,
                cid: cqe.cid,
                opcode: tracker.opcode,
                lba: tracker.lba,
                status,
            })
        };
        Some(Finished {
            cid: cqe.cid,
            context,
            result,
        })
    }

    /// Commands in flight longer than `timeout_ms` at `now_ms`, for which
    /// no abort was sent yet; marks them so each is reported once. At most
    /// `out.len()` are reported per call. Returns how many were written.
    pub fn take_expired(&mut self, now_ms: u64, timeout_ms: u64, out: &mut [u16]) -> usize {
        let mut count = 0;
        for (cid, tracker) in self.trackers.iter_mut().enumerate() {
            if count == out.len() {
                break;
            }
            if tracker.context.is_some()
                && !tracker.abort_sent
                && now_ms.saturating_sub(tracker.submitted_ms) >= timeout_ms
            {
                tracker.abort_sent = true;
                out[count] = cid as u16;
                count += 1;
            }
        }
        count
    }

    /// True if a command already aborted is still in flight `timeout_ms`
    /// after it was submitted twice over: the abort did not help, and the
    /// owner must reset the controller.
    pub fn abort_failed(&self, now_ms: u64, timeout_ms: u64) -> bool {
        self.trackers.iter().any(|tracker| {
            tracker.context.is_some()
                && tracker.abort_sent
                && now_ms.saturating_sub(tracker.submitted_ms) >= timeout_ms.saturating_mul(2)
        })
    }

    /// How long the command `cid` has been in flight, if it is.
    pub fn waited_ms(&self, cid: u16, now_ms: u64) -> Option<u64> {
        let tracker = self.trackers.get(usize::from(cid))?;
        tracker.context.as_ref()?;
        Some(now_ms.saturating_sub(tracker.submitted_ms))
    }

    /// After a controller reset (the device has forgotten this queue and
    /// will not touch its memory again): fails every command in flight with
    /// `Reset`, and returns the rings to their initial state for re-creation.
    pub fn fail_all(&mut self, mut on_finished: impl FnMut(Finished<T>)) -> usize {
        let qid = self.config.qid;
        let mut failed = 0;
        for (cid, tracker) in self.trackers.iter_mut().enumerate() {
            if let Some(context) = tracker.context.take() {
                failed += 1;
                on_finished(Finished {
                    cid: cid as u16,
                    context,
                    result: Err(NvmeError::Reset {
                        qid,
                        cid: cid as u16,
                        opcode: tracker.opcode,
                        lba: tracker.lba,
                    }),
                });
            }
        }
        self.free.clear();
        self.free.extend((0..self.config.depth() as u16).rev());
        self.sq_tail = 0;
        self.sq_head = 0;
        self.sq_tail_rung = 0;
        self.cq_head = 0;
        self.phase = true;
        self.in_flight = 0;
        self.cq.zero();
        failed
    }
}

impl<T> std::fmt::Debug for Qpair<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qpair")
            .field("config", &self.config)
            .field("sq_tail", &self.sq_tail)
            .field("sq_head", &self.sq_head)
            .field("cq_head", &self.cq_head)
            .field("phase", &self.phase)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::controller::{Controller, ControllerOptions, Mapping, QpairMemory, TestClock};
    use crate::memory::DmaMapper;
    use crate::model::{Match, ModelConfig, ModelController};
    use crate::spec::{MediaStatus, NvmOpcode, StatusCode};

    const BLOCK_BYTES: u32 = 512;

    struct Rig {
        model: Arc<ModelController>,
        controller: Controller,
    }

    fn rig() -> Rig {
        let model = Arc::new(ModelController::new(ModelConfig {
            block_bytes: BLOCK_BYTES,
            capacity_blocks: 8 * 1024,
            ..ModelConfig::default()
        }));
        let controller = Controller::start(
            model.clone(),
            model.clone(),
            Arc::new(TestClock::new(0)),
            ControllerOptions::default(),
        )
        .expect("start");
        Rig { model, controller }
    }

    /// An I/O qpair of `entries` created on the device. Mappings before
    /// the qpair in the tuple's users' minds; the model does not care.
    fn io_qpair(rig: &Rig, entries: u16) -> (Qpair<u64>, [Mapping; 3]) {
        let qid = rig.controller.allocate_qid().expect("qid");
        let config = QpairConfig {
            qid,
            entries,
            memory_page_bytes: 4096,
            max_transfer_bytes: rig.controller.max_transfer_bytes(),
            doorbell_stride_bytes: 4,
        };
        let memory = QpairMemory::new(rig.controller.mapper(), entries).expect("memory");
        let (qpair, mappings) = memory.into_qpair::<u64>(config);
        rig.controller.create_io_queues(&qpair).expect("create");
        (qpair, mappings)
    }

    /// Data memory the device may reach.
    struct Buffer {
        _mapping: Mapping,
        memory: DeviceMemory,
    }

    fn buffer(rig: &Rig, len_bytes: usize) -> Buffer {
        let memory = DeviceMemory::zeroed(len_bytes);
        let mapper: &Arc<dyn DmaMapper> = rig.controller.mapper();
        // SAFETY: `memory` lives in the returned Buffer after its mapping
        // (unmapped first on drop) and is reached only by raw accessors.
        unsafe { mapper.map(memory.iova(), len_bytes as u64) }.expect("map");
        Buffer {
            _mapping: Mapping::new(memory.iova(), len_bytes as u64, mapper),
            memory,
        }
    }

    fn io(opcode: NvmOpcode, lba: u64, transfer: Option<Transfer>) -> Command {
        let blocks = transfer.map_or(1, |t| t.len_bytes / BLOCK_BYTES);
        Command {
            opcode: Opcode::Nvm(opcode),
            sqe: Sqe {
                nsid: 1,
                cdw10: lba as u32,
                cdw11: (lba >> 32) as u32,
                cdw12: blocks - 1,
                ..Sqe::default()
            },
            payload: transfer.map_or(Payload::None, Payload::Data),
            lba,
        }
    }

    /// Submits one command and polls until it finishes (bounded).
    fn run(qpair: &mut Qpair<u64>, rig: &Rig, command: Command) -> Result<u32, NvmeError> {
        let registers = rig.controller.registers().as_ref();
        let cid = match qpair.submit(command, 99, 0) {
            Ok(cid) => cid,
            Err(SubmitRefused::Invalid(e, _)) => return Err(e),
            Err(SubmitRefused::Busy(_)) => panic!("busy on an idle queue"),
        };
        qpair.ring_doorbell(registers);
        for _ in 0..1000 {
            let mut result = None;
            qpair.poll(registers, 0, 1, |finished| {
                assert_eq!(finished.cid, cid);
                assert_eq!(finished.context, 99);
                result = Some(finished.result);
            });
            if let Some(result) = result {
                return result;
            }
        }
        panic!("command {command:?} did not complete in 1000 polls");
    }

    fn fill(memory: &DeviceMemory, offset: usize, len: usize, seed: u32) {
        for i in (0..len).step_by(4) {
            memory.write_u32(offset + i, seed.wrapping_mul(0x9e37_79b9) ^ (i as u32));
        }
    }

    fn bytes(memory: &DeviceMemory, offset: usize, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        memory.read_bytes(offset, &mut out);
        out
    }

    /// Writes then reads back every transfer size from 512 B to 1 MiB, at
    /// page-aligned and unaligned starts, through PRP1 only, PRP1+PRP2
    /// and PRP lists; what comes back is what went in, and the namespace
    /// holds it at the right LBA.
    #[test]
    fn every_transfer_size_round_trips() {
        let rig = rig();
        let (mut qpair, _mappings) = io_qpair(&rig, 8);
        let source = buffer(&rig, (1 << 20) + 8192);
        let target = buffer(&rig, (1 << 20) + 8192);
        let sizes = [
            512,
            1024,
            3584,
            4096,
            4608,
            8192,
            8704,
            12288,
            65536,
            131_072 + 512,
            512 * 1024,
            1 << 20,
        ];
        let mut seed = 1;
        for len in sizes {
            for offset in [0usize, 512, 4096 - 512] {
                if offset + len > (1 << 20) + 8192 {
                    continue;
                }
                seed += 1;
                let lba = seed as u64 * 7;
                fill(&source.memory, offset, len, seed);
                let write = Transfer {
                    iova: source.memory.iova() + offset as u64,
                    len_bytes: len as u32,
                };
                run(&mut qpair, &rig, io(NvmOpcode::Write, lba, Some(write)))
                    .unwrap_or_else(|e| panic!("write {len} at +{offset}: {e}"));
                let read = Transfer {
                    iova: target.memory.iova() + offset as u64,
                    len_bytes: len as u32,
                };
                run(&mut qpair, &rig, io(NvmOpcode::Read, lba, Some(read)))
                    .unwrap_or_else(|e| panic!("read {len} at +{offset}: {e}"));
                let written = bytes(&source.memory, offset, len);
                assert!(
                    bytes(&target.memory, offset, len) == written,
                    "{len} bytes at +{offset}: read back differs"
                );
                assert!(
                    rig.model
                        .namespace_bytes(lba as usize * BLOCK_BYTES as usize, len)
                        == written,
                    "{len} bytes at +{offset}: namespace differs"
                );
            }
        }
        assert_eq!(rig.model.counters().dma_faults, 0);
    }

    /// PRP construction at the boundaries: one page needs PRP1 only; up to
    /// two pages (counting a partial first page) put the second page in
    /// PRP2; more put a list pointer in PRP2 whose entries are the
    /// following page addresses.
    #[test]
    fn prp_list_boundaries() {
        let rig = rig();
        let (qpair, _mappings) = io_qpair(&rig, 4);
        let base = 0x10_0000u64;
        let prps = |iova: u64, len: u32| {
            let mut sqe = Sqe::default();
            qpair.build_prps(
                2,
                Transfer {
                    iova,
                    len_bytes: len,
                },
                &mut sqe,
            );
            (sqe.prp1, sqe.prp2)
        };
        assert_eq!(prps(base, 4096), (base, 0));
        assert_eq!(prps(base + 512, 3584), (base + 512, 0));
        assert_eq!(prps(base + 512, 3585 + 3), (base + 512, base + 4096));
        assert_eq!(prps(base, 8192), (base, base + 4096));
        assert_eq!(prps(base + 4092, 4100), (base + 4092, base + 4096));
        let list = qpair.frames.iova() + 2 * PRP_LIST_BYTES as u64;
        assert_eq!(prps(base, 8192 + 512), (base, list));
        let entry = |i: usize| {
            let mut word = [0u8; 8];
            qpair
                .frames
                .read_bytes(2 * PRP_LIST_BYTES + 8 * i, &mut word);
            u64::from_le_bytes(word)
        };
        assert_eq!((entry(0), entry(1)), (base + 4096, base + 8192));
        // 1 MiB from an unaligned start: 256 more pages after the first.
        assert_eq!(prps(base + 512, 1 << 20).1, list);
        for i in 0..256 {
            assert_eq!(entry(i), base + 4096 * (i as u64 + 1), "entry {i}");
        }
        // A list needing more than one frame, an odd start, an empty or
        // too-large transfer are refused before anything is written.
        let check = |iova: u64, len: u32| {
            qpair.check_transfer(Transfer {
                iova,
                len_bytes: len,
            })
        };
        assert!(check(base, 1 << 20).is_ok());
        assert!(check(base + 2, 4096).is_err());
        assert!(check(base, 0).is_err());
        assert!(check(base, (1 << 20) + 4096).is_err());
        assert!(check(u64::MAX - 4095, 8192).is_err());
    }

    /// For queue depths 1 to 128, keeping the queue full of 4 KiB writes
    /// and reads, both rings wrap at least 20 times; every command
    /// completes once with its own context, data reads back, the SQ
    /// doorbell is written once per batch and the CQ doorbell once per
    /// poll that found something.
    #[test]
    fn depths_1_to_128_wrap_both_rings() {
        let rig = rig();
        for depth in [1u16, 2, 3, 4, 7, 8, 31, 32, 64, 100, 127, 128] {
            let entries = depth + 1;
            let (mut qpair, _mappings) = io_qpair(&rig, entries);
            let data = buffer(&rig, usize::from(depth) * 4096);
            let registers = rig.controller.registers().as_ref();
            let total = u64::from(entries) * 20;
            let mut next = 0u64;
            let mut done = vec![false; total as usize];
            let mut finished_count = 0;
            let mut batches = 0;
            let mut polls_with_work = 0;
            let before = rig.model.counters();
            let mut rounds = 0;
            while finished_count < total as usize {
                rounds += 1;
                assert!(
                    rounds <= 4 * total,
                    "depth {depth}: {finished_count} of {total} finished after {rounds} rounds"
                );
                let mut submitted = 0;
                while next < total {
                    let slot = next % u64::from(depth);
                    // The first pass over each slot writes, later ones read.
                    let opcode = if next < u64::from(depth) {
                        fill(&data.memory, slot as usize * 4096, 4096, slot as u32);
                        NvmOpcode::Write
                    } else {
                        NvmOpcode::Read
                    };
                    let transfer = Transfer {
                        iova: data.memory.iova() + slot * 4096,
                        len_bytes: 4096,
                    };
                    match qpair.submit(io(opcode, slot * 8, Some(transfer)), next, 0) {
                        Ok(_) => {
                            next += 1;
                            submitted += 1;
                        }
                        Err(SubmitRefused::Busy(context)) => {
                            assert_eq!(context, next);
                            break;
                        }
                        Err(SubmitRefused::Invalid(e, _)) => panic!("{e}"),
                    }
                }
                if submitted > 0 {
                    batches += 1;
                }
                qpair.ring_doorbell(registers);
                let report = qpair.poll(registers, 0, usize::MAX, |finished| {
                    finished.result.as_ref().expect("command succeeds");
                    let index = finished.context as usize;
                    assert!(!done[index], "context {index} finished twice");
                    done[index] = true;
                });
                assert!(report.completed <= (usize::from(entries) / 4).max(1));
                assert_eq!(report.stray, 0);
                if report.completed > 0 {
                    polls_with_work += 1;
                }
                finished_count += report.completed;
            }
            assert!(done.iter().all(|&d| d), "depth {depth}: not all finished");
            assert_eq!(qpair.in_flight(), 0);
            let after = rig.model.counters();
            assert_eq!(
                after.sq_doorbell_writes - before.sq_doorbell_writes,
                batches,
                "depth {depth}: SQ doorbells per batch"
            );
            assert_eq!(
                after.cq_doorbell_writes - before.cq_doorbell_writes,
                polls_with_work,
                "depth {depth}: CQ doorbells per poll"
            );
            // Every write landed where it was aimed.
            let pattern = DeviceMemory::zeroed(4096);
            for slot in 0..usize::from(depth) {
                fill(&pattern, 0, 4096, slot as u32);
                assert!(
                    rig.model
                        .namespace_bytes(slot * 8 * BLOCK_BYTES as usize, 4096)
                        == bytes(&pattern, 0, 4096),
                    "depth {depth} slot {slot}: namespace differs"
                );
            }
            rig.controller
                .delete_io_queues(qpair.qid())
                .expect("delete");
            rig.controller.release_qid(qpair.qid());
        }
    }

    /// One poll takes at most a quarter of the ring even when asked for
    /// more, and at most `max`; the rest wait for the next poll.
    #[test]
    fn poll_is_capped_per_call() {
        let rig = rig();
        let (mut qpair, _mappings) = io_qpair(&rig, 128);
        let registers = rig.controller.registers().as_ref();
        for i in 0..100 {
            qpair
                .submit(io(NvmOpcode::Flush, 0, None), i, 0)
                .expect("submit");
        }
        qpair.ring_doorbell(registers);
        assert_eq!(qpair.poll(registers, 0, 1000, |_| {}).completed, 32);
        assert_eq!(qpair.poll(registers, 0, 5, |_| {}).completed, 5);
        assert_eq!(qpair.poll(registers, 0, 0, |_| {}).completed, 0);
        let mut rest = 0;
        for _ in 0..10 {
            rest += qpair.poll(registers, 0, 1000, |_| {}).completed;
        }
        assert_eq!(rest, 63);
        assert_eq!(qpair.in_flight(), 0);
    }

    /// With every tracker taken, submit says Busy and hands the context
    /// back untouched; one completion frees one tracker.
    #[test]
    fn busy_when_trackers_run_out() {
        let rig = rig();
        let (mut qpair, _mappings) = io_qpair(&rig, 5);
        for i in 0..4 {
            qpair
                .submit(io(NvmOpcode::Flush, 0, None), i, 0)
                .expect("submit");
        }
        match qpair.submit(io(NvmOpcode::Flush, 0, None), 77, 0) {
            Err(SubmitRefused::Busy(77)) => {}
            other => panic!("expected Busy(77), got {other:?}"),
        }
        let registers = rig.controller.registers().as_ref();
        qpair.ring_doorbell(registers);
        assert_eq!(qpair.poll(registers, 0, 1, |_| {}).completed, 1);
        assert!(qpair.submit(io(NvmOpcode::Flush, 0, None), 78, 0).is_ok());
    }

    /// Error statuses from the device become typed errors naming the
    /// queue, command, opcode and LBA, for each status type.
    #[test]
    fn error_statuses_become_typed_errors() {
        let rig = rig();
        let (mut qpair, _mappings) = io_qpair(&rig, 4);
        let data = buffer(&rig, 4096);
        let transfer = Transfer {
            iova: data.memory.iova(),
            len_bytes: 4096,
        };
        rig.model.inject_status(
            Match {
                opcode: Some(NvmOpcode::Read),
                lba: Some(42),
            },
            StatusCode::Media(MediaStatus::UnrecoveredReadError),
            1,
        );
        match run(&mut qpair, &rig, io(NvmOpcode::Read, 40, Some(transfer))) {
            Err(NvmeError::Command {
                qid,
                opcode: Opcode::Nvm(NvmOpcode::Read),
                lba: 40,
                status,
                ..
            }) => {
                assert_eq!(qid, qpair.qid());
                assert_eq!(
                    status.code,
                    StatusCode::Media(MediaStatus::UnrecoveredReadError)
                );
                assert!(status.do_not_retry);
            }
            other => panic!("expected a media error, got {other:?}"),
        }
        // The fault was for one command: the retry succeeds.
        run(&mut qpair, &rig, io(NvmOpcode::Read, 40, Some(transfer))).expect("retry");
        // Out of range, as the model judges it (not pre-checked here).
        match run(
            &mut qpair,
            &rig,
            io(NvmOpcode::Write, 8 * 1024, Some(transfer)),
        ) {
            Err(NvmeError::Command { lba, status, .. }) => {
                assert_eq!(lba, 8 * 1024);
                assert_eq!(
                    status.code,
                    StatusCode::Generic(crate::spec::GenericStatus::LbaOutOfRange)
                );
            }
            other => panic!("expected LBA out of range, got {other:?}"),
        }
        // A buffer the device cannot reach is a data transfer error.
        let unmapped = DeviceMemory::zeroed(4096);
        let stray = Transfer {
            iova: unmapped.iova(),
            len_bytes: 4096,
        };
        let faults = rig.model.counters().dma_faults;
        match run(&mut qpair, &rig, io(NvmOpcode::Write, 0, Some(stray))) {
            Err(NvmeError::Command { status, .. }) => assert_eq!(
                status.code,
                StatusCode::Generic(crate::spec::GenericStatus::DataTransferError)
            ),
            other => panic!("expected a data transfer error, got {other:?}"),
        }
        assert_eq!(rig.model.counters().dma_faults, faults + 1);
    }

    /// A command that never completes is reported by take_expired once its
    /// time is up (time passed in, not read), not before, and only once;
    /// aborted, it completes as a Timeout error naming it.
    #[test]
    fn timeouts_are_detected_and_aborted() {
        let rig = rig();
        let (mut qpair, _mappings) = io_qpair(&rig, 4);
        let registers = rig.controller.registers().as_ref();
        rig.model.hang(
            Match {
                opcode: Some(NvmOpcode::Flush),
                lba: None,
            },
            1,
        );
        let cid = qpair
            .submit(io(NvmOpcode::Flush, 0, None), 5, 1000)
            .expect("submit");
        qpair.ring_doorbell(registers);
        let mut expired = [0u16; 4];
        assert_eq!(qpair.poll(registers, 1500, 4, |_| {}).completed, 0);
        assert_eq!(qpair.take_expired(1999, 1000, &mut expired), 0);
        assert_eq!(qpair.take_expired(2000, 1000, &mut expired), 1);
        assert_eq!(expired[0], cid);
        assert_eq!(qpair.take_expired(5000, 1000, &mut expired), 0);
        assert!(!qpair.abort_failed(2999, 1000));
        assert!(qpair.abort_failed(3000, 1000));
        assert!(rig.controller.abort(qpair.qid(), cid).expect("abort"));
        let mut result = None;
        qpair.poll(registers, 2500, 4, |finished| result = Some(finished));
        match result {
            Some(Finished {
                context: 5,
                result:
                    Err(NvmeError::Timeout {
                        waited_ms: 1500,
                        opcode: Opcode::Nvm(NvmOpcode::Flush),
                        ..
                    }),
                ..
            }) => {}
            other => panic!("expected a Timeout completion, got {other:?}"),
        }
        assert_eq!(rig.model.hung_commands(), 0);
    }

    /// A completion naming a cid not in flight, or an SQ head outside the
    /// ring, is consumed and counted as stray, never trusted or panicked on.
    #[test]
    fn stray_completions_are_counted_not_trusted() {
        let rig = rig();
        let (mut qpair, _mappings) = io_qpair(&rig, 4);
        let registers = rig.controller.registers().as_ref();
        for (slot, (cid, sq_head)) in [(2u16, 0u16), (500, 0), (0, 9)].into_iter().enumerate() {
            let cqe = Cqe {
                cid,
                sq_head,
                phase: true,
                ..Cqe::default()
            };
            qpair.cq.write_bytes(slot * CQE_BYTES, &cqe.encode());
        }
        // Strays do not count against the per-call cap (they are not
        // completions), but the ring size bounds them.
        let report = qpair.poll(registers, 0, 4, |_| panic!("nothing is in flight"));
        assert_eq!(
            report,
            PollReport {
                completed: 0,
                stray: 3
            }
        );
        let report = qpair.poll(registers, 0, 4, |_| panic!("nothing is in flight"));
        assert_eq!(report, PollReport::default());
        assert_eq!(qpair.stray_total(), 3);
    }

    /// fail_all fails every command in flight with Reset (its context
    /// handed back) and leaves rings and trackers as new.
    #[test]
    fn fail_all_returns_every_context() {
        let rig = rig();
        let (mut qpair, _mappings) = io_qpair(&rig, 8);
        for i in 0..5 {
            qpair
                .submit(io(NvmOpcode::Flush, 0, None), i, 0)
                .expect("submit");
        }
        let mut contexts = Vec::new();
        let failed = qpair.fail_all(|finished| {
            assert!(matches!(finished.result, Err(NvmeError::Reset { .. })));
            contexts.push(finished.context);
        });
        assert_eq!(failed, 5);
        contexts.sort_unstable();
        assert_eq!(contexts, vec![0, 1, 2, 3, 4]);
        assert_eq!(qpair.in_flight(), 0);
        assert_eq!((qpair.sq_tail, qpair.cq_head, qpair.phase), (0, 0, true));
        assert_eq!(qpair.free.len(), 7);
    }
}
