//! MemDevice: a block device in memory for tests, with a volatile write
//! cache, simulated power loss and injected I/O errors, all decided by a
//! seed so that a failing run replays exactly.
//!
//! Model. Every completed write lands in a volatile cache that reads see;
//! Flush makes everything in the cache durable. A crash (now, or during the
//! n-th write from now) freezes the device: every later op fails with
//! `Error::Crashed`. `restart(mode)` yields a fresh device holding the
//! durable image plus, depending on the [`CrashMode`], some of the writes
//! that were still in the cache (including the one the crash interrupted).

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use floe_rt::DmaBuffer;

use crate::queue::{Execute, ImmediateQueue};
use crate::rng::SplitMix64;
use crate::{BlockDevice, BlockOp, BlockQueue, Error, Geometry};

/// What survives of the unflushed writes when a crashed device restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// None of them: the durable image only.
    LoseUnflushed,
    /// Each one independently kept whole or lost; the kept ones reach the
    /// medium in a random order (so of two overlapping writes either may win).
    KeepRandomSubset,
    /// As `KeepRandomSubset`, and a kept write that does not fit inside one
    /// naturally aligned atomic unit may land only as a prefix of its blocks
    /// (torn at a block boundary). Writes inside one atomic unit never tear.
    KeepRandomSubsetTorn,
}

impl CrashMode {
    pub const ALL: [CrashMode; 3] = [
        CrashMode::LoseUnflushed,
        CrashMode::KeepRandomSubset,
        CrashMode::KeepRandomSubsetTorn,
    ];
}

/// Which requests an injected error hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOps {
    Reads,
    /// Writes and deallocates.
    Writes,
    ReadsAndWrites,
}

impl FaultOps {
    fn hits(self, op: BlockOp) -> bool {
        match op {
            BlockOp::Read { .. } => matches!(self, FaultOps::Reads | FaultOps::ReadsAndWrites),
            BlockOp::Write { .. } | BlockOp::Deallocate { .. } => {
                matches!(self, FaultOps::Writes | FaultOps::ReadsAndWrites)
            }
            BlockOp::Flush => false,
        }
    }
}

/// Requests this device carried out (failed ones are not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemCounters {
    pub reads: u64,
    pub bytes_read: u64,
    /// Writes that reached the cache, including one interrupted by a crash.
    pub writes: u64,
    pub bytes_written: u64,
    pub flushes: u64,
    pub deallocates: u64,
}

/// A handle to one simulated device; clones share it.
#[derive(Clone)]
pub struct MemDevice {
    state: Arc<Mutex<MemState>>,
    name: Arc<str>,
}

struct MemState {
    seed: u64,
    geometry: Geometry,
    /// What reads see: the durable image with every cached write applied.
    image: Vec<u8>,
    /// The cache, oldest first; each entry remembers the bytes it replaced,
    /// so undoing them newest first yields the durable image.
    unflushed: Vec<UnflushedWrite>,
    crashed: bool,
    /// Some(n): the n-th write from now crashes the device.
    writes_before_crash: Option<u64>,
    faults: Vec<InjectedFault>,
    flushes_fail: bool,
    counters: MemCounters,
    rng: SplitMix64,
}

struct UnflushedWrite {
    lba: u64,
    old: Vec<u8>,
    new: Vec<u8>,
}

struct InjectedFault {
    lbas: Range<u64>,
    ops: FaultOps,
}

static NEXT_DEVICE_NO: AtomicU64 = AtomicU64::new(0);

impl MemDevice {
    /// A zeroed device of the given geometry. `block_bytes` is 512 or 4096;
    /// `atomic_write_bytes` a power-of-two multiple of it; the capacity
    /// non-zero and addressable in memory. Memory is touched lazily.
    pub fn new(geometry: Geometry, seed: u64) -> Result<MemDevice, Error> {
        let name = format!("mem#{}", NEXT_DEVICE_NO.fetch_add(1, Ordering::Relaxed));
        let unusable = |reason: String| Error::Unusable {
            device: name.clone(),
            reason,
        };
        let Geometry {
            block_bytes,
            atomic_write_bytes,
            capacity_blocks,
        } = geometry;
        if block_bytes != 512 && block_bytes != 4096 {
            return Err(unusable(format!(
                "block of {block_bytes} bytes: expected 512 or 4096"
            )));
        }
        if atomic_write_bytes < block_bytes
            || !atomic_write_bytes.is_power_of_two()
            || !atomic_write_bytes.is_multiple_of(block_bytes)
        {
            return Err(unusable(format!(
                "atomic write of {atomic_write_bytes} bytes: expected a power-of-two \
                 multiple of the {block_bytes}-byte block"
            )));
        }
        let capacity_bytes = capacity_blocks
            .checked_mul(u64::from(block_bytes))
            .and_then(|bytes| usize::try_from(bytes).ok())
            .filter(|&bytes| bytes > 0)
            .ok_or_else(|| {
                unusable(format!(
                    "capacity of {capacity_blocks} blocks: expected 1 or more that fit in memory"
                ))
            })?;
        Ok(MemDevice::from_state(
            name,
            MemState {
                seed,
                geometry,
                image: vec![0; capacity_bytes],
                unflushed: Vec::new(),
                crashed: false,
                writes_before_crash: None,
                faults: Vec::new(),
                flushes_fail: false,
                counters: MemCounters::default(),
                rng: SplitMix64::new(seed),
            },
        ))
    }

    fn from_state(name: String, state: MemState) -> MemDevice {
        MemDevice {
            state: Arc::new(Mutex::new(state)),
            name: name.into(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemState> {
        // A poisoned lock means a MemDevice invariant assertion fired in
        // another thread; the test is already failing, so fail here too.
        self.state
            .lock()
            .expect("MemDevice state poisoned by a panic")
    }

    /// The seed every random choice of this device derives from.
    pub fn seed(&self) -> u64 {
        self.lock().seed
    }

    pub fn counters(&self) -> MemCounters {
        self.lock().counters
    }

    pub fn is_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Writes (and deallocates) in the volatile cache, not yet flushed.
    pub fn unflushed_write_count(&self) -> usize {
        self.lock().unflushed.len()
    }

    /// Simulated power loss now: every later op fails with `Crashed`.
    pub fn crash_now(&self) {
        let mut state = self.lock();
        state.crashed = true;
        state.writes_before_crash = None;
    }

    /// The `n`-th write from now crashes the device: it reaches the cache
    /// (so after a restart it may be kept, lost or torn like any unflushed
    /// write) and completes with `Crashed`, as does everything after it.
    /// `n` = 0 crashes now.
    pub fn crash_after_writes(&self, n: u64) {
        if n == 0 {
            self.crash_now();
        } else {
            self.lock().writes_before_crash = Some(n);
        }
    }

    /// Reads and/or writes touching any block in `lbas` fail with
    /// `Error::Injected` (and change nothing) until cleared.
    pub fn inject_errors(&self, lbas: Range<u64>, ops: FaultOps) {
        self.lock().faults.push(InjectedFault { lbas, ops });
    }

    /// While set, flushes fail with `Error::Injected` (at lba 0) and the
    /// cache stays unflushed, as after a failed fsync.
    pub fn fail_flushes(&self, fail: bool) {
        self.lock().flushes_fail = fail;
    }

    pub fn clear_injected_errors(&self) {
        let mut state = self.lock();
        state.faults.clear();
        state.flushes_fail = false;
    }

    /// Power comes back: a fresh device (new counters, no injected errors)
    /// whose contents are the durable image plus what `mode` lets survive
    /// of the cache, chosen from this device's seed. Crashes this device
    /// first if it has not crashed; it stays crashed, and can be restarted
    /// again (each restart draws new choices from the same sequence).
    /// Costs one copy of the image.
    pub fn restart(&self, mode: CrashMode) -> MemDevice {
        let mut state = self.lock();
        state.crashed = true;
        state.writes_before_crash = None;
        let block_bytes = block_bytes_usize(state.geometry);
        let mut image = state.image.clone();
        for write in state.unflushed.iter().rev() {
            let start = byte_offset(state.geometry, write.lba);
            image[start..start + write.old.len()].copy_from_slice(&write.old);
        }
        // (index into `unflushed`, bytes of it that land)
        let mut landing: Vec<(usize, usize)> = Vec::new();
        if mode != CrashMode::LoseUnflushed {
            let atomic_write_bytes = u64::from(state.geometry.atomic_write_bytes);
            for index in 0..state.unflushed.len() {
                if !state.rng.next_bool() {
                    continue;
                }
                let write = &state.unflushed[index];
                let len_bytes = write.new.len();
                let start_bytes = state.geometry.offset_bytes(write.lba);
                let end_bytes = start_bytes + len_bytes as u64;
                let within_one_unit =
                    start_bytes / atomic_write_bytes == (end_bytes - 1) / atomic_write_bytes;
                let landed_bytes = if mode == CrashMode::KeepRandomSubsetTorn && !within_one_unit {
                    let block_count = (len_bytes / block_bytes) as u64;
                    (1 + state.rng.below(block_count)) as usize * block_bytes
                } else {
                    len_bytes
                };
                landing.push((index, landed_bytes));
            }
            // Fisher-Yates: the cache drains in no particular order.
            for i in (1..landing.len()).rev() {
                let j = state.rng.below(i as u64 + 1) as usize;
                landing.swap(i, j);
            }
        }
        for &(index, landed_bytes) in &landing {
            let write = &state.unflushed[index];
            let start = byte_offset(state.geometry, write.lba);
            image[start..start + landed_bytes].copy_from_slice(&write.new[..landed_bytes]);
        }
        let seed = state.rng.next_u64();
        let name = format!(
            "mem#{} (restart of {})",
            NEXT_DEVICE_NO.fetch_add(1, Ordering::Relaxed),
            self.name
        );
        log::debug!(
            "{}: restarted as {name} under {mode:?}: {} of {} unflushed writes landed",
            self.name,
            landing.len(),
            state.unflushed.len()
        );
        MemDevice::from_state(
            name,
            MemState {
                seed,
                geometry: state.geometry,
                image,
                unflushed: Vec::new(),
                crashed: false,
                writes_before_crash: None,
                faults: Vec::new(),
                flushes_fail: false,
                counters: MemCounters::default(),
                rng: SplitMix64::new(seed),
            },
        )
    }
}

fn block_bytes_usize(geometry: Geometry) -> usize {
    geometry.block_bytes as usize
}

/// Byte offset of `lba`; only for LBAs inside the device, whose capacity
/// was checked to fit in memory when it was made.
fn byte_offset(geometry: Geometry, lba: u64) -> usize {
    assert!(lba <= geometry.capacity_blocks);
    geometry.offset_bytes(lba) as usize
}

impl MemState {
    fn injected(&self, op: BlockOp, lba: u64, block_count: u64) -> Result<(), Error> {
        let end_lba = lba + block_count;
        for fault in &self.faults {
            if fault.ops.hits(op) && fault.lbas.start < end_lba && lba < fault.lbas.end {
                return Err(Error::Injected {
                    op: op.name(),
                    lba: lba.max(fault.lbas.start),
                });
            }
        }
        Ok(())
    }

    /// Puts `data` in the cache at `lba` (reads see it at once).
    fn cache_write(&mut self, lba: u64, data: &[u8]) {
        let start = byte_offset(self.geometry, lba);
        let range = start..start + data.len();
        let old = self.image[range.clone()].to_vec();
        self.image[range].copy_from_slice(data);
        self.unflushed.push(UnflushedWrite {
            lba,
            old,
            new: data.to_vec(),
        });
    }

    fn execute(&mut self, op: BlockOp, buffer: Option<&mut DmaBuffer>) -> Result<(), Error> {
        let name = op.name();
        if self.crashed {
            return Err(Error::Crashed { op: name });
        }
        let block_bytes = u64::from(self.geometry.block_bytes);
        match (op, buffer) {
            (BlockOp::Read { lba }, Some(buffer)) => {
                let len_bytes = buffer.len_bytes();
                self.injected(op, lba, len_bytes as u64 / block_bytes)?;
                let start = byte_offset(self.geometry, lba);
                buffer
                    .as_mut_slice()
                    .copy_from_slice(&self.image[start..start + len_bytes]);
                self.counters.reads += 1;
                self.counters.bytes_read += len_bytes as u64;
                Ok(())
            }
            (BlockOp::Write { lba }, Some(buffer)) => {
                let len_bytes = buffer.len_bytes();
                self.injected(op, lba, len_bytes as u64 / block_bytes)?;
                self.cache_write(lba, buffer.as_slice());
                self.counters.writes += 1;
                self.counters.bytes_written += len_bytes as u64;
                match self.writes_before_crash {
                    Some(remaining) if remaining <= 1 => {
                        self.writes_before_crash = None;
                        self.crashed = true;
                        Err(Error::Crashed { op: name })
                    }
                    Some(remaining) => {
                        self.writes_before_crash = Some(remaining - 1);
                        Ok(())
                    }
                    None => Ok(()),
                }
            }
            (BlockOp::Flush, None) => {
                if self.flushes_fail {
                    return Err(Error::Injected { op: name, lba: 0 });
                }
                self.unflushed.clear();
                self.counters.flushes += 1;
                Ok(())
            }
            (BlockOp::Deallocate { lba, block_count }, None) => {
                self.injected(op, lba, block_count)?;
                // Deallocated blocks read as zeroes; until a flush the old
                // contents may come back after a crash, like any write.
                let zeroes = vec![0; (block_count * block_bytes) as usize];
                self.cache_write(lba, &zeroes);
                self.counters.deallocates += 1;
                Ok(())
            }
            // check_request guarantees buffers exactly where data moves.
            _ => Err(Error::BadBuffer { op: name }),
        }
    }
}

struct MemExecutor {
    device: MemDevice,
    geometry: Geometry,
}

impl Execute for MemExecutor {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn execute(&self, op: BlockOp, buffer: Option<&mut DmaBuffer>) -> Result<(), Error> {
        self.device.lock().execute(op, buffer)
    }
}

impl BlockDevice for MemDevice {
    fn geometry(&self) -> Geometry {
        self.lock().geometry
    }

    /// Requests execute at submit under the device lock and complete at
    /// the next poll, in order.
    fn open_queue(&self, depth: u32) -> Result<Box<dyn BlockQueue>, Error> {
        let executor = MemExecutor {
            device: self.clone(),
            geometry: self.geometry(),
        };
        Ok(Box::new(ImmediateQueue::open(
            executor,
            depth,
            self.describe(),
        )?))
    }

    /// Executes on the calling thread, as a queue would at submit.
    fn run(&self, op: BlockOp, buffer: Option<DmaBuffer>) -> Result<Option<DmaBuffer>, Error> {
        let executor = MemExecutor {
            device: self.clone(),
            geometry: self.geometry(),
        };
        crate::queue::run_now(&executor, op, buffer)
    }

    fn describe(&self) -> String {
        self.name.to_string()
    }
}

impl std::fmt::Debug for MemDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MemDevice")
            .field("name", &self.name)
            .field("seed", &state.seed)
            .field("geometry", &state.geometry)
            .field("crashed", &state.crashed)
            .field("unflushed_writes", &state.unflushed.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::test_seed;

    const BLOCK_BYTES: usize = 512;
    const FRAME_BYTES: usize = floe_rt::DMA_ALIGN_BYTES;
    const GEOMETRY: Geometry = Geometry {
        block_bytes: 512,
        atomic_write_bytes: 4096,
        capacity_blocks: 256,
    };
    const CAPACITY_BYTES: usize = 256 * BLOCK_BYTES;

    fn random_bytes(rng: &mut SplitMix64, len_bytes: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(len_bytes + 8);
        while bytes.len() < len_bytes {
            bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        bytes.truncate(len_bytes);
        bytes
    }

    fn write(device: &MemDevice, lba: u64, data: &[u8]) -> Result<(), Error> {
        let mut queue = device.open_queue(1).expect("open queue");
        let mut buffer = DmaBuffer::new(data.len());
        buffer.as_mut_slice().copy_from_slice(data);
        queue.write(lba, buffer).map(drop)
    }

    fn read(device: &MemDevice, lba: u64, len_bytes: usize) -> Result<Vec<u8>, Error> {
        let mut queue = device.open_queue(1).expect("open queue");
        queue
            .read(lba, DmaBuffer::new(len_bytes))
            .map(|buffer| buffer.as_slice().to_vec())
    }

    fn flush(device: &MemDevice) -> Result<(), Error> {
        device.open_queue(1).expect("open queue").flush()
    }

    fn read_all(device: &MemDevice) -> Vec<u8> {
        read(device, 0, CAPACITY_BYTES).expect("read whole device")
    }

    /// Fills the whole device with random bytes and flushes; returns them.
    fn durable_base(device: &MemDevice, rng: &mut SplitMix64) -> Vec<u8> {
        let base = random_bytes(rng, CAPACITY_BYTES);
        for (i, frame) in base.chunks(FRAME_BYTES).enumerate() {
            write(device, (i * FRAME_BYTES / BLOCK_BYTES) as u64, frame).expect("base write");
        }
        flush(device).expect("base flush");
        base
    }

    /// Flushed data always survives; each unflushed write (disjoint here)
    /// is, per mode, absent (LoseUnflushed), whole or absent
    /// (KeepRandomSubset), or a block-boundary prefix that is whole or
    /// absent when it sits inside one atomic unit (KeepRandomSubsetTorn).
    /// Over 48 seeded rounds every non-trivial outcome must show up, so a
    /// mode that silently does nothing fails too.
    #[test]
    fn restart_outcomes_are_exactly_the_allowed_ones() {
        let seed = test_seed();
        let mut kept_whole = [0u32; 3];
        let mut lost = [0u32; 3];
        let mut torn = [0u32; 3];
        for round in 0..48u64 {
            let mut rng = SplitMix64::new(seed ^ round.wrapping_mul(0x9e37_79b9));
            let device = MemDevice::new(GEOMETRY, rng.next_u64()).expect("device");
            let base = durable_base(&device, &mut rng);
            // One write per 32-block slot: 8..=24 blocks (whole frames) at a
            // random block offset, so some fit one 8-block atomic unit and
            // some cross a unit boundary.
            let mut writes = Vec::new();
            for slot in 0..8u64 {
                let block_count = 8 * (1 + rng.below(3));
                let lba = slot * 32 + rng.below(32 - block_count + 1);
                let data = random_bytes(&mut rng, block_count as usize * BLOCK_BYTES);
                write(&device, lba, &data).expect("unflushed write");
                writes.push((lba, data));
            }
            assert_eq!(device.unflushed_write_count(), 8);
            device.crash_now();
            for (mode_index, mode) in CrashMode::ALL.into_iter().enumerate() {
                let image = read_all(&device.restart(mode));
                let context = format!("seed={seed} round={round} mode={mode:?}");
                let mut expected_untouched = base.clone();
                for (lba, data) in &writes {
                    let start = *lba as usize * BLOCK_BYTES;
                    let range = start..start + data.len();
                    let landed = &image[range.clone()];
                    let old = &base[range.clone()];
                    let block_count = data.len() / BLOCK_BYTES;
                    let new_blocks = data
                        .chunks(BLOCK_BYTES)
                        .zip(landed.chunks(BLOCK_BYTES))
                        .take_while(|(new, got)| new == got)
                        .count();
                    let new_bytes = new_blocks * BLOCK_BYTES;
                    assert_eq!(
                        &landed[new_bytes..],
                        &old[new_bytes..],
                        "{context}: write at lba {lba} is not a prefix of new blocks then old"
                    );
                    let within_one_unit = start / 4096 == (range.end - 1) / 4096;
                    match new_blocks {
                        0 => lost[mode_index] += 1,
                        n if n == block_count => kept_whole[mode_index] += 1,
                        _ => {
                            torn[mode_index] += 1;
                            assert_eq!(mode, CrashMode::KeepRandomSubsetTorn, "{context}: torn");
                            assert!(!within_one_unit, "{context}: atomic write at {lba} torn");
                        }
                    }
                    if mode == CrashMode::LoseUnflushed {
                        assert_eq!(new_blocks, 0, "{context}: unflushed write at {lba} kept");
                    }
                    expected_untouched[range.clone()].copy_from_slice(&image[range]);
                }
                assert!(
                    image == expected_untouched,
                    "{context}: flushed data changed"
                );
            }
        }
        assert_eq!(kept_whole[0], 0);
        for mode_index in 1..3 {
            assert!(
                kept_whole[mode_index] > 0,
                "seed={seed}: mode {mode_index} never kept"
            );
            assert!(
                lost[mode_index] > 0,
                "seed={seed}: mode {mode_index} never lost"
            );
        }
        assert!(torn[2] > 0, "seed={seed}: torn mode never tore a write");
    }

    /// Overlapping unflushed writes: after any restart each block holds its
    /// durable contents or one of the versions written to it since, never
    /// anything else; LoseUnflushed gives exactly the durable image.
    #[test]
    fn overlapping_writes_leave_some_written_version_per_block() {
        let seed = test_seed();
        for round in 0..24u64 {
            let mut rng = SplitMix64::new(seed.wrapping_add(round));
            let device = MemDevice::new(GEOMETRY, rng.next_u64()).expect("device");
            let base = durable_base(&device, &mut rng);
            // Versions per block of the 32-block region 64..96.
            let mut versions: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 32];
            for _ in 0..6 {
                let block_count = 8 * (1 + rng.below(2));
                let offset_blocks = rng.below(32 - block_count + 1);
                let data = random_bytes(&mut rng, block_count as usize * BLOCK_BYTES);
                write(&device, 64 + offset_blocks, &data).expect("overlapping write");
                for (i, block) in data.chunks(BLOCK_BYTES).enumerate() {
                    versions[offset_blocks as usize + i].push(block.to_vec());
                }
            }
            for mode in CrashMode::ALL {
                let image = read_all(&device.restart(mode));
                for (block_no, block) in image.chunks(BLOCK_BYTES).enumerate() {
                    let old = &base[block_no * BLOCK_BYTES..(block_no + 1) * BLOCK_BYTES];
                    let allowed = (64..96).contains(&block_no) && mode != CrashMode::LoseUnflushed;
                    let is_written_version = allowed
                        && versions[block_no - 64]
                            .iter()
                            .any(|version| version == block);
                    assert!(
                        block == old || is_written_version,
                        "seed={seed} round={round} {mode:?}: block {block_no} holds bytes never written there"
                    );
                }
            }
        }
    }

    /// The n-th write from now crashes: earlier writes succeed, it and
    /// everything after fail with Crashed; after restart the flushed write
    /// is always there, and the interrupted write is sometimes kept and
    /// sometimes lost (KeepRandomSubset), never kept under LoseUnflushed.
    #[test]
    fn crash_after_writes_crashes_on_the_nth_write() {
        let seed = test_seed();
        let mut interrupted_kept = 0;
        let mut interrupted_lost = 0;
        for round in 0..32u64 {
            let device = MemDevice::new(GEOMETRY, seed.wrapping_add(round)).expect("device");
            let first = vec![1u8; FRAME_BYTES];
            let second = vec![2u8; FRAME_BYTES];
            let third = vec![3u8; FRAME_BYTES];
            device.crash_after_writes(3);
            write(&device, 0, &first).expect("write 1");
            flush(&device).expect("flush");
            write(&device, 8, &second).expect("write 2");
            assert!(!device.is_crashed());
            assert!(matches!(
                write(&device, 16, &third),
                Err(Error::Crashed { op: "write" })
            ));
            assert!(device.is_crashed());
            assert!(matches!(
                read(&device, 0, FRAME_BYTES),
                Err(Error::Crashed { op: "read" })
            ));
            assert!(matches!(
                flush(&device),
                Err(Error::Crashed { op: "flush" })
            ));
            let mut queue = device.open_queue(1).expect("queue");
            assert!(matches!(queue.deallocate(0, 1), Err(Error::Crashed { .. })));
            assert_eq!(device.counters().writes, 3);

            let lost_all = device.restart(CrashMode::LoseUnflushed);
            assert_eq!(read(&lost_all, 0, FRAME_BYTES).expect("read"), first);
            assert_eq!(
                read(&lost_all, 16, FRAME_BYTES).expect("read"),
                vec![0; FRAME_BYTES]
            );

            let kept_some = device.restart(CrashMode::KeepRandomSubset);
            assert_eq!(read(&kept_some, 0, FRAME_BYTES).expect("read"), first);
            let interrupted = read(&kept_some, 16, FRAME_BYTES).expect("read");
            if interrupted == third {
                interrupted_kept += 1;
            } else {
                assert_eq!(
                    interrupted,
                    vec![0; FRAME_BYTES],
                    "seed={seed} round={round}"
                );
                interrupted_lost += 1;
            }
            // The restarted device is a working device.
            write(&kept_some, 16, &second).expect("write after restart");
            assert_eq!(read(&kept_some, 16, FRAME_BYTES).expect("read"), second);
        }
        assert!(
            interrupted_kept > 0,
            "seed={seed}: interrupted write never kept"
        );
        assert!(
            interrupted_lost > 0,
            "seed={seed}: interrupted write never lost"
        );
    }

    /// The same seed and the same requests give the same restarted image.
    #[test]
    fn restart_replays_under_the_same_seed() {
        let seed = test_seed();
        let run = || {
            let mut rng = SplitMix64::new(seed);
            let device = MemDevice::new(GEOMETRY, seed).expect("device");
            for _ in 0..16 {
                let block_count = 8 * (1 + rng.below(3));
                let lba = rng.below(256 - block_count + 1);
                let data = random_bytes(&mut rng, block_count as usize * BLOCK_BYTES);
                write(&device, lba, &data).expect("write");
            }
            read_all(&device.restart(CrashMode::KeepRandomSubsetTorn))
        };
        assert!(
            run() == run(),
            "seed={seed}: two runs restarted differently"
        );
    }

    /// Injected errors hit only their ops and blocks, change nothing, and
    /// stop when cleared; a failed flush leaves the cache unflushed.
    #[test]
    fn injected_errors_hit_only_their_range_until_cleared() {
        let device = MemDevice::new(GEOMETRY, 1).expect("device");
        let ones = vec![1u8; FRAME_BYTES];
        let twos = vec![2u8; FRAME_BYTES];
        write(&device, 8, &ones).expect("write");
        device.inject_errors(10..20, FaultOps::Reads);
        assert!(read(&device, 0, FRAME_BYTES).is_ok());
        assert!(matches!(
            read(&device, 8, FRAME_BYTES),
            Err(Error::Injected {
                op: "read",
                lba: 10
            })
        ));
        write(&device, 16, &twos).expect("reads-only fault lets writes through");
        device.inject_errors(40..41, FaultOps::Writes);
        assert!(matches!(
            write(&device, 33, &twos),
            Err(Error::Injected {
                op: "write",
                lba: 40
            })
        ));
        assert_eq!(
            read(&device, 33, FRAME_BYTES).expect("read"),
            vec![0; FRAME_BYTES]
        );
        let mut queue = device.open_queue(1).expect("queue");
        assert!(matches!(
            queue.deallocate(39, 2),
            Err(Error::Injected {
                op: "deallocate",
                ..
            })
        ));
        device.fail_flushes(true);
        let unflushed = device.unflushed_write_count();
        assert!(matches!(
            flush(&device),
            Err(Error::Injected { op: "flush", .. })
        ));
        assert_eq!(device.unflushed_write_count(), unflushed);
        device.clear_injected_errors();
        assert_eq!(read(&device, 8, FRAME_BYTES).expect("read"), ones);
        write(&device, 33, &twos).expect("write after clear");
        flush(&device).expect("flush after clear");
        assert_eq!(device.unflushed_write_count(), 0);
    }

    /// Counters count completed requests and bytes; failed ones do not count.
    #[test]
    fn counters_count_completed_requests() {
        let device = MemDevice::new(GEOMETRY, 1).expect("device");
        write(&device, 0, &vec![1; 2 * FRAME_BYTES]).expect("write");
        write(&device, 16, &vec![1; FRAME_BYTES]).expect("write");
        read(&device, 0, FRAME_BYTES).expect("read");
        flush(&device).expect("flush");
        device
            .open_queue(1)
            .expect("queue")
            .deallocate(0, 4)
            .expect("deallocate");
        device.inject_errors(0..1, FaultOps::Writes);
        assert!(write(&device, 0, &vec![1; FRAME_BYTES]).is_err());
        let expected = MemCounters {
            reads: 1,
            bytes_read: FRAME_BYTES as u64,
            writes: 2,
            bytes_written: 3 * FRAME_BYTES as u64,
            flushes: 1,
            deallocates: 1,
        };
        assert_eq!(device.counters(), expected);
    }

    /// Geometries the model cannot honour are refused, not accepted.
    #[test]
    fn bad_geometry_is_refused() {
        let bad = [
            Geometry {
                block_bytes: 1000,
                ..GEOMETRY
            },
            Geometry {
                atomic_write_bytes: 256,
                ..GEOMETRY
            },
            Geometry {
                atomic_write_bytes: 1536,
                ..GEOMETRY
            },
            Geometry {
                capacity_blocks: 0,
                ..GEOMETRY
            },
            Geometry {
                capacity_blocks: u64::MAX,
                ..GEOMETRY
            },
        ];
        for geometry in bad {
            let outcome = MemDevice::new(geometry, 1);
            assert!(
                matches!(outcome, Err(Error::Unusable { .. })),
                "{geometry:?} accepted"
            );
        }
        let queue = MemDevice::new(GEOMETRY, 1).expect("device").open_queue(0);
        assert!(
            matches!(queue, Err(Error::Unusable { .. })),
            "depth 0 accepted"
        );
    }
}
