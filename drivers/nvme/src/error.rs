//! The driver's one error type. Every variant names what failed and on
//! what (queue, command id, opcode, LBA), so a log line is enough to know
//! what happened without a debugger.

use crate::spec::{Opcode, Status};

#[derive(Debug, thiserror::Error)]
pub enum NvmeError {
    /// A structure the device returned is shorter or longer than the spec says.
    #[error("{structure}: {found_bytes} bytes, expected {expected_bytes}")]
    BadLength {
        structure: &'static str,
        found_bytes: usize,
        expected_bytes: usize,
    },
    /// A field the device returned has a value we cannot use.
    #[error("{structure}: field {field} = {value:#x}: {reason}")]
    BadField {
        structure: &'static str,
        field: &'static str,
        value: u64,
        reason: &'static str,
    },
    /// The device completed a command with an error status.
    #[error("qp {qid}: {opcode} (cid {cid}) at lba {lba}: {status}")]
    Command {
        qid: u16,
        cid: u16,
        opcode: Opcode,
        lba: u64,
        status: Status,
    },
    /// A command did not complete in its time limit; it was aborted.
    #[error("qp {qid}: {opcode} (cid {cid}) at lba {lba}: no completion after {waited_ms} ms")]
    Timeout {
        qid: u16,
        cid: u16,
        opcode: Opcode,
        lba: u64,
        waited_ms: u64,
    },
    /// The controller was reset (fatal status, a stuck command, or asked
    /// for) while the command was in flight; the device no longer owns it.
    #[error("qp {qid}: {opcode} (cid {cid}) at lba {lba}: failed by a controller reset")]
    Reset {
        qid: u16,
        cid: u16,
        opcode: Opcode,
        lba: u64,
    },
    /// A completion the device posted does not match anything we sent.
    #[error("qp {qid}: completion for cid {cid}, which is not in flight (sq head {sq_head})")]
    StrayCompletion { qid: u16, cid: u16, sq_head: u16 },
    /// A transfer the queue cannot describe (length, alignment, MDTS).
    #[error("qp {qid}: transfer of {len_bytes} bytes at iova {iova:#x}: {reason}")]
    BadTransfer {
        qid: u16,
        iova: u64,
        len_bytes: usize,
        reason: &'static str,
    },
    /// CSTS.RDY did not reach the wanted value in CAP.TO.
    #[error(
        "controller: CSTS.RDY did not become {wanted} within {timeout_ms} ms (CSTS {csts:#x})"
    )]
    ReadyTimeout {
        wanted: bool,
        timeout_ms: u64,
        csts: u32,
    },
    /// CSTS.CFS: the controller reported a fatal error.
    #[error("controller: fatal status (CSTS {csts:#x})")]
    Fatal { csts: u32 },
    /// The controller lacks something the driver needs.
    #[error("controller: {reason}")]
    Unsupported { reason: String },
    /// An admin command failed during bring-up or queue creation.
    #[error("admin: {what}")]
    Admin {
        what: &'static str,
        #[source]
        source: Box<NvmeError>,
    },
    /// A DMA mapping (IOMMU) could not be made or removed.
    #[error("DMA mapping of {len_bytes} bytes at iova {iova:#x}")]
    DmaMap {
        iova: u64,
        len_bytes: u64,
        #[source]
        source: std::io::Error,
    },
    /// DMA memory for rings or PRP lists could not be had.
    #[error("DMA memory for {what}")]
    DmaMemory {
        what: &'static str,
        #[source]
        source: floe_rt::RtError,
    },
    /// A VFIO or sysfs step failed.
    #[error("{step} on {device}")]
    Vfio {
        step: &'static str,
        device: String,
        #[source]
        source: std::io::Error,
    },
    /// A VFIO object is not in the state we need (API version, group not
    /// viable, region too small).
    #[error("{device}: {reason}")]
    VfioState { device: String, reason: String },
    /// Every admin slot holds a command that timed out: reset needed.
    #[error("admin queue: all {depth} slots hold commands that timed out; reset the controller")]
    AdminStuck { depth: usize },
    /// The last reset did not confirm the controller stopped; the queue
    /// will not re-create its rings on memory the device may still use.
    #[error("qp {qid}: the controller did not stop at the last reset; reopen the device")]
    Unclean { qid: u16 },
    /// Too many I/O queues are open for what the controller granted.
    #[error("controller: all {granted} I/O queue pairs are in use")]
    NoQueues { granted: u16 },
}
