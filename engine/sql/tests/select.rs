//! SELECT beyond one table, through `SqlSession` on a real engine in a
//! temporary directory: joins (each join method), subqueries (correlated
//! or not, NOT IN's NULL rule), UNION, DISTINCT, derived tables and views.
//! Each answer is what MySQL 8 returns for the same statements.

mod common;

use common::Collect;

use floe_server::Interrupt;
use floe_sql::SqlSession;

fn session(dir: &std::path::Path) -> SqlSession {
    let db = common::database(dir, true);
    let mut session = SqlSession::new(db, 1, "root", Interrupt::new());
    run(
        &mut session,
        "CREATE DATABASE d; USE d; \
         CREATE TABLE a (id INT PRIMARY KEY, k INT, s VARCHAR(10)); \
         CREATE TABLE b (id INT PRIMARY KEY, a_id INT, v INT); \
         CREATE TABLE c (x INT, y VARCHAR(10)); \
         INSERT INTO a VALUES (1, 10, 'one'), (2, 20, 'two'), (3, NULL, 'three'); \
         INSERT INTO b VALUES (1, 1, 100), (2, 1, 101), (3, 2, 200), (4, 9, 900); \
         INSERT INTO c VALUES (10, 'ONE'), (20, 'two'), (NULL, 'x')",
    )
    .expect("setup");
    session
}

fn run(session: &mut SqlSession, sql: &str) -> Result<Vec<String>, u16> {
    let mut sink = Collect::default();
    session
        .execute(sql, true, &mut sink)
        .map_err(|e| e.code())?;
    Ok(sink.rows)
}

fn rows(session: &mut SqlSession, sql: &str) -> Vec<String> {
    run(session, sql).unwrap_or_else(|code| panic!("{sql}: error {code}"))
}

// Inner joins by index lookup (b.id primary key), hash (a.k = c.x, no
// index) and nested loop (an inequality) give the same rows as MySQL.
#[test]
fn joins_by_every_method() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    // b.a_id = a.id: a's primary key is the index lookup side.
    assert_eq!(
        rows(
            &mut s,
            "SELECT b.id, a.s FROM b, a WHERE b.a_id = a.id ORDER BY b.id"
        ),
        ["1,one", "2,one", "3,two"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT a.id, c.y FROM a JOIN c ON a.k = c.x ORDER BY 1"
        ),
        ["1,ONE", "2,two"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT a.id, c.x FROM a CROSS JOIN c WHERE a.k < c.x ORDER BY 1, 2"
        ),
        ["1,20"]
    );
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM a, b, c"), ["36"]);
    // Case-insensitive collation in the hash join's key.
    assert_eq!(
        rows(&mut s, "SELECT a.id FROM a JOIN c ON a.s = c.y ORDER BY 1"),
        ["1", "2"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT a.id, b.v FROM a JOIN b USING (id) ORDER BY id"
        ),
        ["1,100", "2,101", "3,200"]
    );
}

// LEFT JOIN keeps unmatched rows with NULLs; WHERE on the right table
// applies after the NULL row is made.
#[test]
fn left_join() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    assert_eq!(
        rows(
            &mut s,
            "SELECT a.id, b.v FROM a LEFT JOIN b ON b.a_id = a.id ORDER BY a.id, b.v"
        ),
        ["1,100", "1,101", "2,200", "3,NULL"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT a.id FROM a LEFT OUTER JOIN b ON b.a_id = a.id WHERE b.id IS NULL"
        ),
        ["3"]
    );
}

// Subqueries: uncorrelated IN, correlated EXISTS and scalar, and NOT IN
// with a NULL in the list (never true).
#[test]
fn subqueries() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    assert_eq!(
        rows(
            &mut s,
            "SELECT id FROM a WHERE id IN (SELECT a_id FROM b) ORDER BY id"
        ),
        ["1", "2"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT id FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.a_id = a.id AND b.v > 150)"
        ),
        ["2"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT id, (SELECT MAX(v) FROM b WHERE b.a_id = a.id) FROM a ORDER BY id"
        ),
        ["1,101", "2,200", "3,NULL"]
    );
    assert!(rows(&mut s, "SELECT id FROM a WHERE k NOT IN (SELECT x FROM c)").is_empty());
    assert_eq!(
        rows(
            &mut s,
            "SELECT id FROM a WHERE k NOT IN (SELECT x FROM c WHERE x IS NOT NULL)"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT id FROM b WHERE a_id NOT IN (SELECT id FROM a) ORDER BY id"
        ),
        ["4"]
    );
    assert_eq!(run(&mut s, "SELECT (SELECT id FROM a)"), Err(1242));
}

// UNION removes duplicates, UNION ALL keeps them; DISTINCT and
// COUNT(DISTINCT); ORDER BY position and alias.
#[test]
fn union_and_distinct() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    assert_eq!(
        rows(
            &mut s,
            "SELECT a_id FROM b UNION SELECT id FROM a ORDER BY 1"
        ),
        ["1", "2", "3", "9"]
    );
    assert_eq!(
        rows(&mut s, "SELECT a_id FROM b UNION ALL SELECT id FROM a").len(),
        7
    );
    assert_eq!(
        rows(&mut s, "SELECT DISTINCT a_id AS z FROM b ORDER BY z DESC"),
        ["9", "2", "1"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT COUNT(DISTINCT a_id), SUM(DISTINCT a_id) FROM b"
        ),
        ["3,12"]
    );
}

// Derived tables and views read like tables; DROP VIEW IF EXISTS warns.
#[test]
fn derived_tables_and_views() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    assert_eq!(
        rows(&mut s, "SELECT t.n FROM (SELECT COUNT(*) AS n FROM b) AS t"),
        ["4"]
    );
    rows(
        &mut s,
        "CREATE VIEW big AS SELECT id, v FROM b WHERE v > 150",
    );
    assert_eq!(rows(&mut s, "SELECT id FROM big ORDER BY id"), ["3", "4"]);
    assert_eq!(
        rows(
            &mut s,
            "SELECT big.id, a.s FROM big JOIN a ON a.id = big.id"
        ),
        ["3,three"]
    );
    rows(&mut s, "DROP VIEW big");
    assert_eq!(run(&mut s, "SELECT id FROM big"), Err(1146));
    rows(&mut s, "DROP VIEW IF EXISTS big");
    assert_eq!(run(&mut s, "DROP VIEW big"), Err(1051));
    assert_eq!(run(&mut s, "DROP VIEW a"), Err(1347));
}

// Name resolution: an unqualified column in two tables is ambiguous (1052),
// and one alias twice is refused (1066).
#[test]
fn ambiguous_names() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    assert_eq!(run(&mut s, "SELECT id FROM a, b"), Err(1052));
    assert_eq!(run(&mut s, "SELECT 1 FROM a, a"), Err(1066));
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM a AS x, a AS y"), ["9"]);
}

// UPDATE and DELETE run their (uncorrelated) subqueries first; reading the
// target table in one is MySQL's error 1093.
#[test]
fn subqueries_in_update_and_delete() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    rows(
        &mut s,
        "UPDATE a SET k = (SELECT MAX(v) FROM b) WHERE id IN (SELECT a_id FROM b WHERE v = 200)",
    );
    assert_eq!(rows(&mut s, "SELECT k FROM a WHERE id = 2"), ["900"]);
    rows(&mut s, "DELETE FROM b WHERE a_id NOT IN (SELECT id FROM a)");
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM b"), ["3"]);
    assert_eq!(
        run(&mut s, "DELETE FROM a WHERE id IN (SELECT id FROM a)"),
        Err(1093)
    );
}

// EXPLAIN names the tables in join order with their access and join method.
#[test]
fn explain_shows_join_order_and_methods() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    let plan = rows(
        &mut s,
        "EXPLAIN SELECT * FROM b, a, c WHERE b.a_id = a.id AND a.k = c.x AND b.id = 2",
    );
    assert_eq!(plan.len(), 3, "{plan:?}");
    assert!(
        plan[0].starts_with("1,SIMPLE,b,NULL,const,NULL,PRIMARY"),
        "{plan:?}"
    );
    assert!(
        plan[1].starts_with("1,SIMPLE,a,NULL,eq_ref,NULL,PRIMARY"),
        "{plan:?}"
    );
    assert!(
        plan[2].contains(",c,NULL,ALL,") && plan[2].contains("hash join"),
        "{plan:?}"
    );
    let plan = rows(
        &mut s,
        "EXPLAIN SELECT id FROM a WHERE id IN (SELECT a_id FROM b)",
    );
    assert_eq!(plan.len(), 2, "{plan:?}");
    assert!(plan[1].starts_with("2,SUBQUERY,b"), "{plan:?}");
}

// information_schema's SCHEMATA, TABLES, COLUMNS and STATISTICS describe
// the catalog, and join like tables.
#[test]
fn information_schema_tables() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    rows(&mut s, "CREATE VIEW v AS SELECT id FROM a");
    assert_eq!(
        rows(
            &mut s,
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1"
        ),
        ["d", "information_schema", "mysql"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT table_name, table_type FROM information_schema.tables \
             WHERE table_schema = 'd' ORDER BY table_name"
        ),
        ["a,BASE TABLE", "b,BASE TABLE", "c,BASE TABLE", "v,VIEW"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT column_name, is_nullable, data_type, column_key FROM information_schema.columns \
             WHERE table_schema = 'd' AND table_name = 'a' ORDER BY ordinal_position"
        ),
        ["id,NO,int,PRI", "k,YES,int,", "s,YES,varchar,"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT t.table_name, st.index_name FROM information_schema.tables t \
             JOIN information_schema.statistics st ON st.table_name = t.table_name \
             WHERE t.table_schema = 'd' ORDER BY 1"
        ),
        ["a,PRIMARY", "b,PRIMARY"]
    );
    assert_eq!(
        run(&mut s, "SELECT * FROM information_schema.nope"),
        Err(1146)
    );
}

// A SELECT without grouping, DISTINCT or ORDER BY streams: rows made before
// an error reach the client first, as MySQL sends them (here row 2
// overflows BIGINT); with ORDER BY nothing is sent before the error.
#[test]
fn rows_stream_until_an_error() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    let mut sink = Collect::default();
    let outcome = s.execute("SELECT id * 9223372036854775807 FROM a", false, &mut sink);
    assert_eq!(outcome.map_err(|e| e.code()), Err(1690));
    assert_eq!(sink.rows, ["9223372036854775807"]);
    let mut sink = Collect::default();
    let outcome = s.execute(
        "SELECT id * 9223372036854775807 FROM a ORDER BY 1",
        false,
        &mut sink,
    );
    assert_eq!(outcome.map_err(|e| e.code()), Err(1690));
    assert!(sink.rows.is_empty());
}

// RIGHT JOIN is LEFT JOIN with the sides swapped (MySQL's rewrite), and
// `SELECT *` still shows the left table's columns first after ON; NATURAL
// and USING joins show the joined column once, first, with the value of
// the side that is never NULL-extended. Answers are MySQL 8's (checked
// on MariaDB 10.11, which agrees).
#[test]
fn right_natural_and_using_joins() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    assert_eq!(
        rows(
            &mut s,
            "SELECT a.s, b.id FROM a RIGHT JOIN b ON b.a_id = a.id ORDER BY b.id"
        ),
        ["one,1", "one,2", "two,3", "NULL,4"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT * FROM a RIGHT OUTER JOIN b ON b.a_id = a.id WHERE b.id = 4"
        ),
        ["NULL,NULL,NULL,4,9,900"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT COUNT(*), COUNT(a.id) FROM a RIGHT JOIN b ON a.id = b.a_id AND a.k > 10"
        ),
        ["4,1"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT a.id, b.id, c.y FROM a RIGHT JOIN b ON b.a_id = a.id \
             JOIN c ON c.x = a.k ORDER BY b.id"
        ),
        ["1,1,ONE", "1,2,ONE", "2,3,two"]
    );
    assert_eq!(
        rows(&mut s, "SELECT * FROM a NATURAL JOIN b ORDER BY id"),
        ["1,10,one,1,100", "2,20,two,1,101", "3,NULL,three,2,200"]
    );
    assert_eq!(
        rows(&mut s, "SELECT * FROM a JOIN b USING (id) ORDER BY id"),
        ["1,10,one,1,100", "2,20,two,1,101", "3,NULL,three,2,200"]
    );
    assert_eq!(
        rows(&mut s, "SELECT * FROM b NATURAL LEFT JOIN a ORDER BY id"),
        [
            "1,1,100,10,one",
            "2,1,101,20,two",
            "3,2,200,NULL,three",
            "4,9,900,NULL,NULL"
        ]
    );
    // RIGHT JOIN USING: the coalesced column and b's come first (MySQL).
    assert_eq!(
        rows(&mut s, "SELECT * FROM a NATURAL RIGHT JOIN b ORDER BY id"),
        [
            "1,1,100,10,one",
            "2,1,101,20,two",
            "3,2,200,NULL,three",
            "4,9,900,NULL,NULL"
        ]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT id, a.s FROM a RIGHT JOIN b USING (id) ORDER BY 1"
        ),
        ["1,one", "2,two", "3,three", "4,NULL"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT * FROM a LEFT JOIN b USING (id) WHERE a.id = 3"
        ),
        ["3,NULL,three,2,200"]
    );
    // Qualified `t.*` shows all of t, the joined column included.
    assert_eq!(
        rows(&mut s, "SELECT b.* FROM a JOIN b USING (id) WHERE id = 1"),
        ["1,1,100"]
    );
    // No shared name: NATURAL JOIN is a cross join.
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM a NATURAL JOIN c"), ["9"]);
    assert_eq!(
        run(
            &mut s,
            "SELECT * FROM a JOIN b ON a.id = b.id RIGHT JOIN c ON c.x = a.k"
        ),
        Err(1235)
    );
}

// WITH: each common table expression binds as a derived table wherever it
// is named (several times, in subqueries, after the ones before it), with
// its column list. Answers are MySQL 8's (checked on MariaDB 10.11).
#[test]
fn common_table_expressions() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    assert_eq!(
        rows(
            &mut s,
            "WITH big AS (SELECT id, v FROM b WHERE v > 100) SELECT COUNT(*) FROM big"
        ),
        ["3"]
    );
    assert_eq!(
        rows(
            &mut s,
            "WITH x AS (SELECT id FROM a), y AS (SELECT id * 10 AS t FROM x) \
             SELECT x.id, y.t FROM x JOIN y ON y.t = x.id * 10 ORDER BY 1"
        ),
        ["1,10", "2,20", "3,30"]
    );
    assert_eq!(
        rows(
            &mut s,
            "WITH x AS (SELECT id FROM a) SELECT COUNT(*) FROM x AS p, x AS q"
        ),
        ["9"]
    );
    assert_eq!(
        rows(
            &mut s,
            "WITH s (n, total) AS (SELECT a_id, SUM(v) FROM b GROUP BY a_id) \
             SELECT n, total FROM s ORDER BY n"
        ),
        ["1,201", "2,200", "9,900"]
    );
    assert_eq!(
        rows(
            &mut s,
            "WITH x AS (SELECT a_id FROM b) \
             SELECT id FROM a WHERE id IN (SELECT a_id FROM x) ORDER BY id"
        ),
        ["1", "2"]
    );
    // A CTE hides a table of its name.
    assert_eq!(
        rows(&mut s, "WITH a AS (SELECT 7 AS id) SELECT id FROM a"),
        ["7"]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT * FROM (WITH q AS (SELECT 1 AS one) SELECT one FROM q) AS t"
        ),
        ["1"]
    );
    assert_eq!(
        rows(
            &mut s,
            "WITH u AS (SELECT id FROM a UNION SELECT a_id FROM b) SELECT COUNT(*) FROM u"
        ),
        ["4"]
    );
    // Not visible in itself (no recursion): the table x does not exist.
    assert_eq!(
        run(&mut s, "WITH x AS (SELECT * FROM x) SELECT * FROM x"),
        Err(1146)
    );
    assert_eq!(
        run(
            &mut s,
            "WITH x AS (SELECT 1), x AS (SELECT 2) SELECT * FROM x"
        ),
        Err(1066)
    );
    assert_eq!(
        run(&mut s, "WITH x (p, q) AS (SELECT 1) SELECT * FROM x"),
        Err(1353)
    );
    // A derived table takes a column list too.
    assert_eq!(
        rows(
            &mut s,
            "SELECT t.p FROM (SELECT id FROM a) AS t (p) ORDER BY 1"
        ),
        ["1", "2", "3"]
    );
    // The names are gone after the statement.
    assert_eq!(run(&mut s, "SELECT * FROM big"), Err(1146));
}

// max_execution_time (and the MAX_EXECUTION_TIME hint) stop a long
// read-only SELECT, a cross join over rows held in memory, with MySQL's
// 3024; the session goes on and 0 means no limit.
#[test]
fn max_execution_time_stops_a_long_select() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    let values: Vec<String> = (0..300).map(|i| format!("({i})")).collect();
    rows(
        &mut s,
        &format!(
            "CREATE TABLE n (x INT); INSERT INTO n VALUES {}",
            values.join(",")
        ),
    );
    let cross = "SELECT p.x FROM n p, n q, n r WHERE p.x + q.x + r.x < 0";
    rows(&mut s, "SET max_execution_time = 1");
    assert_eq!(rows(&mut s, "SELECT @@max_execution_time"), ["1"]);
    assert_eq!(run(&mut s, cross), Err(3024));
    // Small statements still finish under the limit.
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM n"), ["300"]);
    rows(&mut s, "SET max_execution_time = 0");
    assert_eq!(
        run(
            &mut s,
            &cross.replacen("SELECT", "SELECT /*+ MAX_EXECUTION_TIME(1) */", 1)
        ),
        Err(3024)
    );
    assert_eq!(rows(&mut s, "SELECT COUNT(*) FROM n WHERE x < 10"), ["10"]);
}

// WITH RECURSIVE: the anchor's rows, then rounds of the recursive part
// over the last round's rows until one adds none (UNION DISTINCT drops
// rows seen before, so a cycle ends); starting a round past
// cte_max_recursion_depth is MySQL's 3636 (with 10, ten rounds may run,
// the last adding nothing). Answers are MySQL 8's.
#[test]
fn recursive_common_table_expressions() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = session(dir.path());
    assert_eq!(
        rows(
            &mut s,
            "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) \
             SELECT * FROM r"
        ),
        ["1", "2", "3"]
    );
    rows(
        &mut s,
        "CREATE TABLE e (id INT PRIMARY KEY, boss INT); \
         INSERT INTO e VALUES (1, NULL), (2, 1), (3, 1), (4, 2), (5, 4)",
    );
    assert_eq!(
        rows(
            &mut s,
            "WITH RECURSIVE chain (id, depth) AS ( \
               SELECT id, 0 FROM e WHERE boss IS NULL \
               UNION ALL \
               SELECT e.id, chain.depth + 1 FROM e JOIN chain ON e.boss = chain.id) \
             SELECT id, depth FROM chain ORDER BY id"
        ),
        ["1,0", "2,1", "3,1", "4,2", "5,3"]
    );
    assert_eq!(
        rows(
            &mut s,
            "WITH RECURSIVE r (n) AS (SELECT 1 UNION SELECT (n % 3) + 1 FROM r) \
             SELECT n FROM r ORDER BY n"
        ),
        ["1", "2", "3"]
    );
    // Not naming itself, a CTE of WITH RECURSIVE is an ordinary one.
    assert_eq!(
        rows(
            &mut s,
            "WITH RECURSIVE x AS (SELECT 1 AS one UNION ALL SELECT 2) \
             SELECT COUNT(*) FROM x AS p, x AS q"
        ),
        ["4"]
    );
    let endless = "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) \
                   SELECT COUNT(*) FROM r";
    assert_eq!(run(&mut s, endless), Err(3636));
    rows(&mut s, "SET cte_max_recursion_depth = 10");
    assert_eq!(
        rows(
            &mut s,
            "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) \
             SELECT MAX(n) FROM r"
        ),
        ["10"]
    );
    assert_eq!(
        run(
            &mut s,
            "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 11) \
             SELECT MAX(n) FROM r"
        ),
        Err(3636)
    );
}
