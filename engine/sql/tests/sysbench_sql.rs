//! What sysbench (and most ORMs) send beyond plain SELECT/INSERT: index DDL
//! on filled tables, prepared statements, the INSERT variants, TRUNCATE,
//! SHOW CREATE TABLE, ALTER TABLE. Each against `SqlSession` over a real
//! engine in a temporary directory, results collected as text, errors as
//! MySQL numbers.

use std::sync::Arc;

use floe_blk::DirectIo;
use floe_server::protocol::{ColumnDefinition, StatementId, Value as Wire};
use floe_server::{Interrupt, ResultSink, SqlError, Summary};
use floe_sql::session::parses_on_this_thread;
use floe_sql::{Database, SqlSession};
use floe_storage::fil::DirStore;
use floe_storage::srv::{Engine, EngineConfig};
use floe_storage::trx::TrxConfig;
use floe_storage::util::clock::SystemClock;

#[derive(Default)]
struct Collect {
    columns: usize,
    rows: Vec<String>,
    affected: Vec<u64>,
    info: Vec<String>,
}

impl ResultSink for Collect {
    fn columns(&mut self, columns: &[ColumnDefinition<'_>]) -> Result<(), SqlError> {
        self.columns = columns.len();
        Ok(())
    }
    fn row(&mut self, values: &[Wire<'_>]) -> Result<(), SqlError> {
        let text: Vec<String> = values
            .iter()
            .map(|v| match v {
                Wire::Null => "NULL".into(),
                Wire::Int(i) => i.to_string(),
                Wire::UInt(u) => u.to_string(),
                Wire::Bytes(b) | Wire::Decimal(b) => String::from_utf8_lossy(b).into_owned(),
                other => format!("{other:?}"),
            })
            .collect();
        self.rows.push(text.join(","));
        Ok(())
    }
    fn done(&mut self, summary: &Summary<'_>) -> Result<(), SqlError> {
        self.affected.push(summary.affected_rows);
        self.info.push(summary.info.to_string());
        Ok(())
    }
}

fn create(dir: &std::path::Path) -> Arc<Database> {
    let store = Arc::new(DirStore::open(dir, DirectIo::Prefer).expect("store"));
    let config = EngineConfig {
        data_file_bytes: 64 << 20,
        ..EngineConfig::default()
    };
    let engine = Engine::create(store, config, Arc::new(SystemClock::new())).expect("engine");
    Database::open(engine, TrxConfig::default()).expect("database")
}

fn reopen(dir: &std::path::Path) -> Arc<Database> {
    let store = Arc::new(DirStore::open(dir, DirectIo::Prefer).expect("store"));
    let config = EngineConfig {
        data_file_bytes: 64 << 20,
        ..EngineConfig::default()
    };
    let engine = Engine::open(store, config, Arc::new(SystemClock::new())).expect("engine");
    Database::open(engine, TrxConfig::default()).expect("database")
}

fn session(db: &Arc<Database>) -> SqlSession {
    let mut s = SqlSession::new(Arc::clone(db), 1, "root", Interrupt::new());
    s.use_database("d").expect("use d");
    s
}

fn run(session: &mut SqlSession, sql: &str) -> Result<Collect, u16> {
    let mut sink = Collect::default();
    session
        .execute(sql, true, &mut sink)
        .map_err(|e| e.code())?;
    Ok(sink)
}

fn ok(session: &mut SqlSession, sql: &str) -> Collect {
    run(session, sql).unwrap_or_else(|code| panic!("{sql}: error {code}"))
}

fn rows(session: &mut SqlSession, sql: &str) -> Vec<String> {
    ok(session, sql).rows
}

fn affected(session: &mut SqlSession, sql: &str) -> u64 {
    ok(session, sql)
        .affected
        .last()
        .copied()
        .unwrap_or(u64::MAX)
}

fn setup(db: &Arc<Database>) -> SqlSession {
    let mut s = SqlSession::new(Arc::clone(db), 1, "root", Interrupt::new());
    ok(&mut s, "CREATE DATABASE d");
    s.use_database("d").expect("use d");
    ok(
        &mut s,
        "CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, \
         c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) \
         /*! ENGINE = innodb */",
    );
    s
}

// CREATE INDEX on a filled table indexes exactly the live rows (deleted
// and updated ones as they are now), is kept up by later writes, refuses
// duplicates for UNIQUE and a taken name, survives a restart; DROP INDEX
// removes it.
#[test]
fn create_index_on_a_filled_table() {
    let dir = tempfile::tempdir().expect("dir");
    let db = create(dir.path());
    let mut s = setup(&db);
    let values: Vec<String> = (1..=300)
        .map(|i| format!("({i}, {}, 'c{i}', 'p')", i % 17))
        .collect();
    ok(
        &mut s,
        &format!(
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES {}",
            values.join(",")
        ),
    );
    assert_eq!(
        affected(&mut s, "DELETE FROM sbtest1 WHERE id % 10 = 0"),
        30
    );
    assert_eq!(
        affected(&mut s, "UPDATE sbtest1 SET k = 100 WHERE id % 10 = 1"),
        30
    );
    // A transaction holding the table makes CREATE INDEX wait, and time out.
    let mut other = session(&db);
    ok(&mut other, "SET innodb_lock_wait_timeout = 1");
    ok(&mut other, "BEGIN");
    ok(&mut other, "SELECT c FROM sbtest1 WHERE id = 1");
    let mut ddl = session(&db);
    ok(&mut ddl, "SET innodb_lock_wait_timeout = 1");
    assert_eq!(
        run(&mut ddl, "CREATE INDEX k_1 ON sbtest1(k)").err(),
        Some(1205)
    );
    ok(&mut other, "COMMIT");
    ok(&mut s, "CREATE INDEX k_1 ON sbtest1(k)");
    let meta = db.table("d", "sbtest1").expect("table");
    assert!(meta.indexes.iter().any(|i| i.name == "k_1"));
    let count = |s: &mut SqlSession, k: i32| -> usize {
        rows(s, &format!("SELECT id FROM sbtest1 WHERE k = {k}")).len()
    };
    let expected = |k: i32| -> usize {
        (1..=300)
            .filter(|i| i % 10 != 0)
            .filter(|i| if i % 10 == 1 { k == 100 } else { i % 17 == k })
            .count()
    };
    for k in [0, 1, 5, 16, 100] {
        assert_eq!(count(&mut s, k), expected(k), "k = {k}");
    }
    // Later writes keep the index.
    ok(&mut s, "UPDATE sbtest1 SET k = 500 WHERE id = 2");
    ok(&mut s, "INSERT INTO sbtest1 (id, k) VALUES (1000, 500)");
    assert_eq!(
        rows(&mut s, "SELECT id FROM sbtest1 WHERE k = 500"),
        vec!["2", "1000"]
    );
    assert_eq!(
        run(&mut s, "CREATE INDEX k_1 ON sbtest1(c)").err(),
        Some(1061)
    );
    assert_eq!(
        run(&mut s, "CREATE INDEX k_9 ON sbtest1(nope)").err(),
        Some(1072)
    );
    assert_eq!(
        run(&mut s, "CREATE UNIQUE INDEX uk ON sbtest1(k)").err(),
        Some(1062)
    );
    assert!(!db
        .table("d", "sbtest1")
        .expect("table")
        .indexes
        .iter()
        .any(|i| i.name == "uk"));
    ok(&mut s, "CREATE UNIQUE INDEX uc ON sbtest1(c)");
    assert_eq!(
        run(&mut s, "INSERT INTO sbtest1 (id, c) VALUES (2000, 'c5')").err(),
        Some(1062)
    );
    drop(s);
    drop(other);
    drop(ddl);
    drop(meta);
    db.shutdown().expect("shutdown");

    let db = reopen(dir.path());
    let mut s = session(&db);
    assert_eq!(
        rows(&mut s, "SELECT id FROM sbtest1 WHERE k = 500"),
        vec!["2", "1000"]
    );
    assert_eq!(count(&mut s, 3), expected(3));
    ok(&mut s, "DROP INDEX k_1 ON sbtest1");
    assert_eq!(run(&mut s, "DROP INDEX k_1 ON sbtest1").err(), Some(1091));
    assert!(!db
        .table("d", "sbtest1")
        .expect("table")
        .indexes
        .iter()
        .any(|i| i.name == "k_1"));
    assert_eq!(count(&mut s, 3), expected(3));
}

// A prepared statement is parsed once: executing it any number of times
// parses nothing (the thread's parse counter stands still), binds each `?`
// by its place in the text, and prepare reports the result's columns.
#[test]
fn prepared_statements_execute_without_parsing() {
    let dir = tempfile::tempdir().expect("dir");
    let db = create(dir.path());
    let mut s = setup(&db);
    let select = s
        .prepare(
            StatementId(1),
            "SELECT c, k FROM sbtest1 WHERE id BETWEEN ? AND ?",
        )
        .expect("prepare select");
    assert_eq!(select.params.len(), 2);
    assert_eq!(select.columns.len(), 2);
    assert_eq!(select.columns[0].name, "c");
    let insert = s
        .prepare(
            StatementId(2),
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)",
        )
        .expect("prepare insert");
    assert_eq!(insert.params.len(), 4);
    assert!(insert.columns.is_empty());
    let order = s
        .prepare(StatementId(3), "SELECT ? - ?, ?")
        .expect("prepare arithmetic");
    assert_eq!(order.columns.len(), 2);

    let before = parses_on_this_thread();
    for i in 1..=50i64 {
        let mut sink = Collect::default();
        s.execute_prepared(
            StatementId(2),
            &[
                Wire::Int(i),
                Wire::Int(i * 2),
                Wire::Bytes(format!("c{i}").as_bytes()),
                Wire::Bytes(b"pad"),
            ],
            &mut sink,
        )
        .expect("insert");
        assert_eq!(sink.affected, vec![1]);
    }
    let mut sink = Collect::default();
    s.execute_prepared(StatementId(1), &[Wire::Int(10), Wire::Int(12)], &mut sink)
        .expect("select");
    assert_eq!(sink.rows, vec!["c10,20", "c11,22", "c12,24"]);
    let mut sink = Collect::default();
    s.execute_prepared(
        StatementId(3),
        &[Wire::Int(10), Wire::Int(3), Wire::Bytes(b"x")],
        &mut sink,
    )
    .expect("arithmetic");
    assert_eq!(sink.rows, vec!["7,x"]);
    assert_eq!(parses_on_this_thread(), before, "an execution parsed SQL");

    // Wrong parameter count and unknown handles are MySQL's errors.
    let mut sink = Collect::default();
    let error = s
        .execute_prepared(StatementId(1), &[Wire::Int(1)], &mut sink)
        .expect_err("one parameter short");
    assert_eq!(error.code, 1210);
    let error = s
        .execute_prepared(StatementId(99), &[], &mut sink)
        .expect_err("unknown statement");
    assert_eq!(error.code, 1243);
    // DDL between executions is seen: names resolve at each execution.
    ok(&mut s, "CREATE INDEX k_1 ON sbtest1(k)");
    let mut sink = Collect::default();
    s.execute_prepared(StatementId(1), &[Wire::Int(50), Wire::Int(60)], &mut sink)
        .expect("select after DDL");
    assert_eq!(sink.rows, vec!["c50,100"]);
}
