//! `cargo xtask bench storage`: the storage engine side by side with its
//! in-memory ceiling, `BTreeMap` behind a `RwLock`, in one run on one core.
//!
//! Figures (each printed and as a `BENCH` line):
//! - storage.insert.inmem: inserts/s into a clustered tree (mtr + redo
//!   appended, not flushed per insert), pool holding everything;
//! - storage.lookup.inmem: random point lookups/s, everything cached, with
//!   the ratio to `BTreeMap` under a read lock doing the same work;
//! - storage.lookup.small_pool: random point lookups/s with a buffer pool ten
//!   times smaller than the data, pages read with O_DIRECT from files;
//! - storage.insert.small_pool.doublewrite: inserts/s with a pool ten times
//!   smaller than the data, doublewrite on, beside the same with it off
//!   (the cost of torn-page protection on devices without atomic pages);
//! - storage.recovery: MB of redo replayed per second after a crash.
//!
//! Usage: storage_bench [--rows N] [--dir PATH]  (defaults: 1000000, target/bench-storage)

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use floe_blk::DirectIo;
use floe_storage::btr::tree::Tree;
use floe_storage::buf::BufConfig;
use floe_storage::dict::{ColumnDef, Dictionary, IndexKind, NewTable};
use floe_storage::fil::{DirStore, PAGE_BYTES};
use floe_storage::log::writer::{FlushPolicy, LogConfig};
use floe_storage::srv::{CleanerConfig, DoublewriteMode, Engine, EngineConfig};
use floe_storage::util::clock::SystemClock;

const VALUE_BYTES: usize = 100;

use floe_storage::util::rng::Rng;

fn key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn value(n: u64) -> [u8; VALUE_BYTES] {
    let mut v = [0u8; VALUE_BYTES];
    v[..8].copy_from_slice(&n.to_le_bytes());
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

fn config(pool_pages: usize, cleaner: bool) -> EngineConfig {
    EngineConfig {
        buf: BufConfig {
            pool_pages,
            ..BufConfig::default()
        },
        log: LogConfig {
            file_capacity_blocks: 64 * 1024,
            flush_policy: FlushPolicy::EveryCommit,
            buffer_limit_bytes: 8 << 20,
        },
        data_file_bytes: 4 << 30,
        doublewrite: DoublewriteMode::Auto,
        cleaner: cleaner.then(CleanerConfig::default),
        services: None,
    }
}

fn create_table(engine: &Engine) -> Tree {
    let dict = Dictionary::open(engine).expect("dictionary");
    dict.create_schema(engine, "bench").expect("schema");
    let table = dict
        .create_table(
            engine,
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
    table.indexes[0].tree()
}

fn open_table(engine: &Engine) -> Tree {
    let dict = Dictionary::open(engine).expect("dictionary");
    let table = dict
        .table(engine, "bench", "t")
        .expect("dictionary read")
        .expect("table bench.t");
    table.indexes[0].tree()
}

fn main() {
    let mut rows: u64 = 1_000_000;
    let mut dir = std::path::PathBuf::from("target/bench-storage");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--rows", Some(n)) => rows = n.parse().expect("--rows takes a count"),
            ("--dir", Some(d)) => dir = d.into(),
            _ => {
                eprintln!("usage: storage_bench [--rows N] [--dir PATH]");
                std::process::exit(2);
            }
        }
    }
    let lookups = rows.min(1_000_000);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            panic!("clearing {}: {e}", dir.display());
        }
    }
    let clock = Arc::new(SystemClock::new());
    let data_pages_estimate = (rows as usize * (8 + VALUE_BYTES + 6) * 10 / 7) / PAGE_BYTES + 64;
    println!("storage bench: {rows} rows of {VALUE_BYTES}-byte values, ~{data_pages_estimate} pages, files in {}", dir.display());

    // Insert and look up with everything cached.
    let store = Arc::new(DirStore::open(dir.join("inmem"), DirectIo::Prefer).expect("store"));
    let engine = Engine::create(store, config(data_pages_estimate * 2, true), clock.clone())
        .expect("create");
    let tree = create_table(&engine);
    let mut order: Vec<u64> = (0..rows).collect();
    let mut rng = Rng(1);
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let started = Instant::now();
    for &n in &order {
        tree.insert(engine.env(), &key(n), &value(n))
            .expect("insert");
    }
    let insert_s = started.elapsed().as_secs_f64();
    let peer_map: RwLock<BTreeMap<[u8; 8], Vec<u8>>> = RwLock::new(BTreeMap::new());
    let started = Instant::now();
    for &n in &order {
        peer_map
            .write()
            .expect("lock")
            .insert(key(n), value(n).to_vec());
    }
    let peer_insert_s = started.elapsed().as_secs_f64();

    // Floe and the peer alternate in chunks, so that load from elsewhere on
    // the machine falls on both alike and the ratio stays meaningful.
    let probes: Vec<u64> = (0..lookups).map(|_| rng.next_u64() % rows).collect();
    let (mut checksum, mut peer_checksum) = (0u64, 0u64);
    let (mut lookup_s, mut peer_lookup_s) = (0.0f64, 0.0f64);
    for chunk in probes.chunks(probes.len().div_ceil(20).max(1)) {
        let started = Instant::now();
        for &n in chunk {
            checksum += tree
                .get(engine.env(), &key(n), |v| u64::from(v[0]))
                .expect("get")
                .expect("present");
        }
        lookup_s += started.elapsed().as_secs_f64();
        let started = Instant::now();
        for &n in chunk {
            peer_checksum += peer_map
                .read()
                .expect("lock")
                .get(&key(n))
                .map(|v| u64::from(v[0]))
                .expect("present");
        }
        peer_lookup_s += started.elapsed().as_secs_f64();
    }
    assert_eq!(
        checksum, peer_checksum,
        "Floe and the peer read different values"
    );
    let shape = tree.check(engine.pool()).expect("tree check");
    println!("tree: {shape:?}; pool: {:?}", engine.pool().stats());
    engine.shutdown().expect("shutdown");

    // Lookups with a pool ten times smaller than the data.
    let data_pages = shape.leaf_pages + shape.internal_pages;
    let small_pages = ((data_pages / 10) as usize).max(64);
    let store = Arc::new(DirStore::open(dir.join("inmem"), DirectIo::Prefer).expect("store"));
    let engine = Engine::open(store, config(small_pages, true), clock.clone()).expect("open");
    let tree = open_table(&engine);
    let small_lookups = lookups.min(200_000);
    let started = Instant::now();
    for &n in probes.iter().take(small_lookups as usize) {
        tree.get(engine.env(), &key(n), |v| v[0])
            .expect("get")
            .expect("present");
    }
    let small_s = started.elapsed().as_secs_f64();
    let small_stats = engine.pool().stats();
    engine.shutdown().expect("shutdown");

    // The doublewrite area's cost: inserts with a pool ten times smaller than
    // the data (so pages are written all the time), with it forced on and off.
    let dw_rows = rows.min(200_000);
    let mut dw_rates = Vec::new();
    for (label, mode) in [("on", DoublewriteMode::On), ("off", DoublewriteMode::Off)] {
        let store = Arc::new(
            DirStore::open(dir.join(format!("doublewrite-{label}")), DirectIo::Prefer)
                .expect("store"),
        );
        let mut dw_config = config(small_pages, true);
        dw_config.doublewrite = mode;
        let engine = Engine::create(store, dw_config, clock.clone()).expect("create");
        let tree = create_table(&engine);
        let started = Instant::now();
        for &n in order.iter().filter(|&&n| n < dw_rows) {
            tree.insert(engine.env(), &key(n), &value(n))
                .expect("insert");
        }
        engine.shutdown().expect("shutdown");
        dw_rates.push(dw_rows as f64 / started.elapsed().as_secs_f64());
    }

    // Recovery: redo of inserts never checkpointed, replayed after a crash.
    let recovery_rows = rows.min(300_000);
    let store = Arc::new(DirStore::open(dir.join("recovery"), DirectIo::Prefer).expect("store"));
    let engine = Engine::create(
        store.clone(),
        config(data_pages_estimate * 2, false),
        clock.clone(),
    )
    .expect("create");
    let tree = create_table(&engine);
    for &n in order.iter().filter(|&&n| n < recovery_rows) {
        tree.insert(engine.env(), &key(n), &value(n))
            .expect("insert");
    }
    engine
        .log()
        .write_up_to(engine.log().appended_lsn())
        .expect("log flush");
    drop(engine); // a crash: no page written, no checkpoint since creation
    let engine =
        Engine::open(store, config(data_pages_estimate * 2, false), clock).expect("recover");
    let report = engine.open_report();
    let recovered = open_table(&engine)
        .check(engine.pool())
        .expect("tree check after recovery");
    assert_eq!(recovered.records, recovery_rows, "recovery lost rows");
    let recovery_mb_per_s =
        report.redo_bytes_scanned as f64 / 1e6 / (report.recovery_ms.max(1) as f64 / 1e3);
    drop(engine);

    let inserts_per_s = rows as f64 / insert_s;
    let peer_inserts_per_s = rows as f64 / peer_insert_s;
    let lookups_per_s = lookups as f64 / lookup_s;
    let peer_lookups_per_s = lookups as f64 / peer_lookup_s;
    let small_per_s = small_lookups as f64 / small_s;
    println!();
    println!("| figure | floe | btreemap_rwlock | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| inserts/s, 1 core, all cached | {inserts_per_s:.0} | {peer_inserts_per_s:.0} | {:.3} |",
        inserts_per_s / peer_inserts_per_s
    );
    println!("| point lookups/s, 1 core, all cached | {lookups_per_s:.0} | {peer_lookups_per_s:.0} | {:.3} |", lookups_per_s / peer_lookups_per_s);
    println!("| point lookups/s, pool {small_pages} pages for {data_pages} (reads {}) | {small_per_s:.0} | - | - |", small_stats.reads);
    println!(
        "| recovery, {} MB of redo in {} ms | {recovery_mb_per_s:.1} MB/s | - | - |",
        report.redo_bytes_scanned / 1_000_000,
        report.recovery_ms
    );
    println!();
    bench_line(
        "storage.insert.inmem",
        inserts_per_s,
        "ops/s",
        Some(("btreemap_rwlock", peer_inserts_per_s)),
    );
    bench_line(
        "storage.lookup.inmem",
        lookups_per_s,
        "ops/s",
        Some(("btreemap_rwlock", peer_lookups_per_s)),
    );
    bench_line("storage.lookup.small_pool", small_per_s, "ops/s", None);
    bench_line(
        "storage.insert.small_pool.doublewrite",
        dw_rates[0],
        "ops/s",
        Some(("no_doublewrite", dw_rates[1])),
    );
    bench_line("storage.recovery", recovery_mb_per_s, "MB/s", None);
    let _ = std::fs::remove_dir_all(&dir);
}
