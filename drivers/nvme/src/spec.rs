//! NVMe base specification types: the controller register map, the 64-byte
//! submission queue entry, the 16-byte completion queue entry, opcodes,
//! status codes, and the Identify Controller / Identify Namespace data we
//! use. Everything is encoded and decoded explicitly, little-endian, field
//! by field (no `repr(C)` casts of device memory), and everything the
//! device sends is parsed fully with bounds checks before it is acted on.
//!
//! Layouts follow the NVMe Base Specification 2.0 (section numbers below);
//! SPDK's include/spdk/nvme_spec.h was read as a cross-check.

use std::fmt;

use crate::error::NvmeError;

/// Controller register offsets in BAR0 (NVMe base spec 3.1.4).
pub mod reg {
    /// Controller Capabilities, 64 bits.
    pub const CAP: usize = 0x00;
    /// Version, 32 bits.
    pub const VS: usize = 0x08;
    /// Interrupt Mask Set, 32 bits (we mask everything: polled mode).
    pub const INTMS: usize = 0x0c;
    /// Controller Configuration, 32 bits.
    pub const CC: usize = 0x14;
    /// Controller Status, 32 bits.
    pub const CSTS: usize = 0x1c;
    /// Admin Queue Attributes, 32 bits.
    pub const AQA: usize = 0x24;
    /// Admin Submission Queue base address, 64 bits.
    pub const ASQ: usize = 0x28;
    /// Admin Completion Queue base address, 64 bits.
    pub const ACQ: usize = 0x30;
    /// First doorbell.
    pub const DOORBELL_BASE: usize = 0x1000;
}

/// Offset of queue `qid`'s submission queue tail doorbell.
pub fn sq_tail_doorbell(qid: u16, doorbell_stride_bytes: usize) -> usize {
    reg::DOORBELL_BASE + 2 * usize::from(qid) * doorbell_stride_bytes
}

/// Offset of queue `qid`'s completion queue head doorbell.
pub fn cq_head_doorbell(qid: u16, doorbell_stride_bytes: usize) -> usize {
    reg::DOORBELL_BASE + (2 * usize::from(qid) + 1) * doorbell_stride_bytes
}

/// CAP, decoded (3.1.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    /// Maximum Queue Entries Supported, as a count (the field is 0-based).
    pub max_queue_entries: u32,
    /// Contiguous Queues Required.
    pub contiguous_queues_required: bool,
    /// Worst-case time for CSTS.RDY to change after CC.EN does, in ms.
    pub ready_timeout_ms: u64,
    /// Distance between doorbells in bytes: 4 << DSTRD.
    pub doorbell_stride_bytes: usize,
    /// The NVM command set is supported (CSS bit 0).
    pub nvm_command_set: bool,
    /// Smallest and largest memory page size, in bytes (2 ^ (12 + MPS)).
    pub memory_page_min_bytes: u64,
    pub memory_page_max_bytes: u64,
}

impl Cap {
    pub fn decode(cap: u64) -> Cap {
        let mqes = (cap & 0xffff) as u32;
        let to = (cap >> 24) & 0xff;
        let dstrd = ((cap >> 32) & 0xf) as u32;
        let css = (cap >> 37) & 0xff;
        let mpsmin = ((cap >> 48) & 0xf) as u32;
        let mpsmax = ((cap >> 52) & 0xf) as u32;
        Cap {
            max_queue_entries: mqes + 1,
            contiguous_queues_required: cap & (1 << 16) != 0,
            // TO is in 500 ms units; 0 would mean "no wait", which no real
            // controller means: treat it as one unit.
            ready_timeout_ms: to.max(1) * 500,
            doorbell_stride_bytes: 4usize << dstrd,
            nvm_command_set: css & 1 != 0,
            memory_page_min_bytes: 1u64 << (12 + mpsmin),
            memory_page_max_bytes: 1u64 << (12 + mpsmax),
        }
    }
}

/// CC fields (3.1.4.5).
pub mod cc {
    pub const EN: u32 = 1;
    /// I/O SQ entry size 2^6 = 64 bytes, I/O CQ entry size 2^4 = 16 bytes.
    pub const IOSQES_64: u32 = 6 << 16;
    pub const IOCQES_16: u32 = 4 << 20;
    /// CC.MPS for a memory page of 2 ^ (12 + mps) bytes.
    pub fn mps(memory_page_bytes: u64) -> u32 {
        (memory_page_bytes.trailing_zeros().saturating_sub(12) & 0xf) << 7
    }
}

/// CSTS fields (3.1.4.6).
pub mod csts {
    pub const RDY: u32 = 1;
    pub const CFS: u32 = 1 << 1;
}

/// Bytes in one submission queue entry.
pub const SQE_BYTES: usize = 64;
/// Bytes in one completion queue entry.
pub const CQE_BYTES: usize = 16;
/// Bytes of an Identify data structure.
pub const IDENTIFY_BYTES: usize = 4096;

/// Command opcodes: admin (5.) and NVM command set (7. of the NVM spec).
/// Admin and I/O opcodes overlap numerically, so they are two families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Admin(AdminOpcode),
    Nvm(NvmOpcode),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AdminOpcode {
    DeleteIoSq = 0x00,
    CreateIoSq = 0x01,
    GetLogPage = 0x02,
    DeleteIoCq = 0x04,
    CreateIoCq = 0x05,
    Identify = 0x06,
    Abort = 0x08,
    SetFeatures = 0x09,
    GetFeatures = 0x0a,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum NvmOpcode {
    Flush = 0x00,
    Write = 0x01,
    Read = 0x02,
    WriteZeroes = 0x08,
    DatasetManagement = 0x09,
}

impl AdminOpcode {
    pub fn from_u8(value: u8) -> Option<AdminOpcode> {
        use AdminOpcode::*;
        Some(match value {
            0x00 => DeleteIoSq,
            0x01 => CreateIoSq,
            0x02 => GetLogPage,
            0x04 => DeleteIoCq,
            0x05 => CreateIoCq,
            0x06 => Identify,
            0x08 => Abort,
            0x09 => SetFeatures,
            0x0a => GetFeatures,
            _ => return None,
        })
    }
}

impl NvmOpcode {
    pub fn from_u8(value: u8) -> Option<NvmOpcode> {
        use NvmOpcode::*;
        Some(match value {
            0x00 => Flush,
            0x01 => Write,
            0x02 => Read,
            0x08 => WriteZeroes,
            0x09 => DatasetManagement,
            _ => return None,
        })
    }
}

impl Opcode {
    pub fn code(self) -> u8 {
        match self {
            Opcode::Admin(op) => op as u8,
            Opcode::Nvm(op) => op as u8,
        }
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opcode::Admin(op) => write!(f, "admin {op:?}"),
            Opcode::Nvm(op) => write!(f, "{op:?}"),
        }
    }
}

/// Feature identifiers (5.27.1).
pub const FEATURE_NUMBER_OF_QUEUES: u32 = 0x07;
pub const FEATURE_VOLATILE_WRITE_CACHE: u32 = 0x06;
/// Identify CNS values (5.17.1).
pub const CNS_NAMESPACE: u32 = 0x00;
pub const CNS_CONTROLLER: u32 = 0x01;
/// Dataset Management attribute: deallocate (NVM spec 3.2.3).
pub const DSM_ATTRIBUTE_DEALLOCATE: u32 = 1 << 2;
/// Bytes of one DSM range: context attributes u32, length in blocks u32
/// (1-based), starting LBA u64.
pub const DSM_RANGE_BYTES: usize = 16;

/// A submission queue entry (4.2), 64 bytes little-endian:
/// dword 0: opcode [7:0], fuse [9:8], PSDT [15:14] (0: PRPs), command id
/// [31:16]; dword 1: namespace id; dwords 2-3 reserved; 4-5 metadata
/// pointer; 6-7 PRP entry 1; 8-9 PRP entry 2; 10-15 command specific.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sqe {
    pub opcode: u8,
    pub cid: u16,
    pub nsid: u32,
    pub mptr: u64,
    pub prp1: u64,
    pub prp2: u64,
    pub cdw10: u32,
    pub cdw11: u32,
    pub cdw12: u32,
    pub cdw13: u32,
    pub cdw14: u32,
    pub cdw15: u32,
}

fn put_u32(bytes: &mut [u8; SQE_BYTES], offset: usize, value: u32) {
    bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8; SQE_BYTES], offset: usize, value: u64) {
    bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}

/// Reads a little-endian integer at a constant offset of a fixed array; the
/// callers' offsets are constants inside the array, so these cannot fail.
fn u16_at<const N: usize>(bytes: &[u8; N], offset: usize) -> u16 {
    u16::from_le_bytes([bytes[offset], bytes[offset + 1]])
}

fn u32_at<const N: usize>(bytes: &[u8; N], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

fn u64_at<const N: usize>(bytes: &[u8; N], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

impl Sqe {
    pub fn encode(&self) -> [u8; SQE_BYTES] {
        let mut bytes = [0u8; SQE_BYTES];
        // Fuse 0 (normal), PSDT 0 (PRPs): the only forms we send.
        put_u32(
            &mut bytes,
            0,
            u32::from(self.opcode) | (u32::from(self.cid) << 16),
        );
        put_u32(&mut bytes, 4, self.nsid);
        put_u64(&mut bytes, 16, self.mptr);
        put_u64(&mut bytes, 24, self.prp1);
        put_u64(&mut bytes, 32, self.prp2);
        put_u32(&mut bytes, 40, self.cdw10);
        put_u32(&mut bytes, 44, self.cdw11);
        put_u32(&mut bytes, 48, self.cdw12);
        put_u32(&mut bytes, 52, self.cdw13);
        put_u32(&mut bytes, 56, self.cdw14);
        put_u32(&mut bytes, 60, self.cdw15);
        bytes
    }

    /// Decodes an entry (the software controller model reads what the
    /// driver wrote). Fuse and PSDT are returned as read for it to refuse.
    pub fn decode(bytes: &[u8; SQE_BYTES]) -> (Sqe, SqeFlags) {
        let dword0 = u32_at(bytes, 0);
        let sqe = Sqe {
            opcode: (dword0 & 0xff) as u8,
            cid: (dword0 >> 16) as u16,
            nsid: u32_at(bytes, 4),
            mptr: u64_at(bytes, 16),
            prp1: u64_at(bytes, 24),
            prp2: u64_at(bytes, 32),
            cdw10: u32_at(bytes, 40),
            cdw11: u32_at(bytes, 44),
            cdw12: u32_at(bytes, 48),
            cdw13: u32_at(bytes, 52),
            cdw14: u32_at(bytes, 56),
            cdw15: u32_at(bytes, 60),
        };
        let flags = SqeFlags {
            fuse: ((dword0 >> 8) & 0x3) as u8,
            psdt: ((dword0 >> 14) & 0x3) as u8,
        };
        (sqe, flags)
    }

    /// Starting LBA of a read, write or write zeroes (cdw10-11).
    pub fn slba(&self) -> u64 {
        u64::from(self.cdw10) | (u64::from(self.cdw11) << 32)
    }

    /// Block count of a read, write or write zeroes (cdw12 [15:0], 0-based).
    pub fn block_count(&self) -> u32 {
        (self.cdw12 & 0xffff) + 1
    }
}

/// Bits of dword 0 we never set but a model must check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqeFlags {
    pub fuse: u8,
    pub psdt: u8,
}

/// A completion queue entry (4.6), 16 bytes little-endian: dword 0 command
/// specific; dword 1 reserved; dword 2: SQ head [15:0], SQ id [31:16];
/// dword 3: command id [15:0], phase [16], status [31:17].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cqe {
    pub dw0: u32,
    pub sq_head: u16,
    pub sq_id: u16,
    pub cid: u16,
    pub phase: bool,
    /// The 15-bit status field: SC [7:0], SCT [10:8], CRD [12:11], M [13],
    /// DNR [14].
    pub status_raw: u16,
}

impl Cqe {
    pub fn encode(&self) -> [u8; CQE_BYTES] {
        let mut bytes = [0u8; CQE_BYTES];
        bytes[0..4].copy_from_slice(&self.dw0.to_le_bytes());
        let dword2 = u32::from(self.sq_head) | (u32::from(self.sq_id) << 16);
        bytes[8..12].copy_from_slice(&dword2.to_le_bytes());
        let dword3 = u32::from(self.cid)
            | (u32::from(self.phase) << 16)
            | (u32::from(self.status_raw & 0x7fff) << 17);
        bytes[12..16].copy_from_slice(&dword3.to_le_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8; CQE_BYTES]) -> Cqe {
        let dword2 = u32_at(bytes, 8);
        let dword3 = u32_at(bytes, 12);
        Cqe {
            dw0: u32_at(bytes, 0),
            sq_head: (dword2 & 0xffff) as u16,
            sq_id: (dword2 >> 16) as u16,
            cid: (dword3 & 0xffff) as u16,
            phase: dword3 & (1 << 16) != 0,
            status_raw: (dword3 >> 17) as u16,
        }
    }

    pub fn status(&self) -> Status {
        Status::from_raw(self.status_raw)
    }
}

/// A decoded completion status (4.6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: StatusCode,
    /// Do Not Retry: the same command will fail again.
    pub do_not_retry: bool,
    /// More information in the Error Information log page.
    pub more: bool,
    /// Command Retry Delay index (0: none).
    pub retry_delay: u8,
}

impl Status {
    pub const SUCCESS_RAW: u16 = 0;

    pub fn from_raw(raw: u16) -> Status {
        let sc = (raw & 0xff) as u8;
        let sct = ((raw >> 8) & 0x7) as u8;
        Status {
            code: StatusCode::from_parts(sct, sc),
            retry_delay: ((raw >> 11) & 0x3) as u8,
            more: raw & (1 << 13) != 0,
            do_not_retry: raw & (1 << 14) != 0,
        }
    }

    /// The raw 15-bit field for a code (the model posts these).
    pub fn raw(code: StatusCode, do_not_retry: bool) -> u16 {
        let (sct, sc) = code.parts();
        u16::from(sc) | (u16::from(sct) << 8) | (u16::from(do_not_retry) << 14)
    }

    pub fn is_success(&self) -> bool {
        self.code == StatusCode::Success
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sct, sc) = self.code.parts();
        write!(f, "{:?} (sct {sct:#x} sc {sc:#04x}", self.code)?;
        if self.do_not_retry {
            write!(f, ", do not retry")?;
        }
        write!(f, ")")
    }
}

/// Status code, by type (SCT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCode {
    Success,
    Generic(GenericStatus),
    CommandSpecific(CommandSpecificStatus),
    Media(MediaStatus),
    /// SCT 3: path related (multipath fabrics); we name none of them.
    Path(u8),
    /// SCT 7.
    VendorSpecific(u8),
    /// SCT 4-6 or a code our tables do not name.
    Other {
        sct: u8,
        sc: u8,
    },
}

macro_rules! status_table {
    ($name:ident { $($variant:ident = $value:expr,)* }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub enum $name { $($variant = $value,)* }
        impl $name {
            pub fn from_u8(value: u8) -> Option<$name> {
                match value { $($value => Some($name::$variant),)* _ => None }
            }
        }
    };
}

// Generic command status (SCT 0), base spec figure 102 and NVM spec 4.1.
status_table!(GenericStatus {
    InvalidOpcode = 0x01,
    InvalidField = 0x02,
    CommandIdConflict = 0x03,
    DataTransferError = 0x04,
    AbortedPowerLoss = 0x05,
    InternalError = 0x06,
    AbortRequested = 0x07,
    AbortedSqDeleted = 0x08,
    AbortedFailedFused = 0x09,
    AbortedMissingFused = 0x0a,
    InvalidNamespaceOrFormat = 0x0b,
    CommandSequenceError = 0x0c,
    InvalidSglSegment = 0x0d,
    InvalidSglCount = 0x0e,
    DataSglLengthInvalid = 0x0f,
    MetadataSglLengthInvalid = 0x10,
    SglDescriptorTypeInvalid = 0x11,
    InvalidControllerMemoryBuffer = 0x12,
    InvalidPrpOffset = 0x13,
    AtomicWriteUnitExceeded = 0x14,
    OperationDenied = 0x15,
    SglOffsetInvalid = 0x16,
    HostIdInconsistentFormat = 0x18,
    KeepAliveExpired = 0x19,
    KeepAliveInvalid = 0x1a,
    AbortedPreempt = 0x1b,
    SanitizeFailed = 0x1c,
    SanitizeInProgress = 0x1d,
    SglDataBlockGranularityInvalid = 0x1e,
    CommandInvalidInCmb = 0x1f,
    NamespaceWriteProtected = 0x20,
    CommandInterrupted = 0x21,
    TransientTransportError = 0x22,
    LbaOutOfRange = 0x80,
    CapacityExceeded = 0x81,
    NamespaceNotReady = 0x82,
    ReservationConflict = 0x83,
    FormatInProgress = 0x84,
});

// Command specific status (SCT 1), base spec figure 103, NVM spec 4.1.
status_table!(CommandSpecificStatus {
    CompletionQueueInvalid = 0x00,
    InvalidQueueIdentifier = 0x01,
    InvalidQueueSize = 0x02,
    AbortCommandLimitExceeded = 0x03,
    AsyncEventRequestLimitExceeded = 0x05,
    InvalidFirmwareSlot = 0x06,
    InvalidFirmwareImage = 0x07,
    InvalidInterruptVector = 0x08,
    InvalidLogPage = 0x09,
    InvalidFormat = 0x0a,
    FirmwareActivationNeedsReset = 0x0b,
    InvalidQueueDeletion = 0x0c,
    FeatureNotSaveable = 0x0d,
    FeatureNotChangeable = 0x0e,
    FeatureNotNamespaceSpecific = 0x0f,
    ConflictingAttributes = 0x80,
    InvalidProtectionInformation = 0x81,
    WriteToReadOnlyRange = 0x82,
});

// Media and data integrity errors (SCT 2), NVM spec 4.1.
status_table!(MediaStatus {
    WriteFault = 0x80,
    UnrecoveredReadError = 0x81,
    EndToEndGuardCheck = 0x82,
    EndToEndApplicationTagCheck = 0x83,
    EndToEndReferenceTagCheck = 0x84,
    CompareFailure = 0x85,
    AccessDenied = 0x86,
    DeallocatedOrUnwrittenBlock = 0x87,
});

impl StatusCode {
    pub fn from_parts(sct: u8, sc: u8) -> StatusCode {
        let other = StatusCode::Other { sct, sc };
        match sct {
            0 if sc == 0 => StatusCode::Success,
            0 => GenericStatus::from_u8(sc).map_or(other, StatusCode::Generic),
            1 => CommandSpecificStatus::from_u8(sc).map_or(other, StatusCode::CommandSpecific),
            2 => MediaStatus::from_u8(sc).map_or(other, StatusCode::Media),
            3 => StatusCode::Path(sc),
            7 => StatusCode::VendorSpecific(sc),
            _ => other,
        }
    }

    pub fn parts(self) -> (u8, u8) {
        match self {
            StatusCode::Success => (0, 0),
            StatusCode::Generic(code) => (0, code as u8),
            StatusCode::CommandSpecific(code) => (1, code as u8),
            StatusCode::Media(code) => (2, code as u8),
            StatusCode::Path(sc) => (3, sc),
            StatusCode::VendorSpecific(sc) => (7, sc),
            StatusCode::Other { sct, sc } => (sct, sc),
        }
    }
}

/// Optional NVM commands (Identify Controller ONCS, 5.17.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionalCommands {
    pub dataset_management: bool,
    pub write_zeroes: bool,
}

/// The parts of Identify Controller (CNS 01h, 5.17.2.1) the driver uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifyController {
    pub vendor_id: u16,
    pub serial: String,
    pub model: String,
    pub firmware: String,
    /// Maximum Data Transfer Size as a power of two of the minimum memory
    /// page size; None when the controller states no limit (MDTS 0).
    pub mdts: Option<u8>,
    pub controller_id: u16,
    pub optional_commands: OptionalCommands,
    /// A volatile write cache is present (VWC bit 0): flush matters.
    pub volatile_write_cache: bool,
    /// Atomic Write Unit Normal / Power Fail, in logical blocks (1-based;
    /// the fields are 0-based).
    pub atomic_write_unit_normal_blocks: u32,
    pub atomic_write_unit_power_fail_blocks: u32,
    /// Number of namespaces (NN).
    pub namespace_count: u32,
    /// Maximum outstanding commands (MAXCMD; 0: not reported).
    pub max_commands: u16,
}

/// Trims an ASCII, space-padded identify string; bytes outside printable
/// ASCII become '?' (the device is not trusted to send text).
fn ascii_field(bytes: &[u8]) -> String {
    let text: String = bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect();
    text.trim_end_matches([' ', '?']).trim_start().to_owned()
}

fn check_identify_len<'a>(
    structure: &'static str,
    data: &'a [u8],
) -> Result<&'a [u8; 4096], NvmeError> {
    data.try_into().map_err(|_| NvmeError::BadLength {
        structure,
        found_bytes: data.len(),
        expected_bytes: IDENTIFY_BYTES,
    })
}

impl IdentifyController {
    pub fn parse(data: &[u8]) -> Result<IdentifyController, NvmeError> {
        const S: &str = "identify controller";
        let data = check_identify_len(S, data)?;
        let sqes = data[512];
        let cqes = data[513];
        // SQES/CQES: required [3:0] and maximum [7:4] entry sizes as powers
        // of two; we use 64-byte SQEs and 16-byte CQEs only.
        if sqes & 0xf > 6 || sqes >> 4 < 6 {
            return Err(NvmeError::BadField {
                structure: S,
                field: "SQES",
                value: u64::from(sqes),
                reason: "64-byte submission entries not allowed",
            });
        }
        if cqes & 0xf > 4 || cqes >> 4 < 4 {
            return Err(NvmeError::BadField {
                structure: S,
                field: "CQES",
                value: u64::from(cqes),
                reason: "16-byte completion entries not allowed",
            });
        }
        let oncs = u16_at(data, 520);
        let mdts = data[77];
        Ok(IdentifyController {
            vendor_id: u16_at(data, 0),
            serial: ascii_field(&data[4..24]),
            model: ascii_field(&data[24..64]),
            firmware: ascii_field(&data[64..72]),
            mdts: (mdts != 0).then_some(mdts),
            controller_id: u16_at(data, 78),
            optional_commands: OptionalCommands {
                dataset_management: oncs & (1 << 2) != 0,
                write_zeroes: oncs & (1 << 3) != 0,
            },
            volatile_write_cache: data[525] & 1 != 0,
            atomic_write_unit_normal_blocks: u32::from(u16_at(data, 526)) + 1,
            atomic_write_unit_power_fail_blocks: u32::from(u16_at(data, 528)) + 1,
            namespace_count: u32_at(data, 516),
            max_commands: u16_at(data, 514),
        })
    }
}

/// One LBA format (5.17.2.2, LBAF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LbaFormat {
    pub metadata_bytes: u16,
    pub block_bytes: u32,
    /// Relative performance, 0 best .. 3 degraded.
    pub relative_performance: u8,
}

/// The parts of Identify Namespace (CNS 00h) the driver uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifyNamespace {
    /// Namespace size and capacity in logical blocks.
    pub size_blocks: u64,
    pub capacity_blocks: u64,
    pub formats: Vec<LbaFormat>,
    /// Index into `formats` of the format in use (FLBAS).
    pub format_index: usize,
    /// Metadata transferred at the end of each block (FLBAS bit 4).
    pub metadata_extended: bool,
    /// NSFEAT bit 1: NAWUN, NAWUPF and NACWU apply instead of the
    /// controller's AWUN/AWUPF/ACWU.
    pub atomic_fields_valid: bool,
    /// NAWUN / NAWUPF in logical blocks (1-based), as reported.
    pub atomic_write_unit_normal_blocks: u32,
    pub atomic_write_unit_power_fail_blocks: u32,
    /// NABSPF in blocks (1-based) and NABO: atomic writes do not span a
    /// boundary of this size at this offset; None when there is none.
    pub atomic_boundary_power_fail_blocks: Option<u32>,
    pub atomic_boundary_offset_blocks: u16,
    /// DLFEAT [2:0] = 001b: deallocated blocks read as zeroes.
    pub deallocated_reads_zeroes: bool,
}

impl IdentifyNamespace {
    pub fn parse(data: &[u8]) -> Result<IdentifyNamespace, NvmeError> {
        const S: &str = "identify namespace";
        let data = check_identify_len(S, data)?;
        let size_blocks = u64_at(data, 0);
        let capacity_blocks = u64_at(data, 8);
        if size_blocks == 0 {
            return Err(NvmeError::BadField {
                structure: S,
                field: "NSZE",
                value: 0,
                reason: "namespace is inactive or empty",
            });
        }
        if capacity_blocks > size_blocks {
            return Err(NvmeError::BadField {
                structure: S,
                field: "NCAP",
                value: capacity_blocks,
                reason: "larger than NSZE",
            });
        }
        let nsfeat = data[24];
        // NLBAF is 0-based; 64 formats at most (16 before NVMe 2.0).
        let format_count = usize::from(data[25]) + 1;
        if format_count > 64 {
            return Err(NvmeError::BadField {
                structure: S,
                field: "NLBAF",
                value: u64::from(data[25]),
                reason: "more than 64 LBA formats",
            });
        }
        let flbas = data[26];
        let format_index = usize::from(flbas & 0xf) | (usize::from((flbas >> 5) & 0x3) << 4);
        if format_index >= format_count {
            return Err(NvmeError::BadField {
                structure: S,
                field: "FLBAS",
                value: u64::from(flbas),
                reason: "names an LBA format beyond NLBAF",
            });
        }
        let mut formats = Vec::with_capacity(format_count);
        for i in 0..format_count {
            let word = u32_at(data, 128 + 4 * i);
            let lbads = (word >> 16) & 0xff;
            // 0 marks an unsupported format; valid ones are 2^9 and up. We
            // record sizes up to 64 KiB and refuse the in-use one otherwise.
            let block_bytes = if (9..=16).contains(&lbads) {
                1u32 << lbads
            } else {
                0
            };
            formats.push(LbaFormat {
                metadata_bytes: (word & 0xffff) as u16,
                block_bytes,
                relative_performance: ((word >> 24) & 0x3) as u8,
            });
        }
        let in_use = formats[format_index];
        if in_use.block_bytes == 0 {
            return Err(NvmeError::BadField {
                structure: S,
                field: "LBAF.LBADS",
                value: u64::from(u32_at(data, 128 + 4 * format_index) >> 16 & 0xff),
                reason: "block size of the format in use is not 512 B..64 KiB",
            });
        }
        let nabspf = u16_at(data, 44);
        Ok(IdentifyNamespace {
            size_blocks,
            capacity_blocks,
            formats,
            format_index,
            metadata_extended: flbas & (1 << 4) != 0,
            atomic_fields_valid: nsfeat & (1 << 1) != 0,
            atomic_write_unit_normal_blocks: u32::from(u16_at(data, 34)) + 1,
            atomic_write_unit_power_fail_blocks: u32::from(u16_at(data, 36)) + 1,
            atomic_boundary_power_fail_blocks: (nabspf != 0).then(|| u32::from(nabspf) + 1),
            atomic_boundary_offset_blocks: u16_at(data, 42),
            deallocated_reads_zeroes: data[33] & 0x7 == 1,
        })
    }

    pub fn format(&self) -> LbaFormat {
        self.formats[self.format_index]
    }

    /// Largest naturally aligned write that survives power loss whole, in
    /// bytes: the power-fail atomic unit (namespace fields when NSFEAT says
    /// they apply, else the controller's), rounded down to a power of two
    /// of blocks, no larger than an atomic boundary. At least one block.
    pub fn atomic_write_bytes(&self, controller: &IdentifyController) -> u32 {
        let block_bytes = self.format().block_bytes;
        let mut unit_blocks = if self.atomic_fields_valid {
            self.atomic_write_unit_power_fail_blocks
        } else {
            controller.atomic_write_unit_power_fail_blocks
        };
        if self.atomic_fields_valid {
            if let Some(boundary_blocks) = self.atomic_boundary_power_fail_blocks {
                // A boundary that is not at offset 0 or not a power of two
                // breaks natural alignment: promise one block only.
                if self.atomic_boundary_offset_blocks != 0 || !boundary_blocks.is_power_of_two() {
                    unit_blocks = 1;
                } else {
                    unit_blocks = unit_blocks.min(boundary_blocks);
                }
            }
        }
        let pow2_blocks = 1u32 << (31 - unit_blocks.max(1).leading_zeros());
        // Cap at 1 MiB: Geometry is u32 and we never write more at once.
        let max_blocks = (1u32 << 20) / block_bytes;
        pow2_blocks.min(max_blocks).max(1) * block_bytes
    }
}

/// The result of Set Features, Number of Queues (5.27.1.5): how many I/O
/// submission and completion queues the controller allocated (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueCounts {
    pub submission: u16,
    pub completion: u16,
}

impl QueueCounts {
    pub fn from_dw0(dw0: u32) -> QueueCounts {
        QueueCounts {
            submission: ((dw0 & 0xffff) as u16).saturating_add(1),
            completion: ((dw0 >> 16) as u16).saturating_add(1),
        }
    }

    /// cdw11 asking for `count` of each (0-based fields).
    pub fn request_cdw11(count: u16) -> u32 {
        let field = u32::from(count.saturating_sub(1));
        field | (field << 16)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 4 KiB identify controller page with the fields the tests use.
    pub fn controller_page() -> Vec<u8> {
        let mut page = vec![0u8; IDENTIFY_BYTES];
        page[0..2].copy_from_slice(&0x1b36u16.to_le_bytes());
        page[4..24].copy_from_slice(b"FLOE0001            ");
        page[24..64].copy_from_slice(b"QEMU NVMe Ctrl                          ");
        page[64..72].copy_from_slice(b"8.0.0   ");
        page[77] = 7; // MDTS: 2^7 frames = 512 KiB
        page[78..80].copy_from_slice(&5u16.to_le_bytes());
        page[512] = 0x66;
        page[513] = 0x44;
        page[514..516].copy_from_slice(&128u16.to_le_bytes());
        page[516..520].copy_from_slice(&1u32.to_le_bytes());
        page[520..522].copy_from_slice(&0b1100u16.to_le_bytes()); // DSM + write zeroes
        page[525] = 1;
        page[526..528].copy_from_slice(&7u16.to_le_bytes());
        page[528..530].copy_from_slice(&0u16.to_le_bytes());
        page
    }

    /// A 4 KiB identify namespace page: 2 formats, 4 KiB in use.
    pub fn namespace_page() -> Vec<u8> {
        let mut page = vec![0u8; IDENTIFY_BYTES];
        page[0..8].copy_from_slice(&1000u64.to_le_bytes());
        page[8..16].copy_from_slice(&900u64.to_le_bytes());
        page[24] = 0b10; // NSFEAT: namespace atomic fields valid
        page[25] = 1; // two formats
        page[26] = 1; // format 1 in use
        page[33] = 1; // deallocated reads zeroes
        page[34..36].copy_from_slice(&3u16.to_le_bytes());
        page[36..38].copy_from_slice(&3u16.to_le_bytes()); // 4 blocks
        page[128..132].copy_from_slice(&(9u32 << 16).to_le_bytes());
        page[132..136].copy_from_slice(&((12u32 << 16) | (1 << 24) | 8).to_le_bytes());
        page
    }

    /// An SQE encodes to the spec's byte positions and decodes back.
    #[test]
    fn sqe_layout_and_round_trip() {
        let sqe = Sqe {
            opcode: 0x02,
            cid: 0xbeef,
            nsid: 1,
            mptr: 0,
            prp1: 0x1122_3344_5566_7000,
            prp2: 0x0000_0000_8000_1000,
            cdw10: 0xdead_beef,
            cdw11: 0x1,
            cdw12: 7,
            cdw13: 0,
            cdw14: 0,
            cdw15: 0xffff_ffff,
        };
        let bytes = sqe.encode();
        assert_eq!(&bytes[0..4], &[0x02, 0x00, 0xef, 0xbe]);
        assert_eq!(&bytes[4..8], &[1, 0, 0, 0]);
        assert_eq!(
            &bytes[24..32],
            &[0x00, 0x70, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
        );
        assert_eq!(&bytes[40..44], &[0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(&bytes[60..64], &[0xff; 4]);
        let (decoded, flags) = Sqe::decode(&bytes);
        assert_eq!(decoded, sqe);
        assert_eq!(flags, SqeFlags { fuse: 0, psdt: 0 });
        assert_eq!(decoded.slba(), 0x1_dead_beef);
        assert_eq!(decoded.block_count(), 8);
    }

    /// A CQE from fixed bytes decodes its phase, ids and status fields.
    #[test]
    fn cqe_decodes_fixed_bytes() {
        // dw0 = 0x00070007, sq head 5, sq id 1, cid 0x0102, phase 1,
        // status: DNR, SCT 2, SC 0x81 (unrecovered read error).
        let raw_status: u32 = 0x81 | (2 << 8) | (1 << 14);
        let dword3 = 0x0102 | (1 << 16) | (raw_status << 17);
        let mut bytes = [0u8; CQE_BYTES];
        bytes[0..4].copy_from_slice(&0x0007_0007u32.to_le_bytes());
        bytes[8..12].copy_from_slice(&(5u32 | (1 << 16)).to_le_bytes());
        bytes[12..16].copy_from_slice(&dword3.to_le_bytes());
        let cqe = Cqe::decode(&bytes);
        assert_eq!(cqe.sq_head, 5);
        assert_eq!(cqe.sq_id, 1);
        assert_eq!(cqe.cid, 0x0102);
        assert!(cqe.phase);
        let status = cqe.status();
        assert_eq!(
            status.code,
            StatusCode::Media(MediaStatus::UnrecoveredReadError)
        );
        assert!(status.do_not_retry);
        assert!(!status.more);
        assert_eq!(cqe.encode(), bytes);
        assert_eq!(
            QueueCounts::from_dw0(cqe.dw0),
            QueueCounts {
                submission: 8,
                completion: 8
            }
        );
    }

    /// Every status type maps to its enum, unknown codes stay visible as
    /// Other, and raw() inverts from_raw for named codes.
    #[test]
    fn status_codes_map_both_ways() {
        assert_eq!(Status::from_raw(0).code, StatusCode::Success);
        assert_eq!(
            Status::from_raw(0x80).code,
            StatusCode::Generic(GenericStatus::LbaOutOfRange)
        );
        assert_eq!(
            Status::from_raw(0x101).code,
            StatusCode::CommandSpecific(CommandSpecificStatus::InvalidQueueIdentifier)
        );
        assert_eq!(
            Status::from_raw(0x77).code,
            StatusCode::Other { sct: 0, sc: 0x77 }
        );
        assert_eq!(
            Status::from_raw(0x401).code,
            StatusCode::Other { sct: 4, sc: 1 }
        );
        assert_eq!(Status::from_raw(0x701).code, StatusCode::VendorSpecific(1));
        assert_eq!(Status::from_raw(0x301).code, StatusCode::Path(1));
        for code in [
            StatusCode::Generic(GenericStatus::AbortRequested),
            StatusCode::CommandSpecific(CommandSpecificStatus::InvalidQueueSize),
            StatusCode::Media(MediaStatus::WriteFault),
        ] {
            let status = Status::from_raw(Status::raw(code, true));
            assert_eq!(status.code, code);
            assert!(status.do_not_retry);
        }
    }

    /// CAP fields decode: MQES 0-based, TO in 500 ms units, DSTRD, MPS.
    #[test]
    fn cap_decodes() {
        let cap: u64 = 0x3ff | (1 << 16) | (20 << 24) | (1 << 32) | (1 << 37) | (4 << 52);
        let decoded = Cap::decode(cap);
        assert_eq!(decoded.max_queue_entries, 1024);
        assert!(decoded.contiguous_queues_required);
        assert_eq!(decoded.ready_timeout_ms, 10_000);
        assert_eq!(decoded.doorbell_stride_bytes, 8);
        assert!(decoded.nvm_command_set);
        assert_eq!(decoded.memory_page_min_bytes, 4096);
        assert_eq!(decoded.memory_page_max_bytes, 65536);
        assert_eq!(sq_tail_doorbell(0, 4), 0x1000);
        assert_eq!(cq_head_doorbell(0, 4), 0x1004);
        assert_eq!(sq_tail_doorbell(3, 8), 0x1000 + 6 * 8);
        assert_eq!(cq_head_doorbell(3, 8), 0x1000 + 7 * 8);
        assert_eq!(cc::mps(4096), 0);
        assert_eq!(cc::mps(16384), 2 << 7);
    }

    /// Identify Controller parses names, MDTS, ONCS, VWC and atomic units.
    #[test]
    fn identify_controller_parses() {
        let id = IdentifyController::parse(&controller_page()).expect("parse");
        assert_eq!(id.vendor_id, 0x1b36);
        assert_eq!(id.serial, "FLOE0001");
        assert_eq!(id.model, "QEMU NVMe Ctrl");
        assert_eq!(id.firmware, "8.0.0");
        assert_eq!(id.mdts, Some(7));
        assert_eq!(id.controller_id, 5);
        assert!(id.optional_commands.dataset_management);
        assert!(id.optional_commands.write_zeroes);
        assert!(id.volatile_write_cache);
        assert_eq!(id.atomic_write_unit_normal_blocks, 8);
        assert_eq!(id.atomic_write_unit_power_fail_blocks, 1);
        assert_eq!(id.namespace_count, 1);
    }

    /// Truncated, oversized and corrupted identify data is refused with a
    /// typed error, never a panic; non-ASCII names are sanitised.
    #[test]
    fn identify_refuses_bad_input() {
        for len in [0, 100, 4095, 4097] {
            assert!(matches!(
                IdentifyController::parse(&vec![0; len]),
                Err(NvmeError::BadLength { found_bytes, .. }) if found_bytes == len
            ));
            assert!(matches!(
                IdentifyNamespace::parse(&vec![0; len]),
                Err(NvmeError::BadLength { .. })
            ));
        }
        let mut page = controller_page();
        page[512] = 0x55; // max SQE 32 bytes
        assert!(matches!(
            IdentifyController::parse(&page),
            Err(NvmeError::BadField { field: "SQES", .. })
        ));
        let mut page = controller_page();
        page[24] = 0xff;
        page[25] = 0x00;
        let id = IdentifyController::parse(&page).expect("parse");
        assert!(id.model.starts_with("??MU"), "{}", id.model);

        let mut page = namespace_page();
        page[0..8].fill(0);
        assert!(matches!(
            IdentifyNamespace::parse(&page),
            Err(NvmeError::BadField { field: "NSZE", .. })
        ));
        let mut page = namespace_page();
        page[8..16].copy_from_slice(&2000u64.to_le_bytes());
        assert!(matches!(
            IdentifyNamespace::parse(&page),
            Err(NvmeError::BadField { field: "NCAP", .. })
        ));
        let mut page = namespace_page();
        page[26] = 5; // format 5 of 2
        assert!(matches!(
            IdentifyNamespace::parse(&page),
            Err(NvmeError::BadField { field: "FLBAS", .. })
        ));
        let mut page = namespace_page();
        page[134] = 30; // 2^30-byte blocks in use
        assert!(matches!(
            IdentifyNamespace::parse(&page),
            Err(NvmeError::BadField {
                field: "LBAF.LBADS",
                ..
            })
        ));
        let mut page = namespace_page();
        page[25] = 200;
        assert!(matches!(
            IdentifyNamespace::parse(&page),
            Err(NvmeError::BadField { field: "NLBAF", .. })
        ));
    }

    /// Identify Namespace parses sizes, formats and the atomic unit rules:
    /// namespace fields only when NSFEAT says so, boundaries respected.
    #[test]
    fn identify_namespace_parses_and_atomic_unit() {
        let controller = IdentifyController::parse(&controller_page()).expect("controller");
        let page = namespace_page();
        let ns = IdentifyNamespace::parse(&page).expect("parse");
        assert_eq!(ns.size_blocks, 1000);
        assert_eq!(ns.capacity_blocks, 900);
        assert_eq!(ns.formats.len(), 2);
        assert_eq!(ns.format_index, 1);
        assert_eq!(
            ns.format(),
            LbaFormat {
                metadata_bytes: 8,
                block_bytes: 4096,
                relative_performance: 1
            }
        );
        assert_eq!(ns.formats[0].block_bytes, 512);
        assert!(ns.atomic_fields_valid);
        assert!(ns.deallocated_reads_zeroes);
        assert_eq!(ns.atomic_write_unit_power_fail_blocks, 4);
        assert_eq!(ns.atomic_write_bytes(&controller), 16384);

        // Without NSFEAT bit 1 the controller's AWUPF (1 block) applies.
        let mut page = namespace_page();
        page[24] = 0;
        let ns = IdentifyNamespace::parse(&page).expect("parse");
        assert_eq!(ns.atomic_write_bytes(&controller), 4096);

        // A 2-block boundary caps the unit; an offset boundary voids it;
        // a 3-block unit rounds down to 2.
        let mut page = namespace_page();
        page[44..46].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(
            IdentifyNamespace::parse(&page)
                .expect("parse")
                .atomic_write_bytes(&controller),
            8192
        );
        page[42..44].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(
            IdentifyNamespace::parse(&page)
                .expect("parse")
                .atomic_write_bytes(&controller),
            4096
        );
        let mut page = namespace_page();
        page[36..38].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(
            IdentifyNamespace::parse(&page)
                .expect("parse")
                .atomic_write_bytes(&controller),
            8192
        );
    }
}
