//! End to end: the storage engine in a temporary directory, `Database`, the
//! real MySQL server on 127.0.0.1:0, driven by the `mysql` command-line
//! client (mariadb-client) and PyMySQL. Then the database is shut down and
//! reopened on the same directory: committed rows are there, a rolled-back
//! transaction's are not.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use floe_blk::DirectIo;
use floe_server::{OsEntropy, RunningServer, Server, ServerConfig};
use floe_sql::{Database, FloeBackend};
use floe_storage::fil::DirStore;
use floe_storage::srv::{Engine, EngineConfig};
use floe_storage::trx::TrxConfig;
use floe_storage::util::clock::SystemClock;

const PASSWORD: &str = "rootpw";

fn start(dir: &Path, create: bool) -> (RunningServer, Arc<Database>) {
    let store = Arc::new(DirStore::open(dir, DirectIo::Prefer).expect("store opens"));
    let config = EngineConfig {
        data_file_bytes: 64 << 20,
        ..EngineConfig::default()
    };
    let clock = Arc::new(SystemClock::new());
    let engine = if create {
        Engine::create(store, config, clock).expect("engine created")
    } else {
        Engine::open(store, config, clock).expect("engine opens")
    };
    let database = Database::open(engine, TrxConfig::default()).expect("database opens");
    if database.root_password_unset() {
        database
            .set_root_password(PASSWORD)
            .expect("root password set");
    }
    let backend = FloeBackend::new(Arc::clone(&database));
    let server = Server::start(
        ServerConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            ..ServerConfig::default()
        },
        backend,
        Arc::new(OsEntropy),
    )
    .expect("server starts");
    (server, database)
}

fn stop(server: RunningServer, database: Arc<Database>) {
    let report = server.shutdown(Duration::from_secs(10));
    assert_eq!(report.connections_still_running, 0);
    // The server's backend reference goes with its last connection thread;
    // wait for it, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut database = database;
    loop {
        match Arc::try_unwrap(database) {
            Ok(owned) => {
                Arc::new(owned).shutdown().expect("clean shutdown");
                return;
            }
            Err(shared) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "database still shared 30 s after server shutdown"
                );
                database = shared;
                std::thread::yield_now();
            }
        }
    }
}

fn mysql(port: u16, sql: &str) -> Output {
    mysql_as(port, "root", PASSWORD, sql)
}

fn mysql_as(port: u16, user: &str, password: &str, sql: &str) -> Output {
    Command::new("mysql")
        .args([
            "--protocol=TCP",
            "--host=127.0.0.1",
            &format!("--port={port}"),
            &format!("--user={user}"),
            &format!("--password={password}"),
            "--batch",
            "--skip-column-names",
            "--connect-timeout=30",
            "--execute",
            sql,
        ])
        .output()
        .expect("mysql runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mysql_ok(port: u16, sql: &str) -> String {
    let output = mysql(port, sql);
    assert!(output.status.success(), "{sql}: {}", text(&output.stderr));
    text(&output.stdout)
}

const PYMYSQL_SCRIPT: &str = r#"
import sys
import pymysql

port = int(sys.argv[1])
connection = pymysql.connect(host="127.0.0.1", port=port, user="root",
                             password="rootpw", database="shop",
                             connect_timeout=30)
with connection.cursor() as cursor:
    # PyMySQL turns autocommit off: this is one transaction, rolled back.
    cursor.execute("INSERT INTO items (name, price) VALUES (%s, %s)", ("ghost", "9.99"))
    cursor.execute("SELECT COUNT(*) FROM items WHERE name = %s", ("ghost",))
    assert cursor.fetchall() == ((1,),), "own insert visible"
    connection.rollback()
    cursor.execute("SELECT COUNT(*) FROM items WHERE name = 'ghost'")
    assert cursor.fetchall() == ((0,),), "rolled back"
    # A committed insert, and a duplicate refused with 1062.
    cursor.execute("INSERT INTO items (id, name, price) VALUES (100, 'kept', 1.5)")
    connection.commit()
    try:
        cursor.execute("INSERT INTO items (id, name, price) VALUES (100, 'again', 2)")
        raise AssertionError("duplicate accepted")
    except pymysql.err.IntegrityError as error:
        assert error.args[0] == 1062, error
    connection.rollback()
    cursor.execute("SELECT id, name, price FROM items WHERE id >= 100 ORDER BY id")
    rows = cursor.fetchall()
    assert [(r[0], r[1], str(r[2])) for r in rows] == [(100, "kept", "1.50")], rows
    cursor.execute("SELECT @@version_comment, @@autocommit, @@max_allowed_packet")
    assert cursor.fetchall() == (("Floe", 0, 67108864),)
    try:
        cursor.execute("SELECT @@no_such_variable")
        raise AssertionError("unknown variable accepted")
    except pymysql.err.OperationalError as error:
        assert error.args[0] == 1193, error
print("pymysql ok")
"#;

// The whole path with real clients: DDL, DML through each access path,
// errors with MySQL's numbers, a rolled-back transaction, and a restart
// that keeps what was committed.
#[test]
fn clients_create_query_and_survive_restart() {
    if Command::new("mysql").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no `mysql` on PATH (apt-get install mariadb-client)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, database) = start(dir.path(), true);
    let port = server.local_addr().port();

    mysql_ok(
        port,
        "CREATE DATABASE shop; USE shop; \
         CREATE TABLE items (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
           name VARCHAR(40) NOT NULL, price DECIMAL(8,2) DEFAULT 0, \
           added DATE DEFAULT '2024-01-01', UNIQUE KEY by_name (name), KEY by_price (price)); \
         INSERT INTO items (name, price) VALUES ('apple', 1.25), ('pear', 2.5), ('plum', 0.75); \
         CREATE TABLE log (message TEXT); INSERT INTO log VALUES ('no primary key')",
    );
    let rows = mysql_ok(
        port,
        "SELECT id, name, price, added FROM shop.items ORDER BY id",
    );
    assert_eq!(
        rows,
        "1\tapple\t1.25\t2024-01-01\n2\tpear\t2.50\t2024-01-01\n3\tplum\t0.75\t2024-01-01\n"
    );
    // Point lookups on the primary key and the unique index, a range on the
    // secondary index, expressions, LIMIT.
    assert_eq!(
        mysql_ok(port, "SELECT name FROM shop.items WHERE id = 2"),
        "pear\n"
    );
    assert_eq!(
        mysql_ok(port, "SELECT id FROM shop.items WHERE name = 'PLUM'"),
        "3\n"
    );
    assert_eq!(
        mysql_ok(port, "SELECT name, price * 2 FROM shop.items WHERE price BETWEEN 1 AND 3 ORDER BY price DESC LIMIT 1"),
        "pear\t5.00\n"
    );
    assert_eq!(
        mysql_ok(
            port,
            "SELECT COUNT(*), SUM(price), MAX(name) FROM shop.items"
        ),
        "3\t4.50\tplum\n"
    );
    assert_eq!(
        mysql_ok(port, "USE shop; UPDATE items SET price = price + 1 WHERE name = 'apple'; SELECT price FROM items WHERE id = 1"),
        "2.25\n"
    );
    assert_eq!(
        mysql_ok(
            port,
            "USE shop; DELETE FROM items WHERE id = 3; SELECT COUNT(*) FROM items"
        ),
        "2\n"
    );
    assert_eq!(mysql_ok(port, "SELECT * FROM shop.log"), "no primary key\n");
    assert_eq!(
        mysql_ok(port, "SHOW DATABASES"),
        "information_schema\nmysql\nshop\n"
    );
    assert_eq!(mysql_ok(port, "USE shop; SHOW TABLES"), "items\nlog\n");
    assert_eq!(mysql_ok(port, "SELECT @@version_comment LIMIT 1"), "Floe\n");

    // Errors with MySQL's numbers.
    for (sql, expected) in [
        (
            "INSERT INTO shop.items (id, name) VALUES (1, 'again')",
            "ERROR 1062 (23000)",
        ),
        (
            "INSERT INTO shop.items (name) VALUES ('apple')",
            "ERROR 1062 (23000)",
        ),
        ("SELECT * FROM shop.nothing", "ERROR 1146 (42S02)"),
        ("USE nowhere", "ERROR 1049 (42000)"),
        ("SELECT nope FROM shop.items", "ERROR 1054 (42S22)"),
        (
            "INSERT INTO shop.items (name) VALUES (NULL)",
            "ERROR 1048 (23000)",
        ),
        (
            "CREATE TABLE shop.t2 (a INT NOT NULL, b INT); INSERT INTO shop.t2 (b) VALUES (1)",
            "ERROR 1364",
        ),
        (
            "INSERT INTO shop.items (name, price) VALUES ('big', 1000000)",
            "ERROR 1264",
        ),
        ("SELECT 9223372036854775807 + 1", "ERROR 1690"),
        ("SELEKT 1", "ERROR 1064 (42000)"),
        ("SET @@nonsense = 1", "ERROR 1193"),
    ] {
        denied(port, "root", PASSWORD, sql, expected);
    }

    run_pymysql(PYMYSQL_SCRIPT, port, "pymysql ok", "pymysql part");

    // A transaction left open by a vanished client is rolled back.
    let output = mysql(
        port,
        "BEGIN; INSERT INTO shop.items (name) VALUES ('vanished')",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        mysql_ok(
            port,
            "SELECT COUNT(*) FROM shop.items WHERE name = 'vanished'"
        ),
        "0\n"
    );

    stop(server, database);
    let (server, database) = start(dir.path(), false);
    let port = server.local_addr().port();
    assert_eq!(
        mysql_ok(port, "SELECT id, name, price FROM shop.items ORDER BY id"),
        "1\tapple\t2.25\n2\tpear\t2.50\n100\tkept\t1.50\n"
    );
    // AUTO_INCREMENT continues above the largest committed value.
    assert_eq!(
        mysql_ok(
            port,
            "INSERT INTO shop.items (name) VALUES ('fig'); SELECT LAST_INSERT_ID()"
        ),
        "101\n"
    );
    assert_eq!(mysql_ok(port, "SELECT COUNT(*) FROM shop.log"), "1\n");
    mysql_ok(port, "DROP TABLE shop.log; DROP DATABASE shop");
    assert_eq!(
        mysql_ok(port, "SHOW DATABASES"),
        "information_schema\nmysql\n"
    );
    stop(server, database);
}

/// Runs a PyMySQL `script` (argument: the port) that must print `done`;
/// skipped, and said so, where python3 lacks pymysql.
fn run_pymysql(script: &str, port: u16, done: &str, what: &str) {
    let python = "/usr/bin/python3";
    if !Command::new(python)
        .args(["-c", "import pymysql"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("SKIPPED {what}: {python} cannot import pymysql");
        return;
    }
    let output = Command::new(python)
        .args(["-c", script, &port.to_string()])
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{what}: {}", text(&output.stderr));
    assert_eq!(text(&output.stdout), format!("{done}\n"));
}

/// `sql` as `user` must fail with `expected` (error number and state).
fn denied(port: u16, user: &str, password: &str, sql: &str, expected: &str) {
    let output = mysql_as(port, user, password, sql);
    assert!(!output.status.success(), "{user}: {sql} succeeded");
    let stderr = text(&output.stderr);
    assert!(stderr.contains(expected), "{user}: {sql}: {stderr}");
}

fn ok_as(port: u16, user: &str, password: &str, sql: &str) -> String {
    let output = mysql_as(port, user, password, sql);
    assert!(
        output.status.success(),
        "{user}: {sql}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

// Accounts live in mysql.user / mysql.db: both plugins log in, grants are
// enforced with MySQL's errors, a user changes their own password, and all
// of it survives a restart.
#[test]
fn accounts_and_grants_are_enforced_and_survive_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, database) = start(dir.path(), true);
    let port = server.local_addr().port();
    mysql_ok(
        port,
        "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v INT); \
         INSERT INTO shop.t VALUES (1, 10); \
         CREATE DATABASE other; CREATE TABLE other.s (a INT PRIMARY KEY)",
    );
    mysql_ok(
        port,
        "CREATE USER 'app'@'%' IDENTIFIED BY 'apppw', \
         'old'@'%' IDENTIFIED WITH mysql_native_password BY 'oldpw'",
    );
    mysql_ok(port, "GRANT SELECT, INSERT ON shop.* TO 'app'@'%'");

    assert_eq!(ok_as(port, "app", "apppw", "SELECT v FROM shop.t"), "10\n");
    ok_as(port, "app", "apppw", "INSERT INTO shop.t VALUES (2, 20)");
    assert_eq!(
        ok_as(port, "app", "apppw", "SHOW DATABASES"),
        "information_schema\nshop\n"
    );
    assert_eq!(
        ok_as(port, "app", "apppw", "SHOW GRANTS"),
        "GRANT USAGE ON *.* TO `app`@`%`\nGRANT SELECT, INSERT ON `shop`.* TO `app`@`%`\n"
    );
    let app = |sql: &str, expected: &str| denied(port, "app", "apppw", sql, expected);
    app("UPDATE shop.t SET v = 0", "ERROR 1142 (42000)");
    app("DELETE FROM shop.t", "ERROR 1142 (42000)");
    app("SELECT * FROM other.s", "ERROR 1142 (42000)");
    app("REPLACE INTO shop.t VALUES (1, 11)", "ERROR 1142 (42000)");
    app(
        "INSERT INTO shop.t VALUES (1, 11) ON DUPLICATE KEY UPDATE v = 12",
        "ERROR 1142 (42000)",
    );
    app("CREATE INDEX iv ON shop.t (v)", "ERROR 1142 (42000)");
    app("SHOW CREATE TABLE other.s", "ERROR 1142 (42000)");
    app("SHOW INDEX FROM s FROM other", "ERROR 1142 (42000)");
    app("USE other", "ERROR 1044 (42000)");
    app("DROP TABLE shop.t", "ERROR 1142 (42000)");
    app("CREATE DATABASE mine", "ERROR 1044 (42000)");
    app("CREATE USER eve IDENTIFIED BY 'x'", "ERROR 1227 (42000)");
    app("SELECT * FROM mysql.user", "ERROR 1142 (42000)");
    denied(port, "app", "wrong", "SELECT 1", "ERROR 1045 (28000)");
    denied(
        port,
        "nobody",
        "x",
        "SELECT 1",
        "ERROR 1045 (28000): Access denied for user 'nobody'@'127.0.0.1' (using password: YES)",
    );

    assert_eq!(ok_as(port, "old", "oldpw", "SELECT 1"), "1\n");
    denied(port, "old", "apppw", "SELECT 1", "ERROR 1045 (28000)");

    // MySQL's errors and warnings for accounts that exist or do not.
    for (sql, expected) in [
        ("CREATE USER app IDENTIFIED BY 'x'", "ERROR 1396 (HY000)"),
        ("DROP USER nobody", "ERROR 1396 (HY000)"),
        ("ALTER USER nobody IDENTIFIED BY 'x'", "ERROR 1396 (HY000)"),
        ("GRANT SELECT ON shop.* TO nobody", "ERROR 1410 (42000)"),
        ("GRANT SHUTDOWN ON shop.* TO app", "ERROR 1221 (HY000)"),
        (
            "CREATE USER 'x'@'%' IDENTIFIED WITH sha256_password BY 'x'",
            "ERROR 1524",
        ),
    ] {
        denied(port, "root", PASSWORD, sql, expected);
    }
    assert_eq!(
        mysql_ok(port, "DROP USER IF EXISTS nobody; SHOW WARNINGS"),
        "Note\t3162\tAuthorization ID 'nobody'@'%' does not exist.\n"
    );

    // A user changes their own password.
    ok_as(
        port,
        "app",
        "apppw",
        "ALTER USER 'app'@'%' IDENTIFIED BY 'newpw'",
    );
    denied(port, "app", "apppw", "SELECT 1", "ERROR 1045 (28000)");
    assert_eq!(
        ok_as(port, "app", "newpw", "SELECT COUNT(*) FROM shop.t"),
        "2\n"
    );

    stop(server, database);
    let (server, database) = start(dir.path(), false);
    let port = server.local_addr().port();
    assert_eq!(
        ok_as(port, "app", "newpw", "SELECT COUNT(*) FROM shop.t"),
        "2\n"
    );
    mysql_ok(
        port,
        "REVOKE INSERT ON shop.* FROM 'app'@'%'; DROP USER old",
    );
    denied(
        port,
        "app",
        "newpw",
        "INSERT INTO shop.t VALUES (3, 30)",
        "ERROR 1142 (42000)",
    );
    denied(port, "old", "oldpw", "SELECT 1", "ERROR 1045 (28000)");
    assert_eq!(
        mysql_ok(
            port,
            "SELECT User, Host, plugin FROM mysql.user ORDER BY User"
        ),
        "app\t%\tcaching_sha2_password\nroot\t%\tcaching_sha2_password\n"
    );
    // Without a way to stop it (no hook), SHUTDOWN says so; a user without
    // the privilege is refused first.
    denied(port, "app", "newpw", "SHUTDOWN", "ERROR 1227 (42000)");
    stop(server, database);
}

const ADMIN_SCRIPT: &str = r#"
import sys
import pymysql

port = int(sys.argv[1])
def connect(user, password):
    return pymysql.connect(host="127.0.0.1", port=port, user=user,
                           password=password, connect_timeout=30, autocommit=True)

victim = connect("root", "rootpw")
with victim.cursor() as c:
    c.execute("SELECT CONNECTION_ID()")
    victim_id = c.fetchone()[0]
app = connect("app", "apppw")
with app.cursor() as c:
    try:
        c.execute("KILL %d" % victim_id)
        raise AssertionError("app killed root's connection")
    except pymysql.err.OperationalError as error:
        assert error.args[0] == 1095, error
    try:
        c.execute("KILL 999999")
        raise AssertionError("unknown thread killed")
    except pymysql.err.OperationalError as error:
        assert error.args[0] == 1094, error
    # Without PROCESS, a user sees only their own connections.
    c.execute("SHOW PROCESSLIST")
    assert {row[1] for row in c.fetchall()} == {"app"}
admin = connect("root", "rootpw")
with admin.cursor() as c:
    c.execute("SHOW FULL PROCESSLIST")
    rows = c.fetchall()
    assert len(rows[0]) == 8, rows
    ids = {row[0] for row in rows}
    assert victim_id in ids, rows
    mine = [row for row in rows if row[7] == "SHOW FULL PROCESSLIST"]
    assert len(mine) == 1 and mine[0][1] == "root" and mine[0][4] == "Query", rows
    c.execute("KILL %d" % victim_id)
    c.execute("SHOW STATUS LIKE 'Threads_connected'")
    assert c.fetchall()[0][0] == "Threads_connected"
try:
    with victim.cursor() as c:
        c.execute("SELECT 1")
    raise AssertionError("killed connection still answers")
except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
    pass
print("admin ok")
"#;

// SAVEPOINT / ROLLBACK TO / RELEASE in SQL, KILL and SHOW PROCESSLIST with
// their privileges, SHOW STATUS.
#[test]
fn savepoints_kill_and_processlist() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, database) = start(dir.path(), true);
    let port = server.local_addr().port();
    mysql_ok(
        port,
        "CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY); \
         CREATE USER app IDENTIFIED BY 'apppw'; GRANT ALL ON s.* TO app",
    );
    assert_eq!(
        mysql_ok(
            port,
            "BEGIN; INSERT INTO s.t VALUES (1); SAVEPOINT a; INSERT INTO s.t VALUES (2); \
             SAVEPOINT b; INSERT INTO s.t VALUES (3); ROLLBACK TO SAVEPOINT a; \
             INSERT INTO s.t VALUES (4); ROLLBACK TO a; INSERT INTO s.t VALUES (5); COMMIT; \
             SELECT id FROM s.t ORDER BY id"
        ),
        "1\n5\n"
    );
    for (sql, expected) in [
        (
            "BEGIN; SAVEPOINT a; SAVEPOINT b; ROLLBACK TO a; ROLLBACK TO b",
            "ERROR 1305 (42000)",
        ),
        (
            "BEGIN; SAVEPOINT a; RELEASE SAVEPOINT a; ROLLBACK TO a",
            "ERROR 1305 (42000)",
        ),
        (
            "BEGIN; SAVEPOINT a; COMMIT; ROLLBACK TO a",
            "ERROR 1305 (42000)",
        ),
    ] {
        denied(port, "root", PASSWORD, sql, expected);
    }
    run_pymysql(ADMIN_SCRIPT, port, "admin ok", "KILL/PROCESSLIST part");
    stop(server, database);
}

/// The `mysql` crate's connection as root over TCP, optionally into `db`.
fn rust_client(port: u16, db: Option<&str>) -> mysql::Conn {
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(port)
        .user(Some("root"))
        .pass(Some(PASSWORD))
        .db_name(db)
        .prefer_socket(false);
    mysql::Conn::new(opts).expect("rust client connects")
}

// The `mysql` crate, a Rust driver: caching_sha2_password's fast path, text
// queries, and prepared statements in the binary protocol with every value
// kind in both directions, NULLs, re-execution, errors, ping, COM_INIT_DB
// and COM_RESET_CONNECTION.
#[test]
fn rust_client_speaks_the_binary_protocol() {
    use mysql::prelude::Queryable;
    use mysql::Value as V;

    let dir = tempfile::tempdir().expect("temp dir");
    let (server, database) = start(dir.path(), true);
    let port = server.local_addr().port();
    let mut conn = rust_client(port, None);
    conn.query_drop(
        "CREATE DATABASE rc; CREATE TABLE rc.t (id INT PRIMARY KEY, tiny TINYINT, \
         big BIGINT UNSIGNED, price DECIMAL(10,2), ratio DOUBLE, name VARCHAR(20), \
         data BLOB, day DATE, at DATETIME(6))",
    )
    .expect("DDL");
    conn.select_db("rc").expect("COM_INIT_DB");
    let insert = conn
        .prep("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .expect("prepare insert");
    assert_eq!(insert.num_params(), 9);
    for id in 0..50i64 {
        let row: Vec<V> = vec![
            V::Int(id),
            if id % 5 == 0 {
                V::NULL
            } else {
                V::Int(id % 100 - 50)
            },
            V::UInt(u64::MAX - u64::try_from(id).expect("id")),
            V::Bytes(format!("{id}.25").into_bytes()),
            V::Double(f64::from(i32::try_from(id).expect("id")) / 8.0),
            V::Bytes(format!("name {id}").into_bytes()),
            V::Bytes(vec![0, 1, 255, u8::try_from(id).expect("id")]),
            V::Date(2026, 11, 24, 0, 0, 0, 0),
            V::Date(2026, 11, 24, 1, 2, 3, 456_789),
        ];
        conn.exec_drop(&insert, row).expect("insert executes");
    }
    let select = conn
        .prep("SELECT id, tiny, big, price, ratio, name, data, day, at FROM t WHERE id = ?")
        .expect("prepare select");
    assert_eq!(select.columns().len(), 9, "result columns at prepare time");
    for id in [0i64, 7, 49] {
        let row: mysql::Row = conn
            .exec_first(&select, (id,))
            .expect("select executes")
            .expect("a row");
        let values: Vec<V> = row.unwrap();
        let expected_tiny = if id % 5 == 0 {
            V::NULL
        } else {
            V::Int(id % 100 - 50)
        };
        assert_eq!(values[0], V::Int(id));
        assert_eq!(values[1], expected_tiny);
        assert_eq!(
            values[2],
            V::UInt(u64::MAX - u64::try_from(id).expect("id"))
        );
        assert_eq!(values[3], V::Bytes(format!("{id}.25").into_bytes()));
        assert_eq!(
            values[4],
            V::Double(f64::from(i32::try_from(id).expect("id")) / 8.0)
        );
        assert_eq!(values[5], V::Bytes(format!("name {id}").into_bytes()));
        assert_eq!(
            values[6],
            V::Bytes(vec![0, 1, 255, u8::try_from(id).expect("id")])
        );
        assert_eq!(values[7], V::Date(2026, 11, 24, 0, 0, 0, 0));
        assert_eq!(values[8], V::Date(2026, 11, 24, 1, 2, 3, 456_789));
    }
    // The text protocol answers the same rows.
    let count: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t WHERE tiny IS NULL")
        .expect("text query");
    assert_eq!(count, Some(10));
    let sum: Option<String> = conn
        .exec_first("SELECT SUM(price) FROM t WHERE id < ?", (4,))
        .expect("aggregate");
    assert_eq!(sum.as_deref(), Some("7.00"));
    match conn.exec_drop(
        &insert,
        (1, 1, 1, "1", 1.0, "dup", "x", "2026-01-01", "2026-01-01"),
    ) {
        Err(mysql::Error::MySqlError(e)) => assert_eq!(e.code, 1062, "{e}"),
        other => panic!("duplicate accepted: {other:?}"),
    }
    assert!(conn.ping().is_ok(), "COM_PING");
    conn.query_drop("SET @x = 5").expect("user variable");
    conn.reset().expect("COM_RESET_CONNECTION");
    let x: Option<Option<i64>> = conn.query_first("SELECT @x").expect("after reset");
    assert_eq!(x, Some(None), "reset forgets user variables");
    drop(conn);
    stop(server, database);
}

// Prepare announces the result columns of every statement that returns
// rows (join, UNION, derived table, subquery in the projection, no FROM,
// SHOW, EXPLAIN), so the `mysql` crate reads their rows in the binary
// protocol; `LIMIT ?` takes its counts from parameters, and a negative
// one is MySQL's 1210.
#[test]
fn rust_client_prepares_joins_unions_and_limits() {
    use mysql::prelude::Queryable;

    let dir = tempfile::tempdir().expect("temp dir");
    let (server, database) = start(dir.path(), true);
    let port = server.local_addr().port();
    let mut conn = rust_client(port, Some("mysql"));
    conn.query_drop(
        "CREATE DATABASE pj; USE pj; \
         CREATE TABLE a (id INT PRIMARY KEY, name VARCHAR(10)); \
         CREATE TABLE b (id INT PRIMARY KEY, a_id INT, v INT); \
         INSERT INTO a VALUES (1, 'one'), (2, 'two'), (3, 'three'); \
         INSERT INTO b VALUES (1, 1, 100), (2, 1, 101), (3, 2, 200), (4, 9, 900)",
    )
    .expect("setup");
    let names = |statement: &mysql::Statement| -> Vec<String> {
        statement
            .columns()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect()
    };

    let join = conn
        .prep("SELECT a.name, b.v FROM a JOIN b ON b.a_id = a.id WHERE b.v > ? ORDER BY b.v")
        .expect("prepare join");
    assert_eq!(names(&join), ["name", "v"], "join columns at prepare");
    let rows: Vec<(String, i64)> = conn.exec(&join, (100,)).expect("join executes");
    assert_eq!(rows, [("one".to_string(), 101), ("two".to_string(), 200)]);

    let union = conn
        .prep("SELECT id FROM a WHERE id < ? UNION SELECT a_id FROM b ORDER BY 1")
        .expect("prepare union");
    assert_eq!(names(&union), ["id"], "UNION columns at prepare");
    let ids: Vec<i64> = conn.exec(&union, (3,)).expect("union executes");
    assert_eq!(ids, [1, 2, 9]);

    let derived = conn
        .prep(
            "SELECT t.n, (SELECT MAX(v) FROM b WHERE b.a_id = ?) AS top \
             FROM (SELECT COUNT(*) AS n FROM b) AS t",
        )
        .expect("prepare derived table");
    assert_eq!(names(&derived), ["n", "top"]);
    let row: Option<(i64, i64)> = conn.exec_first(&derived, (1,)).expect("derived executes");
    assert_eq!(row, Some((4, 101)));

    let no_from = conn
        .prep("SELECT ? + 1 AS next, 'x'")
        .expect("prepare no FROM");
    assert_eq!(names(&no_from), ["next", "x"]);
    let row: Option<(i64, String)> = conn.exec_first(&no_from, (41,)).expect("no FROM");
    assert_eq!(row, Some((42, "x".to_string())));

    let show = conn.prep("SHOW TABLES").expect("prepare SHOW TABLES");
    assert_eq!(names(&show), ["Tables_in_pj"]);
    let tables: Vec<String> = conn.exec(&show, ()).expect("SHOW TABLES executes");
    assert_eq!(tables, ["a", "b"]);
    let show = conn
        .prep("SHOW COLUMNS FROM a")
        .expect("prepare SHOW COLUMNS");
    assert_eq!(show.columns().len(), 6);
    let fields: Vec<mysql::Row> = conn.exec(&show, ()).expect("SHOW COLUMNS executes");
    assert_eq!(fields.len(), 2);
    let explain = conn
        .prep("EXPLAIN SELECT * FROM a JOIN b ON b.a_id = a.id")
        .expect("prepare EXPLAIN");
    assert_eq!(explain.columns().len(), 12);
    let lines: Vec<mysql::Row> = conn.exec(&explain, ()).expect("EXPLAIN executes");
    assert_eq!(lines.len(), 2, "one EXPLAIN row per table");

    let limit = conn
        .prep("SELECT id FROM b ORDER BY id LIMIT ?, ?")
        .expect("prepare LIMIT ?, ?");
    let ids: Vec<i64> = conn.exec(&limit, (1, 2)).expect("LIMIT ?, ?");
    assert_eq!(ids, [2, 3]);
    let limit = conn
        .prep("SELECT id FROM b ORDER BY id LIMIT ? OFFSET ?")
        .expect("prepare LIMIT ? OFFSET ?");
    let ids: Vec<i64> = conn.exec(&limit, (3, 2)).expect("LIMIT ? OFFSET ?");
    assert_eq!(ids, [3, 4]);
    let ids: Vec<i64> = conn.exec(&limit, (0, 0)).expect("LIMIT 0");
    assert!(ids.is_empty(), "LIMIT 0 returns no row: {ids:?}");
    match conn.exec::<i64, _, _>(&limit, (-1, 0)) {
        Err(mysql::Error::MySqlError(e)) => assert_eq!(e.code, 1210, "{e}"),
        other => panic!("negative LIMIT accepted: {other:?}"),
    }
    match conn.exec::<i64, _, _>(&limit, ("two", 0)) {
        Err(mysql::Error::MySqlError(e)) => assert_eq!(e.code, 1210, "{e}"),
        other => panic!("string LIMIT accepted: {other:?}"),
    }
    let update = conn
        .prep("UPDATE b SET v = v + 1 ORDER BY id LIMIT ?")
        .expect("prepare UPDATE ... LIMIT ?");
    conn.exec_drop(&update, (2,)).expect("UPDATE ... LIMIT ?");
    let values: Vec<i64> = conn
        .query("SELECT v FROM b ORDER BY id")
        .expect("read back");
    assert_eq!(values, [101, 102, 200, 900]);

    // A TIMESTAMP bound in the binary protocol is taken in the session's
    // time zone and read back in another.
    conn.query_drop("CREATE TABLE z (id INT PRIMARY KEY, at TIMESTAMP NULL)")
        .expect("TIMESTAMP table");
    conn.query_drop("SET time_zone = '+05:30'")
        .expect("offset zone");
    conn.exec_drop(
        "INSERT INTO z VALUES (?, ?)",
        (1, mysql::Value::Date(2024, 1, 1, 12, 0, 0, 0)),
    )
    .expect("insert a TIMESTAMP");
    conn.query_drop("SET time_zone = '-08:00'")
        .expect("another zone");
    let at: Option<mysql::Value> = conn
        .exec_first("SELECT at FROM z WHERE id = ?", (1,))
        .expect("read the TIMESTAMP");
    assert_eq!(at, Some(mysql::Value::Date(2023, 12, 31, 22, 30, 0, 0)));
    match conn.query_drop("SET time_zone = 'Mars/Olympus'") {
        Err(mysql::Error::MySqlError(e)) => assert_eq!(e.code, 1298, "{e}"),
        other => panic!("unknown zone accepted: {other:?}"),
    }
    drop(conn);
    stop(server, database);
}
