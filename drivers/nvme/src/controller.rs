//! Controller bring-up and the admin queue, over the [`Registers`] seam:
//! reset (CC.EN=0, wait CSTS.RDY=0 within CAP.TO), admin queue setup,
//! enable, Identify, Set Features Number of Queues, and creation and
//! deletion of I/O queue pairs. Everything here is the cold path: the admin
//! queue sits behind one lock, taken at start-up, when a queue is opened or
//! closed, on a timeout, and on a reset. The I/O path never takes it.
//!
//! Time comes from a [`Clock`] passed in; every wait has a deadline on it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::NvmeError;
use crate::memory::{DeviceMemory, DmaMapper, Registers};
use crate::qpair::{Command, Payload, Qpair, QpairConfig, SubmitRefused, Transfer, PRP_LIST_BYTES};
use crate::spec::{
    self, csts, reg, AdminOpcode, Cap, IdentifyController, IdentifyNamespace, Opcode, QueueCounts,
    Sqe, CQE_BYTES, IDENTIFY_BYTES, SQE_BYTES,
};

/// Milliseconds from an arbitrary start; monotonic.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// The production clock: time since it was made.
#[derive(Debug)]
pub struct MonotonicClock {
    start: std::time::Instant,
}

impl MonotonicClock {
    pub fn new() -> MonotonicClock {
        MonotonicClock {
            start: std::time::Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock for tests: moves only when told, plus `step_ms` on every read
/// (so a wait on a condition that never comes true still reaches its
/// deadline, in a bounded number of reads).
#[derive(Debug, Default)]
pub struct TestClock {
    now_ms: AtomicU64,
    step_ms: AtomicU64,
}

impl TestClock {
    pub fn new(step_ms: u64) -> TestClock {
        TestClock {
            now_ms: AtomicU64::new(0),
            step_ms: AtomicU64::new(step_ms),
        }
    }

    pub fn advance(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> u64 {
        let step = self.step_ms.load(Ordering::Relaxed);
        self.now_ms.fetch_add(step, Ordering::Relaxed) + step
    }
}

/// What the caller chooses at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerOptions {
    /// I/O queue pairs to ask for (the controller may grant fewer).
    pub io_queues: u16,
    /// Admin queue entries.
    pub admin_entries: u16,
    /// How long an I/O command may take before it is aborted; twice this
    /// and the controller is reset.
    pub io_timeout_ms: u64,
    /// How long an admin command may take.
    pub admin_timeout_ms: u64,
    /// The namespace to use.
    pub nsid: u32,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            io_queues: 8,
            admin_entries: 32,
            io_timeout_ms: 30_000,
            admin_timeout_ms: 60_000,
            nsid: 1,
        }
    }
}

/// What Identify said, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub controller: IdentifyController,
    pub namespace: IdentifyNamespace,
    pub nsid: u32,
    pub version: u32,
}

/// An IOMMU mapping of device memory, removed on drop. Owners declare it
/// before the memory it covers: fields drop in declaration order, so the
/// device loses access before the memory is freed.
pub(crate) struct Mapping {
    iova: u64,
    len_bytes: u64,
    mapper: Arc<dyn DmaMapper>,
}

impl Mapping {
    /// Takes over the unmap of a mapping the caller just made (tests).
    #[cfg(test)]
    pub(crate) fn new(iova: u64, len_bytes: u64, mapper: &Arc<dyn DmaMapper>) -> Mapping {
        Mapping {
            iova,
            len_bytes,
            mapper: Arc::clone(mapper),
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Err(e) = self.mapper.unmap(self.iova, self.len_bytes) {
            // The mapping stays while the memory is freed behind it: the
            // device could reach freed memory. Say so loudly.
            log::error!("unmapping DMA memory: {e}");
        }
    }
}

/// Device memory and its mapping (mapping first: see [`Mapping`]).
pub(crate) struct MappedMemory {
    mapping: Mapping,
    memory: DeviceMemory,
}

impl MappedMemory {
    pub(crate) fn new(
        mapper: &Arc<dyn DmaMapper>,
        len_bytes: usize,
        what: &'static str,
    ) -> Result<MappedMemory, NvmeError> {
        let len_bytes = len_bytes.next_multiple_of(floe_rt::DMA_ALIGN_BYTES);
        let memory = DeviceMemory::zeroed(len_bytes);
        // SAFETY: `memory` is owned by the MappedMemory returned below, is
        // reached only through DeviceMemory's raw accessors (no references),
        // and is freed only after `mapping` (declared first) has unmapped it.
        unsafe { mapper.map(memory.iova(), len_bytes as u64) }.map_err(admin_error(what))?;
        Ok(MappedMemory {
            mapping: Mapping {
                iova: memory.iova(),
                len_bytes: len_bytes as u64,
                mapper: Arc::clone(mapper),
            },
            memory,
        })
    }
}

/// The memory of one queue pair: rings and tracker frames, mapped.
pub(crate) struct QpairMemory {
    sq: MappedMemory,
    cq: MappedMemory,
    frames: MappedMemory,
}

impl QpairMemory {
    pub(crate) fn new(mapper: &Arc<dyn DmaMapper>, entries: u16) -> Result<QpairMemory, NvmeError> {
        let entries = usize::from(entries);
        Ok(QpairMemory {
            sq: MappedMemory::new(mapper, entries * SQE_BYTES, "mapping an SQ")?,
            cq: MappedMemory::new(mapper, entries * CQE_BYTES, "mapping a CQ")?,
            frames: MappedMemory::new(
                mapper,
                (entries - 1) * PRP_LIST_BYTES,
                "mapping PRP frames",
            )?,
        })
    }

    /// The qpair that owns the memory, and the mappings its owner keeps
    /// (declared before the qpair, so they drop first).
    pub(crate) fn into_qpair<T>(self, config: QpairConfig) -> (Qpair<T>, [Mapping; 3]) {
        let QpairMemory { sq, cq, frames } = self;
        (
            Qpair::new(config, sq.memory, cq.memory, frames.memory),
            [sq.mapping, cq.mapping, frames.mapping],
        )
    }
}

struct AdminState {
    qpair: Qpair<()>,
    /// Which I/O qids (index qid - 1) are taken.
    qids_in_use: Vec<bool>,
}

/// A started controller: admin queue up, namespace identified.
pub struct Controller {
    pub(crate) registers: Arc<dyn Registers>,
    pub(crate) mapper: Arc<dyn DmaMapper>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cap: Cap,
    pub(crate) options: ControllerOptions,
    pub(crate) memory_page_bytes: u32,
    pub(crate) max_transfer_bytes: u32,
    identity: Identity,
    granted_queues: u16,
    /// Bumped by every reset; a queue that sees it change knows the device
    /// forgot its rings and its commands.
    generation: AtomicU64,
    /// False when the last reset could not confirm the controller stopped
    /// (CSTS.RDY stayed 1): the device may still write memory it was
    /// given, so queues must not hand those buffers back for reuse.
    last_reset_clean: AtomicBool,
    // Before `admin`: unmapped before the admin rings are freed.
    _admin_mappings: [Mapping; 3],
    admin: Mutex<AdminState>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("cap", &self.cap)
            .field("identity", &self.identity)
            .field("granted_queues", &self.granted_queues)
            .finish()
    }
}

/// Waits for CSTS.RDY to equal `ready`, up to `timeout_ms` by `clock`.
fn wait_ready(
    registers: &dyn Registers,
    clock: &dyn Clock,
    ready: bool,
    timeout_ms: u64,
) -> Result<(), NvmeError> {
    let start_ms = clock.now_ms();
    loop {
        let status = registers.read_u32(reg::CSTS);
        // All ones: the device fell off the bus (or BAR0 is not mapped).
        if status == u32::MAX {
            return Err(NvmeError::Fatal { csts: status });
        }
        if (status & csts::RDY != 0) == ready {
            return Ok(());
        }
        if ready && status & csts::CFS != 0 {
            return Err(NvmeError::Fatal { csts: status });
        }
        if clock.now_ms().saturating_sub(start_ms) > timeout_ms {
            return Err(NvmeError::ReadyTimeout {
                wanted: ready,
                timeout_ms,
                csts: status,
            });
        }
        std::hint::spin_loop();
    }
}

fn admin_error(what: &'static str) -> impl FnOnce(NvmeError) -> NvmeError {
    move |source| NvmeError::Admin {
        what,
        source: Box::new(source),
    }
}

impl Controller {
    /// Resets and enables the controller, identifies it and the namespace,
    /// and asks for `options.io_queues` I/O queue pairs.
    pub fn start(
        registers: Arc<dyn Registers>,
        mapper: Arc<dyn DmaMapper>,
        clock: Arc<dyn Clock>,
        options: ControllerOptions,
    ) -> Result<Controller, NvmeError> {
        let cap = Cap::decode(registers.read_u64(reg::CAP));
        if !cap.nvm_command_set {
            return Err(NvmeError::Unsupported {
                reason: "CAP.CSS: no NVM command set".into(),
            });
        }
        let memory_page_bytes: u32 = 4096;
        if cap.memory_page_min_bytes > 4096 || cap.memory_page_max_bytes < 4096 {
            return Err(NvmeError::Unsupported {
                reason: format!(
                    "memory pages {}..{} bytes exclude the host's 4 KiB frames",
                    cap.memory_page_min_bytes, cap.memory_page_max_bytes
                ),
            });
        }
        let admin_entries = options
            .admin_entries
            .clamp(2, 4096)
            .min(cap.max_queue_entries.min(4096) as u16);
        let admin_config = QpairConfig {
            qid: 0,
            entries: admin_entries,
            memory_page_bytes,
            max_transfer_bytes: memory_page_bytes * 2,
            doorbell_stride_bytes: cap.doorbell_stride_bytes,
        };
        let memory = QpairMemory::new(&mapper, admin_entries)?;
        let (admin_qpair, admin_mappings) = memory.into_qpair::<()>(admin_config);
        let mut controller = Controller {
            registers,
            mapper,
            clock,
            cap,
            options,
            memory_page_bytes,
            max_transfer_bytes: memory_page_bytes,
            identity: Identity {
                controller: IdentifyController {
                    vendor_id: 0,
                    serial: String::new(),
                    model: String::new(),
                    firmware: String::new(),
                    mdts: None,
                    controller_id: 0,
                    optional_commands: Default::default(),
                    volatile_write_cache: false,
                    atomic_write_unit_normal_blocks: 1,
                    atomic_write_unit_power_fail_blocks: 1,
                    namespace_count: 0,
                    max_commands: 0,
                },
                namespace: IdentifyNamespace {
                    size_blocks: 0,
                    capacity_blocks: 0,
                    formats: Vec::new(),
                    format_index: 0,
                    metadata_extended: false,
                    atomic_fields_valid: false,
                    atomic_write_unit_normal_blocks: 1,
                    atomic_write_unit_power_fail_blocks: 1,
                    atomic_boundary_power_fail_blocks: None,
                    atomic_boundary_offset_blocks: 0,
                    deallocated_reads_zeroes: false,
                },
                nsid: options.nsid,
                version: 0,
            },
            granted_queues: 0,
            generation: AtomicU64::new(0),
            last_reset_clean: AtomicBool::new(true),
            admin: Mutex::new(AdminState {
                qpair: admin_qpair,
                qids_in_use: Vec::new(),
            }),
            _admin_mappings: admin_mappings,
        };
        {
            let mut admin = controller.lock_admin();
            controller.enable(&mut admin)?;
        }
        controller.identify()?;
        let granted = controller.set_queue_count()?;
        controller.granted_queues = granted;
        controller.lock_admin().qids_in_use = vec![false; usize::from(granted)];
        log::info!(
            "nvme: {} (serial {}, firmware {}), namespace {}: {} blocks of {} bytes, \
             {} I/O queue pairs, max transfer {} bytes",
            controller.identity.controller.model,
            controller.identity.controller.serial,
            controller.identity.controller.firmware,
            controller.identity.nsid,
            controller.identity.namespace.size_blocks,
            controller.identity.namespace.format().block_bytes,
            granted,
            controller.max_transfer_bytes
        );
        Ok(controller)
    }

    fn lock_admin(&self) -> MutexGuard<'_, AdminState> {
        // A panic while holding the lock leaves the admin queue in a state
        // a reset repairs; keep going rather than poisoning every caller.
        self.admin
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn granted_queues(&self) -> u16 {
        self.granted_queues
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether the last reset saw the controller stop (CSTS.RDY=0).
    pub fn last_reset_clean(&self) -> bool {
        self.last_reset_clean.load(Ordering::Acquire)
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn registers(&self) -> &Arc<dyn Registers> {
        &self.registers
    }

    pub fn mapper(&self) -> &Arc<dyn DmaMapper> {
        &self.mapper
    }

    pub fn max_transfer_bytes(&self) -> u32 {
        self.max_transfer_bytes
    }

    /// Disables (waiting for RDY=0), programs the admin queue, enables
    /// (waiting for RDY=1). The admin qpair's rings are reset first.
    fn enable(&self, admin: &mut AdminState) -> Result<(), NvmeError> {
        let registers = self.registers.as_ref();
        let timeout_ms = self.cap.ready_timeout_ms;
        if registers.read_u32(reg::CC) & spec::cc::EN != 0 {
            registers.write_u32(reg::CC, 0);
        }
        // RDY may still be 1 after EN=0 (or from firmware): always wait.
        wait_ready(registers, self.clock.as_ref(), false, timeout_ms)?;
        admin.qpair.fail_all(|_| {});
        let entries = u32::from(admin.qpair.config().entries) - 1;
        registers.write_u32(reg::AQA, entries | (entries << 16));
        registers.write_u64(reg::ASQ, admin.qpair.sq_iova());
        registers.write_u64(reg::ACQ, admin.qpair.cq_iova());
        let cc = spec::cc::EN
            | spec::cc::mps(u64::from(self.memory_page_bytes))
            | spec::cc::IOSQES_64
            | spec::cc::IOCQES_16;
        registers.write_u32(reg::CC, cc);
        wait_ready(registers, self.clock.as_ref(), true, timeout_ms)
    }

    /// Runs one admin command to completion (or its deadline).
    fn admin_command(
        &self,
        admin: &mut AdminState,
        opcode: AdminOpcode,
        sqe: Sqe,
        payload: Payload,
    ) -> Result<u32, NvmeError> {
        let now_ms = self.clock.now_ms();
        let command = Command {
            opcode: Opcode::Admin(opcode),
            sqe,
            payload,
            lba: 0,
        };
        let cid = match admin.qpair.submit(command, (), now_ms) {
            Ok(cid) => cid,
            Err(SubmitRefused::Invalid(e, ())) => return Err(e),
            // Admin commands run one at a time under the lock, so the
            // trackers are all held by earlier commands that timed out.
            Err(SubmitRefused::Busy(())) => {
                return Err(NvmeError::AdminStuck {
                    depth: admin.qpair.config().depth(),
                })
            }
        };
        admin.qpair.ring_doorbell(self.registers.as_ref());
        let mut result = None;
        loop {
            let now_ms = self.clock.now_ms();
            admin
                .qpair
                .poll(self.registers.as_ref(), now_ms, 1, |finished| {
                    if finished.cid == cid {
                        result = Some(finished.result);
                    }
                });
            if let Some(result) = result {
                return result;
            }
            let csts = self.registers.read_u32(reg::CSTS);
            if csts & csts::CFS != 0 || csts == u32::MAX {
                return Err(NvmeError::Fatal { csts });
            }
            if admin.qpair.waited_ms(cid, now_ms).unwrap_or(0) > self.options.admin_timeout_ms {
                return Err(NvmeError::Timeout {
                    qid: 0,
                    cid,
                    opcode: Opcode::Admin(opcode),
                    lba: 0,
                    waited_ms: self.options.admin_timeout_ms,
                });
            }
            std::hint::spin_loop();
        }
    }

    fn identify(&mut self) -> Result<(), NvmeError> {
        let buffer = MappedMemory::new(&self.mapper, IDENTIFY_BYTES, "mapping identify data")?;
        let transfer = Payload::Data(Transfer {
            iova: buffer.memory.iova(),
            len_bytes: IDENTIFY_BYTES as u32,
        });
        let mut page = vec![0u8; IDENTIFY_BYTES];
        let controller = {
            let mut admin = self.lock_admin();
            let sqe = Sqe {
                cdw10: spec::CNS_CONTROLLER,
                ..Sqe::default()
            };
            self.admin_command(&mut admin, AdminOpcode::Identify, sqe, transfer)
                .map_err(admin_error("identify controller"))?;
            buffer.memory.read_bytes(0, &mut page);
            IdentifyController::parse(&page)?
        };
        let namespace = {
            let mut admin = self.lock_admin();
            let sqe = Sqe {
                nsid: self.options.nsid,
                cdw10: spec::CNS_NAMESPACE,
                ..Sqe::default()
            };
            self.admin_command(&mut admin, AdminOpcode::Identify, sqe, transfer)
                .map_err(admin_error("identify namespace"))?;
            buffer.memory.read_bytes(0, &mut page);
            IdentifyNamespace::parse(&page)?
        };
        let format = namespace.format();
        if format.metadata_bytes != 0 {
            return Err(NvmeError::Unsupported {
                reason: format!(
                    "namespace {}: LBA format with {} metadata bytes per block",
                    self.options.nsid, format.metadata_bytes
                ),
            });
        }
        // MDTS is in units of CAP.MPSMIN pages; the PRP list frame caps it.
        let list_cap = (PRP_LIST_BYTES / 8) as u64 * u64::from(self.memory_page_bytes);
        let mdts_bytes = controller.mdts.map_or(u64::MAX, |mdts| {
            self.cap.memory_page_min_bytes << mdts.min(20)
        });
        let max_transfer = mdts_bytes.min(list_cap).min(1 << 20);
        if max_transfer < u64::from(format.block_bytes) {
            return Err(NvmeError::Unsupported {
                reason: format!("MDTS of {mdts_bytes} bytes is below one block"),
            });
        }
        self.max_transfer_bytes = max_transfer as u32;
        self.identity = Identity {
            controller,
            namespace,
            nsid: self.options.nsid,
            version: self.registers.read_u32(reg::VS),
        };
        Ok(())
    }

    fn set_queue_count(&self) -> Result<u16, NvmeError> {
        let mut admin = self.lock_admin();
        self.set_queue_count_locked(&mut admin)
    }

    fn set_queue_count_locked(&self, admin: &mut AdminState) -> Result<u16, NvmeError> {
        let sqe = Sqe {
            cdw10: spec::FEATURE_NUMBER_OF_QUEUES,
            cdw11: QueueCounts::request_cdw11(self.options.io_queues.max(1)),
            ..Sqe::default()
        };
        let dw0 = self
            .admin_command(admin, AdminOpcode::SetFeatures, sqe, Payload::None)
            .map_err(admin_error("set features: number of queues"))?;
        let granted = QueueCounts::from_dw0(dw0);
        Ok(granted
            .submission
            .min(granted.completion)
            .min(self.options.io_queues.max(1)))
    }

    /// Takes a free qid.
    pub(crate) fn allocate_qid(&self) -> Result<u16, NvmeError> {
        let mut admin = self.lock_admin();
        match admin.qids_in_use.iter().position(|used| !used) {
            Some(index) => {
                admin.qids_in_use[index] = true;
                Ok(index as u16 + 1)
            }
            None => Err(NvmeError::NoQueues {
                granted: self.granted_queues,
            }),
        }
    }

    pub(crate) fn release_qid(&self, qid: u16) {
        let mut admin = self.lock_admin();
        if let Some(used) = admin.qids_in_use.get_mut(usize::from(qid) - 1) {
            *used = false;
        }
    }

    /// Creates the device side of an I/O queue pair whose memory `qpair`
    /// owns (CQ first, then the SQ that posts to it).
    pub(crate) fn create_io_queues<T>(&self, qpair: &Qpair<T>) -> Result<(), NvmeError> {
        let mut admin = self.lock_admin();
        let config = qpair.config();
        let size_field = (u32::from(config.entries) - 1) << 16;
        let qid = u32::from(config.qid);
        let create_cq = Sqe {
            prp1: qpair.cq_iova(),
            cdw10: size_field | qid,
            cdw11: 1, // physically contiguous, interrupts off
            ..Sqe::default()
        };
        self.admin_command(
            &mut admin,
            AdminOpcode::CreateIoCq,
            create_cq,
            Payload::None,
        )
        .map_err(admin_error("create I/O completion queue"))?;
        let create_sq = Sqe {
            prp1: qpair.sq_iova(),
            cdw10: size_field | qid,
            cdw11: (qid << 16) | 1, // its CQ, physically contiguous
            ..Sqe::default()
        };
        self.admin_command(
            &mut admin,
            AdminOpcode::CreateIoSq,
            create_sq,
            Payload::None,
        )
        .map_err(admin_error("create I/O submission queue"))?;
        Ok(())
    }

    /// Deletes the device side of I/O queue pair `qid` (SQ first).
    pub(crate) fn delete_io_queues(&self, qid: u16) -> Result<(), NvmeError> {
        let mut admin = self.lock_admin();
        let sqe = Sqe {
            cdw10: u32::from(qid),
            ..Sqe::default()
        };
        self.admin_command(&mut admin, AdminOpcode::DeleteIoSq, sqe, Payload::None)
            .map_err(admin_error("delete I/O submission queue"))?;
        self.admin_command(&mut admin, AdminOpcode::DeleteIoCq, sqe, Payload::None)
            .map_err(admin_error("delete I/O completion queue"))?;
        Ok(())
    }

    /// Asks the controller to abort command `cid` on `sqid`. True if it
    /// says it aborted it (then a completion for it follows).
    pub(crate) fn abort(&self, sqid: u16, cid: u16) -> Result<bool, NvmeError> {
        let mut admin = self.lock_admin();
        let sqe = Sqe {
            cdw10: u32::from(sqid) | (u32::from(cid) << 16),
            ..Sqe::default()
        };
        let dw0 = self
            .admin_command(&mut admin, AdminOpcode::Abort, sqe, Payload::None)
            .map_err(admin_error("abort"))?;
        Ok(dw0 & 1 == 0)
    }

    /// CSTS.CFS is set (or the device is gone).
    pub fn is_fatal(&self) -> bool {
        let status = self.registers.read_u32(reg::CSTS);
        status & csts::CFS != 0 || status == u32::MAX
    }

    /// Resets the controller: disable, wait, re-enable, ask for the queues
    /// again. Every I/O queue's commands are then failed by its owner (it
    /// sees the generation change) and its rings re-created on next use.
    /// `seen_generation` is the generation the caller saw fail; if another
    /// thread already reset since, this returns without a second reset.
    pub fn reset(&self, seen_generation: u64) -> Result<(), NvmeError> {
        let mut admin = self.lock_admin();
        if self.generation() != seen_generation {
            return Ok(());
        }
        log::warn!(
            "nvme {}: resetting the controller (generation {seen_generation})",
            self.identity.controller.serial
        );
        self.registers.write_u32(reg::CC, 0);
        let disabled = wait_ready(
            self.registers.as_ref(),
            self.clock.as_ref(),
            false,
            self.cap.ready_timeout_ms,
        );
        // From here every queue fails what it had in flight. If the device
        // did not confirm it stopped, the queues are told so and keep the
        // buffers from reuse (see NvmeQueue::notice_reset).
        self.last_reset_clean
            .store(disabled.is_ok(), Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        disabled?;
        self.enable(&mut admin)?;
        let granted = self.set_queue_count_locked(&mut admin)?;
        if granted < self.granted_queues {
            return Err(NvmeError::Unsupported {
                reason: format!(
                    "after reset the controller grants {granted} I/O queues, not {}",
                    self.granted_queues
                ),
            });
        }
        Ok(())
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        // Stop the device before its memory (admin rings) goes away.
        self.registers.write_u32(reg::CC, 0);
        if let Err(e) = wait_ready(
            self.registers.as_ref(),
            self.clock.as_ref(),
            false,
            self.cap.ready_timeout_ms,
        ) {
            log::error!("nvme: disabling the controller on close: {e}");
        }
    }
}
