//! `SqlSession` without the wire: statements against a real engine in a
//! temporary directory, results collected as text. Checks the planner's
//! choices against the rows each path returns, and transaction rules.

mod common;

use common::Collect;
use std::sync::Arc;

use floe_server::Interrupt;
use floe_sql::catalog::TableMeta;
use floe_sql::plan;
use floe_sql::{Database, SqlSession};

fn open(dir: &std::path::Path) -> Arc<Database> {
    common::database(dir, true)
}

fn run(session: &mut SqlSession, sql: &str) -> Result<Collect, u16> {
    let mut sink = Collect::default();
    session
        .execute(sql, true, &mut sink)
        .map_err(|e| e.code())?;
    Ok(sink)
}

fn rows(session: &mut SqlSession, sql: &str) -> Vec<String> {
    match run(session, sql) {
        Ok(sink) => sink.rows,
        Err(code) => panic!("{sql}: error {code}"),
    }
}

fn table(db: &Database) -> Arc<TableMeta> {
    db.table("d", "t").expect("table t")
}

// The planner picks a point lookup for a full primary key, the unique
// index for its key, a range for inequalities, and a full scan otherwise;
// each path returns the rows the full scan's filter would.
#[test]
fn planner_paths_return_the_same_rows_as_a_full_scan() {
    let dir = tempfile::tempdir().expect("dir");
    let db = open(dir.path());
    let mut session = SqlSession::new(Arc::clone(&db), 1, "root", Interrupt::new());
    run(
        &mut session,
        "CREATE DATABASE d; USE d; CREATE TABLE t (a INT, b INT, c VARCHAR(10), d INT, \
         PRIMARY KEY (a, b), UNIQUE KEY uc (c), KEY kd (d))",
    )
    .expect("ddl");
    let mut values = Vec::new();
    // 200 rows; d spreads over 50 values (NULL for a third of the rows),
    // so a narrow condition on d is worth its index and a wide one is not.
    for a in 0..40 {
        for b in 0..5 {
            let d = if a % 3 == 0 {
                "NULL".to_string()
            } else {
                ((a * 7 + b * 13) % 50).to_string()
            };
            values.push(format!("({a}, {b}, 'k{a}_{b}', {d})"));
        }
    }
    run(
        &mut session,
        &format!("INSERT INTO t VALUES {}", values.join(",")),
    )
    .expect("insert");
    let meta = table(&db);
    let cases = [
        ("a = 3 AND b = 2", "1 point lookup(s) on PRIMARY"),
        ("a = 3", "1 range(s) on PRIMARY"),
        ("a = 3 AND b > 1", "1 range(s) on PRIMARY"),
        ("a IN (1, 4) AND b <= 2", "2 range(s) on PRIMARY"),
        ("c = 'K4_1'", "1 range(s) on uc"),
        ("d < 3", "1 range(s) on kd"),
        ("d BETWEEN 2 AND 4", "1 range(s) on kd"),
        ("d > 3", "full scan of PRIMARY"),
        ("b = 1", "full scan of PRIMARY"),
        ("c = 5", "full scan of PRIMARY"),
    ];
    for (condition, expected_path) in cases {
        let sql = format!("SELECT a, b, c, d FROM t WHERE {condition} ORDER BY a, b");
        let statement = floe_sql::session::parse(&sql).expect("parses");
        let sqlparser::ast::Statement::Query(query) = &statement[0] else {
            panic!("not a query")
        };
        let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else {
            panic!("not a select")
        };
        let mut binder =
            floe_sql::bind::Binder::for_table(&session, Some(&meta), "t", "where clause");
        let bound = binder
            .bind(select.selection.as_ref().expect("where"))
            .expect("binds");
        let path = plan::choose(&meta, Some(&bound)).describe(&meta);
        assert_eq!(path, expected_path, "{condition}");
        let via_index = rows(&mut session, &sql);
        // NOT NOT hides the condition from the planner: a full scan.
        let full = rows(
            &mut session,
            &format!("SELECT a, b, c, d FROM t WHERE NOT NOT ({condition}) ORDER BY a, b"),
        );
        assert_eq!(via_index, full, "{condition}");
        assert!(
            !full.is_empty() || condition == "c = 5",
            "{condition} matches rows"
        );
    }
    drop(session);
    db.shutdown().expect("shutdown");
}

// Statement and transaction rules: a failed statement inside BEGIN rolls
// back only itself; ROLLBACK discards the rest; autocommit statements are
// durable at once; a read-only transaction refuses writes (1792).
#[test]
fn transactions_and_statement_rollback() {
    let dir = tempfile::tempdir().expect("dir");
    let db = open(dir.path());
    let mut session = SqlSession::new(Arc::clone(&db), 1, "root", Interrupt::new());
    run(
        &mut session,
        "CREATE DATABASE d; USE d; CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)",
    )
    .expect("ddl");
    run(&mut session, "INSERT INTO t VALUES (1, 10)").expect("insert");
    run(&mut session, "BEGIN").expect("begin");
    run(&mut session, "INSERT INTO t VALUES (2, 20)").expect("insert 2");
    assert_eq!(
        run(&mut session, "INSERT INTO t VALUES (3, 30), (1, 0)").err(),
        Some(1062)
    );
    assert_eq!(
        rows(&mut session, "SELECT id FROM t ORDER BY id"),
        ["1", "2"]
    );
    run(&mut session, "ROLLBACK").expect("rollback");
    assert_eq!(rows(&mut session, "SELECT id FROM t"), ["1"]);
    run(&mut session, "START TRANSACTION READ ONLY").expect("begin ro");
    assert_eq!(run(&mut session, "DELETE FROM t").err(), Some(1792));
    run(&mut session, "COMMIT").expect("commit");
    let updated = run(&mut session, "UPDATE t SET v = v + 1 WHERE id = 1").expect("update");
    assert_eq!(updated.affected, [1]);
    assert_eq!(rows(&mut session, "SELECT v, v * 2 FROM t"), ["11,22"]);
    assert_eq!(run(&mut session, "UPDATE t SET v = NULL").err(), Some(1048));
    assert_eq!(
        rows(&mut session, "SELECT @@autocommit, @@transaction_isolation"),
        ["1,REPEATABLE-READ"]
    );
    run(
        &mut session,
        "SET SESSION transaction_isolation = 'READ-COMMITTED'",
    )
    .expect("set");
    assert_eq!(
        rows(&mut session, "SELECT @@tx_isolation"),
        ["READ-COMMITTED"]
    );
    assert_eq!(run(&mut session, "SET nonsense = 1").err(), Some(1193));
    drop(session);
    db.shutdown().expect("shutdown");
}

// time_zone: NOW() and its kin read the session's zone; TIMESTAMP columns
// are stored in UTC and shown in the session's zone while DATETIME columns
// stay as written (MySQL's rule); named zones other than UTC and SYSTEM
// are 1298. Answers are MySQL 8's.
#[test]
fn time_zone_moves_now_and_timestamp_columns() {
    let dir = tempfile::tempdir().expect("dir");
    let db = open(dir.path());
    let mut s = SqlSession::new(Arc::clone(&db), 1, "root", Interrupt::new());
    rows(
        &mut s,
        "CREATE DATABASE d; USE d; \
         CREATE TABLE t (id INT PRIMARY KEY, ts TIMESTAMP NULL, dt DATETIME)",
    );
    assert_eq!(rows(&mut s, "SELECT @@time_zone"), ["SYSTEM"]);
    rows(&mut s, "SET time_zone = '+05:30'");
    assert_eq!(rows(&mut s, "SELECT @@session.time_zone"), ["+05:30"]);
    rows(
        &mut s,
        "INSERT INTO t VALUES (1, '2024-01-01 12:00:00', '2024-01-01 12:00:00')",
    );
    assert_eq!(
        rows(&mut s, "SELECT ts, dt FROM t"),
        ["2024-01-01 12:00:00,2024-01-01 12:00:00"]
    );
    rows(&mut s, "SET time_zone = '+00:00'");
    assert_eq!(
        rows(&mut s, "SELECT * FROM t"),
        ["1,2024-01-01 06:30:00,2024-01-01 12:00:00"]
    );
    rows(&mut s, "SET time_zone = '-08:00'");
    assert_eq!(
        rows(&mut s, "SELECT * FROM t"),
        ["1,2023-12-31 22:30:00,2024-01-01 12:00:00"]
    );
    assert_eq!(
        rows(&mut s, "SELECT id FROM t WHERE ts = '2023-12-31 22:30:00'"),
        ["1"]
    );
    // The same instant in every zone.
    assert_eq!(
        rows(&mut s, "SELECT UNIX_TIMESTAMP(ts) FROM t"),
        ["1704090600"]
    );
    rows(
        &mut s,
        "UPDATE t SET ts = '2024-06-01 00:00:00' WHERE id = 1",
    );
    rows(&mut s, "SET time_zone = 'UTC'");
    assert_eq!(rows(&mut s, "SELECT ts FROM t"), ["2024-06-01 08:00:00"]);
    assert_eq!(
        rows(&mut s, "SELECT UNIX_TIMESTAMP(ts) FROM t"),
        ["1717228800"]
    );
    assert_eq!(
        rows(&mut s, "SELECT FROM_UNIXTIME(0), FROM_UNIXTIME(1717228800)"),
        ["1970-01-01 00:00:00,2024-06-01 08:00:00"]
    );
    rows(&mut s, "SET time_zone = '+05:30'");
    assert_eq!(
        rows(&mut s, "SELECT FROM_UNIXTIME(0)"),
        ["1970-01-01 05:30:00"]
    );
    // NOW() is the zone's wall clock: 5 h 30 min ahead of UTC's.
    assert_eq!(
        rows(
            &mut s,
            "SELECT UNIX_TIMESTAMP(NOW()) - UNIX_TIMESTAMP(CONVERT_TZ(NOW(), '+05:30', '+00:00')), \
             UNIX_TIMESTAMP() = UNIX_TIMESTAMP(NOW()), FROM_UNIXTIME(UNIX_TIMESTAMP()) = NOW(), \
             SYSDATE() = NOW(), CURTIME() = CAST(NOW() AS TIME), CURRENT_DATE = CURDATE()"
        ),
        ["19800,1,1,1,1,1"]
    );
    rows(&mut s, "INSERT INTO t VALUES (2, NOW(), NOW())");
    rows(&mut s, "SET time_zone = SYSTEM");
    assert_eq!(
        rows(
            &mut s,
            "SELECT UNIX_TIMESTAMP(dt) - UNIX_TIMESTAMP(ts) FROM t WHERE id = 2"
        ),
        ["19800"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT CONVERT_TZ('2004-01-01 12:00:00', '+00:00', '+10:00'), \
             CONVERT_TZ('2004-01-01 12:00:00', 'GMT', 'MET'), \
             CONVERT_TZ('1960-01-01 12:00:00', '+00:00', '+10:00')"
        ),
        ["2004-01-01 22:00:00,NULL,1960-01-01 12:00:00"]
    );
    for bad in ["'Europe/Paris'", "'+14:30'", "'5:30'"] {
        match run(&mut s, &format!("SET time_zone = {bad}")) {
            Err(code) => assert_eq!(code, 1298, "{bad}"),
            Ok(_) => panic!("time zone {bad} accepted"),
        }
    }
    assert_eq!(rows(&mut s, "SELECT @@time_zone"), ["SYSTEM"]);
}

// SET GLOBAL max_execution_time / time_zone: checked as SET SESSION is,
// read by @@global, taken by sessions that start later (and by a reset
// one), not by the session that set it; other variables are refused
// (1235), and an account without SUPER is denied (1227).
#[test]
fn set_global_reaches_new_sessions() {
    let dir = tempfile::tempdir().expect("dir");
    let db = open(dir.path());
    let mut first = SqlSession::new(Arc::clone(&db), 1, "root", Interrupt::new());
    rows(&mut first, "SET GLOBAL max_execution_time = 1500");
    rows(&mut first, "SET @@global.time_zone = '+01:00'");
    assert_eq!(
        rows(
            &mut first,
            "SELECT @@max_execution_time, @@time_zone, \
             @@global.max_execution_time, @@global.time_zone"
        ),
        ["0,SYSTEM,1500,+01:00"]
    );
    let mut second = SqlSession::new(Arc::clone(&db), 2, "root", Interrupt::new());
    assert_eq!(
        rows(&mut second, "SELECT @@max_execution_time, @@time_zone"),
        ["1500,+01:00"]
    );
    assert_eq!(
        rows(&mut second, "SELECT FROM_UNIXTIME(0)"),
        ["1970-01-01 01:00:00"]
    );
    rows(&mut second, "SET time_zone = '+02:00'");
    second.reset().expect("COM_RESET_CONNECTION");
    assert_eq!(rows(&mut second, "SELECT @@time_zone"), ["+01:00"]);
    assert_eq!(
        run(&mut first, "SET GLOBAL time_zone = 'Mars'").err(),
        Some(1298)
    );
    assert_eq!(
        run(&mut first, "SET GLOBAL sql_mode = ''").err(),
        Some(1235)
    );
    assert_eq!(
        run(&mut first, "SET GLOBAL no_such_thing = 1").err(),
        Some(1193)
    );
    assert_eq!(rows(&mut first, "SELECT @@global.time_zone"), ["+01:00"]);
    rows(&mut first, "SET GLOBAL time_zone = DEFAULT");
    assert_eq!(rows(&mut first, "SELECT @@global.time_zone"), ["SYSTEM"]);
    let mut nobody = SqlSession::new(Arc::clone(&db), 3, "nobody", Interrupt::new());
    assert_eq!(
        run(&mut nobody, "SET GLOBAL max_execution_time = 1").err(),
        Some(1227)
    );
}
