//! Undo records and logs: codec, chaining across pages, reading back by roll
//! pointer and newest first, and surviving a power cut through redo.

use std::sync::Arc;

use floe_blk::CrashMode;

use super::*;
use crate::fil::MemStore;
use crate::srv::{Engine, EngineConfig};
use crate::util::clock::SystemClock;
use crate::util::rng::Rng;

fn config() -> EngineConfig {
    EngineConfig {
        buf: crate::buf::BufConfig {
            pool_pages: 32,
            huge_pages: floe_rt::HugePages::Never,
            ..Default::default()
        },
        data_file_bytes: 1024 * crate::fil::PAGE_BYTES as u64,
        cleaner: None,
        ..EngineConfig::default()
    }
}

fn sample(n: u64, rng: &mut Rng) -> UndoRecord {
    let pk = n.to_be_bytes().to_vec();
    let sec = (0..rng.below(3))
        .map(|i| match rng.below(3) {
            0 => SecOp::Inserted {
                index_id: 8 + i,
                key: vec![i as u8; 5],
            },
            1 => SecOp::Marked {
                index_id: 8 + i,
                key: vec![1; 3],
                prev_trx: TrxId(n),
            },
            _ => SecOp::Unmarked {
                index_id: 8 + i,
                key: vec![],
                prev_trx: TrxId(n + 1),
            },
        })
        .collect();
    match rng.below(2) {
        0 => UndoRecord::Insert {
            index_id: 7,
            pk,
            sec,
        },
        _ => UndoRecord::Modify {
            index_id: 7,
            pk,
            old: OldVersion {
                deleted: rng.below(2) == 0,
                trx_id: TrxId(n),
                roll_ptr: RollPtr(n * 3),
                row: vec![n as u8; rng.below(900) as usize],
            },
            new_deleted: rng.below(2) == 0,
            sec,
        },
    }
}

/// Every record kind round-trips; every truncation and an unknown type are
/// typed errors.
#[test]
fn records_round_trip_and_refuse_damage() {
    let mut rng = Rng(1);
    let page = PageId::new(0, 9);
    for n in 0..30 {
        let record = sample(n, &mut rng);
        let mut bytes = Vec::new();
        record.encode(&mut bytes);
        assert_eq!(UndoRecord::parse(&bytes, page, 48).unwrap(), record);
        for cut in 0..bytes.len() {
            if let Ok(parsed) = UndoRecord::parse(&bytes[..cut], page, 48) {
                panic!("truncation at {cut} parsed as {parsed:?}");
            }
        }
    }
    let mut unknown = Vec::new();
    UndoRecord::Insert {
        index_id: 1,
        pk: vec![],
        sec: vec![],
    }
    .encode(&mut unknown);
    unknown[0] = 9;
    assert!(matches!(
        UndoRecord::parse(&unknown, page, 48),
        Err(UndoError::Corrupt { .. })
    ));
}

/// A long log spans pages; every record reads back by its roll pointer and
/// the walk newest-first returns them all in reverse order; after a power
/// cut (redo only, no page written) the same holds.
#[test]
fn logs_span_pages_and_survive_a_crash() {
    let store = MemStore::new(512, 512, 4);
    let engine = Engine::create(
        Arc::new(store.clone()),
        config(),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let mut rng = Rng(2);
    let mut mtr = Mtr::start(engine.pool(), engine.log());
    let mut log = UndoLog::create(&mut mtr, TrxId(77)).unwrap();
    mtr.commit().unwrap();
    let mut written = Vec::new();
    for n in 0..600 {
        let record = sample(n, &mut rng);
        let mut mtr = Mtr::start(engine.pool(), engine.log());
        let ptr = log.append(&mut mtr, &record).unwrap();
        mtr.commit().unwrap();
        written.push((ptr, record));
    }
    assert_ne!(log.first, log.last, "600 records should span several pages");
    engine
        .log()
        .write_up_to(engine.log().appended_lsn())
        .unwrap();
    let check = |engine: &Engine| {
        for (ptr, record) in &written {
            assert_eq!(&read(engine.pool(), *ptr).unwrap(), record);
        }
        let newest_first = log.records_newest_first(engine.pool()).unwrap();
        let expected: Vec<_> = written.iter().rev().cloned().collect();
        assert!(newest_first == expected, "newest-first walk differs");
        let first = engine
            .pool()
            .fix(PageId {
                space: SYSTEM_SPACE,
                page: log.first,
            })
            .unwrap();
        assert_eq!(page_trx(first.bytes()), TrxId(77));
    };
    check(&engine);
    assert!(
        written.iter().any(|(p, _)| p.0 & (1 << 48) != 0)
            && written.iter().any(|(p, _)| p.0 & (1 << 48) == 0)
    );
    drop(engine);
    for mode in CrashMode::ALL {
        let engine = Engine::open(
            Arc::new(store.restart(mode)),
            config(),
            Arc::new(SystemClock::new()),
        )
        .unwrap();
        check(&engine);
    }
    // A roll pointer into the space header is refused, not misread.
    let engine = Engine::open(
        Arc::new(store.restart(CrashMode::LoseUnflushed)),
        config(),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    assert!(matches!(
        read(engine.pool(), RollPtr(48)),
        Err(UndoError::Corrupt { .. })
    ));
}
