//! The driver's self-test, for the QEMU `nvme` scenario and hwtest: on an
//! opened [`NvmeDevice`] it prints the identity, writes and reads back
//! seeded patterns checked by CRC32C across transfer sizes from 512 B to
//! 1 MiB and queue depths 1 to 128, flushes, deallocates, and resets the
//! controller in the middle of a run. It overwrites the first
//! [`SELFTEST_REGION_BYTES`] of the namespace.
//!
//! The caller passes where to print (the serial console in the appliance)
//! and a seed (printed first, so a failure can be replayed).

use std::io::Write;

use floe_blk::{BlockDevice, BlockOp, BlockQueue, Completion, SubmitError, Tag};
use floe_rt::{DmaBuffer, DMA_ALIGN_BYTES};

use crate::device::{NvmeDevice, NvmeQueue};
use crate::error::NvmeError;

/// Bytes at the start of the namespace the self-test overwrites.
pub const SELFTEST_REGION_BYTES: u64 = 16 << 20;

/// Transfer sizes tried (those not a multiple of the block or above the
/// controller's limit are skipped and said so).
pub const SELFTEST_SIZES: [usize; 12] = [
    512,
    1024,
    2048,
    4096,
    8192,
    12288,
    16384,
    65536,
    131_072,
    262_144,
    524_288,
    1 << 20,
];

/// Queue depths tried.
pub const SELFTEST_DEPTHS: [u32; 9] = [1, 2, 4, 8, 16, 32, 64, 100, 128];

/// Polls one wait may take before the self-test gives up (a hung device
/// is also caught by the driver's own timeouts, which fail the command).
const POLLS_MAX: u64 = 50_000_000;

#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    #[error("self-test {phase}: {op} at lba {lba}")]
    Io {
        phase: &'static str,
        op: &'static str,
        lba: u64,
        #[source]
        source: floe_blk::Error,
    },
    #[error("self-test {phase}: {len_bytes} bytes at lba {lba} read back with crc32c {found:#010x}, wrote {expected:#010x}")]
    Mismatch {
        phase: &'static str,
        lba: u64,
        len_bytes: usize,
        expected: u32,
        found: u32,
    },
    #[error("self-test {phase}: {what}")]
    Driver {
        phase: &'static str,
        what: &'static str,
        #[source]
        source: NvmeError,
    },
    #[error("self-test {phase}: {reason}")]
    Failed { phase: &'static str, reason: String },
    #[error("self-test: writing the report")]
    Output(#[source] std::io::Error),
}

/// One phase's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseReport {
    pub name: String,
    pub ios: u64,
    pub bytes: u64,
}

/// What the self-test did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelftestReport {
    pub seed: u64,
    pub phases: Vec<PhaseReport>,
    /// Commands failed by the mid-run reset (each told to its submitter).
    pub failed_by_reset: u64,
}

/// SplitMix64: a seeded pattern generator (no dependency needed for this).
struct Pattern(u64);

impl Pattern {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A buffer of at least `len_bytes` (frame-rounded) whose first
    /// `len_bytes` are derived from (seed, lba); returns it and their crc.
    fn buffer(seed: u64, lba: u64, len_bytes: usize) -> (DmaBuffer, u32) {
        let mut buffer = DmaBuffer::new(len_bytes.next_multiple_of(DMA_ALIGN_BYTES));
        let mut pattern = Pattern(seed ^ lba.rotate_left(17));
        for word in buffer.as_mut_slice()[..len_bytes].chunks_mut(8) {
            word.copy_from_slice(&pattern.next().to_le_bytes()[..word.len()]);
        }
        let crc = crc32c::crc32c(&buffer.as_slice()[..len_bytes]);
        (buffer, crc)
    }
}

struct Run<'a> {
    device: &'a NvmeDevice,
    out: &'a mut dyn Write,
    seed: u64,
    block_bytes: u64,
    report: SelftestReport,
}

fn say(out: &mut dyn Write, line: std::fmt::Arguments<'_>) -> Result<(), SelftestError> {
    out.write_fmt(line)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(SelftestError::Output)
}

/// Submits, retrying on Busy after a poll that moves completions into
/// `done`.
fn submit(
    phase: &'static str,
    queue: &mut NvmeQueue,
    op: BlockOp,
    buffer: Option<DmaBuffer>,
    len_bytes: Option<usize>,
    tag: Tag,
    done: &mut Vec<Completion>,
) -> Result<(), SelftestError> {
    let mut pending = Some(buffer);
    for _ in 0..POLLS_MAX {
        let Some(buffer) = pending.take() else {
            return Ok(());
        };
        let result = match (len_bytes, buffer) {
            (Some(len), Some(buffer)) => queue.submit_partial(op, buffer, len, tag),
            (_, buffer) => BlockQueue::submit(queue, op, buffer, tag),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(SubmitError::Busy { buffer, .. }) => {
                pending = Some(buffer);
                queue.poll(done, usize::MAX);
            }
            Err(SubmitError::Invalid(source)) => {
                return Err(SelftestError::Io {
                    phase,
                    op: op.name(),
                    lba: tag.0,
                    source,
                })
            }
        }
    }
    Err(SelftestError::Failed {
        phase,
        reason: format!("queue stayed busy for {POLLS_MAX} polls"),
    })
}

/// Polls until `queue` has nothing in flight.
fn drain(
    phase: &'static str,
    queue: &mut NvmeQueue,
    done: &mut Vec<Completion>,
) -> Result<(), SelftestError> {
    for _ in 0..POLLS_MAX {
        if BlockQueue::in_flight(queue) == 0 {
            return Ok(());
        }
        queue.poll(done, usize::MAX);
    }
    Err(SelftestError::Failed {
        phase,
        reason: format!(
            "{} commands still in flight after {POLLS_MAX} polls",
            BlockQueue::in_flight(queue)
        ),
    })
}

/// Turns a failed completion into the self-test's error (moving the
/// device's error out, so its source chain is kept).
fn check_ok(
    phase: &'static str,
    completion: &mut Completion,
    op: &'static str,
) -> Result<(), SelftestError> {
    match std::mem::replace(&mut completion.result, Ok(())) {
        Ok(()) => Ok(()),
        Err(source) => Err(SelftestError::Io {
            phase,
            op,
            lba: completion.tag.0,
            source,
        }),
    }
}

fn check_crc(
    phase: &'static str,
    completion: &Completion,
    len_bytes: usize,
    expected: u32,
) -> Result<(), SelftestError> {
    let found = completion
        .buffer
        .as_ref()
        .map_or(0, |buffer| crc32c::crc32c(&buffer.as_slice()[..len_bytes]));
    if found != expected {
        return Err(SelftestError::Mismatch {
            phase,
            lba: completion.tag.0,
            len_bytes,
            expected,
            found,
        });
    }
    Ok(())
}

impl Run<'_> {
    fn open(&self, phase: &'static str, depth: u32) -> Result<NvmeQueue, SelftestError> {
        self.device
            .open_nvme_queue(depth)
            .map_err(|source| SelftestError::Driver {
                phase,
                what: "opening a queue",
                source,
            })
    }

    fn phase(&mut self, name: String, ios: u64, bytes: u64) -> Result<(), SelftestError> {
        say(
            self.out,
            format_args!("nvme selftest: {name}: ok, {ios} I/Os, {bytes} bytes"),
        )?;
        self.report.phases.push(PhaseReport { name, ios, bytes });
        Ok(())
    }

    fn identity(&mut self) -> Result<(), SelftestError> {
        let controller = self.device.controller();
        let identity = controller.identity();
        let id = &identity.controller;
        let ns = &identity.namespace;
        let geometry = self.device.geometry();
        let version = identity.version;
        say(
            self.out,
            format_args!(
                "nvme selftest: seed {} | {} serial {} firmware {} vendor {:#06x} | NVMe {}.{}.{}",
                self.seed,
                id.model,
                id.serial,
                id.firmware,
                id.vendor_id,
                version >> 16,
                (version >> 8) & 0xff,
                version & 0xff
            ),
        )?;
        say(self.out, format_args!(
            "nvme selftest: namespace {}: {} blocks of {} bytes ({} MiB), capacity {} blocks, \
             format {} of {}, volatile write cache {}, atomic write {} bytes (namespace fields {}), \
             max transfer {} bytes, {} I/O queue pairs, dsm {}, write zeroes {}",
            identity.nsid, ns.size_blocks, geometry.block_bytes,
            geometry.capacity_bytes() >> 20, ns.capacity_blocks, ns.format_index,
            ns.formats.len(), id.volatile_write_cache, geometry.atomic_write_bytes,
            ns.atomic_fields_valid, controller.max_transfer_bytes(),
            controller.granted_queues(), id.optional_commands.dataset_management,
            id.optional_commands.write_zeroes
        ))
    }

    /// Each size: write a pattern, read it back into a fresh buffer, compare
    /// CRC32C. Depth 1.
    fn sizes(&mut self) -> Result<(), SelftestError> {
        const PHASE: &str = "sizes";
        let max_transfer = self.device.controller().max_transfer_bytes() as usize;
        let mut queue = self.open(PHASE, 2)?;
        let mut done = Vec::new();
        let (mut ios, mut bytes, mut lba) = (0u64, 0u64, 0u64);
        for len_bytes in SELFTEST_SIZES {
            // Sizes above the controller's limit are split by the queue.
            if !(len_bytes as u64).is_multiple_of(self.block_bytes) {
                say(
                    self.out,
                    format_args!(
                        "nvme selftest: sizes: {len_bytes} bytes skipped (block {} bytes)",
                        self.block_bytes
                    ),
                )?;
                continue;
            }
            let (buffer, crc) = Pattern::buffer(self.seed, lba, len_bytes);
            submit(
                PHASE,
                &mut queue,
                BlockOp::Write { lba },
                Some(buffer),
                Some(len_bytes),
                Tag(lba),
                &mut done,
            )?;
            drain(PHASE, &mut queue, &mut done)?;
            let read_buffer = DmaBuffer::new(len_bytes.next_multiple_of(DMA_ALIGN_BYTES));
            submit(
                PHASE,
                &mut queue,
                BlockOp::Read { lba },
                Some(read_buffer),
                Some(len_bytes),
                Tag(lba),
                &mut done,
            )?;
            drain(PHASE, &mut queue, &mut done)?;
            let [mut write, mut read] = <[Completion; 2]>::try_from(std::mem::take(&mut done))
                .map_err(|done| SelftestError::Failed {
                    phase: PHASE,
                    reason: format!("{} completions for one write and one read", done.len()),
                })?;
            check_ok(PHASE, &mut write, "write")?;
            check_ok(PHASE, &mut read, "read")?;
            check_crc(PHASE, &read, len_bytes, crc)?;
            ios += 2;
            bytes += 2 * len_bytes as u64;
            lba += (len_bytes as u64).div_ceil(self.block_bytes) + 8;
        }
        self.phase(
            format!("sizes 512 B..1 MiB (max transfer {max_transfer} bytes)"),
            ios,
            bytes,
        )
    }

    /// Each depth: keep the queue full of 4 KiB writes over `4 * depth`
    /// frames, then full of reads, checking every CRC.
    fn depths(&mut self) -> Result<(), SelftestError> {
        const PHASE: &str = "depths";
        let frame_blocks = DMA_ALIGN_BYTES as u64 / self.block_bytes;
        let base_lba = (4 << 20) / self.block_bytes;
        let (mut ios, mut bytes) = (0u64, 0u64);
        for depth in SELFTEST_DEPTHS {
            let mut queue = self.open(PHASE, depth)?;
            let frames = u64::from(depth) * 4;
            let mut done = Vec::new();
            let seed = self.seed ^ u64::from(depth);
            for frame in 0..frames {
                let lba = base_lba + frame * frame_blocks;
                let (buffer, _) = Pattern::buffer(seed, lba, DMA_ALIGN_BYTES);
                submit(
                    PHASE,
                    &mut queue,
                    BlockOp::Write { lba },
                    Some(buffer),
                    None,
                    Tag(lba),
                    &mut done,
                )?;
            }
            drain(PHASE, &mut queue, &mut done)?;
            for mut completion in done.drain(..) {
                check_ok(PHASE, &mut completion, "write")?;
            }
            for frame in 0..frames {
                let lba = base_lba + frame * frame_blocks;
                submit(
                    PHASE,
                    &mut queue,
                    BlockOp::Read { lba },
                    Some(DmaBuffer::new(DMA_ALIGN_BYTES)),
                    None,
                    Tag(lba),
                    &mut done,
                )?;
            }
            drain(PHASE, &mut queue, &mut done)?;
            if done.len() as u64 != frames {
                return Err(SelftestError::Failed {
                    phase: PHASE,
                    reason: format!("depth {depth}: {} reads completed of {frames}", done.len()),
                });
            }
            for mut completion in done.drain(..) {
                check_ok(PHASE, &mut completion, "read")?;
                let (_, crc) = Pattern::buffer(seed, completion.tag.0, DMA_ALIGN_BYTES);
                check_crc(PHASE, &completion, DMA_ALIGN_BYTES, crc)?;
            }
            ios += 2 * frames;
            bytes += 2 * frames * DMA_ALIGN_BYTES as u64;
        }
        self.phase("depths 1..128".into(), ios, bytes)
    }

    /// Flush after writes and with nothing to flush; deallocate a range and
    /// read zeroes or the old data, never an error; rewrite it.
    fn flush_and_deallocate(&mut self) -> Result<(), SelftestError> {
        const PHASE: &str = "flush+deallocate";
        let mut queue = self.open(PHASE, 8)?;
        let queue_dyn: &mut dyn BlockQueue = &mut queue;
        let io = |op: &'static str, lba| {
            move |source| SelftestError::Io {
                phase: PHASE,
                op,
                lba,
                source,
            }
        };
        let lba = (12 << 20) / self.block_bytes;
        let frame_blocks = DMA_ALIGN_BYTES as u64 / self.block_bytes;
        let (buffer, crc) = Pattern::buffer(self.seed, lba, 8 * DMA_ALIGN_BYTES);
        queue_dyn.write(lba, buffer).map_err(io("write", lba))?;
        queue_dyn.flush().map_err(io("flush", lba))?;
        queue_dyn.flush().map_err(io("flush", lba))?;
        let hole = lba + 2 * frame_blocks;
        queue_dyn
            .deallocate(hole, 4 * frame_blocks)
            .map_err(io("deallocate", hole))?;
        let read = queue_dyn
            .read(lba, DmaBuffer::new(8 * DMA_ALIGN_BYTES))
            .map_err(io("read", lba))?;
        let (old, _) = Pattern::buffer(self.seed, lba, 8 * DMA_ALIGN_BYTES);
        for (i, (got, old)) in read
            .as_slice()
            .chunks(DMA_ALIGN_BYTES)
            .zip(old.as_slice().chunks(DMA_ALIGN_BYTES))
            .enumerate()
        {
            let in_hole = (2..6).contains(&i);
            let fine = got == old || (in_hole && got.iter().all(|&b| b == 0));
            if !fine {
                return Err(SelftestError::Failed {
                    phase: PHASE,
                    reason: format!(
                        "frame {i} at lba {lba}: neither its data nor (deallocated) zeroes"
                    ),
                });
            }
        }
        let (buffer, _) = Pattern::buffer(self.seed, lba, 8 * DMA_ALIGN_BYTES);
        queue_dyn.write(lba, buffer).map_err(io("rewrite", lba))?;
        let read = queue_dyn
            .read(lba, DmaBuffer::new(8 * DMA_ALIGN_BYTES))
            .map_err(io("read", lba))?;
        if crc32c::crc32c(read.as_slice()) != crc {
            return Err(SelftestError::Mismatch {
                phase: PHASE,
                lba,
                len_bytes: 8 * DMA_ALIGN_BYTES,
                expected: crc,
                found: crc32c::crc32c(read.as_slice()),
            });
        }
        self.phase("flush, deallocate".into(), 7, 32 * DMA_ALIGN_BYTES as u64)
    }

    /// With 32 writes in flight, reset the controller: every write either
    /// completed or failed with Reset (none hangs, none is lost silently);
    /// the completed ones read back; the queue works again.
    fn reset_mid_run(&mut self) -> Result<(), SelftestError> {
        const PHASE: &str = "reset";
        const COUNT: u64 = 32;
        let mut queue = self.open(PHASE, COUNT as u32)?;
        let frame_blocks = DMA_ALIGN_BYTES as u64 / self.block_bytes;
        let base_lba = (14 << 20) / self.block_bytes;
        let seed = self.seed ^ 0x5e5e;
        let mut done = Vec::new();
        for i in 0..COUNT {
            let lba = base_lba + i * frame_blocks;
            let (buffer, _) = Pattern::buffer(seed, lba, DMA_ALIGN_BYTES);
            submit(
                PHASE,
                &mut queue,
                BlockOp::Write { lba },
                Some(buffer),
                None,
                Tag(lba),
                &mut done,
            )?;
        }
        // Let some reach the device and complete, not all.
        queue.poll(&mut done, 4);
        self.device
            .reset()
            .map_err(|source| SelftestError::Driver {
                phase: PHASE,
                what: "resetting the controller",
                source,
            })?;
        drain(PHASE, &mut queue, &mut done)?;
        if done.len() as u64 != COUNT {
            return Err(SelftestError::Failed {
                phase: PHASE,
                reason: format!("{} of {COUNT} writes completed or failed", done.len()),
            });
        }
        let mut survived = Vec::new();
        for mut completion in done.drain(..) {
            match &completion.result {
                Ok(()) => survived.push(completion.tag.0),
                Err(floe_blk::Error::Io { source, .. })
                    if source
                        .get_ref()
                        .and_then(|e| e.downcast_ref::<NvmeError>())
                        .is_some_and(|e| matches!(e, NvmeError::Reset { .. })) =>
                {
                    self.report.failed_by_reset += 1;
                }
                Err(_) => check_ok(PHASE, &mut completion, "write")?,
            }
        }
        for &lba in &survived {
            submit(
                PHASE,
                &mut queue,
                BlockOp::Read { lba },
                Some(DmaBuffer::new(DMA_ALIGN_BYTES)),
                None,
                Tag(lba),
                &mut done,
            )?;
        }
        drain(PHASE, &mut queue, &mut done)?;
        for mut completion in done.drain(..) {
            check_ok(PHASE, &mut completion, "read after reset")?;
            let (_, crc) = Pattern::buffer(seed, completion.tag.0, DMA_ALIGN_BYTES);
            check_crc(PHASE, &completion, DMA_ALIGN_BYTES, crc)?;
        }
        // Rewrite everything and read it back: the queue is whole again.
        for i in 0..COUNT {
            let lba = base_lba + i * frame_blocks;
            let (buffer, _) = Pattern::buffer(seed, lba, DMA_ALIGN_BYTES);
            submit(
                PHASE,
                &mut queue,
                BlockOp::Write { lba },
                Some(buffer),
                None,
                Tag(lba),
                &mut done,
            )?;
        }
        drain(PHASE, &mut queue, &mut done)?;
        for mut completion in done.drain(..) {
            check_ok(PHASE, &mut completion, "write after reset")?;
        }
        let failed = self.report.failed_by_reset;
        self.phase(
            format!(
                "reset mid-run ({} completed before, {failed} failed by it)",
                survived.len()
            ),
            2 * COUNT + survived.len() as u64,
            0,
        )
    }
}

/// Runs the self-test, printing as it goes. Overwrites the first
/// [`SELFTEST_REGION_BYTES`] of the device.
pub fn run(
    device: &NvmeDevice,
    seed: u64,
    out: &mut dyn Write,
) -> Result<SelftestReport, SelftestError> {
    let geometry = device.geometry();
    if geometry.capacity_bytes() < SELFTEST_REGION_BYTES {
        return Err(SelftestError::Failed {
            phase: "setup",
            reason: format!(
                "device of {} bytes; the self-test needs {SELFTEST_REGION_BYTES}",
                geometry.capacity_bytes()
            ),
        });
    }
    let mut run = Run {
        device,
        out,
        seed,
        block_bytes: u64::from(geometry.block_bytes),
        report: SelftestReport {
            seed,
            ..SelftestReport::default()
        },
    };
    run.identity()?;
    run.sizes()?;
    run.depths()?;
    run.flush_and_deallocate()?;
    run.reset_mid_run()?;
    say(
        run.out,
        format_args!("nvme selftest: passed ({} phases)", run.report.phases.len()),
    )?;
    Ok(run.report)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::controller::{Controller, ControllerOptions, TestClock};
    use crate::model::{ModelConfig, ModelController};

    fn device(block_bytes: u32, mdts: u8) -> (Arc<ModelController>, NvmeDevice) {
        let model = Arc::new(ModelController::new(ModelConfig {
            block_bytes,
            mdts,
            capacity_blocks: (32 << 20) / u64::from(block_bytes),
            max_io_queues: 4,
            ..ModelConfig::default()
        }));
        let controller = Controller::start(
            model.clone(),
            model.clone(),
            Arc::new(TestClock::new(0)),
            ControllerOptions::default(),
        )
        .expect("start");
        (model, NvmeDevice::new(controller, "model"))
    }

    /// The self-test passes on the model with 512 B and 4 KiB blocks (and
    /// QEMU's 512 KiB transfer limit, so 1 MiB is split), prints the
    /// identity and every phase, skips sizes below a 4 KiB block, and its
    /// reset really reset the controller.
    #[test]
    fn selftest_passes_on_the_model() {
        for block_bytes in [512, 4096] {
            let (model, device) = device(block_bytes, 7);
            let mut out = Vec::new();
            let report =
                run(&device, 42, &mut out).unwrap_or_else(|e| panic!("{block_bytes}: {e}"));
            let text = String::from_utf8(out).expect("utf-8");
            assert!(text.contains("Floe software NVMe controller"), "{text}");
            assert!(text.contains("serial FLOE-MODEL-0001"), "{text}");
            assert!(text.contains("nvme selftest: passed (4 phases)"), "{text}");
            assert!(text.contains("(max transfer 524288 bytes): ok"), "{text}");
            assert!(!text.contains("1048576 bytes skipped"), "{text}");
            assert_eq!(report.phases.len(), 4);
            assert_eq!(model.counters().resets, 1);
            assert_eq!(model.counters().dma_faults, 0);
            if block_bytes == 4096 {
                assert!(text.contains("512 bytes skipped"), "{text}");
            }
        }
    }

    /// A read error from the device fails the self-test with an error
    /// naming the phase, the op and the LBA (the checks can fail).
    #[test]
    fn selftest_catches_a_read_error() {
        let (model, device) = device(512, 8);
        model.inject_status(
            crate::model::Match {
                opcode: Some(crate::spec::NvmOpcode::Read),
                lba: Some(0),
            },
            crate::spec::StatusCode::Media(crate::spec::MediaStatus::UnrecoveredReadError),
            1,
        );
        match run(&device, 7, &mut Vec::new()) {
            Err(SelftestError::Io {
                phase: "sizes",
                op: "read",
                lba: 0,
                ..
            }) => {}
            other => panic!("expected a read error in the sizes phase, got {other:?}"),
        }
    }
}
