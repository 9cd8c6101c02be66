//! The `nvmebench` role: 4 KiB random reads and writes at queue depth 1
//! and 32 on the data disk, first through the kernel (`floe.data` with
//! O_DIRECT: pread/pwrite at depth 1, io_uring at depth 32), then through
//! Floe's user-space driver on the same NVMe function (rebound to
//! vfio-pci). It prints one `nvmebench: result` line per case on the
//! console and powers off; `cargo xtask bench nvme` reads them.
//!
//! Both sides run the one generator below through the `BlockDevice` seam,
//! on the same pinned core, with the same seeded offsets and the same
//! buffers (carved from one DMA arena, which the user-space driver maps
//! once), so what differs is the driver. Each case measures I/Os, wall
//! time and the bench thread's CPU time (CLOCK_THREAD_CPUTIME_ID). A
//! polled driver spends its core by design: its thread CPU time is its
//! wall time. The kernel's interrupt work that lands on another CPU while
//! the thread sleeps is not in its figure, which flatters the kernel.
//! (The whole guest's busy time from /proc/stat was tried: it is sampled
//! per tick, and under TCG it came out below the one thread's precise
//! time, so it is not reported.)
//!
//! Safety of data: the bench writes only its scratch region
//! (`SCRATCH_OFFSET_BYTES`.. + `SCRATCH_BYTES`), and only on a disk whose
//! first MiB is all zeros (a throwaway disk: a Floe disk, a partition
//! table or a file system there is refused, untouched). It never writes
//! the first MiB, so it can run again on its own disk.

use std::path::Path;
use std::time::{Duration, Instant};

use floe_blk::{
    BlockDevice, BlockOp, BlockQueue, Completion, DirectIo, FileDevice, SubmitError, Tag,
};
use floe_nvme::vfio::{PciAddress, Sysfs, VfioNvme};
use floe_nvme::{ControllerOptions, NvmeDevice, NvmeError, NvmeQueue};
use floe_rt::{DmaArena, DmaBuffer, HugePages};
use floe_uring::{UringDevice, UringQueue};
use nix::time::{clock_gettime, ClockId};

use crate::config::{Config, NvmeChoice};
use crate::logger::error_chain;

/// Bytes of every I/O.
pub const IO_BYTES: usize = 4096;
/// Where the scratch region starts: after the first MiB, which must be
/// blank and is never written.
pub const SCRATCH_OFFSET_BYTES: u64 = 1 << 20;
/// The scratch region's size in the appliance: 16384 slots of 4 KiB.
pub const SCRATCH_BYTES: u64 = 64 << 20;
/// Bytes checked for blankness before anything is written.
const BLANK_CHECK_BYTES: usize = 1 << 20;
/// Deepest queue a case uses (and buffers carved).
pub const DEPTH_MAX: u32 = 32;
/// Seed of the offsets, the same for both drivers.
pub const SEED: u64 = 0xF10E_BE7C;
/// Each case in the appliance: a fixed duration (TCG's speed varies too
/// much for a fixed count), bounded by a count as well.
const CASE_DURATION: Duration = Duration::from_secs(10);
const CASE_IOS_MAX: u64 = 50_000_000;
/// The byte every bench write carries (prefill data never matches it).
const WRITE_PATTERN: u8 = 0xb5;
/// Prefill writes of this size make every scratch block hold data before
/// any case runs, so both drivers read the same state.
const PREFILL_IO_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    RandRead,
    RandWrite,
}

/// One measured workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    pub pattern: Pattern,
    pub depth: u32,
}

impl Case {
    /// `randread.qd1`: the name in result lines and BENCH names.
    pub fn name(&self) -> String {
        let pattern = match self.pattern {
            Pattern::RandRead => "randread",
            Pattern::RandWrite => "randwrite",
        };
        format!("{pattern}.qd{}", self.depth)
    }
}

/// The cases, in the order each driver runs them.
pub const CASES: [Case; 4] = [
    Case {
        pattern: Pattern::RandRead,
        depth: 1,
    },
    Case {
        pattern: Pattern::RandWrite,
        depth: 1,
    },
    Case {
        pattern: Pattern::RandRead,
        depth: DEPTH_MAX,
    },
    Case {
        pattern: Pattern::RandWrite,
        depth: DEPTH_MAX,
    },
];

/// When a case stops submitting: whichever comes first.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub duration: Duration,
    pub ios_max: u64,
}

/// The scratch region in units of one I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    first_lba: u64,
    blocks_per_io: u64,
    slots: u64,
}

impl Region {
    /// `len_bytes` from `offset_bytes` on `device`, checked to fit.
    pub fn new(
        device: &dyn BlockDevice,
        offset_bytes: u64,
        len_bytes: u64,
    ) -> Result<Region, BenchError> {
        let geometry = device.geometry();
        let block_bytes = u64::from(geometry.block_bytes);
        let io_bytes = IO_BYTES as u64;
        let end_bytes = offset_bytes.checked_add(len_bytes);
        let fits = end_bytes.is_some_and(|end| end <= geometry.capacity_bytes());
        if !fits
            || len_bytes < io_bytes
            || block_bytes == 0
            || !io_bytes.is_multiple_of(block_bytes)
            || !offset_bytes.is_multiple_of(io_bytes)
        {
            return Err(BenchError::Region {
                device: device.describe(),
                capacity_bytes: geometry.capacity_bytes(),
                block_bytes: geometry.block_bytes,
                offset_bytes,
                len_bytes,
            });
        }
        Ok(Region {
            first_lba: offset_bytes / block_bytes,
            blocks_per_io: io_bytes / block_bytes,
            slots: len_bytes / io_bytes,
        })
    }

    fn lba(&self, slot: u64) -> u64 {
        self.first_lba + slot * self.blocks_per_io
    }
}

/// What one case measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaseResult {
    pub ios: u64,
    pub elapsed_ns: u64,
    pub thread_cpu_ns: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(
        "{device}: {len_bytes} bytes from offset {offset_bytes} do not fit a disk of \
         {capacity_bytes} bytes in whole 4 KiB I/Os of {block_bytes}-byte blocks"
    )]
    Region {
        device: String,
        capacity_bytes: u64,
        block_bytes: u32,
        offset_bytes: u64,
        len_bytes: u64,
    },
    #[error(
        "{device}: the first MiB is not all zeros; the bench overwrites its scratch region \
         and runs only on a throwaway disk whose first MiB is blank"
    )]
    NotBlank { device: String },
    #[error("{device}: did not appear within {waited_s} s")]
    NoDisk { device: String, waited_s: u64 },
    #[error("{device} {what}")]
    Io {
        device: String,
        what: String,
        #[source]
        source: floe_blk::Error,
    },
    #[error("{device} {case}: the queue refused a request while it had room")]
    Refused { device: String, case: String },
    #[error("reading the thread CPU clock")]
    Clock(#[source] nix::Error),
    #[error("DMA buffers for the bench")]
    Memory(#[source] floe_rt::RtError),
    #[error("user-space NVMe driver")]
    Nvme(#[source] Box<NvmeError>),
    #[error("{data} is on {found}, but floe.nvme names {configured}: they must be the same disk")]
    Mismatch {
        data: String,
        found: PciAddress,
        configured: PciAddress,
    },
    #[error("floe.data {path}: expected a block device path like /dev/nvme0n1")]
    NotABlockDevice { path: String },
    #[error("floe.nvme: {0}")]
    BadAddress(String),
    #[error("the bench thread")]
    Thread(#[source] std::io::Error),
    #[error("the bench thread panicked")]
    Panicked,
}

impl From<NvmeError> for BenchError {
    fn from(e: NvmeError) -> Self {
        BenchError::Nvme(Box::new(e))
    }
}

/// A queue the generator drives; `wait` is what it does when nothing has
/// completed: spin (a polled driver), or sleep in the kernel (io_uring).
pub trait BenchQueue: BlockQueue {
    fn wait(&mut self) -> Result<(), floe_blk::Error> {
        Ok(())
    }
}

impl BenchQueue for NvmeQueue {}

impl BenchQueue for UringQueue {
    fn wait(&mut self) -> Result<(), floe_blk::Error> {
        UringQueue::wait(self)
    }
}

/// FileDevice's synchronous queue: its I/O is done at submit.
impl BenchQueue for dyn BlockQueue {}

/// SplitMix64: seeded offsets (no dependency needed for this).
struct Offsets(u64);

impl Offsets {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn thread_cpu_ns() -> Result<u64, BenchError> {
    let time = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_err(BenchError::Clock)?;
    Ok(timespec_ns(time.tv_sec(), time.tv_nsec()))
}

fn timespec_ns(seconds: i64, nanoseconds: i64) -> u64 {
    u64::try_from(seconds)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(nanoseconds).unwrap_or(0))
}

/// Runs one case on `queue`: keeps `case.depth` requests in flight at
/// seeded offsets in `region` until `limits`, then drains. `buffers`
/// holds at least `case.depth` 4 KiB buffers and gets them all back.
pub fn run_case<Q: BenchQueue + ?Sized>(
    device: &str,
    queue: &mut Q,
    region: Region,
    case: Case,
    buffers: &mut Vec<DmaBuffer>,
    seed: u64,
    limits: Limits,
) -> Result<CaseResult, BenchError> {
    let depth = case.depth as usize;
    assert!(
        depth > 0 && buffers.len() >= depth,
        "{depth} buffers needed"
    );
    assert!(buffers.iter().all(|b| b.len_bytes() == IO_BYTES));
    let mut offsets = Offsets(seed);
    let next_op = |offsets: &mut Offsets| {
        let lba = region.lba(offsets.next() % region.slots);
        match case.pattern {
            Pattern::RandRead => BlockOp::Read { lba },
            Pattern::RandWrite => BlockOp::Write { lba },
        }
    };
    let io_error = |what: String, source| BenchError::Io {
        device: device.to_string(),
        what,
        source,
    };
    if case.pattern == Pattern::RandWrite {
        // Reads of earlier cases left disk data in the buffers; every
        // write carries the bench's pattern (outside the measured time).
        for buffer in buffers.iter_mut() {
            buffer.as_mut_slice().fill(WRITE_PATTERN);
        }
    }
    let mut completions: Vec<Completion> = Vec::with_capacity(depth);
    let cpu_before = thread_cpu_ns()?;
    let started = Instant::now();
    let mut submitted = 0u64;
    let mut completed = 0u64;
    let mut stopping = false;
    let mut submit = |queue: &mut Q, buffer: DmaBuffer, submitted: &mut u64| {
        let op = next_op(&mut offsets);
        match queue.submit(op, Some(buffer), Tag(*submitted)) {
            Ok(()) => {
                *submitted += 1;
                Ok(())
            }
            Err(SubmitError::Invalid(source)) => {
                Err(io_error(format!("{}: submitting", case.name()), source))
            }
            Err(SubmitError::Busy { .. }) => Err(BenchError::Refused {
                device: device.to_string(),
                case: case.name(),
            }),
        }
    };
    for _ in 0..depth {
        let Some(buffer) = buffers.pop() else { break };
        submit(queue, buffer, &mut submitted)?;
    }
    loop {
        if queue.poll(&mut completions, depth) == 0 {
            if queue.in_flight() == 0 {
                break;
            }
            queue
                .wait()
                .map_err(|source| io_error(format!("{}: waiting", case.name()), source))?;
            continue;
        }
        if !stopping {
            stopping = started.elapsed() >= limits.duration;
        }
        for completion in completions.drain(..) {
            completed += 1;
            if let Err(source) = completion.result {
                return Err(io_error(format!("{}: request failed", case.name()), source));
            }
            let Some(buffer) = completion.buffer else {
                unreachable!("a read or write hands its buffer back")
            };
            if stopping || submitted >= limits.ios_max {
                buffers.push(buffer);
            } else {
                submit(queue, buffer, &mut submitted)?;
            }
        }
    }
    let elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let thread_cpu_ns = thread_cpu_ns()?.saturating_sub(cpu_before);
    assert_eq!(completed, submitted, "every request completes once");
    Ok(CaseResult {
        ios: completed,
        elapsed_ns,
        thread_cpu_ns,
    })
}

/// One result as the console line `xtask bench nvme` parses.
pub fn result_line(driver: &str, method: &str, case: Case, result: &CaseResult) -> String {
    format!(
        "nvmebench: result driver={driver} method={method} case={} ios={} elapsed_ns={} \
         thread_cpu_ns={}",
        case.name(),
        result.ios,
        result.elapsed_ns,
        result.thread_cpu_ns
    )
}

/// Refuses a disk whose first MiB holds anything.
pub fn check_blank(device: &dyn BlockDevice) -> Result<(), BenchError> {
    let mut queue = device.open_queue(1).map_err(|source| BenchError::Io {
        device: device.describe(),
        what: "opening a queue".into(),
        source,
    })?;
    let first = queue
        .read(0, DmaBuffer::new(BLANK_CHECK_BYTES))
        .map_err(|source| BenchError::Io {
            device: device.describe(),
            what: "reading the first MiB".into(),
            source,
        })?;
    if first.as_slice().iter().any(|&b| b != 0) {
        return Err(BenchError::NotBlank {
            device: device.describe(),
        });
    }
    Ok(())
}

/// Writes every block of the scratch region once (then flushes), so reads
/// find data and both drivers start from the same state.
pub fn prefill(
    device: &dyn BlockDevice,
    offset_bytes: u64,
    len_bytes: u64,
) -> Result<(), BenchError> {
    let io = |what: &str| {
        let what = what.to_string();
        let device = device.describe();
        move |source| BenchError::Io {
            device,
            what,
            source,
        }
    };
    let block_bytes = u64::from(device.geometry().block_bytes);
    let mut queue = device.open_queue(1).map_err(io("opening a queue"))?;
    let mut buffer = DmaBuffer::new(PREFILL_IO_BYTES);
    for (i, byte) in buffer.as_mut_slice().iter_mut().enumerate() {
        // Anything but the bench's write pattern, so tests can tell them apart.
        *byte = match (i % 251) as u8 | 1 {
            WRITE_PATTERN => 1,
            other => other,
        };
    }
    let mut done_bytes = 0u64;
    while done_bytes < len_bytes {
        let chunk_bytes = (len_bytes - done_bytes).min(PREFILL_IO_BYTES as u64);
        if chunk_bytes < PREFILL_IO_BYTES as u64 {
            // The tail: a buffer of its exact (4 KiB multiple) size.
            let mut tail = DmaBuffer::new(chunk_bytes as usize);
            tail.as_mut_slice().fill(1);
            buffer = tail;
        }
        let lba = (offset_bytes + done_bytes) / block_bytes;
        buffer = queue
            .write(lba, buffer)
            .map_err(io("prefilling the scratch region"))?;
        done_bytes += chunk_bytes;
    }
    queue.flush().map_err(io("flushing the prefill"))
}

/// 32 buffers of 4 KiB from one arena (huge pages if reserved).
pub fn bench_buffers() -> Result<(DmaArena, Vec<DmaBuffer>), BenchError> {
    let count = DEPTH_MAX as usize;
    let mut arena =
        DmaArena::new(count * IO_BYTES, HugePages::Prefer).map_err(BenchError::Memory)?;
    let buffers = arena.carve(IO_BYTES, count).map_err(BenchError::Memory)?;
    Ok((arena, buffers))
}

/// The kernel's path on `file` (a block device or file opened O_DIRECT):
/// depth 1 with pread/pwrite (FileDevice), deeper with io_uring.
pub fn run_kernel_cases(
    file: &FileDevice,
    region: Region,
    buffers: &mut Vec<DmaBuffer>,
    limits: Limits,
    mut report: impl FnMut(String),
) -> Result<Vec<(Case, CaseResult)>, BenchError> {
    let uring = UringDevice::new(file.clone());
    let mut results = Vec::new();
    for case in CASES {
        let open_error = |source| BenchError::Io {
            device: file.describe(),
            what: format!("{}: opening a queue", case.name()),
            source,
        };
        let (method, result) = if case.depth == 1 {
            let mut queue = file.open_queue(1).map_err(open_error)?;
            let name = file.describe();
            let result = run_case(&name, queue.as_mut(), region, case, buffers, SEED, limits)?;
            ("pread", result)
        } else {
            let mut queue = uring.open_uring_queue(case.depth).map_err(open_error)?;
            let name = uring.describe();
            let result = run_case(&name, &mut queue, region, case, buffers, SEED, limits)?;
            ("io_uring", result)
        };
        report(result_line("kernel", method, case, &result));
        results.push((case, result));
    }
    Ok(results)
}

/// Floe's user-space driver on `device`: one queue pair per case, opened,
/// driven and closed by this thread.
pub fn run_floe_cases(
    device: &NvmeDevice,
    region: Region,
    buffers: &mut Vec<DmaBuffer>,
    limits: Limits,
    mut report: impl FnMut(String),
) -> Result<Vec<(Case, CaseResult)>, BenchError> {
    let mut results = Vec::new();
    for case in CASES {
        let mut queue = device.open_nvme_queue(case.depth)?;
        let name = device.describe();
        let result = run_case(&name, &mut queue, region, case, buffers, SEED, limits)?;
        report(result_line("floe", "vfio", case, &result));
        results.push((case, result));
    }
    Ok(results)
}

/// The role in the appliance: both drivers, result lines on the console.
/// The caller powers off afterwards, whatever happened.
pub fn run_appliance(config: &Config, disk_wait: Duration) {
    log::info!(
        "nvmebench: 4 KiB random read and write at depth 1 and {DEPTH_MAX}, {} s per case, \
         seed {SEED:#x}; kernel path first, then Floe's driver",
        CASE_DURATION.as_secs()
    );
    let config = config.clone();
    // One pinned core for both drivers: the last one, away from the
    // kernel's favourite core 0 for its own work.
    let core = floe_rt::available_cores().last().copied();
    let outcome = std::thread::Builder::new()
        .name("nvmebench".into())
        .spawn(move || {
            if let Some(core) = core {
                if let Err(e) = floe_rt::pin_current_thread(core) {
                    log::warn!("nvmebench: {e}; running unpinned");
                } else {
                    log::info!("nvmebench: pinned to core {core}");
                }
            }
            appliance_bench(&config, disk_wait)
        })
        .map_err(BenchError::Thread)
        .and_then(|thread| thread.join().map_err(|_| BenchError::Panicked)?);
    match outcome {
        Ok(()) => log::info!("nvmebench: done"),
        Err(e) => log::error!("nvmebench: failed: {}", error_chain(&e)),
    }
}

fn appliance_bench(config: &Config, disk_wait: Duration) -> Result<(), BenchError> {
    let data = config.data.clone();
    let limits = Limits {
        duration: CASE_DURATION,
        ios_max: CASE_IOS_MAX,
    };
    wait_for(&data, disk_wait)?;
    let block_name = data
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|_| data.starts_with("/dev"))
        .ok_or_else(|| BenchError::NotABlockDevice {
            path: data.display().to_string(),
        })?
        .to_string();
    let sysfs = Sysfs::system();
    let address = sysfs.block_device_function(&block_name)?;
    if let NvmeChoice::Address(text) = &config.nvme {
        let configured = PciAddress::parse(text).map_err(BenchError::BadAddress)?;
        if configured != address {
            return Err(BenchError::Mismatch {
                data: data.display().to_string(),
                found: address,
                configured,
            });
        }
    }
    let (arena, mut buffers) = bench_buffers()?;
    let say = |line: String| log::info!("{line}");
    {
        let file = FileDevice::open(&data, DirectIo::Require).map_err(|source| BenchError::Io {
            device: data.display().to_string(),
            what: "opening with O_DIRECT".into(),
            source,
        })?;
        check_blank(&file)?;
        let region = Region::new(&file, SCRATCH_OFFSET_BYTES, SCRATCH_BYTES)?;
        log::info!(
            "nvmebench: {} ({address}): prefilling {} MiB from offset {} MiB",
            data.display(),
            SCRATCH_BYTES >> 20,
            SCRATCH_OFFSET_BYTES >> 20
        );
        prefill(&file, SCRATCH_OFFSET_BYTES, SCRATCH_BYTES)?;
        run_kernel_cases(&file, region, &mut buffers, limits, say)?;
        // The file closes here, before the kernel lets go of the disk.
    }
    let device = VfioNvme::open_device(&sysfs, address, ControllerOptions::default())?;
    // The bench's arena (made above) is mapped once, whole.
    device.map_dma_arenas();
    let region = Region::new(&device, SCRATCH_OFFSET_BYTES, SCRATCH_BYTES)?;
    run_floe_cases(&device, region, &mut buffers, limits, say)?;
    let counts = device.dma_counts();
    log::info!(
        "nvmebench: floe: {} transfers on the registered arena, {} mapped per request",
        counts.premapped_ios,
        counts.mapped_ios
    );
    drop(buffers);
    drop(arena);
    Ok(())
}

fn wait_for(path: &Path, wait: Duration) -> Result<(), BenchError> {
    let deadline = Instant::now() + wait;
    // The device node appears when the kernel's nvme driver has probed.
    while !path.exists() {
        if Instant::now() >= deadline {
            return Err(BenchError::NoDisk {
                device: path.display().to_string(),
                waited_s: wait.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use floe_nvme::model::{ModelConfig, ModelController};
    use floe_nvme::{Controller, TestClock};

    const TEST_LIMITS: Limits = Limits {
        // Far beyond what the count takes: the count ends each case.
        duration: Duration::from_secs(3600),
        ios_max: 300,
    };
    const TEST_OFFSET_BYTES: u64 = 1 << 20;
    const TEST_SCRATCH_BYTES: u64 = 4 << 20;

    fn file_device(dir: &tempfile::TempDir) -> FileDevice {
        FileDevice::create(
            dir.path().join("disk"),
            TEST_OFFSET_BYTES + TEST_SCRATCH_BYTES,
            DirectIo::Prefer,
        )
        .expect("create the disk file")
    }

    fn model_device(model: &Arc<ModelController>) -> NvmeDevice {
        let controller = Controller::start(
            model.clone(),
            model.clone(),
            Arc::new(TestClock::new(0)),
            ControllerOptions::default(),
        )
        .expect("start the model");
        NvmeDevice::new(controller, "model")
    }

    /// Every 4 KiB slot of the region that holds the bench's write pattern.
    fn slots_written(device: &dyn BlockDevice, region: Region) -> u64 {
        let mut queue = device.open_queue(1).expect("open");
        (0..region.slots)
            .filter(|&slot| {
                let got = queue
                    .read(region.lba(slot), DmaBuffer::new(IO_BYTES))
                    .expect("read back");
                got.as_slice().iter().all(|&b| b == WRITE_PATTERN)
            })
            .count() as u64
    }

    /// The kernel path on a regular file: a blank disk passes the check,
    /// the prefill writes the region, and each case (pread at depth 1,
    /// io_uring at depth 32) runs exactly its count, with every buffer
    /// back, CPU time measured, and writes landing only in the region.
    #[test]
    fn kernel_path_runs_every_case_on_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = file_device(&dir);
        check_blank(&file).expect("a new file is blank");
        prefill(&file, TEST_OFFSET_BYTES, TEST_SCRATCH_BYTES).expect("prefill");
        let region = Region::new(&file, TEST_OFFSET_BYTES, TEST_SCRATCH_BYTES).expect("region");
        let (_arena, mut buffers) = bench_buffers().expect("buffers");
        let mut lines = Vec::new();
        let results = run_kernel_cases(&file, region, &mut buffers, TEST_LIMITS, |line| {
            lines.push(line)
        })
        .expect("kernel cases");
        assert_eq!(results.len(), CASES.len());
        for (case, result) in &results {
            assert_eq!(result.ios, TEST_LIMITS.ios_max, "{}", case.name());
        }
        assert_eq!(buffers.len(), DEPTH_MAX as usize, "buffers lost");
        assert!(lines[0].starts_with(
            "nvmebench: result driver=kernel method=pread case=randread.qd1 ios=300 "
        ));
        assert!(lines[2].contains("method=io_uring case=randread.qd32 ios=300 "));
        // 600 writes over 1024 slots: many slots, never the first MiB.
        assert!(slots_written(&file, region) > 100);
        check_blank(&file).expect("the first MiB is never written");
    }

    /// Floe's driver on the model controller: every case runs its count on
    /// a queue pair of its depth, all on the registered arena (no per-I/O
    /// mapping), with the same offsets as the kernel path (same seed).
    #[test]
    fn floe_path_runs_every_case_on_the_model() {
        let model = Arc::new(ModelController::new(ModelConfig {
            capacity_blocks: (TEST_OFFSET_BYTES + TEST_SCRATCH_BYTES) / 512,
            ..ModelConfig::default()
        }));
        let device = model_device(&model);
        let (_arena, mut buffers) = bench_buffers().expect("buffers");
        device.map_dma_arenas();
        let region = Region::new(&device, TEST_OFFSET_BYTES, TEST_SCRATCH_BYTES).expect("region");
        let mut lines = Vec::new();
        let results = run_floe_cases(&device, region, &mut buffers, TEST_LIMITS, |line| {
            lines.push(line)
        })
        .expect("floe cases");
        for (case, result) in &results {
            assert_eq!(result.ios, TEST_LIMITS.ios_max, "{}", case.name());
        }
        assert!(lines[3]
            .starts_with("nvmebench: result driver=floe method=vfio case=randwrite.qd32 ios=300 "));
        assert_eq!(buffers.len(), DEPTH_MAX as usize, "buffers lost");
        let counts = device.dma_counts();
        assert_eq!(counts.premapped_ios, 4 * TEST_LIMITS.ios_max);
        assert_eq!(counts.mapped_ios, 0, "bench buffers mapped per I/O");
        assert!(slots_written(&device, region) > 100);
        assert_eq!(model.io_queue_count(), 0, "a case's queue pair left open");
    }

    /// Both drivers write the same slots: the offsets depend on the seed only.
    #[test]
    fn same_seed_same_slots_on_both_drivers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = file_device(&dir);
        let model = Arc::new(ModelController::new(ModelConfig {
            capacity_blocks: (TEST_OFFSET_BYTES + TEST_SCRATCH_BYTES) / 512,
            ..ModelConfig::default()
        }));
        let nvme = model_device(&model);
        let case = Case {
            pattern: Pattern::RandWrite,
            depth: 1,
        };
        let limits = Limits {
            ios_max: 40,
            ..TEST_LIMITS
        };
        let (_arena, mut buffers) = bench_buffers().expect("buffers");
        let file_region =
            Region::new(&file, TEST_OFFSET_BYTES, TEST_SCRATCH_BYTES).expect("region");
        let mut queue = file.open_queue(1).expect("open");
        run_case(
            "file",
            queue.as_mut(),
            file_region,
            case,
            &mut buffers,
            SEED,
            limits,
        )
        .expect("file");
        let nvme_region =
            Region::new(&nvme, TEST_OFFSET_BYTES, TEST_SCRATCH_BYTES).expect("region");
        let mut queue = nvme.open_nvme_queue(1).expect("open");
        run_case(
            "model",
            &mut queue,
            nvme_region,
            case,
            &mut buffers,
            SEED,
            limits,
        )
        .expect("model");
        drop(queue);
        let written = |device: &dyn BlockDevice, region: Region| {
            let mut queue = device.open_queue(1).expect("open");
            (0..region.slots)
                .filter(|&slot| {
                    let got = queue
                        .read(region.lba(slot), DmaBuffer::new(IO_BYTES))
                        .expect("read");
                    got.as_slice().iter().all(|&b| b == WRITE_PATTERN)
                })
                .collect::<Vec<u64>>()
        };
        let file_slots = written(&file, file_region);
        assert!(!file_slots.is_empty());
        assert_eq!(file_slots, written(&nvme, nvme_region));
    }

    /// A disk with anything in its first MiB is refused before a write,
    /// and a region that does not fit is refused naming the sizes.
    #[test]
    fn non_blank_disks_and_oversized_regions_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = file_device(&dir);
        let mut queue = file.open_queue(1).expect("open");
        let mut header = DmaBuffer::new(4096);
        header.as_mut_slice()[100] = 1;
        queue.write(8, header).expect("write");
        let error = check_blank(&file).expect_err("not blank");
        assert!(
            error.to_string().contains("first MiB is not all zeros"),
            "{error}"
        );
        let too_big = Region::new(&file, TEST_OFFSET_BYTES, TEST_SCRATCH_BYTES + 4096);
        assert!(
            matches!(too_big, Err(BenchError::Region { .. })),
            "{too_big:?}"
        );
        assert!(Region::new(&file, 100, 4096).is_err(), "unaligned offset");
        assert!(
            Region::new(&file, u64::MAX, 4096).is_err(),
            "overflowing end"
        );
        assert!(Region::new(&file, 0, 0).is_err(), "empty region");
    }
}
