//! The contract of the `BlockDevice` seam, as checks every implementation
//! must pass: MemDevice and FileDevice in this crate's tests, NvmeDevice in
//! a QEMU guest. Each check panics with the device's name and what broke.
//!
//! The device needs at least [`MIN_CAPACITY_BYTES`] and its contents are
//! overwritten. Checks assume nothing about blocks never written (a file or
//! disk may hold old data) and nothing about durability across a crash
//! (that is the crash tests' job); they use frame-sized (4 KiB) buffers,
//! so a 512-byte-block device is also tested at LBAs that are not frame
//! aligned.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use floe_rt::{DmaBuffer, DMA_ALIGN_BYTES};

use crate::rng::SplitMix64;
use crate::{BlockDevice, BlockOp, BlockQueue, Completion, Error, SubmitError, Tag};

/// The device must hold 512 frames: the checks use disjoint regions of it.
pub const MIN_CAPACITY_BYTES: u64 = 512 * FRAME_BYTES as u64;
const FRAME_BYTES: usize = DMA_ALIGN_BYTES;

/// How long a check waits for one completion before failing. A deadline
/// on a condition, not a sleep: synchronous devices never wait at all.
const COMPLETION_WAIT_MAX: Duration = Duration::from_secs(30);

/// Runs every check, in an order where each builds on the ones before.
pub fn run_all(device: &dyn BlockDevice) {
    check_geometry(device);
    check_round_trip(device);
    check_bad_requests(device);
    check_busy_then_poll(device);
    check_flush(device);
    check_deallocate(device);
    check_concurrent_queues(device);
}

/// Where frame `frame_no` (4 KiB units from the start) begins, in blocks.
fn frame_lba(device: &dyn BlockDevice, frame_no: u64) -> u64 {
    frame_no * (FRAME_BYTES as u64 / u64::from(device.geometry().block_bytes))
}

fn capacity_frames(device: &dyn BlockDevice) -> u64 {
    device.geometry().capacity_bytes() / FRAME_BYTES as u64
}

/// Deterministic contents for `frame_count` frames written at `lba` with
/// `salt` (which check, which thread), so every write is distinguishable.
fn pattern(salt: u64, lba: u64, frame_count: usize) -> DmaBuffer {
    let mut buffer = DmaBuffer::new(frame_count * FRAME_BYTES);
    let mut rng = SplitMix64::new(salt.rotate_left(32) ^ lba);
    for word in buffer.as_mut_slice().chunks_mut(8) {
        word.copy_from_slice(&rng.next_u64().to_le_bytes()[..word.len()]);
    }
    buffer
}

fn open(device: &dyn BlockDevice, depth: u32) -> Box<dyn BlockQueue> {
    match device.open_queue(depth) {
        Ok(queue) => queue,
        Err(e) => panic!("{}: open_queue({depth}): {e}", device.describe()),
    }
}

fn ok<T>(device: &dyn BlockDevice, what: &str, result: Result<T, Error>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{}: {what}: {e}", device.describe()),
    }
}

fn write(device: &dyn BlockDevice, queue: &mut dyn BlockQueue, lba: u64, buffer: DmaBuffer) {
    let frame_count = buffer.len_bytes() / FRAME_BYTES;
    ok(
        device,
        &format!("write of {frame_count} frames at lba {lba}"),
        queue.write(lba, buffer),
    );
}

fn read(
    device: &dyn BlockDevice,
    queue: &mut dyn BlockQueue,
    lba: u64,
    frame_count: usize,
) -> DmaBuffer {
    let mut buffer = DmaBuffer::new(frame_count * FRAME_BYTES);
    buffer.as_mut_slice().fill(0xee); // a read must overwrite every byte
    ok(
        device,
        &format!("read of {frame_count} frames at lba {lba}"),
        queue.read(lba, buffer),
    )
}

/// Polls until at least one completion arrives; returns how many.
fn poll_some(
    device: &dyn BlockDevice,
    queue: &mut dyn BlockQueue,
    completions: &mut Vec<Completion>,
    max: usize,
    what: &str,
) -> usize {
    let deadline = Instant::now() + COMPLETION_WAIT_MAX;
    loop {
        let before = completions.len();
        let count = queue.poll(completions, max);
        assert!(
            count <= max,
            "{}: poll returned {count} > max {max}",
            device.describe()
        );
        assert_eq!(
            completions.len() - before,
            count,
            "{}: poll's count disagrees with what it appended",
            device.describe()
        );
        if count > 0 {
            return count;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {what}: no completion within {COMPLETION_WAIT_MAX:?}",
            device.describe()
        );
        std::hint::spin_loop();
    }
}

/// Geometry is self-consistent and large enough for the suite.
pub fn check_geometry(device: &dyn BlockDevice) {
    let name = device.describe();
    assert!(!name.is_empty(), "describe() is empty");
    let geometry = device.geometry();
    let block_bytes = geometry.block_bytes;
    assert!(
        block_bytes.is_power_of_two() && (512..=4096).contains(&block_bytes),
        "{name}: block of {block_bytes} bytes: expected a power of two in 512..=4096"
    );
    assert!(
        geometry.atomic_write_bytes >= block_bytes,
        "{name}: atomic write {} < block {block_bytes}",
        geometry.atomic_write_bytes
    );
    assert!(
        geometry.atomic_write_bytes.is_multiple_of(block_bytes),
        "{name}: atomic write {} not a multiple of block {block_bytes}",
        geometry.atomic_write_bytes
    );
    let capacity_bytes = geometry.capacity_blocks.checked_mul(u64::from(block_bytes));
    assert!(
        capacity_bytes.is_some_and(|bytes| bytes >= MIN_CAPACITY_BYTES),
        "{name}: {} blocks of {block_bytes} bytes; the contract suite needs {MIN_CAPACITY_BYTES} bytes",
        geometry.capacity_blocks
    );
    assert_eq!(
        geometry,
        device.geometry(),
        "{name}: geometry changed between calls"
    );
}

/// Writes of 1 to 32 frames at the first and last LBAs, in the middle, and
/// (on 512-byte-block devices) off frame alignment all read back exactly,
/// and none of them disturbs another.
pub fn check_round_trip(device: &dyn BlockDevice) {
    let capacity_blocks = device.geometry().capacity_blocks;
    let last_frame = capacity_frames(device) - 1;
    // (lba, frames): disjoint; the second starts one block into frame 2.
    let cases = [
        (0, 1),
        (frame_lba(device, 2) + 1, 2),
        (frame_lba(device, 8), 3),
        (frame_lba(device, 16), 8),
        (frame_lba(device, 32), 32),
        (frame_lba(device, last_frame - 5), 4),
        (capacity_blocks - frame_lba(device, 1), 1),
    ];
    let mut queue = open(device, 1);
    for (salt, &(lba, frame_count)) in cases.iter().enumerate() {
        write(
            device,
            queue.as_mut(),
            lba,
            pattern(salt as u64, lba, frame_count),
        );
    }
    for (salt, &(lba, frame_count)) in cases.iter().enumerate() {
        let got = read(device, queue.as_mut(), lba, frame_count);
        let expected = pattern(salt as u64, lba, frame_count);
        assert!(
            got.as_slice() == expected.as_slice(),
            "{}: {frame_count} frames read back at lba {lba} differ from what was written",
            device.describe()
        );
    }
}

/// Submits `op` and expects it refused at submit as `Invalid` with an
/// error `accept` recognises; the queue stays empty.
fn expect_refused(
    device: &dyn BlockDevice,
    queue: &mut dyn BlockQueue,
    op: BlockOp,
    buffer: Option<DmaBuffer>,
    accept: fn(&Error) -> bool,
) {
    let with_buffer = buffer.as_ref().map(DmaBuffer::len_bytes);
    match queue.submit(op, buffer, Tag(7)) {
        Err(SubmitError::Invalid(e)) if accept(&e) => {}
        Err(SubmitError::Invalid(e)) => {
            panic!(
                "{}: {op:?} (buffer {with_buffer:?}) refused with the wrong error: {e}",
                device.describe()
            )
        }
        Err(SubmitError::Busy { .. }) => {
            panic!("{}: {op:?} on an empty queue: Busy", device.describe())
        }
        Ok(()) => panic!(
            "{}: {op:?} (buffer {with_buffer:?}) accepted",
            device.describe()
        ),
    }
    assert_eq!(
        queue.in_flight(),
        0,
        "{}: a refused {op:?} is in flight",
        device.describe()
    );
}

/// Out-of-range, overflowing, empty and buffer-mismatched requests are
/// refused at submit with the typed error, never a panic; queue depth 0
/// is refused; the queue works normally afterwards.
pub fn check_bad_requests(device: &dyn BlockDevice) {
    let capacity_blocks = device.geometry().capacity_blocks;
    let frame = || Some(DmaBuffer::new(FRAME_BYTES));
    let two_frames = || Some(DmaBuffer::new(2 * FRAME_BYTES));
    let out_of_range: fn(&Error) -> bool = |e| matches!(e, Error::OutOfRange { .. });
    let bad_buffer: fn(&Error) -> bool = |e| matches!(e, Error::BadBuffer { .. });
    let mut queue = open(device, 2);
    let queue = queue.as_mut();
    expect_refused(
        device,
        queue,
        BlockOp::Read {
            lba: capacity_blocks,
        },
        frame(),
        out_of_range,
    );
    expect_refused(
        device,
        queue,
        BlockOp::Write {
            lba: capacity_blocks,
        },
        frame(),
        out_of_range,
    );
    // Two frames are at least two blocks; one block is left.
    let last_lba = capacity_blocks - 1;
    expect_refused(
        device,
        queue,
        BlockOp::Read { lba: last_lba },
        two_frames(),
        out_of_range,
    );
    expect_refused(
        device,
        queue,
        BlockOp::Write { lba: last_lba },
        two_frames(),
        out_of_range,
    );
    expect_refused(
        device,
        queue,
        BlockOp::Write { lba: u64::MAX },
        frame(),
        out_of_range,
    );
    expect_refused(
        device,
        queue,
        BlockOp::Read { lba: u64::MAX - 1 },
        two_frames(),
        out_of_range,
    );
    expect_refused(device, queue, BlockOp::Read { lba: 0 }, None, bad_buffer);
    expect_refused(device, queue, BlockOp::Write { lba: 0 }, None, bad_buffer);
    expect_refused(device, queue, BlockOp::Flush, frame(), bad_buffer);
    let deallocate = |lba, block_count| BlockOp::Deallocate { lba, block_count };
    expect_refused(device, queue, deallocate(0, 1), frame(), bad_buffer);
    expect_refused(
        device,
        queue,
        deallocate(capacity_blocks, 1),
        None,
        out_of_range,
    );
    expect_refused(device, queue, deallocate(last_lba, 2), None, out_of_range);
    expect_refused(device, queue, deallocate(1, u64::MAX), None, out_of_range);
    expect_refused(device, queue, deallocate(0, 0), None, |e| {
        matches!(e, Error::EmptyRange { .. })
    });
    assert!(
        device.open_queue(0).is_err(),
        "{}: queue of depth 0 opened",
        device.describe()
    );
    read(device, queue, 0, 1);
}

/// A queue of depth d takes d requests, refuses the next with `Busy`
/// handing back op, buffer and tag, and takes it once a completion has
/// been polled; every tag completes once, with its buffer.
pub fn check_busy_then_poll(device: &dyn BlockDevice) {
    const DEPTH: u32 = 4;
    let name = device.describe();
    let mut queue = open(device, DEPTH);
    let queue = queue.as_mut();
    for tag in 0..u64::from(DEPTH) {
        let op = BlockOp::Read {
            lba: frame_lba(device, tag),
        };
        if let Err(e) = queue.submit(op, Some(DmaBuffer::new(FRAME_BYTES)), Tag(tag)) {
            panic!("{name}: submit {tag} of {DEPTH} on an empty queue: {e:?}");
        }
    }
    assert_eq!(
        queue.in_flight(),
        DEPTH as usize,
        "{name}: in_flight with a full queue"
    );
    let extra_op = BlockOp::Read {
        lba: frame_lba(device, u64::from(DEPTH)),
    };
    let extra_buffer = DmaBuffer::new(FRAME_BYTES);
    let extra_iova = extra_buffer.iova();
    let (op, buffer, tag) = match queue.submit(extra_op, Some(extra_buffer), Tag(u64::from(DEPTH)))
    {
        Err(SubmitError::Busy { op, buffer, tag }) => (op, buffer, tag),
        other => {
            panic!("{name}: submit to a full queue of depth {DEPTH}: {other:?}, expected Busy")
        }
    };
    assert_eq!(op, extra_op, "{name}: Busy changed the op");
    assert_eq!(tag, Tag(u64::from(DEPTH)), "{name}: Busy changed the tag");
    assert!(
        buffer
            .as_ref()
            .is_some_and(|buffer| buffer.iova() == extra_iova),
        "{name}: Busy did not hand back the same buffer"
    );
    let mut completions = Vec::new();
    assert_eq!(
        queue.poll(&mut completions, 0),
        0,
        "{name}: poll with max 0 returned something"
    );
    poll_some(
        device,
        queue,
        &mut completions,
        1,
        "first completion of a full queue",
    );
    if let Err(e) = queue.submit(op, buffer, tag) {
        panic!("{name}: submit after a completion was polled: {e:?}");
    }
    while completions.len() < DEPTH as usize + 1 {
        poll_some(device, queue, &mut completions, 2, "draining the queue");
    }
    assert_eq!(queue.in_flight(), 0, "{name}: in_flight after draining");
    let mut tags = BTreeSet::new();
    for completion in &completions {
        assert!(completion.result.is_ok(), "{name}: {:?}", completion.result);
        assert!(
            completion
                .buffer
                .as_ref()
                .is_some_and(|b| b.len_bytes() == FRAME_BYTES),
            "{name}: tag {:?} completed without its buffer",
            completion.tag
        );
        assert!(
            tags.insert(completion.tag.0),
            "{name}: tag {:?} completed twice",
            completion.tag
        );
    }
    assert_eq!(
        tags,
        (0..=u64::from(DEPTH)).collect(),
        "{name}: completed tags"
    );
}

/// Flush succeeds with and without writes before it, and leaves the
/// written data readable.
pub fn check_flush(device: &dyn BlockDevice) {
    let mut queue = open(device, 1);
    let lba = frame_lba(device, 64);
    write(device, queue.as_mut(), lba, pattern(100, lba, 2));
    ok(device, "flush after a write", queue.flush());
    ok(device, "flush with nothing written", queue.flush());
    let got = read(device, queue.as_mut(), lba, 2);
    assert!(
        got.as_slice() == pattern(100, lba, 2).as_slice(),
        "{}: data changed across flush",
        device.describe()
    );
}

/// Deallocated blocks read back as zeroes or their old contents, never an
/// error; blocks around them are untouched; they can be written again.
pub fn check_deallocate(device: &dyn BlockDevice) {
    let name = device.describe();
    let block_bytes = device.geometry().block_bytes as usize;
    let mut queue = open(device, 1);
    let queue = queue.as_mut();
    let lba = frame_lba(device, 72);
    let old = pattern(200, lba, 8);
    write(device, queue, lba, pattern(200, lba, 8));
    let hole_lba = frame_lba(device, 74);
    let hole_blocks = frame_lba(device, 4);
    ok(
        device,
        "deallocate",
        queue.deallocate(hole_lba, hole_blocks),
    );
    let got = read(device, queue, lba, 8);
    let hole =
        frame_lba(device, 2) as usize * block_bytes..frame_lba(device, 6) as usize * block_bytes;
    for (i, (got, old)) in got
        .as_slice()
        .chunks(block_bytes)
        .zip(old.as_slice().chunks(block_bytes))
        .enumerate()
    {
        let offset_bytes = i * block_bytes;
        let block_lba = lba + i as u64;
        if hole.contains(&offset_bytes) {
            assert!(
                got == old || got.iter().all(|&b| b == 0),
                "{name}: deallocated block {block_lba} is neither zeroes nor its old contents"
            );
        } else {
            assert!(
                got == old,
                "{name}: block {block_lba} next to a deallocate changed"
            );
        }
    }
    write(device, queue, hole_lba, pattern(201, hole_lba, 4));
    let got = read(device, queue, hole_lba, 4);
    assert!(
        got.as_slice() == pattern(201, hole_lba, 4).as_slice(),
        "{name}: rewrite of deallocated blocks did not read back"
    );
    let last_lba = device.geometry().capacity_blocks - 1;
    ok(
        device,
        "deallocate of the last block",
        queue.deallocate(last_lba, 1),
    );
}

/// Four threads, each with its own queue of depth 8, keep their queues
/// full writing then reading back disjoint regions at the same time;
/// every byte comes back as its thread wrote it.
pub fn check_concurrent_queues(device: &dyn BlockDevice) {
    const THREADS: u64 = 4;
    const FRAMES_PER_THREAD: u64 = 32;
    const DEPTH: u32 = 8;
    std::thread::scope(|scope| {
        for thread_no in 0..THREADS {
            scope.spawn(move || {
                let first_frame = 128 + thread_no * FRAMES_PER_THREAD;
                let salt = 300 + thread_no;
                let mut queue = open(device, DEPTH);
                let queue = queue.as_mut();
                let frames: Vec<u64> = (first_frame..first_frame + FRAMES_PER_THREAD).collect();
                // Writes, then reads, each with the queue kept full.
                for writing in [true, false] {
                    let mut completions = Vec::new();
                    let mut next = 0;
                    let mut done = 0;
                    while done < frames.len() {
                        while next < frames.len() && queue.in_flight() < DEPTH as usize {
                            let frame_no = frames[next];
                            let lba = frame_lba(device, frame_no);
                            let (op, buffer) = if writing {
                                (BlockOp::Write { lba }, pattern(salt, lba, 1))
                            } else {
                                (BlockOp::Read { lba }, DmaBuffer::new(FRAME_BYTES))
                            };
                            if let Err(e) = queue.submit(op, Some(buffer), Tag(frame_no)) {
                                panic!(
                                    "{}: thread {thread_no}: submit {op:?}: {e:?}",
                                    device.describe()
                                );
                            }
                            next += 1;
                        }
                        completions.clear();
                        done += poll_some(
                            device,
                            queue,
                            &mut completions,
                            DEPTH as usize,
                            "concurrent I/O",
                        );
                        for completion in completions.drain(..) {
                            let frame_no = completion.tag.0;
                            let what = format!("thread {thread_no} frame {frame_no}");
                            ok(device, &what, completion.result);
                            if !writing {
                                let lba = frame_lba(device, frame_no);
                                let expected = pattern(salt, lba, 1);
                                assert!(
                                    completion
                                        .buffer
                                        .as_ref()
                                        .is_some_and(|b| b.as_slice() == expected.as_slice()),
                                    "{}: {what}: read back differs from what was written",
                                    device.describe()
                                );
                            }
                        }
                    }
                }
            });
        }
    });
}

/// The seed for one test run: `FLOE_SEED` if set (to replay a failure),
/// else a fresh one. Printed first either way, so a failure can be replayed.
pub fn test_seed() -> u64 {
    let seed = match std::env::var("FLOE_SEED") {
        Ok(text) => match text.trim().parse() {
            Ok(seed) => seed,
            Err(e) => panic!("FLOE_SEED={text:?}: expected an unsigned 64-bit integer ({e})"),
        },
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0),
    };
    eprintln!("FLOE_SEED={seed}");
    seed
}
