//! Crash tests on `MemStore`: power cuts at random writes, with torn and
//! lost writes, while several threads commit; after recovery every
//! acknowledged change is there, nothing is half there, and the tree passes
//! its full check. The seed is printed first; `FLOE_SEED` replays it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use floe_blk::CrashMode;

use super::{CleanerConfig, DoublewriteMode, Engine, EngineConfig, SYSTEM_SPACE};
use crate::btr::tests::{seed, Rng};
use crate::btr::tree::Tree;
use crate::buf::BufConfig;
use crate::fil::{FileStore, Lsn, MemStore, PageId};
use crate::fsp;
use crate::log::writer::{FlushPolicy, LogConfig};
use crate::mtr::Mtr;
use crate::util::clock::SystemClock;

fn config(cleaner: bool, pool_pages: usize) -> EngineConfig {
    EngineConfig {
        buf: BufConfig {
            pool_pages,
            huge_pages: floe_rt::HugePages::Never,
            ..BufConfig::default()
        },
        log: LogConfig {
            file_capacity_blocks: 64,
            flush_policy: FlushPolicy::EveryCommit,
            buffer_limit_bytes: 1 << 20,
        },
        data_file_bytes: 2048 * crate::fil::PAGE_BYTES as u64,
        doublewrite: DoublewriteMode::Auto,
        cleaner: cleaner.then(|| CleanerConfig {
            interval_ms: 5,
            ..CleanerConfig::default()
        }),
        services: None,
    }
}

/// The test tree's root is kept in the space header's root slot 7.
const TEST_ROOT_SLOT: usize = 7;

fn create_tree(engine: &Engine) -> Tree {
    let mut mtr = Mtr::start(engine.pool(), engine.log());
    let tree = Tree::create(&mut mtr, SYSTEM_SPACE, 100).unwrap();
    fsp::set_root(&mut mtr, SYSTEM_SPACE, TEST_ROOT_SLOT, tree.root.page).unwrap();
    let lsn = mtr.commit().unwrap();
    engine.commit_wait(lsn).unwrap();
    tree
}

fn find_tree(engine: &Engine) -> Tree {
    let mut mtr = Mtr::start(engine.pool(), engine.log());
    let page = fsp::root(&mut mtr, SYSTEM_SPACE, TEST_ROOT_SLOT).unwrap();
    mtr.commit().unwrap();
    Tree {
        index_id: 100,
        root: PageId {
            space: SYSTEM_SPACE,
            page,
        },
    }
}

#[derive(Clone, Debug)]
struct Op {
    key: u64,
    /// The key's value after the op (None: deleted).
    value: Option<Vec<u8>>,
    acknowledged: bool,
}

fn key_bytes(key: u64) -> Vec<u8> {
    let mut bytes = format!("k{key:06}").into_bytes();
    bytes.resize(40 + (key % 60) as usize, b'#');
    bytes
}

/// Runs one thread's writes until the first error (the power cut).
fn writer(
    engine: &Engine,
    tree: &Tree,
    thread: u64,
    threads: u64,
    rng_seed: u64,
    stop: &AtomicBool,
) -> Vec<Op> {
    let mut rng = Rng(rng_seed);
    let mut ops = Vec::new();
    let mut present = std::collections::HashSet::new();
    while !stop.load(Ordering::Relaxed) && ops.len() < 3000 {
        let key = thread + threads * rng.below(1500);
        let bytes = key_bytes(key);
        let value_bytes = if rng.below(10) == 0 {
            900
        } else {
            8 + rng.below(400) as usize
        };
        let value: Vec<u8> = (0..value_bytes)
            .map(|i| (i as u64 ^ ops.len() as u64 ^ key) as u8)
            .collect();
        let delete = rng.below(4) == 0 && present.contains(&key);
        let result: Result<Option<Lsn>, _> = if delete {
            tree.delete(engine.env(), &bytes)
        } else {
            tree.upsert(engine.env(), &bytes, &value).map(Some)
        };
        let new_value = if delete { None } else { Some(value) };
        ops.push(Op {
            key,
            value: new_value.clone(),
            acknowledged: false,
        });
        let lsn = match result {
            Ok(Some(lsn)) => lsn,
            Ok(None) => unreachable!("deleting a key this thread knows present"),
            Err(_) => break,
        };
        if engine.commit_wait(lsn).is_err() {
            break;
        }
        ops.last_mut().expect("just pushed").acknowledged = true;
        if delete {
            present.remove(&key);
        } else {
            present.insert(key);
        }
    }
    ops
}

/// Checks one thread's keys: each key's recovered value is its value after
/// some op at or after its last acknowledged op (or its initial absence).
fn check_history(engine: &Engine, tree: &Tree, ops: &[Op], context: &str) {
    let mut by_key: std::collections::BTreeMap<u64, Vec<&Op>> = std::collections::BTreeMap::new();
    for op in ops {
        by_key.entry(op.key).or_default().push(op);
    }
    for (key, history) in by_key {
        let recovered = tree
            .get(engine.env(), &key_bytes(key), |v| v.to_vec())
            .unwrap();
        let last_acknowledged = history.iter().rposition(|op| op.acknowledged);
        let mut allowed: Vec<Option<Vec<u8>>> = Vec::new();
        if last_acknowledged.is_none() {
            allowed.push(None);
        }
        for op in &history[last_acknowledged.unwrap_or(0)..] {
            allowed.push(op.value.clone());
        }
        assert!(
            allowed.contains(&recovered),
            "{context}: key {key}: recovered {:?}, allowed {} states (last acknowledged op {:?} of {})",
            recovered.as_ref().map(|v| v.len()),
            allowed.len(),
            last_acknowledged,
            history.len()
        );
    }
}

/// Hundreds of power cuts at random writes during concurrent commits, with
/// lost, kept and torn writes (512-byte sectors: torn pages and torn log
/// blocks both happen); recovery must bring back every acknowledged change,
/// nothing half-applied, and a tree that passes its full check. A resumed
/// engine then writes more, shuts down cleanly and reopens intact.
#[test]
fn acknowledged_commits_survive_any_crash() {
    let seed = seed();
    let mut rng = Rng(seed);
    let rounds = std::env::var("FLOE_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut repaired_total = 0;
    let mut mtrs_total = 0;
    for round in 0..rounds {
        let mode = CrashMode::ALL[round % 3];
        let cleaner = round % 2 == 0;
        let context = format!("FLOE_SEED={seed} round={round} mode={mode:?} cleaner={cleaner}");
        let store = MemStore::new(512, 512, rng.next_u64());
        let engine = Engine::create(
            Arc::new(store.clone()),
            config(cleaner, 48),
            Arc::new(SystemClock::new()),
        )
        .unwrap();
        let tree = create_tree(&engine);
        store.crash_after_writes(1 + rng.below(1500));
        let stop = AtomicBool::new(false);
        let threads = 3u64;
        let seeds: Vec<u64> = (0..threads).map(|_| rng.next_u64()).collect();
        let histories: Vec<Vec<Op>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (engine, tree, stop, seed) = (&engine, &tree, &stop, seeds[t as usize]);
                    scope.spawn(move || writer(engine, tree, t, threads, seed, stop))
                })
                .collect();
            // Checkpoints at random moments, as the cleaner would take them.
            let mut checkpoint_rng = Rng(seeds[0] ^ 0xC0FFEE);
            while workers.iter().any(|w| !w.is_finished()) {
                if checkpoint_rng.below(50) == 0 {
                    let _ = engine.checkpoint();
                }
                if store.is_crashed() {
                    stop.store(true, Ordering::Relaxed);
                }
                std::thread::yield_now();
            }
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let crashed = store.is_crashed();
        drop(engine);
        let store = store.restart(mode);
        let engine = Engine::open(
            Arc::new(store.clone()),
            config(false, 48),
            Arc::new(SystemClock::new()),
        )
        .unwrap_or_else(|e| panic!("{context}: recovery failed: {e}"));
        repaired_total += engine.open_report().pages_repaired_from_doublewrite;
        mtrs_total += engine.open_report().mtrs_applied;
        let tree = find_tree(&engine);
        tree.check(engine.pool())
            .unwrap_or_else(|e| panic!("{context}: tree check: {e}"));
        for history in &histories {
            check_history(&engine, &tree, history, &context);
        }
        assert!(
            crashed || histories.iter().all(|h| h.len() == 3000),
            "{context}: writers stopped without a crash"
        );

        // Resume: more writes, a clean shutdown, a reopen.
        let mut expected = Vec::new();
        for n in 0..200u64 {
            let key = format!("after{n:04}").into_bytes();
            let lsn = tree.upsert(engine.env(), &key, &n.to_le_bytes()).unwrap();
            engine.commit_wait(lsn).unwrap();
            expected.push(key);
        }
        engine
            .shutdown()
            .unwrap_or_else(|e| panic!("{context}: shutdown: {e}"));
        let engine = Engine::open(
            Arc::new(store.clone()),
            config(false, 48),
            Arc::new(SystemClock::new()),
        )
        .unwrap_or_else(|e| panic!("{context}: reopen after clean shutdown: {e}"));
        assert_eq!(
            engine.open_report().mtrs_applied,
            0,
            "{context}: a clean shutdown left redo to apply"
        );
        let tree = find_tree(&engine);
        tree.check(engine.pool()).unwrap();
        for (n, key) in expected.iter().enumerate() {
            let value = tree.get(engine.env(), key, |v| v.to_vec()).unwrap();
            assert_eq!(value, Some((n as u64).to_le_bytes().to_vec()), "{context}");
        }
        let _ = store.list();
    }
    println!("{rounds} crash rounds: {mtrs_total} mtrs replayed, {repaired_total} pages repaired from doublewrite");
}

/// Runs one deterministic single-threaded round: inserts with an explicit
/// flush of all dirty pages every 50, and a power cut at write
/// `crash_offset` of flush number `crash_flush` (so it lands in a page
/// batch), under torn writes; then recovery and checks. Returns pages
/// repaired from doublewrite, or the recovery / check error.
fn torn_round(
    seed: u64,
    crash_flush: u64,
    crash_offset: u64,
    doublewrite: DoublewriteMode,
) -> Result<u64, String> {
    let store = MemStore::new(512, 512, seed);
    let mut engine_config = config(false, 32);
    engine_config.doublewrite = doublewrite;
    let clock = Arc::new(crate::util::clock::ManualClock::default());
    let engine = Engine::create(Arc::new(store.clone()), engine_config, clock.clone()).unwrap();
    let tree = create_tree(&engine);
    let mut acknowledged = Vec::new();
    let mut flushes = 0;
    for n in 0..4000u64 {
        let Ok(lsn) = tree.upsert(
            engine.env(),
            &key_bytes(n % 700),
            &n.to_le_bytes().repeat(20),
        ) else {
            break;
        };
        if engine.commit_wait(lsn).is_err() {
            break;
        }
        acknowledged.push(n);
        if n % 50 == 49 {
            flushes += 1;
            if flushes == crash_flush {
                store.crash_after_writes(crash_offset);
            }
            if engine.pool().flush_all().is_err() {
                break;
            }
        }
    }
    assert!(store.is_crashed(), "the planned power cut did not happen");
    drop(engine);
    let store = store.restart(CrashMode::KeepRandomSubsetTorn);
    let engine_config = EngineConfig {
        doublewrite,
        ..config(false, 32)
    };
    let engine = Engine::open(Arc::new(store), engine_config, Arc::new(SystemClock::new()))
        .map_err(|e| e.to_string())?;
    let tree = find_tree(&engine);
    tree.check(engine.pool()).map_err(|e| e.to_string())?;
    let mut newest = std::collections::HashMap::new();
    for &n in &acknowledged {
        newest.insert(n % 700, n);
    }
    for (key, n) in newest {
        let value = tree
            .get(engine.env(), &key_bytes(key), |v| v.to_vec())
            .map_err(|e| e.to_string())?;
        let Some(value) = value else {
            return Err(format!("key {key} lost"));
        };
        let found = u64::from_le_bytes(value[..8].try_into().expect("8 bytes"));
        if found < n {
            return Err(format!(
                "key {key}: acknowledged write {n} lost (found {found})"
            ));
        }
    }
    Ok(engine.open_report().pages_repaired_from_doublewrite)
}

/// Deterministic (one thread, no cleaner): with the doublewrite area torn
/// home pages are repaired and nothing acknowledged is lost; without it the
/// same power cuts leave pages that cannot be recovered. Proves both that
/// the protection works and that the crash tests can see its absence.
#[test]
fn torn_pages_are_repaired_from_doublewrite() {
    let seed = seed();
    let mut rng = Rng(seed ^ 0xD0B1E);
    let mut repaired = 0;
    let mut unprotected_failures = 0;
    for round in 0..40 {
        let crash_flush = 2 + rng.below(30);
        let crash_offset = 1 + rng.below(8);
        let round_seed = rng.next_u64();
        match torn_round(round_seed, crash_flush, crash_offset, DoublewriteMode::On) {
            Ok(n) => repaired += n,
            Err(e) => panic!("FLOE_SEED={seed} round={round}: with doublewrite: {e}"),
        }
        if torn_round(round_seed, crash_flush, crash_offset, DoublewriteMode::Off).is_err() {
            unprotected_failures += 1;
        }
    }
    println!("doublewrite: {repaired} pages repaired; without it {unprotected_failures} of 40 rounds unrecoverable");
    assert!(
        repaired > 0,
        "FLOE_SEED={seed}: no torn page in 40 rounds: the test does not tear pages"
    );
    assert!(
        unprotected_failures > 0,
        "FLOE_SEED={seed}: torn pages without doublewrite went unnoticed"
    );
}
