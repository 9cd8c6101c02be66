//! A seeded random workload through NvmeQueue on the controller model,
//! checked against a shadow copy of the namespace: random sizes, LBAs,
//! depths, op mixes and injected media errors. FLOE_SEED replays a run.

use std::sync::Arc;

use floe_blk::contract::test_seed;
use floe_blk::{BlockDevice, BlockOp, Completion, SubmitError, Tag};
use floe_nvme::model::{Match, ModelConfig, ModelController};
use floe_nvme::spec::{MediaStatus, NvmOpcode, StatusCode};
use floe_nvme::{Controller, ControllerOptions, NvmeDevice, TestClock};
use floe_rt::DmaBuffer;

/// SplitMix64, so the test needs no rand dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const BLOCK_BYTES: u64 = 512;
const LANE_BLOCKS: u64 = 1024;

/// What one lane has in flight.
struct Pending {
    op: BlockOp,
    /// For writes: the bytes written (the shadow takes them on success).
    data: Option<Vec<u8>>,
}

/// Random reads, writes (split when above the random transfer limit),
/// flushes and deallocates, each lane (a disjoint
/// LBA range) with at most one request in flight, so the order of
/// completions cannot change the outcome; injected read and write errors
/// fail their request (a failed write leaves only its own range undefined). Every read
/// matches the shadow; every injected error comes back typed.
#[test]
fn random_workload_matches_the_shadow() {
    let seed = test_seed();
    let mut rng = Rng(seed);
    for round in 0..6 {
        let depth = 1 + rng.below(32) as u32;
        let lanes = u64::from(depth);
        let capacity_blocks = lanes * LANE_BLOCKS;
        // Transfer limits of 16 KiB..1 MiB: requests up to 64 KiB are
        // split into as many as four commands.
        let mdts = 2 + rng.below(7) as u8;
        let model = Arc::new(ModelController::new(ModelConfig {
            block_bytes: BLOCK_BYTES as u32,
            capacity_blocks,
            mdts,
            ..ModelConfig::default()
        }));
        let controller = Controller::start(
            model.clone(),
            model.clone(),
            Arc::new(TestClock::new(0)),
            ControllerOptions::default(),
        )
        .expect("start");
        let device = NvmeDevice::new(controller, "model");
        let mut queue = device.open_queue(depth).expect("open");
        let mut shadow = vec![0u8; (capacity_blocks * BLOCK_BYTES) as usize];
        let mut pending: Vec<Option<Pending>> = (0..lanes).map(|_| None).collect();
        let mut injected = 0u64;
        let mut typed_errors = 0u64;
        let mut completions: Vec<Completion> = Vec::new();
        for step in 0..2000u64 {
            let lane = rng.below(lanes);
            if pending[lane as usize].is_none() && step < 1900 {
                let frames = 1 + rng.below(16) as usize;
                let len_blocks = (frames * 4096) as u64 / BLOCK_BYTES;
                let lba = lane * LANE_BLOCKS + rng.below(LANE_BLOCKS - len_blocks + 1);
                let (op, buffer, data) = match rng.below(10) {
                    0..=3 => {
                        let mut buffer = DmaBuffer::new(frames * 4096);
                        for byte in buffer.as_mut_slice().iter_mut() {
                            *byte = rng.next() as u8;
                        }
                        let data = buffer.as_slice().to_vec();
                        (BlockOp::Write { lba }, Some(buffer), Some(data))
                    }
                    4..=7 => (
                        BlockOp::Read { lba },
                        Some(DmaBuffer::new(frames * 4096)),
                        None,
                    ),
                    8 => (BlockOp::Flush, None, None),
                    _ => (
                        BlockOp::Deallocate {
                            lba,
                            block_count: len_blocks,
                        },
                        None,
                        None,
                    ),
                };
                if matches!(op, BlockOp::Read { .. } | BlockOp::Write { .. }) && rng.below(20) == 0
                {
                    let opcode = if data.is_some() {
                        NvmOpcode::Write
                    } else {
                        NvmOpcode::Read
                    };
                    model.inject_status(
                        Match {
                            opcode: Some(opcode),
                            lba: Some(lba),
                        },
                        StatusCode::Media(MediaStatus::WriteFault),
                        1,
                    );
                    injected += 1;
                }
                match queue.submit(op, buffer, Tag(lane)) {
                    Ok(()) => pending[lane as usize] = Some(Pending { op, data }),
                    Err(SubmitError::Busy { .. }) => {
                        panic!("seed={seed} round={round}: Busy with a free lane")
                    }
                    Err(SubmitError::Invalid(e)) => panic!("seed={seed} round={round}: {e}"),
                }
            }
            if rng.below(3) == 0 || step >= 1900 {
                completions.clear();
                queue.poll(&mut completions, 1 + rng.below(8) as usize);
                for completion in completions.drain(..) {
                    let lane = completion.tag.0 as usize;
                    let Some(Pending { op, data }) = pending[lane].take() else {
                        panic!("seed={seed} round={round}: completion for idle lane {lane}");
                    };
                    if let Err(e) = &completion.result {
                        let Some(floe_nvme::NvmeError::Command { status, lba, .. }) =
                            std::error::Error::source(e)
                                .and_then(|source| source.downcast_ref::<std::io::Error>())
                                .and_then(|io| io.get_ref())
                                .and_then(|inner| inner.downcast_ref::<floe_nvme::NvmeError>())
                        else {
                            panic!("seed={seed} round={round}: untyped error {e}");
                        };
                        assert_eq!(status.code, StatusCode::Media(MediaStatus::WriteFault));
                        // The error names the failed command's LBA: the
                        // request's, or a later piece's when it was split.
                        let (BlockOp::Read { lba: start } | BlockOp::Write { lba: start }) = op
                        else {
                            panic!("seed={seed} round={round}: injected error on {op:?}");
                        };
                        assert!(*lba >= start, "seed={seed} round={round}: error lba {lba}");
                        if let (BlockOp::Write { lba: start }, Some(data)) = (op, &data) {
                            // A failed write leaves its range undefined (the
                            // pieces that succeeded landed): take what the
                            // device holds; the range is this lane's alone.
                            let offset = (start * BLOCK_BYTES) as usize;
                            shadow[offset..offset + data.len()]
                                .copy_from_slice(&model.namespace_bytes(offset, data.len()));
                        }
                        typed_errors += 1;
                        continue;
                    }
                    match op {
                        BlockOp::Write { lba } => {
                            let data = data.expect("write data");
                            let start = (lba * BLOCK_BYTES) as usize;
                            shadow[start..start + data.len()].copy_from_slice(&data);
                        }
                        BlockOp::Read { lba } => {
                            let buffer = completion.buffer.expect("read buffer back");
                            let start = (lba * BLOCK_BYTES) as usize;
                            assert!(
                                buffer.as_slice() == &shadow[start..start + buffer.len_bytes()],
                                "seed={seed} round={round} step={step}: read at lba {lba} differs"
                            );
                        }
                        BlockOp::Deallocate { lba, block_count } => {
                            // The model reads deallocated blocks as zeroes.
                            let start = (lba * BLOCK_BYTES) as usize;
                            shadow[start..start + (block_count * BLOCK_BYTES) as usize].fill(0);
                        }
                        BlockOp::Flush => {}
                    }
                }
            }
        }
        // Drain what is left, bounded.
        for _ in 0..10_000 {
            if queue.in_flight() == 0 {
                break;
            }
            completions.clear();
            queue.poll(&mut completions, 64);
            for completion in completions.drain(..) {
                pending[completion.tag.0 as usize] = None;
                if completion.result.is_err() {
                    typed_errors += 1;
                }
            }
        }
        assert_eq!(queue.in_flight(), 0, "seed={seed} round={round}: stuck");
        assert_eq!(
            typed_errors, injected,
            "seed={seed} round={round}: every injected error came back once"
        );
        assert_eq!(
            model.namespace_bytes(0, shadow.len()),
            shadow,
            "seed={seed} round={round}: namespace differs from the shadow"
        );
    }
}
