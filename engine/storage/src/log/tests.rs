//! Writer and reader together, on a `MemStore`: what is appended and made
//! durable is read back whole and in order, across blocks, files, restarts
//! and power cuts.

use std::sync::Arc;

use floe_blk::CrashMode;

use super::block::FileHeader;
use super::reader::{open_files, scan};
use super::record::Record;
use super::writer::{FlushPolicy, LogConfig, LogStart, LogWriter};
use crate::fil::{FileStore, Lsn, MemStore, PageId};

use crate::util::rng::Rng;

/// One mtr of WriteBytes records whose bytes encode the mtr's number, so a
/// read-back mtr names itself.
fn mtr_bytes(number: u64, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let records = 1 + rng.below(4);
    for r in 0..records {
        let limit = if rng.below(10) == 0 { 6000 } else { 300 };
        let length = 8 + rng.below(limit) as usize;
        let mut bytes = vec![(r as u8).wrapping_add(number as u8); length];
        bytes[..8].copy_from_slice(&number.to_le_bytes());
        let record = Record::WriteBytes {
            page: PageId::new(0, number as u32),
            offset: 24,
            bytes: &bytes,
        };
        record.encode(&mut out).unwrap();
    }
    Record::MtrEnd.encode(&mut out).unwrap();
    out
}

fn mtr_number(records: &[Record<'_>]) -> u64 {
    let Record::WriteBytes { bytes, .. } = records[0] else {
        panic!("unexpected {:?}", records[0])
    };
    u64::from_le_bytes(bytes[..8].try_into().unwrap())
}

fn config(file_capacity_blocks: u64) -> LogConfig {
    LogConfig {
        file_capacity_blocks,
        flush_policy: FlushPolicy::EveryCommit,
        buffer_limit_bytes: 64 << 10,
    }
}

fn fresh_writer(store: &MemStore, capacity: u64) -> LogWriter {
    let start = LogStart {
        block_no: 1,
        generation: 1,
    };
    LogWriter::start(Arc::new(store.clone()), config(capacity), start, Vec::new()).unwrap()
}

/// Reads every whole mtr from `start`: (number, end LSN) in log order.
fn read_back(store: &MemStore, start: Lsn) -> (Vec<(u64, Lsn)>, super::reader::ScanEnd) {
    let files = open_files(store).unwrap();
    let mut seen = Vec::new();
    let end = scan(&files, start, |records, end_lsn| {
        seen.push((mtr_number(records), end_lsn));
        Ok(())
    })
    .unwrap();
    (seen, end)
}

/// Appended and flushed mtrs come back whole, in order, with their end
/// LSNs, across block boundaries and several redo files.
#[test]
fn appended_mtrs_read_back_in_order_across_files() {
    let store = MemStore::new(512, 512, 1);
    let writer = fresh_writer(&store, 8);
    let mut rng = Rng(7);
    let mut expected = Vec::new();
    let first = writer.appended_lsn();
    for number in 0..400 {
        let bytes = mtr_bytes(number, &mut rng);
        let (_, end) = writer.append(&bytes, |_, _| {}).unwrap();
        expected.push((number, end));
        if rng.below(5) == 0 {
            writer.write_up_to(end).unwrap();
        }
    }
    writer.write_up_to(expected.last().unwrap().1).unwrap();
    assert!(
        store.list().unwrap().len() > 3,
        "expected several redo files"
    );
    let (seen, end) = read_back(&store, first);
    assert_eq!(seen, expected);
    assert_eq!(end.end_lsn, expected.last().unwrap().1);
}

/// Many threads committing at once share flushes (group commit), and every
/// commit is durable when its wait returns.
#[test]
fn concurrent_commits_share_flushes() {
    let store = MemStore::new(4096, 4096, 2);
    let writer = Arc::new(fresh_writer(&store, 4096));
    let first = writer.appended_lsn();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let writer = Arc::clone(&writer);
            std::thread::spawn(move || {
                let mut rng = Rng(t);
                for i in 0..200 {
                    let bytes = mtr_bytes(t * 1000 + i, &mut rng);
                    let (_, end) = writer.append(&bytes, |_, _| {}).unwrap();
                    writer.commit_wait(end).unwrap();
                    assert!(writer.durable_lsn() >= end);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let (seen, _) = read_back(&store, first);
    assert_eq!(seen.len(), 1600);
    for t in 0..8u64 {
        let mine: Vec<u64> = seen.iter().map(|s| s.0).filter(|n| n / 1000 == t).collect();
        assert_eq!(mine, (0..200).map(|i| t * 1000 + i).collect::<Vec<_>>());
    }
}

/// Power cuts at random writes, under every crash mode: every mtr whose
/// flush was acknowledged is read back, the mtrs read are a prefix of those
/// appended, and a writer resumed after the scan appends after them without
/// ever reading stale blocks — also after a second crash.
#[test]
fn acknowledged_mtrs_survive_power_cuts() {
    let seed = std::env::var("FLOE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xF10E);
    println!("FLOE_SEED={seed}");
    let mut rng = Rng(seed);
    for round in 0..120 {
        let mode = CrashMode::ALL[round % 3];
        let store = MemStore::new(512, 512, rng.next_u64());
        let writer = fresh_writer(&store, 16);
        let first = writer.appended_lsn();
        store.crash_after_writes(1 + rng.below(60));
        let mut appended = Vec::new();
        let mut acknowledged = 0;
        for number in 0..300 {
            let bytes = mtr_bytes(number, &mut rng);
            let Ok((_, end)) = writer.append(&bytes, |_, _| {}) else {
                break;
            };
            appended.push((number, end));
            if rng.below(3) == 0 {
                match writer.write_up_to(end) {
                    Ok(()) => acknowledged = appended.len(),
                    Err(_) => break,
                }
            }
        }
        drop(writer);
        let store = store.restart(mode);
        let (seen, end) = read_back(&store, first);
        let context = format!("seed={seed} round={round} mode={mode:?}");
        assert!(
            seen.len() >= acknowledged,
            "{context}: lost acknowledged mtrs"
        );
        assert_eq!(seen[..], appended[..seen.len()], "{context}: not a prefix");

        // Resume after recovery, as the engine does, then cut power again.
        let files = open_files(&store).unwrap();
        let existing: Vec<(FileHeader, _)> =
            files.into_iter().map(|f| (f.header, f.device)).collect();
        let start = LogStart {
            block_no: end.next_block_no,
            generation: end.generation.max(1) + 1,
        };
        let writer =
            LogWriter::start(Arc::new(store.clone()), config(16), start, existing).unwrap();
        store.crash_after_writes(1 + rng.below(20));
        let mut resumed = seen.clone();
        let mut acknowledged = seen.len();
        for number in 1000..1100 {
            let bytes = mtr_bytes(number, &mut rng);
            let Ok((_, end)) = writer.append(&bytes, |_, _| {}) else {
                break;
            };
            resumed.push((number, end));
            match writer.write_up_to(end) {
                Ok(()) => acknowledged = resumed.len(),
                Err(_) => break,
            }
        }
        drop(writer);
        let store = store.restart(mode);
        let (seen, _) = read_back(&store, first);
        assert!(
            seen.len() >= acknowledged,
            "{context}: lost acknowledged mtrs after resume"
        );
        assert_eq!(
            seen[..],
            resumed[..seen.len()],
            "{context}: not a prefix after resume"
        );
    }
}

/// Files wholly below a checkpoint are removed; the newest is kept, and
/// the rest still read back from the checkpoint.
#[test]
fn files_below_checkpoint_are_removed() {
    let store = MemStore::new(4096, 4096, 3);
    let writer = fresh_writer(&store, 4);
    let mut rng = Rng(3);
    let mut ends = Vec::new();
    for number in 0..200 {
        let (start, end) = writer
            .append(&mtr_bytes(number, &mut rng), |_, _| {})
            .unwrap();
        ends.push((number, start, end));
    }
    writer.write_up_to(ends.last().unwrap().2).unwrap();
    let before = store.list().unwrap().len();
    let (_, checkpoint, _) = ends[150];
    let removed = writer.remove_files_before(checkpoint).unwrap();
    assert!(removed > 0 && store.list().unwrap().len() == before - removed);
    let (seen, _) = read_back(&store, checkpoint);
    assert_eq!(seen.first().map(|s| s.0), Some(150));
    assert_eq!(seen.len(), 50);
}

/// A block whose checksum is valid but whose records do not parse is
/// corruption (a typed error with its LSN), not the end of the log.
#[test]
fn corrupt_record_in_a_valid_block_is_an_error() {
    use super::block::{parse_block, seal_block, LOG_BLOCK_BYTES, LOG_BLOCK_HEADER_BYTES};
    use super::RedoError;
    use floe_rt::DmaBuffer;
    let store = MemStore::new(4096, 4096, 11);
    let writer = fresh_writer(&store, 64);
    let first = writer.appended_lsn();
    let mut rng = Rng(11);
    let mut last = first;
    for number in 0..5 {
        last = writer
            .append(&mtr_bytes(number, &mut rng), |_, _| {})
            .unwrap()
            .1;
    }
    writer.write_up_to(last).unwrap();
    drop(writer);
    // Rewrite the first log block with an unknown, non-skippable record
    // type at its start, and a correct checksum.
    let device = store.open("redo.000001").unwrap().unwrap();
    let mut queue = device.open_queue(1).unwrap();
    let mut block = queue.read(1, DmaBuffer::new(LOG_BLOCK_BYTES)).unwrap();
    let header = parse_block(block.as_slice(), 1).unwrap();
    block.as_mut_slice()[LOG_BLOCK_HEADER_BYTES] = 0x7E;
    seal_block(block.as_mut_slice(), header);
    queue.write(1, block).unwrap();
    queue.flush().unwrap();
    let files = open_files(&store).unwrap();
    let result = scan(&files, first, |_, _| Ok(()));
    assert!(
        matches!(result, Err(RedoError::Corrupt { lsn, .. }) if lsn == first),
        "{result:?}"
    );
}
