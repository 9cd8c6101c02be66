//! The redo log writer: mini-transactions append their records to the log
//! buffer under one short mutex; commits wait for durability with group
//! commit — the first waiter becomes the leader, writes every block
//! appended so far in one device write per file and flushes once, and wakes
//! everyone its flush covered.
//!
//! Redo files are created as `Space::Written` (see there): every flush
//! writes a block never written before, and on a file system that first
//! write would otherwise also wait for a metadata journal commit. The
//! price is one sequential write of the new file (64 MiB by default) by
//! the leader that opens it; raw volumes write nothing extra.
//!
//! Ours rather than a crate's: the append is on every mtr's path and must
//! not allocate; the buffer's capacity is retained across flushes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use floe_blk::BlockDevice;
use floe_rt::sync::{Condvar, Mutex, MutexGuard};
use floe_rt::DmaBuffer;

use super::block::{
    block_start_lsn, lsn_position, payload_mut, redo_file_name, seal_block, BlockHeader,
    FileHeader, LOG_BLOCK_BYTES, LOG_BLOCK_PAYLOAD_BYTES, NO_MTR_START,
};
use super::RedoError;
use crate::fil::{FileStore, Lsn};

/// An error and its sources, one line: "redo file redo.000002: write at lba 8: ...".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How commits reach durability. The names say what is promised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Every commit waits until its redo is on stable storage
    /// (`innodb_flush_log_at_trx_commit=1`).
    EveryCommit,
    /// Commits return at once; a background flush every `interval_ms` makes
    /// them durable. A crash loses up to that much acknowledged work
    /// (`innodb_flush_log_at_trx_commit=2`, without the OS cache).
    Interval { interval_ms: u32 },
}

#[derive(Clone, Copy, Debug)]
pub struct LogConfig {
    /// Log blocks per redo file (4 KiB each, plus a header block).
    pub file_capacity_blocks: u64,
    pub flush_policy: FlushPolicy,
    /// Appenders flush for themselves beyond this many unwritten bytes.
    pub buffer_limit_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            file_capacity_blocks: 16 * 1024, // 64 MiB files
            flush_policy: FlushPolicy::EveryCommit,
            buffer_limit_bytes: 8 << 20,
        }
    }
}

/// Where the writer resumes: a fresh log, or after recovery.
#[derive(Clone, Copy, Debug)]
pub struct LogStart {
    /// The first block the writer fills; never a block already durable.
    pub block_no: u64,
    pub generation: u32,
}

struct OpenFile {
    header: FileHeader,
    block_bytes: u64,
    /// Written through `BlockDevice::run`: the leading fiber's core queue.
    device: Arc<dyn BlockDevice>,
}

struct Buffer {
    generation: u32,
    /// The block being filled and its state.
    block: Vec<u8>,
    block_no: u64,
    block_data_bytes: usize,
    block_first_mtr: u16,
    /// Sealed full blocks not yet handed to a flush, contiguous from
    /// `sealed_first_block_no`.
    sealed: Vec<u8>,
    sealed_first_block_no: u64,
    /// LSN just past the last appended byte.
    appended_lsn: Lsn,
    flushing: bool,
    failed: Option<String>,
}

/// Device-side state, owned by whichever thread leads a flush.
struct Files {
    open: VecDeque<OpenFile>,
    next_file_no: u64,
    io_buffer: Option<DmaBuffer>,
    spare: Vec<u8>,
}

pub struct LogWriter {
    store: Arc<dyn FileStore>,
    config: LogConfig,
    buffer: Mutex<Buffer>,
    flushed: Condvar,
    files: Mutex<Files>,
    durable_lsn: AtomicU64,
}

impl LogWriter {
    /// Starts writing at `start`. `existing` are the redo files already on
    /// the store (from recovery), oldest first; new files get higher numbers.
    pub fn start(
        store: Arc<dyn FileStore>,
        config: LogConfig,
        start: LogStart,
        existing: Vec<(FileHeader, Arc<dyn BlockDevice>)>,
    ) -> Result<Self, RedoError> {
        assert!(
            config.file_capacity_blocks >= 2,
            "redo files need at least two blocks"
        );
        let mut open = VecDeque::new();
        let mut next_file_no = 1;
        for (header, device) in existing {
            next_file_no = next_file_no.max(header.file_no + 1);
            open.push_back(Self::open_file(header, device)?);
        }
        let start_lsn = block_start_lsn(start.block_no);
        Ok(Self {
            store,
            config,
            buffer: Mutex::new(Buffer {
                generation: start.generation,
                block: vec![0; LOG_BLOCK_BYTES],
                block_no: start.block_no,
                block_data_bytes: 0,
                block_first_mtr: NO_MTR_START,
                sealed: Vec::with_capacity(config.buffer_limit_bytes + LOG_BLOCK_BYTES),
                sealed_first_block_no: start.block_no,
                appended_lsn: start_lsn,
                flushing: false,
                failed: None,
            }),
            flushed: Condvar::new(),
            files: Mutex::new(Files {
                open,
                next_file_no,
                io_buffer: Self::registered_io_buffer(&config),
                spare: Vec::with_capacity(config.buffer_limit_bytes + LOG_BLOCK_BYTES),
            }),
            durable_lsn: AtomicU64::new(start_lsn.0),
        })
    }

    fn open_file(header: FileHeader, device: Arc<dyn BlockDevice>) -> Result<OpenFile, RedoError> {
        let block_bytes = u64::from(device.geometry().block_bytes);
        assert!(
            (LOG_BLOCK_BYTES as u64).is_multiple_of(block_bytes),
            "device block larger than a log block"
        );
        Ok(OpenFile {
            header,
            block_bytes,
            device,
        })
    }

    fn lock_buffer(&self) -> MutexGuard<'_, Buffer> {
        self.buffer.lock()
    }

    /// Appends one mini-transaction's encoded records (ending in `MtrEnd`)
    /// and returns its start and end LSN. `on_reserved` runs while the log
    /// is still locked, after the LSNs are known: the mtr adds its newly
    /// dirtied pages to the flush list there, so that the flush list stays
    /// in LSN order with respect to every other mtr.
    pub fn append(
        &self,
        records: &[u8],
        on_reserved: impl FnOnce(Lsn, Lsn),
    ) -> Result<(Lsn, Lsn), RedoError> {
        assert!(!records.is_empty());
        let mut buffer = self.lock_buffer();
        if let Some(reason) = &buffer.failed {
            return Err(RedoError::WriterFailed {
                reason: reason.clone(),
            });
        }
        let start = buffer.appended_lsn;
        let mut rest = records;
        if buffer.block_first_mtr == NO_MTR_START {
            buffer.block_first_mtr = buffer.block_data_bytes as u16;
        }
        while !rest.is_empty() {
            let offset = buffer.block_data_bytes;
            let take = rest.len().min(LOG_BLOCK_PAYLOAD_BYTES - offset);
            payload_mut(&mut buffer.block)[offset..offset + take].copy_from_slice(&rest[..take]);
            buffer.block_data_bytes += take;
            rest = &rest[take..];
            if buffer.block_data_bytes == LOG_BLOCK_PAYLOAD_BYTES {
                Self::seal_current(&mut buffer);
                if !rest.is_empty() {
                    // The mtr continues in the next block; it does not start there.
                    buffer.block_first_mtr = NO_MTR_START;
                }
            }
        }
        let end = Lsn(start.0 + records.len() as u64);
        debug_assert_eq!(end, {
            let (block, offset) = (buffer.block_no, buffer.block_data_bytes);
            Lsn(block_start_lsn(block).0 + offset as u64)
        });
        buffer.appended_lsn = end;
        on_reserved(start, end);
        let over_limit = buffer.sealed.len() > self.config.buffer_limit_bytes;
        drop(buffer);
        if over_limit {
            self.write_up_to(end)?;
        }
        Ok((start, end))
    }

    /// Seals the current block into `sealed` and starts the next one.
    fn seal_current(buffer: &mut Buffer) {
        let header = BlockHeader {
            generation: buffer.generation,
            block_no: buffer.block_no,
            data_bytes: buffer.block_data_bytes,
            first_mtr_offset: buffer.block_first_mtr,
        };
        seal_block(&mut buffer.block, header);
        let Buffer { sealed, block, .. } = buffer;
        sealed.extend_from_slice(block);
        block.fill(0);
        buffer.block_no += 1;
        buffer.block_data_bytes = 0;
        buffer.block_first_mtr = NO_MTR_START;
    }

    pub fn durable_lsn(&self) -> Lsn {
        Lsn(self.durable_lsn.load(Ordering::Acquire))
    }

    /// LSN just past the last appended mtr (the next mtr starts here, or at
    /// the next block start after a flush).
    pub fn appended_lsn(&self) -> Lsn {
        self.lock_buffer().appended_lsn
    }

    /// What a commit calls: durable per the flush policy.
    pub fn commit_wait(&self, lsn: Lsn) -> Result<(), RedoError> {
        match self.config.flush_policy {
            FlushPolicy::EveryCommit => self.write_up_to(lsn),
            FlushPolicy::Interval { .. } => Ok(()),
        }
    }

    /// Returns once everything up to `lsn` is durable (group commit).
    pub fn write_up_to(&self, lsn: Lsn) -> Result<(), RedoError> {
        if self.durable_lsn() >= lsn {
            return Ok(());
        }
        let mut buffer = self.lock_buffer();
        loop {
            if let Some(reason) = &buffer.failed {
                return Err(RedoError::WriterFailed {
                    reason: reason.clone(),
                });
            }
            if self.durable_lsn() >= lsn {
                return Ok(());
            }
            if buffer.flushing {
                buffer = self.flushed.wait(buffer);
                continue;
            }
            assert!(
                lsn <= buffer.appended_lsn,
                "waiting for {lsn}, beyond the appended log"
            );
            // Lead a flush of everything appended so far.
            if buffer.block_data_bytes > 0 {
                // Durable blocks are never rewritten: close this one and
                // continue the stream in the next block.
                Self::seal_current(&mut buffer);
            }
            let target = buffer.appended_lsn;
            let first_block_no = buffer.sealed_first_block_no;
            let mut files = self.files.lock();
            std::mem::swap(&mut files.spare, &mut buffer.sealed);
            buffer.sealed_first_block_no = buffer.block_no;
            buffer.appended_lsn = block_start_lsn(buffer.block_no);
            buffer.flushing = true;
            drop(buffer);

            let result = self.write_blocks(&mut files, first_block_no);
            files.spare.clear();
            drop(files);

            buffer = self.lock_buffer();
            buffer.flushing = false;
            match result {
                Ok(()) => self.durable_lsn.store(target.0, Ordering::Release),
                Err(e) => {
                    let reason = error_chain(&e);
                    log::error!("redo write failed; the log is closed to new commits: {reason}");
                    buffer.failed = Some(reason);
                    self.flushed.notify_all();
                    // The leader reports the failure itself; waiters see WriterFailed.
                    return Err(e);
                }
            }
            self.flushed.notify_all();
        }
    }

    /// The buffer redo writes go through, from a DMA arena of its own so a
    /// device that registers arenas maps it once, not per write. None (a
    /// heap buffer per write, as before) if the arena cannot be made.
    fn registered_io_buffer(config: &LogConfig) -> Option<DmaBuffer> {
        let bytes = (config.buffer_limit_bytes + LOG_BLOCK_BYTES)
            .next_multiple_of(floe_rt::DMA_ALIGN_BYTES);
        match floe_rt::DmaArena::new(bytes, floe_rt::HugePages::Never)
            .and_then(|mut arena| arena.alloc(bytes))
        {
            Ok(buffer) => Some(buffer),
            Err(e) => {
                log::warn!("redo: no DMA arena for writes ({e}); each write allocates its buffer");
                None
            }
        }
    }

    /// Writes `files.spare` (sealed blocks from `first_block_no`) and flushes.
    fn write_blocks(&self, files: &mut Files, first_block_no: u64) -> Result<(), RedoError> {
        let total_blocks = (files.spare.len() / LOG_BLOCK_BYTES) as u64;
        let mut done_blocks = 0;
        let mut touched = Vec::with_capacity(2);
        while done_blocks < total_blocks {
            let block_no = first_block_no + done_blocks;
            let index = self.file_for(files, block_no)?;
            let file = &mut files.open[index];
            let room = file.header.first_block_no + file.header.capacity_blocks - block_no;
            let count = room.min(total_blocks - done_blocks);
            let offset_bytes = file.header.offset_bytes(block_no);
            let byte_count = count as usize * LOG_BLOCK_BYTES;
            let source_start = done_blocks as usize * LOG_BLOCK_BYTES;
            // The arena buffer when the write fits (always, but for a
            // buffer limit changed under us); a heap one otherwise.
            let mut io = match files
                .io_buffer
                .take_if(|io| io.capacity_bytes() >= byte_count)
            {
                Some(mut io) => {
                    io.set_len(byte_count);
                    io
                }
                None => DmaBuffer::new(byte_count),
            };
            io.as_mut_slice()
                .copy_from_slice(&files.spare[source_start..source_start + byte_count]);
            let file = &mut files.open[index];
            let name = redo_file_name(file.header.file_no);
            let io = file
                .device
                .write(offset_bytes / file.block_bytes, io)
                .map_err(|source| RedoError::Device { file: name, source })?;
            if files.io_buffer.is_none() {
                files.io_buffer = Some(io);
            }
            if !touched.contains(&index) {
                touched.push(index);
            }
            done_blocks += count;
        }
        for index in touched {
            let file = &mut files.open[index];
            let name = redo_file_name(file.header.file_no);
            file.device
                .flush()
                .map_err(|source| RedoError::Device { file: name, source })?;
        }
        Ok(())
    }

    /// The open file holding `block_no`, creating the next file if needed.
    fn file_for(&self, files: &mut Files, block_no: u64) -> Result<usize, RedoError> {
        if let Some(index) = files.open.iter().position(|f| f.header.contains(block_no)) {
            return Ok(index);
        }
        let first_block_no = match files.open.back() {
            Some(last) if block_no >= last.header.first_block_no => {
                last.header.first_block_no + last.header.capacity_blocks
            }
            _ => block_no,
        };
        assert!(first_block_no <= block_no);
        let header = FileHeader {
            file_no: files.next_file_no,
            first_block_no,
            capacity_blocks: self
                .config
                .file_capacity_blocks
                .max(block_no - first_block_no + 1),
        };
        let name = redo_file_name(header.file_no);
        let device = self
            .store
            .create(
                &name,
                FileHeader::file_bytes(header.capacity_blocks),
                crate::fil::Space::Written,
            )
            .map_err(|source| RedoError::Store {
                file: name.clone(),
                source,
            })?;
        let file = Self::open_file(header, device)?;
        let mut block = DmaBuffer::new(LOG_BLOCK_BYTES);
        header.encode(block.as_mut_slice());
        file.device
            .write(0, block)
            .map_err(|source| RedoError::Device {
                file: name.clone(),
                source,
            })?;
        file.device.flush().map_err(|source| RedoError::Device {
            file: name.clone(),
            source,
        })?;
        log::info!("redo: created {name} for blocks from {first_block_no}");
        files.next_file_no += 1;
        files.open.push_back(file);
        Ok(files.open.len() - 1)
    }

    /// Removes redo files whose every block lies below `checkpoint_lsn`:
    /// recovery no longer needs them. Keeps the newest file always.
    pub fn remove_files_before(&self, checkpoint_lsn: Lsn) -> Result<usize, RedoError> {
        let (checkpoint_block, _) = lsn_position(checkpoint_lsn);
        let mut files = self.files.lock();
        let mut removed = 0;
        while files.open.len() > 1 {
            let Some(oldest) = files.open.front() else {
                break;
            };
            let end = oldest.header.first_block_no + oldest.header.capacity_blocks;
            if end > checkpoint_block {
                break;
            }
            let name = redo_file_name(oldest.header.file_no);
            files.open.pop_front();
            self.store
                .remove(&name)
                .map_err(|source| RedoError::Store {
                    file: name.clone(),
                    source,
                })?;
            log::debug!("redo: removed {name}, below the checkpoint at {checkpoint_lsn}");
            removed += 1;
        }
        Ok(removed)
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }
}
