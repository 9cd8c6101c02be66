//! Plans from statistics, through `SqlSession` on a real engine: covering
//! reads answer from secondary entries (and give what the clustered rows
//! give, old read views included), the cost model picks an index only when
//! it is narrow enough, the join order starts from the smaller side, and
//! EXPLAIN shows the estimates.

mod common;

use std::sync::Arc;

use common::rows;
use floe_server::Interrupt;
use floe_sql::{Database, SqlSession};

/// EXPLAIN's rows as (table, type, key, rows, Extra).
fn explain(session: &mut SqlSession, sql: &str) -> Vec<(String, String, String, i64, String)> {
    rows(session, &format!("EXPLAIN {sql}"))
        .iter()
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (
                f[2].to_string(),
                f[4].to_string(),
                f[6].to_string(),
                f[9].parse().unwrap_or(-1),
                f[11..].join(","),
            )
        })
        .collect()
}

fn filled(db: &Arc<Database>) -> SqlSession {
    let mut s = SqlSession::new(Arc::clone(db), 1, "root", Interrupt::new());
    rows(
        &mut s,
        "CREATE DATABASE d; USE d; \
         CREATE TABLE t (id INT PRIMARY KEY, k INT, name VARCHAR(20), b VARBINARY(8), \
         dt DATETIME(3), amount DECIMAL(9,2), KEY kk (k), KEY kn (name), KEY kb (b, dt)); \
         CREATE TABLE s (x INT PRIMARY KEY, y INT)",
    );
    for chunk in 0..20 {
        let values: Vec<String> = (0..100)
            .map(|j| {
                let i = chunk * 100 + j;
                format!(
                    "({i}, {}, 'Name{i}', X'{:02x}00{:02x}', '2024-01-{:02} 10:00:{:02}.{:03}', {}.{:02})",
                    i % 100,
                    i % 7,
                    i % 251,
                    1 + i % 28,
                    i % 60,
                    i % 1000,
                    i - 1000,
                    i % 100
                )
            })
            .collect();
        rows(
            &mut s,
            &format!("INSERT INTO t VALUES {}", values.join(",")),
        );
    }
    let small: Vec<String> = (0..10).map(|x| format!("({x}, {})", x % 2)).collect();
    rows(&mut s, &format!("INSERT INTO s VALUES {}", small.join(",")));
    s
}

#[test]
fn covering_reads_give_what_rows_give() {
    let dir = tempfile::tempdir().expect("dir");
    let db = common::database(dir.path(), true);
    let mut s = filled(&db);

    // k and id are in kk's entries: answered from the index.
    let plan = explain(&mut s, "SELECT id, k FROM t WHERE k = 5");
    assert_eq!(plan[0].1, "ref");
    assert_eq!(plan[0].2, "kk");
    assert!(plan[0].4.contains("Using index"), "{plan:?}");
    assert!((10..=40).contains(&plan[0].3), "about 20 rows: {plan:?}");
    let covered = rows(&mut s, "SELECT id, k FROM t WHERE k = 5 ORDER BY id");
    assert_eq!(covered.len(), 20);
    // `k + 0` hides the condition from the planner: a full scan.
    assert_eq!(
        covered,
        rows(&mut s, "SELECT id, k FROM t WHERE k + 0 = 5 ORDER BY id")
    );

    // Binary strings with zero bytes, DATETIME(3) and the primary key,
    // decoded from kb's entries.
    let sql = "SELECT b, dt, id FROM t WHERE b BETWEEN X'0300' AND X'0301' ORDER BY id";
    let plan = explain(&mut s, sql);
    assert_eq!(plan[0].2, "kb");
    assert!(plan[0].4.contains("Using index"), "{plan:?}");
    let covered = rows(&mut s, sql);
    assert!(!covered.is_empty());
    assert_eq!(
        covered,
        rows(
            &mut s,
            "SELECT b, dt, id FROM t WHERE CONCAT(b) BETWEEN X'0300' AND X'0301' ORDER BY id"
        )
    );

    // A collated string's key is its weights: never covering.
    let plan = explain(&mut s, "SELECT id, name FROM t WHERE name = 'name7'");
    assert_eq!(plan[0].2, "kn");
    assert!(!plan[0].4.contains("Using index"), "{plan:?}");
    assert_eq!(
        rows(&mut s, "SELECT id, name FROM t WHERE name = 'name7'"),
        vec!["7,Name7"]
    );

    // COUNT(*) reads a secondary index whole, from its entries.
    let plan = explain(&mut s, "SELECT COUNT(*) FROM t");
    assert_eq!((plan[0].1.as_str(), plan[0].2.as_str()), ("index", "kk"));
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM t"), vec!["2000"]);
    assert_eq!(
        rows(&mut s, "SELECT COUNT(*), SUM(k) FROM t WHERE k < 10"),
        vec!["200,900"]
    );

    // An old read view: entries changed after it are read through the
    // clustered versions; the rest from the entries.
    let mut other = SqlSession::new(Arc::clone(&db), 2, "root", Interrupt::new());
    rows(&mut other, "USE d");
    rows(&mut s, "BEGIN");
    let before = rows(&mut s, "SELECT id FROM t WHERE k = 7 ORDER BY id");
    rows(&mut other, "UPDATE t SET k = 999 WHERE id IN (7, 107)");
    rows(&mut other, "DELETE FROM t WHERE id = 207");
    rows(&mut other, "INSERT INTO t (id, k) VALUES (5000, 7)");
    assert_eq!(
        rows(&mut s, "SELECT id FROM t WHERE k = 7 ORDER BY id"),
        before
    );
    assert!(rows(&mut s, "SELECT id FROM t WHERE k = 999").is_empty());
    // The same, read backward in index order.
    let backward = rows(&mut s, "SELECT id FROM t WHERE k = 7 ORDER BY id DESC");
    assert!(backward.iter().eq(before.iter().rev()), "{backward:?}");
    let plan = explain(&mut s, "SELECT id FROM t WHERE k = 7 ORDER BY id DESC");
    assert!(plan[0].4.contains("Using index"), "{plan:?}");
    assert!(!plan[0].4.contains("Using filesort"), "{plan:?}");
    rows(&mut s, "COMMIT");
    let after = rows(&mut s, "SELECT id FROM t WHERE k = 7 ORDER BY id");
    assert_eq!(after.len(), before.len() - 2);
    assert!(after.contains(&"5000".to_string()) && !after.contains(&"107".to_string()));
    assert_eq!(
        rows(&mut s, "SELECT id FROM t WHERE k = 999 ORDER BY id"),
        vec!["7", "107"]
    );
    drop((s, other));
    db.shutdown().expect("shutdown");
}

#[test]
fn statistics_choose_paths_and_join_order() {
    let dir = tempfile::tempdir().expect("dir");
    let db = common::database(dir.path(), true);
    let mut s = filled(&db);

    // Narrow: the secondary index (with a lookup per row, as `name` is
    // not in kk). Wide: a full scan costs less than 1,000 lookups.
    let narrow = explain(&mut s, "SELECT name FROM t WHERE k = 3");
    assert_eq!((narrow[0].1.as_str(), narrow[0].2.as_str()), ("ref", "kk"));
    let listed = explain(&mut s, "SELECT name FROM t WHERE k IN (3, 4)");
    assert_eq!(
        (listed[0].1.as_str(), listed[0].2.as_str()),
        ("range", "kk")
    );
    assert!((20..=80).contains(&listed[0].3), "{listed:?}");
    let wide = explain(&mut s, "SELECT name FROM t WHERE k >= 50");
    assert_eq!(wide[0].1, "ALL", "{wide:?}");
    assert!((1500..=2500).contains(&wide[0].3), "{wide:?}");

    // The join starts from the small table; t is reached through kk.
    let join = explain(
        &mut s,
        "SELECT t.id, s.y FROM t JOIN s ON t.k = s.x WHERE s.y = 1",
    );
    assert_eq!(join[0].0, "s", "{join:?}");
    assert_eq!((join[1].0.as_str(), join[1].1.as_str()), ("t", "ref"));
    assert!((10..=40).contains(&join[1].3), "{join:?}");
    assert_eq!(
        rows(
            &mut s,
            "SELECT COUNT(*) FROM t JOIN s ON t.k = s.x WHERE s.y = 1"
        ),
        vec!["100"]
    );

    // Writes make the figures stale; they are taken again on use.
    let small: Vec<String> = (10..3000).map(|x| format!("({x}, 5)")).collect();
    rows(&mut s, &format!("INSERT INTO s VALUES {}", small.join(",")));
    let join = explain(
        &mut s,
        "SELECT t.id FROM t JOIN s ON t.k = s.x WHERE s.y = 5",
    );
    assert_eq!(join[0].0, "t", "t is now the smaller side: {join:?}");
    assert_eq!(join[1].1, "eq_ref");
    drop(s);
    db.shutdown().expect("shutdown");
}

/// SHOW STATUS' (Handler_read_next, Handler_read_prev, Handler_read_rnd_next).
fn handler_reads(session: &mut SqlSession) -> (u64, u64, u64) {
    let mut figures = (0, 0, 0);
    for line in rows(session, "SHOW SESSION STATUS LIKE 'Handler_read_%'") {
        let (name, value) = line.split_once(',').expect("name,value");
        let value: u64 = value.parse().expect("a count");
        match name {
            "Handler_read_next" => figures.0 = value,
            "Handler_read_prev" => figures.1 = value,
            "Handler_read_rnd_next" => figures.2 = value,
            _ => {}
        }
    }
    figures
}

/// Each (ordered, sorted) pair gives the same rows: the first's ORDER BY
/// items are plain columns an index serves, the second's hide them in
/// expressions (`+ 0`) so the rows are sorted in memory.
fn same_rows(session: &mut SqlSession, ordered: &str, sorted: &str) -> Vec<String> {
    let plan = explain(session, ordered);
    assert!(!plan[0].4.contains("Using filesort"), "{ordered}: {plan:?}");
    let plan = explain(session, sorted);
    assert!(plan[0].4.contains("Using filesort"), "{sorted}: {plan:?}");
    let got = rows(session, ordered);
    assert_eq!(got, rows(session, sorted), "{ordered}");
    got
}

#[test]
fn ordered_index_reads_give_what_sorting_gives() {
    let dir = tempfile::tempdir().expect("dir");
    let db = common::database(dir.path(), true);
    let mut s = filled(&db);
    // NULL keys, and case variants of a collated key.
    rows(
        &mut s,
        "INSERT INTO t (id, k, name) VALUES (3000, NULL, 'name5'), (3001, NULL, 'NAME5'), \
         (3002, 5, NULL), (3003, NULL, 'nAmE5')",
    );
    rows(&mut s, "ANALYZE TABLE t");

    // The primary key, both ways, with LIMIT and OFFSET.
    let got = same_rows(
        &mut s,
        "SELECT id, k FROM t ORDER BY id DESC LIMIT 10",
        "SELECT id, k FROM t ORDER BY id + 0 DESC LIMIT 10",
    );
    assert_eq!(got[0], "3003,NULL");
    let plan = explain(&mut s, "SELECT * FROM t ORDER BY id DESC LIMIT 10");
    assert_eq!(
        (plan[0].1.as_str(), plan[0].2.as_str()),
        ("index", "PRIMARY")
    );
    assert_eq!(plan[0].3, 10, "{plan:?}");
    same_rows(
        &mut s,
        "SELECT * FROM t ORDER BY id LIMIT 7 OFFSET 30",
        "SELECT * FROM t ORDER BY id + 0 LIMIT 7 OFFSET 30",
    );

    // A covering secondary index (k, then the primary key), both ways;
    // NULLs first ascending, last descending.
    let got = same_rows(
        &mut s,
        "SELECT id, k FROM t ORDER BY k, id LIMIT 15 OFFSET 1",
        "SELECT id, k FROM t ORDER BY k + 0, id + 0 LIMIT 15 OFFSET 1",
    );
    assert_eq!(got[..2], ["3001,NULL", "3003,NULL"]);
    let plan = explain(
        &mut s,
        "SELECT id, k FROM t ORDER BY k, id LIMIT 15 OFFSET 1",
    );
    assert_eq!(plan[0].2, "kk", "{plan:?}");
    assert!(plan[0].4.contains("Using index"), "{plan:?}");
    let got = same_rows(
        &mut s,
        "SELECT id, k FROM t ORDER BY k DESC, id DESC",
        "SELECT id, k FROM t ORDER BY k + 0 DESC, id + 0 DESC",
    );
    assert_eq!(got.len(), 2004);
    assert_eq!(got[2001..], ["3003,NULL", "3001,NULL", "3000,NULL"]);

    // Not covering (name is read): a lookup per entry, both ways.
    same_rows(
        &mut s,
        "SELECT id, k, name FROM t ORDER BY k DESC LIMIT 12",
        "SELECT id, k, name FROM t ORDER BY k + 0 DESC, id + 0 DESC LIMIT 12",
    );

    // Equality prefixes: k = 5 leaves the primary key in kk's order.
    same_rows(
        &mut s,
        "SELECT * FROM t WHERE k = 5 ORDER BY id DESC",
        "SELECT * FROM t WHERE k = 5 ORDER BY id + 0 DESC",
    );
    same_rows(
        &mut s,
        "SELECT id, k FROM t WHERE k = 5 AND id > 700 ORDER BY id LIMIT 4",
        "SELECT id, k FROM t WHERE k = 5 AND id > 700 ORDER BY id + 0 LIMIT 4",
    );
    // IN: its ranges in key order.
    same_rows(
        &mut s,
        "SELECT id, k FROM t WHERE k IN (9, 3, 5) ORDER BY k DESC, id DESC LIMIT 30",
        "SELECT id, k FROM t WHERE k IN (9, 3, 5) ORDER BY k + 0 DESC, id + 0 DESC LIMIT 30",
    );
    // A filter no index serves: rows are skipped until LIMIT match.
    same_rows(
        &mut s,
        "SELECT id, amount FROM t WHERE amount > 900 ORDER BY id DESC LIMIT 5",
        "SELECT id, amount FROM t WHERE amount > 900 ORDER BY id + 0 DESC LIMIT 5",
    );

    // A collated VARCHAR: key order is collation order (case variants
    // equal, then by id); NULL first.
    let got = same_rows(
        &mut s,
        "SELECT id, name FROM t ORDER BY name, id LIMIT 3",
        "SELECT id, name FROM t ORDER BY CONCAT(name), id + 0 LIMIT 3",
    );
    assert_eq!(got[0], "3002,NULL");
    same_rows(
        &mut s,
        "SELECT id, name FROM t ORDER BY name DESC, id DESC LIMIT 20",
        "SELECT id, name FROM t ORDER BY CONCAT(name) DESC, id + 0 DESC LIMIT 20",
    );
    let got = same_rows(
        &mut s,
        "SELECT id, name FROM t WHERE name = 'NAME5' ORDER BY id DESC",
        "SELECT id, name FROM t WHERE name = 'NAME5' ORDER BY id + 0 DESC",
    );
    assert_eq!(got, ["3003,nAmE5", "3001,NAME5", "3000,name5", "5,Name5"]);

    // A narrow range beats walking the primary key until LIMIT match:
    // read the range and sort.
    let sql = "SELECT id, name FROM t WHERE name BETWEEN 'Name1995' AND 'Name1999' \
               ORDER BY id DESC LIMIT 3";
    let plan = explain(&mut s, sql);
    assert_eq!((plan[0].1.as_str(), plan[0].2.as_str()), ("range", "kn"));
    assert!(plan[0].4.contains("Using filesort"), "{plan:?}");
    assert_eq!(
        rows(&mut s, sql),
        ["1999,Name1999", "1998,Name1998", "1997,Name1997"]
    );
    // Without LIMIT an ordered walk never pays unless it is the path anyway.
    let plan = explain(&mut s, "SELECT * FROM t WHERE amount > 900 ORDER BY k");
    assert_eq!(plan[0].1, "ALL", "{plan:?}");
    assert!(plan[0].4.contains("Using filesort"), "{plan:?}");

    // Mixed directions sort as before.
    let plan = explain(&mut s, "SELECT id, k FROM t ORDER BY k, id DESC LIMIT 5");
    assert!(plan[0].4.contains("Using filesort"), "{plan:?}");
    assert_eq!(
        rows(&mut s, "SELECT id, k FROM t ORDER BY k, id DESC LIMIT 3"),
        ["3003,NULL", "3001,NULL", "3000,NULL"]
    );

    // UPDATE and DELETE with ORDER BY ... LIMIT through the index order.
    rows(
        &mut s,
        "UPDATE t SET amount = 0 WHERE k = 5 ORDER BY id DESC LIMIT 3",
    );
    assert_eq!(
        rows(&mut s, "SELECT id FROM t WHERE amount = 0 ORDER BY id"),
        ["1000", "1805", "1905", "3002"]
    );
    rows(&mut s, "DELETE FROM t WHERE amount = 0 ORDER BY id LIMIT 2");
    assert_eq!(
        rows(&mut s, "SELECT id FROM t WHERE amount = 0"),
        ["1905", "3002"]
    );

    // A locking read backward.
    rows(&mut s, "BEGIN");
    assert_eq!(
        rows(
            &mut s,
            "SELECT id FROM t ORDER BY id DESC LIMIT 2 FOR UPDATE"
        ),
        ["3003", "3002"]
    );
    rows(&mut s, "COMMIT");
    drop(s);
    db.shutdown().expect("shutdown");
}

#[test]
fn limited_ordered_scans_read_few_rows() {
    let dir = tempfile::tempdir().expect("dir");
    let db = common::database(dir.path(), true);
    let mut s = filled(&db);

    // Ten rows backward from the end of the primary key.
    let (next, prev, rnd) = handler_reads(&mut s);
    let got = rows(&mut s, "SELECT id FROM t ORDER BY id DESC LIMIT 10");
    assert_eq!(got.first().map(String::as_str), Some("1999"));
    let after = handler_reads(&mut s);
    assert_eq!((after.0 - next, after.1 - prev, after.2 - rnd), (0, 10, 0));

    // Sorting reads every row (of a covering index, or the table).
    let (next, prev, rnd) = after;
    rows(&mut s, "SELECT id FROM t ORDER BY id + 0 DESC LIMIT 10");
    let after = handler_reads(&mut s);
    let read = (after.0 - next) + (after.1 - prev) + (after.2 - rnd);
    assert_eq!(read, 2000);

    // An equality prefix and a filter: k = 3 has 20 rows; amount < 0
    // keeps ids below 1000, so 10 of them come from the first 10 entries.
    let (next, prev, rnd) = after;
    let got = rows(
        &mut s,
        "SELECT id FROM t WHERE k = 3 AND amount < 0 ORDER BY id LIMIT 5",
    );
    assert_eq!(got, ["3", "103", "203", "303", "403"]);
    let after = handler_reads(&mut s);
    assert_eq!((after.0 - next, after.1 - prev, after.2 - rnd), (5, 0, 0));
    drop(s);
    db.shutdown().expect("shutdown");
}
