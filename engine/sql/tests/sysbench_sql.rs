//! What sysbench (and most ORMs) send beyond plain SELECT/INSERT: index DDL
//! on filled tables, prepared statements, the INSERT variants, TRUNCATE,
//! SHOW CREATE TABLE, ALTER TABLE. Each against `SqlSession` over a real
//! engine in a temporary directory, results collected as text, errors as
//! MySQL numbers.

mod common;

use common::Collect;
use std::sync::Arc;

use floe_server::protocol::{StatementId, Value as Wire};
use floe_server::Interrupt;
use floe_sql::{Database, SqlSession};

fn create(dir: &std::path::Path) -> Arc<Database> {
    common::database(dir, true)
}

fn reopen(dir: &std::path::Path) -> Arc<Database> {
    common::database(dir, false)
}

fn session(db: &Arc<Database>) -> SqlSession {
    let mut s = SqlSession::new(Arc::clone(db), 1, "root", Interrupt::new());
    s.use_database("d").expect("use d");
    s
}

use common::{execute as run, rows};

fn ok(session: &mut SqlSession, sql: &str) -> Collect {
    run(session, sql).unwrap_or_else(|code| panic!("{sql}: error {code}"))
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
// parses nothing (the session's parse counter stands still), binds each `?`
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

    // This SHOW is parsed (and counted) before it reads the counter.
    let parsed = |s: &mut SqlSession| -> u64 {
        let mut sink = Collect::default();
        s.execute(
            "SHOW STATUS LIKE 'Floe_statements_parsed'",
            false,
            &mut sink,
        )
        .expect("show status");
        sink.rows[0]
            .rsplit(',')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a count")
    };
    let before = parsed(&mut s);
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
    assert_eq!(parsed(&mut s), before + 1, "an execution parsed SQL");

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

fn info(session: &mut SqlSession, sql: &str) -> String {
    ok(session, sql).info.last().cloned().unwrap_or_default()
}

// INSERT IGNORE skips duplicates with warning 1062; REPLACE deletes what
// clashes (1 + deleted rows affected); ON DUPLICATE KEY UPDATE counts 1 per
// insert, 2 per changed row, 0 per unchanged row, with VALUES(col) and the
// new-row alias reading the row that clashed; a clash on a unique
// secondary key resolves against that key's row.
#[test]
fn insert_variants_resolve_duplicates_as_mysql() {
    let dir = tempfile::tempdir().expect("dir");
    let db = create(dir.path());
    let mut s = setup(&db);
    ok(&mut s, "CREATE UNIQUE INDEX uc ON sbtest1(c)");
    ok(
        &mut s,
        "INSERT INTO sbtest1 (id, k, c) VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c')",
    );
    assert_eq!(
        run(&mut s, "INSERT INTO sbtest1 (id, k, c) VALUES (1, 0, 'z')").err(),
        Some(1062)
    );
    // IGNORE.
    let result = ok(
        &mut s,
        "INSERT IGNORE INTO sbtest1 (id, k, c) VALUES (1, 0, 'x'), (4, 40, 'd'), (5, 0, 'a')",
    );
    assert_eq!(result.affected, vec![1]);
    assert_eq!(
        result.info,
        vec!["Records: 3  Duplicates: 2  Warnings: 2".to_string()]
    );
    assert_eq!(
        rows(&mut s, "SHOW WARNINGS"),
        vec![
            "Warning,1062,Duplicate entry '1' for key 'sbtest1.PRIMARY'",
            "Warning,1062,Duplicate entry 'a' for key 'sbtest1.uc'"
        ]
    );
    assert_eq!(
        rows(&mut s, "SELECT id, k, c FROM sbtest1"),
        vec!["1,10,a", "2,20,b", "3,30,c", "4,40,d"]
    );
    // REPLACE: no clash 1; a clash on the key 2; clashes on two rows 3.
    assert_eq!(
        affected(
            &mut s,
            "REPLACE INTO sbtest1 (id, k, c) VALUES (6, 60, 'f')"
        ),
        1
    );
    assert_eq!(
        affected(
            &mut s,
            "REPLACE INTO sbtest1 (id, k, c) VALUES (6, 61, 'f')"
        ),
        2
    );
    assert_eq!(
        affected(
            &mut s,
            "REPLACE INTO sbtest1 (id, k, c) VALUES (1, 11, 'b')"
        ),
        3
    );
    assert_eq!(
        rows(&mut s, "SELECT id, k, c FROM sbtest1"),
        vec!["1,11,b", "3,30,c", "4,40,d", "6,61,f"]
    );
    // ODKU: insert 1, update 2, unchanged 0.
    assert_eq!(
        affected(
            &mut s,
            "INSERT INTO sbtest1 (id, k, c) VALUES (7, 70, 'g') ON DUPLICATE KEY UPDATE k = k + 1"
        ),
        1
    );
    assert_eq!(
        affected(
            &mut s,
            "INSERT INTO sbtest1 (id, k, c) VALUES (7, 5, 'g') ON DUPLICATE KEY UPDATE k = k + VALUES(k)"
        ),
        2
    );
    assert_eq!(
        affected(
            &mut s,
            "INSERT INTO sbtest1 (id, k, c) VALUES (7, 5, 'g') ON DUPLICATE KEY UPDATE k = k"
        ),
        0
    );
    assert_eq!(
        rows(&mut s, "SELECT k FROM sbtest1 WHERE id = 7"),
        vec!["75"]
    );
    // The new-row alias, and a clash on the unique secondary key.
    assert_eq!(
        affected(
            &mut s,
            "INSERT INTO sbtest1 (id, k, c) VALUES (100, 3, 'c') AS new \
             ON DUPLICATE KEY UPDATE k = k * new.k, pad = 'hit'"
        ),
        2
    );
    assert_eq!(
        rows(&mut s, "SELECT id, k, pad FROM sbtest1 WHERE c = 'c'"),
        vec!["3,90,hit"]
    );
    // Multi-row ODKU counts each row.
    let result = ok(
        &mut s,
        "INSERT INTO sbtest1 (id, k, c) VALUES (8, 1, 'h'), (1, 1, 'q') \
         ON DUPLICATE KEY UPDATE k = VALUES(k) + 100",
    );
    assert_eq!(result.affected, vec![3]);
    assert_eq!(
        rows(&mut s, "SELECT k FROM sbtest1 WHERE id = 1"),
        vec!["101"]
    );
    // INSERT ... SET.
    assert_eq!(
        affected(&mut s, "INSERT INTO sbtest1 SET id = 9, k = 9, c = 'i'"),
        1
    );
    assert_eq!(
        rows(&mut s, "SELECT c FROM sbtest1 WHERE id = 9"),
        vec!["i"]
    );
}

// UPDATE and DELETE with ORDER BY and LIMIT change the rows the order
// names first; TRUNCATE empties the table and restarts AUTO_INCREMENT.
#[test]
fn ordered_limited_writes_and_truncate() {
    let dir = tempfile::tempdir().expect("dir");
    let db = create(dir.path());
    let mut s = setup(&db);
    ok(
        &mut s,
        "INSERT INTO sbtest1 (k, c) VALUES (5, 'a'), (3, 'b'), (9, 'c'), (1, 'd'), (7, 'e')",
    );
    assert_eq!(
        info(
            &mut s,
            "UPDATE sbtest1 SET c = 'top' ORDER BY k DESC LIMIT 2"
        ),
        "Rows matched: 2  Changed: 2  Warnings: 0"
    );
    assert_eq!(
        rows(&mut s, "SELECT id FROM sbtest1 WHERE c = 'top'"),
        vec!["3", "5"]
    );
    assert_eq!(
        affected(&mut s, "DELETE FROM sbtest1 WHERE k > 1 ORDER BY k LIMIT 2"),
        2
    );
    assert_eq!(
        rows(&mut s, "SELECT id, k FROM sbtest1"),
        vec!["3,9", "4,1", "5,7"]
    );
    ok(&mut s, "TRUNCATE TABLE sbtest1");
    assert!(rows(&mut s, "SELECT id FROM sbtest1").is_empty());
    ok(&mut s, "INSERT INTO sbtest1 (k) VALUES (1)");
    assert_eq!(rows(&mut s, "SELECT id FROM sbtest1"), vec!["1"]);
    assert_eq!(run(&mut s, "TRUNCATE TABLE nope").err(), Some(1146));
}

// SHOW CREATE TABLE's text, run again under another name, makes a table
// whose SHOW CREATE TABLE is the same; ALTER TABLE adds and drops indexes
// (also unnamed ones, named after their first column).
#[test]
fn show_create_table_round_trips_and_alter_table_indexes() {
    let dir = tempfile::tempdir().expect("dir");
    let db = create(dir.path());
    let mut s = setup(&db);
    ok(
        &mut s,
        "CREATE TABLE t2 (a INT UNSIGNED NOT NULL, b VARCHAR(20) DEFAULT 'it''s', \
         c DECIMAL(10,2) NOT NULL DEFAULT '1.50', d DATETIME(3), e TEXT, \
         PRIMARY KEY (a), UNIQUE KEY ub (b), KEY kc (c, a))",
    );
    ok(&mut s, "INSERT INTO sbtest1 (k) VALUES (1), (2)");
    ok(
        &mut s,
        "ALTER TABLE sbtest1 ADD INDEX (k), ADD UNIQUE KEY uc (c, id)",
    );
    ok(&mut s, "ALTER TABLE sbtest1 ADD KEY (k)");
    let text = rows(&mut s, "SHOW CREATE TABLE sbtest1");
    assert_eq!(
        text,
        vec![
            "sbtest1,CREATE TABLE `sbtest1` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  \
             `k` int NOT NULL DEFAULT '0',\n  `c` char(120) NOT NULL DEFAULT '',\n  \
             `pad` char(60) NOT NULL DEFAULT '',\n  PRIMARY KEY (`id`),\n  KEY `k` (`k`),\n  \
             UNIQUE KEY `uc` (`c`,`id`),\n  KEY `k_2` (`k`)\n) ENGINE=InnoDB AUTO_INCREMENT=3 \
             DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci"
        ]
    );
    // (sqlparser 0.64 reads DROP INDEX, not its synonym DROP KEY.)
    ok(&mut s, "ALTER TABLE sbtest1 DROP INDEX k_2, DROP INDEX uc");
    assert_eq!(
        run(&mut s, "ALTER TABLE sbtest1 DROP INDEX nope").err(),
        Some(1091)
    );
    for table in ["sbtest1", "t2"] {
        let original = rows(&mut s, &format!("SHOW CREATE TABLE {table}"));
        let create = original[0]
            .split_once(',')
            .map(|(_, text)| text.to_string())
            .expect("two columns");
        let copy = create.replacen(&format!("`{table}`"), "`copy`", 1);
        ok(&mut s, &copy);
        let again = rows(&mut s, "SHOW CREATE TABLE copy");
        assert_eq!(
            again[0].split_once(',').map(|(_, t)| t.to_string()),
            Some(copy.clone()),
            "{table}"
        );
        ok(&mut s, "DROP TABLE copy");
    }
}

// ALTER TABLE ADD COLUMN fills old rows with the default (or the type's
// implicit one) at the place asked for; DROP COLUMN takes the column out of
// its indexes; both keep the rows, the other indexes and later writes.
#[test]
fn alter_table_add_and_drop_columns() {
    let dir = tempfile::tempdir().expect("dir");
    let db = create(dir.path());
    let mut s = setup(&db);
    ok(&mut s, "CREATE INDEX k_1 ON sbtest1(k)");
    ok(
        &mut s,
        "INSERT INTO sbtest1 (k, c) VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    );
    ok(&mut s, "DELETE FROM sbtest1 WHERE id = 2");
    ok(
        &mut s,
        "ALTER TABLE sbtest1 ADD COLUMN n INT NOT NULL DEFAULT 7 AFTER k",
    );
    ok(
        &mut s,
        "ALTER TABLE sbtest1 ADD COLUMN z VARCHAR(5) NOT NULL",
    );
    ok(&mut s, "ALTER TABLE sbtest1 ADD COLUMN f INT FIRST");
    assert_eq!(
        run(&mut s, "ALTER TABLE sbtest1 ADD COLUMN k INT").err(),
        Some(1060)
    );
    assert_eq!(
        rows(&mut s, "SELECT * FROM sbtest1"),
        vec!["NULL,1,1,7,a,,", "NULL,3,3,7,c,,"]
    );
    assert_eq!(
        rows(&mut s, "SELECT id FROM sbtest1 WHERE k = 3"),
        vec!["3"]
    );
    ok(&mut s, "CREATE INDEX kn ON sbtest1(k, n)");
    ok(&mut s, "ALTER TABLE sbtest1 DROP COLUMN n, DROP COLUMN f");
    assert_eq!(
        run(&mut s, "ALTER TABLE sbtest1 DROP COLUMN n").err(),
        Some(1091)
    );
    let meta = db.table("d", "sbtest1").expect("table");
    let kn = meta
        .indexes
        .iter()
        .find(|i| i.name == "kn")
        .expect("kn stays, on k alone");
    assert_eq!(kn.columns, vec![1]);
    // z is NOT NULL without DEFAULT: strict mode wants a value (1364).
    assert_eq!(
        run(&mut s, "INSERT INTO sbtest1 (k, c) VALUES (3, 'd')").err(),
        Some(1364)
    );
    ok(&mut s, "INSERT INTO sbtest1 (k, c, z) VALUES (3, 'd', '')");
    assert_eq!(
        rows(&mut s, "SELECT id, c FROM sbtest1 WHERE k = 3"),
        vec!["3,c", "4,d"]
    );
    assert_eq!(
        rows(&mut s, "SELECT * FROM sbtest1"),
        vec!["1,1,a,,", "3,3,c,,", "4,3,d,,"]
    );
}

// SHOW INDEX lists each key column of each index with MySQL's columns;
// Cardinality counts the distinct prefixes (exact for a small table), and
// ANALYZE TABLE takes them again after changes.
#[test]
fn show_index_lists_key_columns() {
    let dir = tempfile::tempdir().expect("dir");
    let db = create(dir.path());
    let mut s = setup(&db);
    ok(&mut s, "CREATE UNIQUE INDEX kc ON sbtest1(k, c)");
    let result = ok(&mut s, "SHOW INDEX FROM sbtest1");
    assert_eq!(result.columns, 15);
    assert_eq!(
        result.rows,
        vec![
            "sbtest1,0,PRIMARY,1,id,A,0,NULL,NULL,,BTREE,,,YES,NULL",
            "sbtest1,0,kc,1,k,A,0,NULL,NULL,,BTREE,,,YES,NULL",
            "sbtest1,0,kc,2,c,A,0,NULL,NULL,,BTREE,,,YES,NULL"
        ]
    );
    ok(
        &mut s,
        "INSERT INTO sbtest1 (k, c) VALUES (1, 'a'), (1, 'b'), (2, 'a'), (2, 'c'), (3, 'a')",
    );
    assert_eq!(
        rows(&mut s, "ANALYZE TABLE sbtest1, nope"),
        vec![
            "d.sbtest1,analyze,status,OK",
            "d.nope,analyze,Error,Table 'd.nope' doesn't exist",
            "d.nope,analyze,status,Operation failed"
        ]
    );
    let cardinality: Vec<String> = ok(&mut s, "SHOW INDEX FROM sbtest1")
        .rows
        .iter()
        .map(|r| r.split(',').take(7).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(
        cardinality,
        vec![
            "sbtest1,0,PRIMARY,1,id,A,5",
            "sbtest1,0,kc,1,k,A,3",
            "sbtest1,0,kc,2,c,A,5"
        ]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT INDEX_NAME, SEQ_IN_INDEX, CARDINALITY FROM information_schema.STATISTICS \
             WHERE TABLE_NAME = 'sbtest1' ORDER BY INDEX_NAME, SEQ_IN_INDEX"
        ),
        vec!["kc,1,3", "kc,2,5", "PRIMARY,1,5"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_NAME = 'sbtest1'"
        ),
        vec!["5"]
    );
    assert_eq!(run(&mut s, "ANALYZE TABLE").err(), Some(1064));
    assert_eq!(run(&mut s, "SHOW KEYS FROM nope").err(), Some(1146));
}
