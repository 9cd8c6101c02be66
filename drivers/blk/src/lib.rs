//! Block devices: the `BlockDevice` seam and its portable implementations.
//! `FileDevice` serves hosted mode (O_DIRECT files); `MemDevice` serves tests
//! and can lose unflushed writes, tear a write at a sector, or fail an I/O.
//! Knows nothing of NVMe, pages or redo: those sit beside or above it.
#![forbid(unsafe_code)]

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
