//! CREATE INDEX under power cuts: the engine on a `MemStore` whose devices
//! lose power at the n-th write from the start of the build (every n up to
//! past the build's last write, each crash mode). After recovery the index
//! is either absent (and can be built again) or complete: one entry per
//! live row, answering lookups as a full scan would. An index whose CREATE
//! INDEX was acknowledged before the cut is always there.

use std::ops::Bound;
use std::sync::Arc;

use floe_blk::CrashMode;
use floe_server::protocol::{ColumnDefinition, Value as Wire};
use floe_server::{Interrupt, ResultSink, SqlError, Summary};
use floe_sql::{Database, SqlSession};
use floe_storage::btr::tree::Direction;
use floe_storage::fil::MemStore;
use floe_storage::srv::{Engine, EngineConfig};
use floe_storage::trx::{Isolation, LockRead, TrxConfig};
use floe_storage::util::clock::SystemClock;

#[derive(Default)]
struct Rows(Vec<String>);

impl ResultSink for Rows {
    fn columns(&mut self, _: &[ColumnDefinition<'_>]) -> Result<(), SqlError> {
        Ok(())
    }
    fn row(&mut self, values: &[Wire<'_>]) -> Result<(), SqlError> {
        self.0.push(format!("{values:?}"));
        Ok(())
    }
    fn done(&mut self, _: &Summary<'_>) -> Result<(), SqlError> {
        Ok(())
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        buf: floe_storage::buf::BufConfig {
            pool_pages: 256,
            ..Default::default()
        },
        data_file_bytes: 4096 * 16 * 1024,
        cleaner: None,
        ..EngineConfig::default()
    }
}

fn trx_config() -> TrxConfig {
    TrxConfig {
        purge_threads: 0,
        ..TrxConfig::default()
    }
}

fn run(session: &mut SqlSession, sql: &str) -> Result<usize, u16> {
    let mut rows = Rows::default();
    session
        .execute(sql, true, &mut rows)
        .map_err(|e| e.code())?;
    Ok(rows.0.len())
}

const ROWS: i64 = 240;

fn live(id: i64) -> bool {
    id % 7 != 0
}

fn k_of(id: i64) -> i64 {
    id % 13
}

/// Entries of index `name` of d.t (a consistent read of the whole index).
fn entries(db: &Database, name: &str) -> Option<usize> {
    let meta = db.table("d", "t")?;
    let position = meta.indexes.iter().position(|i| i.name == name)?;
    let mut trx = db.trx_system().begin(Isolation::RepeatableRead, true);
    let mut scan = meta.table.scan_index(
        position - 1,
        Bound::Unbounded,
        Bound::Unbounded,
        Direction::Forward,
        LockRead::None,
    );
    let mut count = 0;
    while scan.next(&mut trx).expect("index scan").is_some() {
        count += 1;
    }
    drop(scan);
    trx.commit().expect("commit");
    Some(count)
}

// See the module comment.
#[test]
fn create_index_is_whole_or_absent_after_a_power_cut() {
    let expected_rows = (1..=ROWS).filter(|&id| live(id)).count();
    let mut rounds_with_index = 0;
    let mut rounds_without = 0;
    for cut_after_writes in 1..=8u64 {
        for (m, mode) in CrashMode::ALL.into_iter().enumerate() {
            let seed = cut_after_writes * 10 + m as u64;
            let store = MemStore::new(512, 512, seed);
            let engine = Engine::create(
                Arc::new(store.clone()),
                config(),
                Arc::new(SystemClock::new()),
            )
            .expect("engine");
            let db = Database::open(engine, trx_config()).expect("database");
            let mut s = SqlSession::new(Arc::clone(&db), 1, "root", Interrupt::new());
            run(&mut s, "CREATE DATABASE d").expect("db");
            s.use_database("d").expect("use");
            run(
                &mut s,
                "CREATE TABLE t (id INT NOT NULL, k INT NOT NULL, c CHAR(60), PRIMARY KEY (id))",
            )
            .expect("table");
            let values: Vec<String> = (1..=ROWS)
                .map(|id| format!("({id}, {}, 'row {id}')", 1000 + id))
                .collect();
            run(
                &mut s,
                &format!("INSERT INTO t VALUES {}", values.join(",")),
            )
            .expect("insert");
            run(&mut s, "DELETE FROM t WHERE id % 7 = 0").expect("delete");
            run(&mut s, "UPDATE t SET k = id % 13").expect("update");
            db.trx_system().engine().checkpoint().expect("checkpoint");

            store.crash_after_writes(cut_after_writes);
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&mut s, "CREATE INDEX k_1 ON t(k)")
            }));
            let acknowledged = matches!(built, Ok(Ok(_))) && !store.is_crashed();
            store.crash_now();
            // The power is gone: nothing of this process survives.
            std::mem::forget(s);
            std::mem::forget(db);

            let store = store.restart(mode);
            let engine = Engine::open(Arc::new(store), config(), Arc::new(SystemClock::new()))
                .expect("recovery");
            let db = Database::open(engine, trx_config()).expect("database after recovery");
            let mut s = SqlSession::new(Arc::clone(&db), 2, "root", Interrupt::new());
            s.use_database("d").expect("use");
            let context = format!("cut at write {cut_after_writes}, {mode:?}");
            assert_eq!(
                run(&mut s, "SELECT id FROM t").expect("scan"),
                expected_rows,
                "{context}"
            );
            match entries(&db, "k_1") {
                Some(count) => {
                    rounds_with_index += 1;
                    assert_eq!(count, expected_rows, "{context}: index entries");
                }
                None => {
                    rounds_without += 1;
                    assert!(
                        !acknowledged,
                        "{context}: an acknowledged CREATE INDEX was lost"
                    );
                    run(&mut s, "CREATE INDEX k_1 ON t(k)").expect("build again");
                    assert_eq!(entries(&db, "k_1"), Some(expected_rows), "{context}");
                }
            }
            for k in [0, 5, 12] {
                let want = (1..=ROWS).filter(|&id| live(id) && k_of(id) == k).count();
                assert_eq!(
                    run(&mut s, &format!("SELECT id FROM t WHERE k = {k}")).expect("lookup"),
                    want,
                    "{context}: k = {k}"
                );
            }
            drop(s);
            db.shutdown().expect("shutdown");
        }
    }
    // The cuts landed both before and after the build became durable.
    assert!(rounds_with_index > 0, "no cut left a finished index");
    assert!(rounds_without > 0, "no cut interrupted the build");
}
