//! FileDevice: a regular file or a raw block device, for hosted mode.
//!
//! I/O is O_DIRECT (no page cache between the buffer pool and the disk)
//! with pread/pwrite on 4 KiB-aligned DMA buffers. Where the file system
//! refuses O_DIRECT (EINVAL at open), [`DirectIo::Prefer`] falls back to
//! buffered I/O and warns once for that path. Either way Flush is
//! fdatasync: O_DIRECT bypasses the page cache, not the disk's write cache
//! nor the file's block map, so only fdatasync makes writes durable.
//!
//! A queue executes each request synchronously at submit and delivers its
//! completion at the next poll; the caller's thread blocks in the kernel
//! for the I/O. That is the hosted trade: simple and portable, not the
//! appliance's polled data path.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use floe_rt::DmaBuffer;
use rustix::fs::FallocateFlags;

use crate::queue::{Execute, ImmediateQueue};
use crate::{BlockDevice, BlockOp, BlockQueue, Error, Geometry};

/// Block of a regular file: a memory frame, which every file system that
/// does O_DIRECT accepts as alignment for offset, length and buffer.
pub const FILE_BLOCK_BYTES: u32 = 4096;

/// Whether to bypass the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectIo {
    /// O_DIRECT, or buffered I/O with a warning where it is refused.
    Prefer,
    /// O_DIRECT or an error.
    Require,
    /// Buffered I/O (tests of the fallback; file systems known to refuse).
    Never,
}

/// A file or block device; clones share the open file.
#[derive(Clone)]
pub struct FileDevice {
    inner: Arc<FileInner>,
}

struct FileInner {
    file: File,
    path: PathBuf,
    geometry: Geometry,
    is_direct: bool,
    is_block_device: bool,
}

impl FileDevice {
    /// Creates the regular file at `path`, or opens it if it exists, and
    /// extends it to `capacity_bytes` (a non-zero multiple of 4096) if it
    /// is shorter; a longer file is not truncated, only the first
    /// `capacity_bytes` are used. The file and its directory entry are
    /// synced before this returns.
    pub fn create(
        path: impl AsRef<Path>,
        capacity_bytes: u64,
        direct: DirectIo,
    ) -> Result<FileDevice, Error> {
        let path = path.as_ref();
        let block_bytes = u64::from(FILE_BLOCK_BYTES);
        if capacity_bytes == 0 || !capacity_bytes.is_multiple_of(block_bytes) {
            return Err(unusable(
                path,
                format!(
                    "capacity of {capacity_bytes} bytes: expected a non-zero multiple of \
                     {FILE_BLOCK_BYTES}"
                ),
            ));
        }
        if std::fs::metadata(path).is_ok_and(|metadata| metadata.file_type().is_block_device()) {
            return Err(unusable(
                path,
                "a block device; open it with FileDevice::open".into(),
            ));
        }
        let (file, is_direct) = open_file(path, true, direct, 0)?;
        let metadata = file.metadata().map_err(|source| open_error(path, source))?;
        if !metadata.file_type().is_file() {
            return Err(unusable(path, "not a regular file".into()));
        }
        if metadata.len() < capacity_bytes {
            file.set_len(capacity_bytes)
                .map_err(|source| open_error(path, source))?;
        }
        file.sync_all().map_err(|source| open_error(path, source))?;
        sync_parent_directory(path)?;
        let geometry = Geometry {
            block_bytes: FILE_BLOCK_BYTES,
            atomic_write_bytes: FILE_BLOCK_BYTES,
            capacity_blocks: capacity_bytes / block_bytes,
        };
        Ok(FileDevice::from_parts(
            file, path, geometry, is_direct, false,
        ))
    }

    /// Reserves disk space for the whole capacity of a regular file (no
    /// holes left), so that later writes cannot fail for lack of space: a
    /// full disk is reported here, when the file is made, not mid-commit.
    pub fn reserve(&self) -> Result<(), Error> {
        let inner = &self.inner;
        let device = || inner.path.display().to_string();
        let capacity_bytes = inner.geometry.capacity_bytes();
        rustix::fs::fallocate(&inner.file, FallocateFlags::empty(), 0, capacity_bytes).map_err(
            |errno| Error::Io {
                op: "reserve",
                lba: 0,
                device: device(),
                source: std::io::Error::from(errno),
            },
        )?;
        inner.file.sync_all().map_err(|source| Error::Io {
            op: "reserve",
            lba: 0,
            device: device(),
            source,
        })
    }

    /// Opens an existing regular file (its length a multiple of 4096) or a
    /// block device, using all of it. A block device's block is its logical
    /// block size from sysfs.
    pub fn open(path: impl AsRef<Path>, direct: DirectIo) -> Result<FileDevice, Error> {
        let path = path.as_ref();
        // O_EXCL on a block device: refuse one that is mounted or held
        // by another exclusive opener (EBUSY), rather than corrupt it.
        let is_block_device = std::fs::metadata(path)
            .map_err(|source| open_error(path, source))?
            .file_type()
            .is_block_device();
        let extra_flags = if is_block_device { libc::O_EXCL } else { 0 };
        let (mut file, is_direct) = open_file(path, false, direct, extra_flags)?;
        let metadata = file.metadata().map_err(|source| open_error(path, source))?;
        let file_type = metadata.file_type();
        let (block_bytes, len_bytes, is_block_device) = if file_type.is_block_device() {
            let block_bytes = logical_block_bytes(path, metadata.rdev())?;
            let len_bytes = file
                .seek(SeekFrom::End(0))
                .map_err(|source| open_error(path, source))?;
            (block_bytes, len_bytes, true)
        } else if file_type.is_file() {
            (FILE_BLOCK_BYTES, metadata.len(), false)
        } else {
            return Err(unusable(
                path,
                "neither a regular file nor a block device".into(),
            ));
        };
        if len_bytes == 0 || !len_bytes.is_multiple_of(u64::from(block_bytes)) {
            return Err(unusable(
                path,
                format!("{len_bytes} bytes: expected a non-zero multiple of the {block_bytes}-byte block"),
            ));
        }
        let geometry = Geometry {
            block_bytes,
            // An ordinary disk or file promises no more than its block.
            atomic_write_bytes: block_bytes,
            capacity_blocks: len_bytes / u64::from(block_bytes),
        };
        Ok(FileDevice::from_parts(
            file,
            path,
            geometry,
            is_direct,
            is_block_device,
        ))
    }

    fn from_parts(
        file: File,
        path: &Path,
        geometry: Geometry,
        is_direct: bool,
        is_block_device: bool,
    ) -> FileDevice {
        log::debug!(
            "{}: {} blocks of {} bytes, {}",
            path.display(),
            geometry.capacity_blocks,
            geometry.block_bytes,
            if is_direct { "O_DIRECT" } else { "buffered" }
        );
        FileDevice {
            inner: Arc::new(FileInner {
                file,
                path: path.to_path_buf(),
                geometry,
                is_direct,
                is_block_device,
            }),
        }
    }

    /// True if I/O bypasses the page cache (O_DIRECT was accepted).
    pub fn is_direct(&self) -> bool {
        self.inner.is_direct
    }

    pub fn is_block_device(&self) -> bool {
        self.inner.is_block_device
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The open file, for a queue that does its I/O another way (io_uring
    /// in floe-uring); clones of the device keep it open.
    pub fn file(&self) -> &File {
        &self.inner.file
    }
}

fn unusable(path: &Path, reason: String) -> Error {
    Error::Unusable {
        device: path.display().to_string(),
        reason,
    }
}

fn open_error(path: &Path, source: std::io::Error) -> Error {
    Error::Open {
        device: path.display().to_string(),
        source,
    }
}

/// Opens read-write with `extra_flags`, and O_DIRECT unless told not to;
/// returns whether O_DIRECT is in effect.
fn open_file(
    path: &Path,
    create: bool,
    direct: DirectIo,
    extra_flags: i32,
) -> Result<(File, bool), Error> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(true)
        .create(create)
        .custom_flags(extra_flags);
    if direct != DirectIo::Never {
        let mut direct_options = options.clone();
        direct_options.custom_flags(extra_flags | libc::O_DIRECT);
        match direct_options.open(path) {
            Ok(file) => return Ok((file, true)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && direct == DirectIo::Prefer => {
                log::warn!(
                    "{}: O_DIRECT refused ({e}); using buffered I/O with fdatasync on flush, \
                     so reads go through the page cache",
                    path.display()
                );
            }
            Err(source) => return Err(open_error(path, source)),
        }
    }
    let file = options
        .open(path)
        .map_err(|source| open_error(path, source))?;
    Ok((file, false))
}

/// Makes a newly created file's directory entry durable.
fn sync_parent_directory(path: &Path) -> Result<(), Error> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|directory| directory.sync_all())
        .map_err(|source| open_error(parent, source))
}

/// The logical block size of a block device, from sysfs (a partition's
/// directory has no queue/, so its disk's is read instead).
fn logical_block_bytes(path: &Path, rdev: u64) -> Result<u32, Error> {
    let device_dir = format!("/sys/dev/block/{}:{}", libc::major(rdev), libc::minor(rdev));
    let candidates = [
        format!("{device_dir}/queue/logical_block_size"),
        format!("{device_dir}/../queue/logical_block_size"),
    ];
    for candidate in &candidates {
        let Ok(text) = std::fs::read_to_string(candidate) else {
            continue;
        };
        let block_bytes: u32 = text
            .trim()
            .parse()
            .map_err(|e| unusable(path, format!("{candidate} holds {:?}: {e}", text.trim())))?;
        // DMA buffers are whole 4 KiB frames, so the block must divide one.
        if !(512..=4096).contains(&block_bytes) || !block_bytes.is_power_of_two() {
            return Err(unusable(
                path,
                format!("logical block of {block_bytes} bytes: expected 512, 1024, 2048 or 4096"),
            ));
        }
        return Ok(block_bytes);
    }
    Err(unusable(
        path,
        format!("no logical block size in {candidates:?}"),
    ))
}

struct FileExecutor {
    inner: Arc<FileInner>,
}

impl FileExecutor {
    fn io_error(&self, op: BlockOp, lba: u64, source: std::io::Error) -> Error {
        Error::Io {
            op: op.name(),
            lba,
            device: self.inner.path.display().to_string(),
            source,
        }
    }
}

impl Execute for FileExecutor {
    fn geometry(&self) -> Geometry {
        self.inner.geometry
    }

    fn execute(&self, op: BlockOp, buffer: Option<&mut DmaBuffer>) -> Result<(), Error> {
        let geometry = self.inner.geometry;
        let file = &self.inner.file;
        match (op, buffer) {
            (BlockOp::Read { lba }, Some(buffer)) => file
                .read_exact_at(buffer.as_mut_slice(), geometry.offset_bytes(lba))
                .map_err(|source| self.io_error(op, lba, source)),
            (BlockOp::Write { lba }, Some(buffer)) => file
                .write_all_at(buffer.as_slice(), geometry.offset_bytes(lba))
                .map_err(|source| self.io_error(op, lba, source)),
            (BlockOp::Flush, None) => file
                .sync_data()
                .map_err(|source| self.io_error(op, 0, source)),
            (BlockOp::Deallocate { lba, block_count }, None) => {
                // Punch a hole: the blocks read back as zeroes and a file
                // gives the space back. KEEP_SIZE: the device never shrinks.
                let flags = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
                let len_bytes = block_count * u64::from(geometry.block_bytes);
                match rustix::fs::fallocate(file, flags, geometry.offset_bytes(lba), len_bytes) {
                    Ok(()) => Ok(()),
                    // Deallocate is a hint: the contract lets the old
                    // contents stay, so a device without hole punching
                    // (or discard) completes it doing nothing.
                    Err(errno) if errno == rustix::io::Errno::OPNOTSUPP => {
                        log::debug!(
                            "{}: deallocate of {block_count} blocks at lba {lba} ignored: {errno}",
                            self.inner.path.display()
                        );
                        Ok(())
                    }
                    Err(errno) => Err(self.io_error(op, lba, errno.into())),
                }
            }
            // check_request guarantees buffers exactly where data moves.
            _ => Err(Error::BadBuffer { op: op.name() }),
        }
    }
}

impl BlockDevice for FileDevice {
    fn geometry(&self) -> Geometry {
        self.inner.geometry
    }

    /// Requests execute (blocking) at submit and complete at the next
    /// poll, in order; `Busy` once `depth` completions are unpolled.
    fn open_queue(&self, depth: u32) -> Result<Box<dyn BlockQueue>, Error> {
        let executor = FileExecutor {
            inner: Arc::clone(&self.inner),
        };
        Ok(Box::new(ImmediateQueue::open(
            executor,
            depth,
            self.describe(),
        )?))
    }

    /// Executes as a queue would at submit: a blocking system call. On a
    /// fiber it runs on floe_rt's blocking-call threads while the fiber
    /// parks, so the core's other fibers go on (a commit's fdatasync does
    /// not stop its core); elsewhere on the calling thread.
    fn run(&self, op: BlockOp, buffer: Option<DmaBuffer>) -> Result<Option<DmaBuffer>, Error> {
        let executor = FileExecutor {
            inner: Arc::clone(&self.inner),
        };
        floe_rt::sched::run_blocking(move || crate::queue::run_now(&executor, op, buffer))
    }

    fn describe(&self) -> String {
        self.inner.path.display().to_string()
    }
}

impl std::fmt::Debug for FileDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDevice")
            .field("path", &self.inner.path)
            .field("geometry", &self.inner.geometry)
            .field("is_direct", &self.inner.is_direct)
            .field("is_block_device", &self.inner.is_block_device)
            .finish()
    }
}
