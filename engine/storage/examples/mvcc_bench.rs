//! MVCC figures for `cargo xtask bench storage` (each printed and as a
//! `BENCH` line):
//! - consistent point lookups per second with 1, 2 and 8 reader threads
//!   while a long-running writer keeps one transaction open and updates
//!   rows in it (readers walk undo for those rows), each lookup a read-only
//!   autocommit transaction with its own read view; peer: a BTreeMap behind
//!   a RwLock whose writer holds the write lock per update;
//! - the cost of a read-only transaction with its read view (begin, view,
//!   commit) with 0 and 100 read-write transactions active.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use floe_blk::DirectIo;
use floe_storage::btr::tree::Direction;
use floe_storage::buf::BufConfig;
use floe_storage::dict::{ColumnDef, Dictionary, IndexKind, NewTable};
use floe_storage::fil::DirStore;
use floe_storage::log::writer::{FlushPolicy, LogConfig};
use floe_storage::row::RowKeys;
use floe_storage::srv::{CleanerConfig, DoublewriteMode, Engine, EngineConfig};
use floe_storage::trx::{Isolation, LockRead, Table, TrxConfig, TrxSystem};
use floe_storage::util::clock::SystemClock;
use floe_storage::util::rng::Rng;

const ROWS: u64 = 100_000;
const VALUE_BYTES: usize = 100;
const PHASE: Duration = Duration::from_millis(1500);

struct NoSecondaries;

impl RowKeys for NoSecondaries {
    fn secondary_key(&self, _: usize, _: &[u8], _: &mut Vec<u8>) -> bool {
        unreachable!("the bench table has no secondary index")
    }
}

fn key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn value(n: u64, version: u64) -> Vec<u8> {
    let mut v = vec![0u8; VALUE_BYTES];
    v[..8].copy_from_slice(&n.to_le_bytes());
    v[8..16].copy_from_slice(&version.to_le_bytes());
    v
}

fn bench_line(name: &str, value: f64, unit: &str, peer: Option<(&str, f64)>) {
    match peer {
        Some((peer_name, peer_value)) => println!(
            "BENCH name={name} value={value:.0} unit={unit} peer={peer_name} peer_value={peer_value:.0} ratio={:.3}",
            value / peer_value
        ),
        None => println!("BENCH name={name} value={value:.1} unit={unit}"),
    }
}

fn open(dir: &std::path::Path) -> (Arc<TrxSystem>, Table) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            panic!("clearing {}: {e}", dir.display());
        }
    }
    let store = Arc::new(DirStore::open(dir, DirectIo::Prefer).expect("store"));
    let config = EngineConfig {
        buf: BufConfig {
            pool_pages: 8192,
            ..BufConfig::default()
        },
        log: LogConfig {
            file_capacity_blocks: 64 * 1024,
            flush_policy: FlushPolicy::EveryCommit,
            buffer_limit_bytes: 8 << 20,
        },
        data_file_bytes: 1 << 30,
        doublewrite: DoublewriteMode::Auto,
        cleaner: Some(CleanerConfig::default()),
        services: None,
    };
    let engine = Engine::create(store, config, Arc::new(SystemClock::new())).expect("create");
    let sys = TrxSystem::open(engine, TrxConfig::default()).expect("trx system");
    let dict = Dictionary::open(sys.engine()).expect("dictionary");
    dict.create_schema(sys.engine(), "bench").expect("schema");
    let def = dict
        .create_table(
            sys.engine(),
            NewTable {
                schema: "bench".into(),
                name: "t".into(),
                columns: vec![ColumnDef {
                    name: "id".into(),
                    type_code: 8,
                    flags: 0,
                    length: 20,
                    scale: 0,
                    default: None,
                }],
                indexes: vec![("PRIMARY".into(), IndexKind::Primary, vec![0])],
                options: Vec::new(),
            },
        )
        .expect("table");
    let table = Table::open(&sys, &def, Arc::new(NoSecondaries));
    (sys, table)
}

/// Lookups/s by `threads` readers (Floe) while a writer keeps one
/// transaction open and updates random rows in it.
fn floe_lookups(sys: &Arc<TrxSystem>, table: &Table, threads: usize) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut writer = sys.begin(Isolation::RepeatableRead, false);
            let mut rng = Rng(7);
            let mut version = 1;
            while !stop.load(Ordering::Relaxed) {
                let n = rng.below(ROWS);
                table
                    .update(&mut writer, &key(n), &value(n, version))
                    .expect("update");
                version += 1;
            }
            writer.rollback().expect("rollback");
        });
        // Let the writer change a share of the rows first.
        std::thread::sleep(Duration::from_millis(300));
        for t in 0..threads {
            let (done, stop) = (&done, &stop);
            s.spawn(move || {
                let mut rng = Rng(100 + t as u64);
                let mut n_done = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let n = rng.below(ROWS);
                        let mut reader = sys.begin(Isolation::RepeatableRead, true);
                        let row = table
                            .get(&mut reader, &key(n), LockRead::None)
                            .expect("get")
                            .expect("row");
                        assert_eq!(row[..8], n.to_le_bytes());
                        assert_eq!(row[8..16], 0u64.to_le_bytes(), "uncommitted data seen");
                        reader.commit().expect("commit");
                    }
                    n_done += 256;
                }
                done.fetch_add(n_done, Ordering::Relaxed);
            });
        }
        std::thread::sleep(PHASE);
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / PHASE.as_secs_f64()
}

fn peer_lookups(map: &RwLock<BTreeMap<[u8; 8], Vec<u8>>>, threads: usize) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng(7);
            let mut version = 1;
            while !stop.load(Ordering::Relaxed) {
                let n = rng.below(ROWS);
                map.write()
                    .expect("peer lock")
                    .insert(key(n), value(n, version));
                version += 1;
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        for t in 0..threads {
            let (done, stop) = (&done, &stop);
            s.spawn(move || {
                let mut rng = Rng(100 + t as u64);
                let mut n_done = 0u64;
                let mut sum = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let n = rng.below(ROWS);
                        let guard = map.read().expect("peer lock");
                        sum += u64::from(guard.get(&key(n)).expect("row")[0]);
                    }
                    n_done += 256;
                }
                std::hint::black_box(sum);
                done.fetch_add(n_done, Ordering::Relaxed);
            });
        }
        std::thread::sleep(PHASE);
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / PHASE.as_secs_f64()
}

/// ns per read-only transaction with its view, with `active` read-write
/// transactions open.
fn view_cost(sys: &Arc<TrxSystem>, table: &Table, active: usize) -> f64 {
    let mut open: Vec<_> = (0..active)
        .map(|i| {
            let mut t = sys.begin(Isolation::RepeatableRead, false);
            let n = i as u64;
            table.update(&mut t, &key(n), &value(n, 1)).expect("update");
            t
        })
        .collect();
    let rounds = 200_000u64;
    let started = Instant::now();
    for _ in 0..rounds {
        let mut t = sys.begin(Isolation::RepeatableRead, true);
        std::hint::black_box(t.read_view());
        t.commit().expect("commit");
    }
    let ns = started.elapsed().as_nanos() as f64 / rounds as f64;
    for t in open.drain(..) {
        t.rollback().expect("rollback");
    }
    ns
}

fn main() {
    let dir = std::path::PathBuf::from("target/bench-mvcc");
    let (sys, table) = open(&dir);
    println!(
        "mvcc bench: {ROWS} rows of {VALUE_BYTES} bytes, files in {}",
        dir.display()
    );
    let mut loader = sys.begin(Isolation::RepeatableRead, false);
    for n in 0..ROWS {
        table
            .insert(&mut loader, &key(n), &value(n, 0))
            .expect("insert");
        if n % 1000 == 999 {
            loader.commit().expect("commit");
            loader = sys.begin(Isolation::RepeatableRead, false);
        }
    }
    loader.commit().expect("commit");
    // Every row reads back through a scan.
    let mut check = sys.begin(Isolation::RepeatableRead, true);
    let mut scan = table.scan(
        Bound::Unbounded,
        Bound::Unbounded,
        Direction::Forward,
        LockRead::None,
    );
    let mut rows = 0;
    while scan.next(&mut check).expect("scan").is_some() {
        rows += 1;
    }
    check.commit().expect("commit");
    assert_eq!(rows, ROWS);

    let map: RwLock<BTreeMap<[u8; 8], Vec<u8>>> =
        RwLock::new((0..ROWS).map(|n| (key(n), value(n, 0))).collect());
    println!("| figure | floe | btreemap+rwlock | ratio |");
    println!("|---|---|---|---|");
    for threads in [1usize, 2, 8] {
        let floe = floe_lookups(&sys, &table, threads);
        let peer = peer_lookups(&map, threads);
        println!(
            "| consistent point lookups/s, {threads} reader thread(s), long writer active | {floe:.0} | {peer:.0} | {:.3} |",
            floe / peer
        );
        bench_line(
            &format!("storage.mvcc.lookups_with_writer.t{threads}"),
            floe,
            "ops/s",
            Some(("btreemap_rwlock", peer)),
        );
    }
    for active in [0usize, 100] {
        let ns = view_cost(&sys, &table, active);
        println!("| read-only transaction + read view, {active} rw transactions active | {ns:.0} ns | | |");
        bench_line(
            &format!("storage.mvcc.read_view.active{active}"),
            ns,
            "ns",
            None,
        );
    }
    let stats = sys.stats();
    println!("history length at the end: {}", stats.history_len);
    if sys.shutdown().is_err() {
        eprintln!("mvcc bench: shutdown refused");
        std::process::exit(1);
    }
}
