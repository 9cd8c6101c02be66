//! Block devices: the `BlockDevice` seam and its portable implementations.
//! `FileDevice` serves hosted mode (O_DIRECT files); `MemDevice` serves tests
//! and can lose unflushed writes, tear a write at a sector, or fail an I/O.
//! Knows nothing of NVMe, pages or redo: those sit beside or above it.
#![forbid(unsafe_code)]

mod channel;
pub mod contract;
mod file;
mod mem;
mod queue;
mod rng;

pub use channel::{ChannelCounts, Channels};
pub use file::{DirectIo, FileDevice, FILE_BLOCK_BYTES};
pub use mem::{CrashMode, FaultOps, MemCounters, MemDevice};

use floe_rt::DmaBuffer;

/// What a device promises about its shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Smallest unit of I/O and of addressing (512 or 4096).
    pub block_bytes: u32,
    /// Largest aligned write that lands whole or not at all after a crash.
    /// A multiple of `block_bytes`; equal to it when the device promises
    /// nothing more than sector atomicity.
    pub atomic_write_bytes: u32,
    pub capacity_blocks: u64,
}

impl Geometry {
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_blocks * u64::from(self.block_bytes)
    }
}

/// One request. Reads and writes move `buffer.len_bytes()` bytes, which must
/// be a multiple of `block_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockOp {
    Read {
        lba: u64,
    },
    Write {
        lba: u64,
    },
    /// Make every completed write durable.
    Flush,
    /// The device may forget these blocks; reading them returns zeroes or
    /// the old contents (device-dependent), never an error.
    Deallocate {
        lba: u64,
        block_count: u64,
    },
}

impl BlockOp {
    pub fn name(&self) -> &'static str {
        match self {
            BlockOp::Read { .. } => "read",
            BlockOp::Write { .. } => "write",
            BlockOp::Flush => "flush",
            BlockOp::Deallocate { .. } => "deallocate",
        }
    }
}

/// The submitter's name for a request; returned with its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tag(pub u64);

/// A finished request: its tag, its buffer handed back, and its outcome.
#[derive(Debug)]
pub struct Completion {
    pub tag: Tag,
    pub buffer: Option<DmaBuffer>,
    pub result: Result<(), Error>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{op} of {block_count} blocks at lba {lba}: beyond the device's {capacity_blocks} blocks"
    )]
    OutOfRange {
        op: &'static str,
        lba: u64,
        block_count: u64,
        capacity_blocks: u64,
    },
    #[error("{op}: buffer of {len_bytes} bytes is not a non-zero multiple of the {block_bytes}-byte block")]
    BadLength {
        op: &'static str,
        len_bytes: usize,
        block_bytes: u32,
    },
    #[error("{op}: needs a buffer and got none (or got one it does not use)")]
    BadBuffer { op: &'static str },
    #[error("{op} of zero blocks at lba {lba}")]
    EmptyRange { op: &'static str, lba: u64 },
    #[error("{op} at lba {lba} on {device}")]
    Io {
        op: &'static str,
        lba: u64,
        device: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{op} at lba {lba}: injected I/O error")]
    Injected { op: &'static str, lba: u64 },
    #[error("{op}: the device has crashed (simulated power loss); restart it")]
    Crashed { op: &'static str },
    #[error("opening {device}")]
    Open {
        device: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{device}: {reason}")]
    Unusable { device: String, reason: String },
}

impl Geometry {
    /// Checks a request against this geometry before any I/O ("parse fully,
    /// then act"): a buffer exactly where the op moves data, a length that
    /// is a non-zero multiple of the block, and a range inside the device
    /// (with `checked_add`, so no LBA can overflow). Every implementation
    /// calls this at submit and refuses a bad request as
    /// [`SubmitError::Invalid`].
    pub fn check_request(&self, op: BlockOp, buffer: Option<&DmaBuffer>) -> Result<(), Error> {
        self.check_request_bytes(op, buffer.map(DmaBuffer::len_bytes))
    }

    fn check_request_bytes(&self, op: BlockOp, buffer_bytes: Option<usize>) -> Result<(), Error> {
        let name = op.name();
        let (lba, block_count) = match (op, buffer_bytes) {
            (BlockOp::Read { lba } | BlockOp::Write { lba }, Some(len_bytes)) => {
                let block_bytes = usize::try_from(self.block_bytes).unwrap_or(usize::MAX);
                if len_bytes == 0 || block_bytes == 0 || !len_bytes.is_multiple_of(block_bytes) {
                    return Err(Error::BadLength {
                        op: name,
                        len_bytes,
                        block_bytes: self.block_bytes,
                    });
                }
                let block_count = u64::try_from(len_bytes / block_bytes).unwrap_or(u64::MAX);
                (lba, block_count)
            }
            (BlockOp::Flush, None) => return Ok(()),
            (BlockOp::Deallocate { lba, block_count }, None) => {
                if block_count == 0 {
                    return Err(Error::EmptyRange { op: name, lba });
                }
                (lba, block_count)
            }
            _ => return Err(Error::BadBuffer { op: name }),
        };
        match lba.checked_add(block_count) {
            Some(end_lba) if end_lba <= self.capacity_blocks => Ok(()),
            _ => Err(Error::OutOfRange {
                op: name,
                lba,
                block_count,
                capacity_blocks: self.capacity_blocks,
            }),
        }
    }

    /// Bytes from the start of the device to `lba`, for a request that
    /// passed `check_request` (so it cannot overflow).
    pub(crate) fn offset_bytes(&self, lba: u64) -> u64 {
        lba * u64::from(self.block_bytes)
    }
}

/// Why a request was not taken. `Busy` hands everything back: poll, retry.
#[derive(Debug)]
pub enum SubmitError {
    Busy {
        op: BlockOp,
        buffer: Option<DmaBuffer>,
        tag: Tag,
    },
    Invalid(Error),
}

/// A block device. Shared by all cores; each core (or thread, in hosted mode)
/// does its I/O through a [`BlockQueue`] it owns, as SPDK does with qpairs.
pub trait BlockDevice: Send + Sync {
    fn geometry(&self) -> Geometry;
    /// A queue of at most `depth` requests in flight, owned by one thread.
    fn open_queue(&self, depth: u32) -> Result<Box<dyn BlockQueue>, Error>;
    /// A human-readable name for logs and errors (`/dev/nvme0n1`, `mem#3`).
    fn describe(&self) -> String;
    /// Runs one request to completion and hands back the buffer of a read
    /// or write. On a fiber of the per-core scheduler it goes through the
    /// calling core's own queue and parks the fiber meanwhile; elsewhere
    /// through a pooled queue ([`Channels`]). Wrapping devices forward it.
    fn run(&self, op: BlockOp, buffer: Option<DmaBuffer>) -> Result<Option<DmaBuffer>, Error>;
}

/// Blocking requests on a device, through [`BlockDevice::run`].
impl dyn BlockDevice + '_ {
    pub fn read(&self, lba: u64, buffer: DmaBuffer) -> Result<DmaBuffer, Error> {
        self.run(BlockOp::Read { lba }, Some(buffer))
            .map(|buffer| buffer.expect("a read hands its buffer back"))
    }

    pub fn write(&self, lba: u64, buffer: DmaBuffer) -> Result<DmaBuffer, Error> {
        self.run(BlockOp::Write { lba }, Some(buffer))
            .map(|buffer| buffer.expect("a write hands its buffer back"))
    }

    pub fn flush(&self) -> Result<(), Error> {
        self.run(BlockOp::Flush, None).map(|_| ())
    }

    pub fn deallocate(&self, lba: u64, block_count: u64) -> Result<(), Error> {
        self.run(BlockOp::Deallocate { lba, block_count }, None)
            .map(|_| ())
    }
}

/// Submit never blocks or allocates; `Busy` means poll, then retry.
pub trait BlockQueue: Send {
    fn submit(
        &mut self,
        op: BlockOp,
        buffer: Option<DmaBuffer>,
        tag: Tag,
    ) -> Result<(), SubmitError>;
    /// Moves at most `max` completions into `completions`; returns how many.
    fn poll(&mut self, completions: &mut Vec<Completion>, max: usize) -> usize;
    /// Requests submitted and not yet returned by `poll`.
    fn in_flight(&self) -> usize;
}

/// Blocking convenience over a queue with nothing else in flight: submit
/// one request and poll until it completes.
impl dyn BlockQueue + '_ {
    pub fn read(&mut self, lba: u64, buffer: DmaBuffer) -> Result<DmaBuffer, Error> {
        self.run(BlockOp::Read { lba }, Some(buffer))
            .map(|buffer| buffer.expect("a read hands its buffer back"))
    }

    pub fn write(&mut self, lba: u64, buffer: DmaBuffer) -> Result<DmaBuffer, Error> {
        self.run(BlockOp::Write { lba }, Some(buffer))
            .map(|buffer| buffer.expect("a write hands its buffer back"))
    }

    pub fn flush(&mut self) -> Result<(), Error> {
        self.run(BlockOp::Flush, None).map(|_| ())
    }

    pub fn deallocate(&mut self, lba: u64, block_count: u64) -> Result<(), Error> {
        self.run(BlockOp::Deallocate { lba, block_count }, None)
            .map(|_| ())
    }

    fn run(&mut self, op: BlockOp, buffer: Option<DmaBuffer>) -> Result<Option<DmaBuffer>, Error> {
        assert_eq!(
            self.in_flight(),
            0,
            "blocking {} on a queue with I/O in flight",
            op.name()
        );
        const TAG: Tag = Tag(u64::MAX);
        let mut pending = Some((op, buffer));
        let mut completions = Vec::with_capacity(1);
        loop {
            if let Some((op, buffer)) = pending.take() {
                match self.submit(op, buffer, TAG) {
                    Ok(()) => {}
                    Err(SubmitError::Busy { op, buffer, .. }) => pending = Some((op, buffer)),
                    Err(SubmitError::Invalid(e)) => return Err(e),
                }
            }
            if self.poll(&mut completions, 1) == 1 {
                let completion = completions.pop().expect("poll reported one completion");
                assert_eq!(
                    completion.tag, TAG,
                    "completion for a request we did not submit"
                );
                return completion.result.map(|()| completion.buffer);
            }
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEOMETRY: Geometry = Geometry {
        block_bytes: 512,
        atomic_write_bytes: 4096,
        capacity_blocks: 100,
    };

    /// Lengths that DmaBuffer cannot even produce (not a block multiple,
    /// zero) are still refused by the shared check, with the typed error.
    #[test]
    fn check_refuses_bad_lengths() {
        for len_bytes in [0, 100, 513] {
            let outcome = GEOMETRY.check_request_bytes(BlockOp::Write { lba: 0 }, Some(len_bytes));
            assert!(
                matches!(outcome, Err(Error::BadLength { op: "write", len_bytes: l, .. }) if l == len_bytes),
                "{len_bytes}: {outcome:?}"
            );
        }
    }

    /// Ranges are checked end-inclusive of the last block and without
    /// overflow; buffers must be present exactly where data moves.
    #[test]
    fn check_ranges_and_buffers() {
        let read = |lba, len_bytes| GEOMETRY.check_request_bytes(BlockOp::Read { lba }, len_bytes);
        assert!(read(99, Some(512)).is_ok());
        assert!(read(0, Some(100 * 512)).is_ok());
        assert!(matches!(
            read(100, Some(512)),
            Err(Error::OutOfRange {
                lba: 100,
                block_count: 1,
                ..
            })
        ));
        assert!(matches!(
            read(99, Some(1024)),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            read(u64::MAX, Some(512)),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            read(0, None),
            Err(Error::BadBuffer { op: "read" })
        ));
        assert!(matches!(
            GEOMETRY.check_request_bytes(BlockOp::Flush, Some(4096)),
            Err(Error::BadBuffer { op: "flush" })
        ));
        assert!(GEOMETRY.check_request_bytes(BlockOp::Flush, None).is_ok());
        let deallocate = |lba, block_count| {
            GEOMETRY.check_request_bytes(BlockOp::Deallocate { lba, block_count }, None)
        };
        assert!(deallocate(0, 100).is_ok());
        assert!(matches!(
            deallocate(5, 0),
            Err(Error::EmptyRange { lba: 5, .. })
        ));
        assert!(matches!(deallocate(1, 100), Err(Error::OutOfRange { .. })));
        assert!(matches!(
            deallocate(2, u64::MAX),
            Err(Error::OutOfRange { .. })
        ));
    }
}
