//! Faults reach the caller as typed errors with context and leave the disk
//! recoverable: a corrupt page, an I/O error on a page read, a failed log
//! write; and the interval flush policy makes commits durable by itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_blk::{CrashMode, FaultOps};

use super::{Engine, EngineConfig, EngineError};
use crate::btr::tree::{Tree, TreeError};
use crate::buf::{BufConfig, BufError};
use crate::dict::{ColumnDef, Dictionary, IndexKind, NewTable};
use crate::fil::{FileStore, MemStore, PageError, PageId, PAGE_BYTES};
use crate::log::writer::{FlushPolicy, LogConfig};
use crate::log::RedoError;
use crate::mtr::MtrError;
use crate::util::clock::SystemClock;

fn config(policy: FlushPolicy) -> EngineConfig {
    EngineConfig {
        buf: BufConfig {
            pool_pages: 32,
            huge_pages: floe_rt::HugePages::Never,
            ..BufConfig::default()
        },
        log: LogConfig {
            file_capacity_blocks: 256,
            flush_policy: policy,
            buffer_limit_bytes: 1 << 20,
        },
        data_file_bytes: 512 * PAGE_BYTES as u64,
        cleaner: None,
        ..EngineConfig::default()
    }
}

fn table(engine: &Engine) -> Tree {
    let dict = Dictionary::open(engine).unwrap();
    if !dict.schema_exists(engine, "f").unwrap() {
        dict.create_schema(engine, "f").unwrap();
        let columns = vec![ColumnDef {
            name: "id".into(),
            type_code: 8,
            flags: 0,
            length: 20,
            scale: 0,
            default: None,
        }];
        let new = NewTable {
            schema: "f".into(),
            name: "t".into(),
            columns,
            indexes: vec![("PRIMARY".into(), IndexKind::Primary, vec![0])],
            options: Vec::new(),
        };
        dict.create_table(engine, new).unwrap();
    }
    dict.table(engine, "f", "t").unwrap().unwrap().indexes[0].tree()
}

fn fill(engine: &Engine, tree: &Tree, rows: u32) {
    for n in 0..rows {
        let lsn = tree
            .upsert(engine.env(), &n.to_be_bytes(), &[n as u8; 300])
            .unwrap();
        engine.commit_wait(lsn).unwrap();
    }
}

/// The leaf holding `key`, found by walking down from the root.
fn leaf_of(engine: &Engine, tree: &Tree, key: &[u8]) -> PageId {
    let mut id = tree.root;
    loop {
        let page = engine.pool().fix(id).unwrap();
        if crate::btr::node::is_leaf(page.bytes()) {
            return id;
        }
        let slot = match crate::btr::node::search(page.bytes(), key).unwrap() {
            Ok(slot) => slot,
            Err(0) => 0,
            Err(slot) => slot - 1,
        };
        let (_, child) = crate::btr::node::record(page.bytes(), slot).unwrap();
        id = PageId::new(id.space.0, u32::from_le_bytes(child.try_into().unwrap()));
    }
}

/// A page damaged on disk is a corruption error naming the page and both
/// checksums, from lookups and from the tree check; nothing panics, and
/// the other pages still answer.
#[test]
fn corrupt_page_is_a_typed_error() {
    let store = MemStore::new(4096, 4096, 5);
    let engine = Engine::create(
        Arc::new(store.clone()),
        config(FlushPolicy::EveryCommit),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let tree = table(&engine);
    fill(&engine, &tree, 2000);
    let victim = leaf_of(&engine, &tree, &1000u32.to_be_bytes());
    engine.shutdown().unwrap();
    // Flip one byte in the middle of the victim page on disk.
    let data = store.open("data").unwrap().unwrap();
    let mut queue = data.open_queue(1).unwrap();
    let lba = u64::from(victim.page.0) * (PAGE_BYTES as u64 / 4096);
    let mut page = queue
        .read(lba, floe_rt::DmaBuffer::new(PAGE_BYTES))
        .unwrap();
    page.as_mut_slice()[8000] ^= 0x40;
    queue.write(lba, page).unwrap();
    queue.flush().unwrap();
    drop(queue);

    let engine = Engine::open(
        Arc::new(store),
        config(FlushPolicy::EveryCommit),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let tree = table(&engine);
    let error = tree
        .get(engine.env(), &1000u32.to_be_bytes(), |v| v.to_vec())
        .unwrap_err();
    let TreeError::Buf(BufError::Corrupt {
        page,
        source: PageError::Checksum { .. },
    }) = &error
    else {
        panic!("expected a checksum error, got {error:?}");
    };
    assert_eq!(*page, victim);
    let message = error.to_string()
        + &std::error::Error::source(&error)
            .map(|s| s.to_string())
            .unwrap_or_default();
    assert!(
        message.contains(&format!("page {}", victim.page.0)),
        "{message}"
    );
    assert!(tree.check(engine.pool()).is_err());
    // Keys on other leaves still answer.
    assert!(tree
        .get(engine.env(), &0u32.to_be_bytes(), |_| ())
        .unwrap()
        .is_some());
}

/// An I/O error reading a page reaches the caller as a typed error naming
/// the page; once the device recovers the same read succeeds.
#[test]
fn read_error_is_a_typed_error_and_transient() {
    let store = MemStore::new(4096, 4096, 6);
    let engine = Engine::create(
        Arc::new(store.clone()),
        config(FlushPolicy::EveryCommit),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let tree = table(&engine);
    fill(&engine, &tree, 2000);
    let victim = leaf_of(&engine, &tree, &77u32.to_be_bytes());
    engine.shutdown().unwrap();
    let engine = Engine::open(
        Arc::new(store.clone()),
        config(FlushPolicy::EveryCommit),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let tree = table(&engine);
    let device = store.mem_device("data").unwrap();
    let lba = u64::from(victim.page.0) * (PAGE_BYTES as u64 / 4096);
    device.inject_errors(lba..lba + 4, FaultOps::Reads);
    let error = tree
        .get(engine.env(), &77u32.to_be_bytes(), |_| ())
        .unwrap_err();
    assert!(
        matches!(&error, TreeError::Buf(BufError::Io { page, .. }) if *page == victim),
        "{error:?}"
    );
    device.clear_injected_errors();
    assert!(tree
        .get(engine.env(), &77u32.to_be_bytes(), |_| ())
        .unwrap()
        .is_some());
}

/// A failed redo write fails that commit and every later one with a typed
/// error (the node must stop), writes no page whose redo is not durable,
/// and a restart recovers exactly the commits acknowledged before it.
#[test]
fn failed_log_write_stops_commits_and_recovers() {
    let store = MemStore::new(4096, 4096, 7);
    let engine = Engine::create(
        Arc::new(store.clone()),
        config(FlushPolicy::EveryCommit),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let tree = table(&engine);
    fill(&engine, &tree, 300);
    let redo_files: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with("redo."))
        .collect();
    for name in &redo_files {
        store
            .mem_device(name)
            .unwrap()
            .inject_errors(0..u64::MAX, FaultOps::Writes);
    }
    let lsn = tree
        .upsert(engine.env(), &9999u32.to_be_bytes(), b"lost")
        .unwrap();
    let error = engine.commit_wait(lsn).unwrap_err();
    assert!(
        matches!(error, EngineError::Redo(RedoError::Device { .. })),
        "{error:?}"
    );
    let error = tree
        .upsert(engine.env(), &10_000u32.to_be_bytes(), b"refused")
        .unwrap_err();
    assert!(
        matches!(
            error,
            TreeError::Mtr(MtrError::Redo(RedoError::WriterFailed { .. }))
        ),
        "{error:?}"
    );
    // No page may be written now: its redo can never become durable.
    assert!(matches!(
        engine.pool().flush_all(),
        Err(BufError::Wal { .. })
    ));
    drop(engine);
    let store = store.restart(CrashMode::LoseUnflushed);
    let engine = Engine::open(
        Arc::new(store),
        config(FlushPolicy::EveryCommit),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let tree = table(&engine);
    assert_eq!(tree.check(engine.pool()).unwrap().records, 300);
    assert!(tree
        .get(engine.env(), &9999u32.to_be_bytes(), |_| ())
        .unwrap()
        .is_none());
}

/// Under the interval policy a commit returns before it is durable, and the
/// background flusher makes it durable without anyone asking.
#[test]
fn interval_policy_flushes_in_the_background() {
    let store = MemStore::new(4096, 4096, 8);
    let engine = Engine::create(
        Arc::new(store),
        config(FlushPolicy::Interval { interval_ms: 5 }),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let tree = table(&engine);
    let lsn = tree.upsert(engine.env(), b"k", b"v").unwrap();
    engine.commit_wait(lsn).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.log().durable_lsn() < lsn {
        assert!(
            Instant::now() < deadline,
            "the interval flusher never made {lsn} durable"
        );
        std::thread::yield_now();
    }
}

/// A tiny pool with the page cleaner writing constantly: readers that need
/// a frame wait for cold pages being written instead of giving up (the
/// pool used to report itself exhausted after 1000 quick retries while
/// nothing was pinned).
#[test]
fn small_pool_with_cleaner_never_exhausts() {
    let store = MemStore::new(512, 512, 9);
    let mut engine_config = config(FlushPolicy::EveryCommit);
    engine_config.buf.pool_pages = 16;
    engine_config.cleaner = Some(super::CleanerConfig {
        interval_ms: 1,
        lru_scan_frames: 16,
        ..super::CleanerConfig::default()
    });
    let engine =
        Engine::create(Arc::new(store), engine_config, Arc::new(SystemClock::new())).unwrap();
    let tree = table(&engine);
    std::thread::scope(|scope| {
        for thread in 0..3u32 {
            let (engine, tree) = (&engine, &tree);
            scope.spawn(move || {
                for n in 0..1500u32 {
                    let key = (n.wrapping_mul(2_654_435_761) ^ thread).to_be_bytes();
                    tree.upsert(engine.env(), &key, &[thread as u8; 700])
                        .unwrap_or_else(|e| panic!("thread {thread} row {n}: {e}"));
                }
            });
        }
    });
    assert_eq!(tree.check(engine.pool()).unwrap().records, 4500);
}
