//! `UringDevice`: the kernel's asynchronous block I/O path, io_uring on an
//! O_DIRECT file or block device, behind the `BlockDevice` seam. It is the
//! peer `cargo xtask bench nvme` measures Floe's user-space NVMe driver
//! against, on the same device in the same run, through the same seam, so
//! both sides run the same I/O generator.
//!
//! Each queue is its own ring, sized to its depth (one per thread, as the
//! seam's queues are). `submit` writes one SQE; `poll` enters the kernel
//! once to submit what is pending, then reaps completions from the ring in
//! user space; [`UringQueue::wait`] blocks in the kernel until a completion
//! arrives, so a caller with nothing else to do sleeps, as a program on
//! the kernel's path does, instead of spinning. Flush is fdatasync
//! (`IORING_OP_FSYNC` with DATASYNC); deallocate is fallocate
//! `PUNCH_HOLE | KEEP_SIZE` (a discard on a block device), and a device
//! without it completes the hint doing nothing, as `FileDevice` does.
//!
//! We take the `io-uring` crate for the ring itself (its mmaps and
//! barriers); its `push` is unsafe because the kernel reads or writes the
//! buffer after the call returns. Here the queue owns every buffer in
//! flight, in a slot preallocated per request, until its completion is
//! reaped, and dropping a queue waits for what is in flight.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use floe_blk::{
    BlockDevice, BlockOp, BlockQueue, Channels, Completion, Error, FileDevice, Geometry,
    SubmitError, Tag,
};
use floe_rt::DmaBuffer;
use io_uring::{opcode, types, IoUring};

/// Depth of the rings blocking requests (`BlockDevice::run`) go through.
const CHANNEL_DEPTH: u32 = 32;

/// Largest queue depth (as for the seam's synchronous devices).
pub const QUEUE_DEPTH_MAX: u32 = 4096;

/// A file or block device driven through io_uring; clones of the
/// underlying `FileDevice` share its open file.
#[derive(Clone)]
pub struct UringDevice {
    file: FileDevice,
    name: String,
    /// Blocking requests (`run`): a ring per core, or pooled rings; clones
    /// share them.
    channels: Arc<Channels>,
}

impl std::fmt::Debug for UringDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringDevice")
            .field("name", &self.name)
            .field("geometry", &self.file.geometry())
            .finish()
    }
}

impl UringDevice {
    /// I/O on `file`'s open file through io_uring (O_DIRECT if `file` was
    /// opened with it: see `FileDevice::is_direct`).
    pub fn new(file: FileDevice) -> UringDevice {
        let name = format!("{} (io_uring)", file.path().display());
        UringDevice {
            file,
            name,
            channels: Arc::new(Channels::new(CHANNEL_DEPTH)),
        }
    }

    /// Opens a queue as [`BlockDevice::open_queue`] does, with its type
    /// (for [`UringQueue::wait`]).
    pub fn open_uring_queue(&self, depth: u32) -> Result<UringQueue, Error> {
        UringQueue::open(self, depth)
    }
}

impl BlockDevice for UringDevice {
    fn geometry(&self) -> Geometry {
        self.file.geometry()
    }

    fn open_queue(&self, depth: u32) -> Result<Box<dyn BlockQueue>, Error> {
        Ok(Box::new(UringQueue::open(self, depth)?))
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn run(&self, op: BlockOp, buffer: Option<DmaBuffer>) -> Result<Option<DmaBuffer>, Error> {
        self.channels.run(self, op, buffer)
    }
}

/// A request the kernel holds: its slot keeps the buffer until the
/// completion is reaped.
#[derive(Debug)]
struct InFlight {
    tag: Tag,
    op: BlockOp,
    buffer: Option<DmaBuffer>,
    /// Bytes a read or write must move (a short transfer is an error).
    len_bytes: usize,
}

/// One io_uring owned by one thread.
pub struct UringQueue {
    ring: IoUring,
    /// Keeps the file open while the kernel may use it.
    file: FileDevice,
    name: String,
    geometry: Geometry,
    /// One per request the queue may hold; the index is the SQE's user data.
    slots: Box<[Option<InFlight>]>,
    /// Free slot indexes; capacity `depth`, never grows.
    free: Vec<u32>,
    /// SQEs written and not yet handed to the kernel.
    unsubmitted: usize,
}

impl std::fmt::Debug for UringQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringQueue")
            .field("name", &self.name)
            .field("depth", &self.slots.len())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl UringQueue {
    fn open(device: &UringDevice, depth: u32) -> Result<UringQueue, Error> {
        let unusable = |reason: String| Error::Unusable {
            device: device.name.clone(),
            reason,
        };
        if depth == 0 || depth > QUEUE_DEPTH_MAX {
            return Err(unusable(format!(
                "queue depth {depth}: expected 1..={QUEUE_DEPTH_MAX}"
            )));
        }
        // The SQ holds at most `depth` entries (one per slot) and the CQ,
        // twice the SQ by default, can never overflow.
        let ring = IoUring::new(depth).map_err(|e| unusable(format!("io_uring_setup: {e}")))?;
        Ok(UringQueue {
            ring,
            file: device.file.clone(),
            name: device.name.clone(),
            geometry: device.file.geometry(),
            slots: (0..depth).map(|_| None).collect(),
            free: (0..depth).rev().collect(),
            unsubmitted: 0,
        })
    }

    fn io_error(&self, op: BlockOp, source: std::io::Error) -> Error {
        let lba = match op {
            BlockOp::Read { lba } | BlockOp::Write { lba } | BlockOp::Deallocate { lba, .. } => lba,
            BlockOp::Flush => 0,
        };
        Error::Io {
            op: op.name(),
            lba,
            device: self.name.clone(),
            source,
        }
    }

    /// Hands pending SQEs to the kernel; with `wait_for`, also blocks until
    /// that many completions are in the ring. An interrupted or refused
    /// (EAGAIN, EBUSY) enter leaves them pending for the next call.
    fn enter(&mut self, wait_for: usize) -> Result<(), std::io::Error> {
        if self.unsubmitted == 0 && wait_for == 0 {
            return Ok(());
        }
        let entered = if wait_for == 0 {
            self.ring.submit()
        } else {
            self.ring.submit_and_wait(wait_for)
        };
        match entered {
            Ok(submitted) => {
                self.unsubmitted = self.unsubmitted.saturating_sub(submitted);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Blocks in the kernel until at least one completion is ready to
    /// `poll` (returns at once if one is, or if nothing is in flight). A
    /// signal may end the wait early; poll, then wait again.
    pub fn wait(&mut self) -> Result<(), Error> {
        if self.in_flight() == 0 || !self.ring.completion().is_empty() {
            return self.enter(0).map_err(|e| self.ring_error(e));
        }
        self.enter(1).map_err(|e| self.ring_error(e))
    }

    fn ring_error(&self, source: std::io::Error) -> Error {
        Error::Io {
            op: "io_uring_enter",
            lba: 0,
            device: self.name.clone(),
            source,
        }
    }

    /// The SQE for a checked request. Reads and writes point at `buffer`.
    fn entry(
        &self,
        op: BlockOp,
        buffer: Option<&mut DmaBuffer>,
    ) -> Result<io_uring::squeue::Entry, Error> {
        let fd = types::Fd(self.file.file().as_raw_fd());
        let block_bytes = u64::from(self.geometry.block_bytes);
        let too_long = |len_bytes: usize| Error::BadLength {
            op: op.name(),
            len_bytes,
            block_bytes: self.geometry.block_bytes,
        };
        Ok(match (op, buffer) {
            (BlockOp::Read { lba }, Some(buffer)) => {
                let len_bytes = buffer.len_bytes();
                let len = u32::try_from(len_bytes).map_err(|_| too_long(len_bytes))?;
                let pointer = buffer.as_mut_slice().as_mut_ptr();
                opcode::Read::new(fd, pointer, len)
                    .offset(lba * block_bytes)
                    .build()
            }
            (BlockOp::Write { lba }, Some(buffer)) => {
                let len_bytes = buffer.len_bytes();
                let len = u32::try_from(len_bytes).map_err(|_| too_long(len_bytes))?;
                let pointer = buffer.as_slice().as_ptr();
                opcode::Write::new(fd, pointer, len)
                    .offset(lba * block_bytes)
                    .build()
            }
            (BlockOp::Flush, None) => opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build(),
            (BlockOp::Deallocate { lba, block_count }, None) => {
                opcode::Fallocate::new(fd, block_count * block_bytes)
                    .offset(lba * block_bytes)
                    .mode(libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE)
                    .build()
            }
            // check_request guarantees buffers exactly where data moves.
            _ => return Err(Error::BadBuffer { op: op.name() }),
        })
    }

    /// The outcome of a reaped completion with result `result`.
    fn outcome(&self, request: &InFlight, result: i32) -> Result<(), Error> {
        if result < 0 {
            let errno = -result;
            // Deallocate is a hint: a device without hole punching or
            // discard completes it doing nothing (as FileDevice does).
            if matches!(request.op, BlockOp::Deallocate { .. }) && errno == libc::EOPNOTSUPP {
                return Ok(());
            }
            return Err(self.io_error(request.op, std::io::Error::from_raw_os_error(errno)));
        }
        let moved_bytes = usize::try_from(result).unwrap_or(0);
        match request.op {
            BlockOp::Read { .. } | BlockOp::Write { .. } if moved_bytes != request.len_bytes => {
                Err(self.io_error(
                    request.op,
                    std::io::Error::other(format!(
                        "short transfer: {moved_bytes} of {} bytes",
                        request.len_bytes
                    )),
                ))
            }
            _ => Ok(()),
        }
    }
}

impl BlockQueue for UringQueue {
    fn submit(
        &mut self,
        op: BlockOp,
        mut buffer: Option<DmaBuffer>,
        tag: Tag,
    ) -> Result<(), SubmitError> {
        self.geometry
            .check_request(op, buffer.as_ref())
            .map_err(SubmitError::Invalid)?;
        let Some(&index) = self.free.last() else {
            return Err(SubmitError::Busy { op, buffer, tag });
        };
        let entry = self
            .entry(op, buffer.as_mut())
            .map_err(SubmitError::Invalid)?
            .user_data(u64::from(index));
        // SAFETY: the entry points at `buffer`'s bytes (if any) and at the
        // file's descriptor. The buffer moves into slot `index` below and
        // stays there, untouched (a DmaBuffer's bytes do not move with it),
        // until `poll` reaps the completion whose user data is `index`, or
        // `Drop` waits for it; `self.file` keeps the descriptor open as
        // long. The SQ has room: it holds at least `depth` entries and at
        // most one per slot in use is pending.
        let pushed = unsafe { self.ring.submission().push(&entry) };
        if pushed.is_err() {
            return Err(SubmitError::Busy { op, buffer, tag });
        }
        self.free.pop();
        let len_bytes = buffer.as_ref().map_or(0, DmaBuffer::len_bytes);
        let slot = &mut self.slots[index as usize];
        assert!(
            slot.is_none(),
            "{}: slot {index} reused in flight",
            self.name
        );
        *slot = Some(InFlight {
            tag,
            op,
            buffer,
            len_bytes,
        });
        self.unsubmitted += 1;
        Ok(())
    }

    fn poll(&mut self, completions: &mut Vec<Completion>, max: usize) -> usize {
        if let Err(e) = self.enter(0) {
            // The SQEs stay pending and the next poll tries again; the
            // caller's deadline on its completions bounds the retries.
            log::warn!("{}: submitting to the ring: {e}", self.name);
        }
        let mut moved = 0;
        while moved < max {
            let Some(cqe) = self.ring.completion().next() else {
                break;
            };
            let index = cqe.user_data();
            let request = usize::try_from(index)
                .ok()
                .and_then(|index| self.slots.get_mut(index))
                .and_then(Option::take);
            let Some(request) = request else {
                log::warn!("{}: completion for slot {index}, not in flight", self.name);
                continue;
            };
            let result = self.outcome(&request, cqe.result());
            self.free.push(index as u32);
            completions.push(Completion {
                tag: request.tag,
                buffer: request.buffer,
                result,
            });
            moved += 1;
        }
        moved
    }

    fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

impl Drop for UringQueue {
    fn drop(&mut self) {
        // The kernel may still read or write in-flight buffers: wait for
        // each completion before the slots (and buffers) are freed. Block
        // I/O always completes (the kernel's own timeouts fail it).
        let mut completions = Vec::with_capacity(self.slots.len());
        while self.in_flight() > 0 {
            if let Err(e) = self.enter(1) {
                log::error!(
                    "{}: waiting for {} requests in flight at close: {e}; leaking their buffers",
                    self.name,
                    self.in_flight()
                );
                for slot in self.slots.iter_mut() {
                    if let Some(request) = slot.take() {
                        std::mem::forget(request.buffer);
                    }
                }
                return;
            }
            completions.clear();
            let capacity = self.slots.len();
            self.poll(&mut completions, capacity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_blk::DirectIo;

    fn device(dir: &tempfile::TempDir, capacity_bytes: u64) -> UringDevice {
        let file = FileDevice::create(dir.path().join("disk"), capacity_bytes, DirectIo::Prefer)
            .expect("create the file");
        UringDevice::new(file)
    }

    /// The BlockDevice contract holds for io_uring on a regular file.
    #[test]
    fn contract_suite_passes_on_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let device = device(&dir, floe_blk::contract::MIN_CAPACITY_BYTES);
        floe_blk::contract::run_all(&device);
    }

    /// At depth 32 every request is in flight at once, `wait` sleeps until
    /// one is done, and every tag completes once with data that matches
    /// what was written.
    #[test]
    fn deep_queue_waits_and_completes_every_tag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let device = device(&dir, 1 << 20);
        let mut queue = device.open_uring_queue(32).expect("open");
        for tag in 0..32u64 {
            let mut buffer = DmaBuffer::new(4096);
            buffer.as_mut_slice().fill(tag as u8 + 1);
            queue
                .submit(BlockOp::Write { lba: tag }, Some(buffer), Tag(tag))
                .expect("submit write");
        }
        assert!(matches!(
            queue.submit(BlockOp::Flush, None, Tag(99)),
            Err(SubmitError::Busy { .. })
        ));
        let mut completions = Vec::new();
        while completions.len() < 32 {
            queue.wait().expect("wait");
            queue.poll(&mut completions, 32);
        }
        assert!(completions.iter().all(|c| c.result.is_ok()));
        let mut tags: Vec<u64> = completions.iter().map(|c| c.tag.0).collect();
        tags.sort_unstable();
        assert_eq!(tags, (0..32).collect::<Vec<_>>());
        let queue: &mut dyn BlockQueue = &mut queue;
        for lba in [0u64, 17, 31] {
            let got = queue.read(lba, DmaBuffer::new(4096)).expect("read");
            assert!(
                got.as_slice().iter().all(|&b| b == lba as u8 + 1),
                "lba {lba}"
            );
        }
    }

    /// A queue dropped with requests in flight waits for them: the buffers
    /// are not freed under the kernel, and the writes land.
    #[test]
    fn drop_waits_for_requests_in_flight() {
        let dir = tempfile::tempdir().expect("temp dir");
        let device = device(&dir, 1 << 20);
        let mut queue = device.open_uring_queue(8).expect("open");
        for lba in 0..8u64 {
            let mut buffer = DmaBuffer::new(4096);
            buffer.as_mut_slice().fill(0xa0 + lba as u8);
            queue
                .submit(BlockOp::Write { lba }, Some(buffer), Tag(lba))
                .expect("submit");
        }
        drop(queue);
        let mut queue = device.open_queue(1).expect("open");
        for lba in 0..8u64 {
            let got = queue.read(lba, DmaBuffer::new(4096)).expect("read");
            assert!(
                got.as_slice().iter().all(|&b| b == 0xa0 + lba as u8),
                "lba {lba}"
            );
        }
    }

    /// Bad depths and bad requests are refused with typed errors.
    #[test]
    fn bad_depths_and_requests_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let device = device(&dir, 1 << 20);
        assert!(device.open_queue(0).is_err());
        assert!(device.open_queue(QUEUE_DEPTH_MAX + 1).is_err());
        let mut queue = device.open_queue(2).expect("open");
        let past_end = BlockOp::Read { lba: 256 };
        assert!(matches!(
            queue.submit(past_end, Some(DmaBuffer::new(4096)), Tag(1)),
            Err(SubmitError::Invalid(Error::OutOfRange { .. }))
        ));
        assert!(matches!(
            queue.submit(BlockOp::Flush, Some(DmaBuffer::new(4096)), Tag(2)),
            Err(SubmitError::Invalid(Error::BadBuffer { .. }))
        ));
        assert_eq!(queue.in_flight(), 0);
    }
}
