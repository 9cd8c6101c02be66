//! Real clients against the server (with the test double in `common` as
//! the SQL layer): the `mysql` command-line client (Debian's
//! mariadb-client, installed by `cargo xtask deps`) and PyMySQL (Debian's
//! python3-pymysql). A client that is not installed is skipped with a
//! printed reason, never silently.

mod common;

use std::process::{Command, Output};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use floe_server::ServerConfig;

fn mysql(port: u16, user: &str, password: &str, sql: &str) -> Output {
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

// The `mysql` client connects with both password plugins, runs a query,
// shows a server error with its number and SQLSTATE, and is refused with
// 1045 for a wrong password.
#[test]
fn mysql_command_line_client() {
    if Command::new("mysql").arg("--version").output().is_err() {
        println!(
            "SKIPPED mysql_command_line_client: no `mysql` on PATH \
             (apt-get install mariadb-client, or cargo xtask deps)"
        );
        return;
    }
    let (server, backend) = start(ServerConfig::default());
    let port = server.local_addr().port();

    for (user, password) in [("app", "pw"), ("native", "pw1")] {
        let output = mysql(port, user, password, "SELECT 42");
        assert!(output.status.success(), "{user}: {}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "42\n", "{user}");
    }

    let output = mysql(port, "app", "pw", "SELEKT 1");
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("ERROR 1064 (42000)"), "{stderr}");

    // The client runs each statement of a script in turn.
    let output = mysql(port, "app", "pw", "SELECT 1; SELECT 2");
    assert_eq!(text(&output.stdout), "1\n2\n", "{}", text(&output.stderr));

    for (user, password) in [("app", "nope"), ("native", "nope"), ("ghost", "pw")] {
        let output = mysql(port, user, password, "SELECT 1");
        assert_eq!(output.status.code(), Some(1));
        let stderr = text(&output.stderr);
        assert!(stderr.contains("ERROR 1045 (28000)"), "{user}: {stderr}");
    }
    wait_until("every session is dropped", || {
        backend.counters.sessions_open.load(Ordering::SeqCst) == 0
    });
    server.shutdown(Duration::from_secs(10));
}

const PYMYSQL_SCRIPT: &str = r#"
import sys
import pymysql

port = int(sys.argv[1])

def connect(user, password):
    return pymysql.connect(host="127.0.0.1", port=port, user=user,
                           password=password, autocommit=True,
                           connect_timeout=30)

for user, password in [("app", "pw"), ("native", "pw1")]:
    connection = connect(user, password)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 42")
        assert cursor.fetchall() == ((42,),), user
        try:
            cursor.execute("SELEKT 1")
            raise SystemExit("SELEKT succeeded")
        except pymysql.err.ProgrammingError as error:
            assert error.args[0] == 1064, error
        cursor.execute("SELECT 7")
        assert cursor.fetchone() == (7,)
    connection.ping(reconnect=False)
    connection.close()

try:
    connect("app", "wrong")
    raise SystemExit("wrong password accepted")
except pymysql.err.OperationalError as error:
    assert error.args[0] == 1045, error
print("pymysql ok")
"#;

// PyMySQL connects with both plugins (caching_sha2_password fast path and
// a switch to mysql_native_password), queries, sees 1064 as a
// ProgrammingError, pings, and is refused with 1045 for a wrong password.
#[test]
fn pymysql_client() {
    let python = "/usr/bin/python3";
    let probe = Command::new(python).args(["-c", "import pymysql"]).output();
    match probe {
        Ok(output) if output.status.success() => {}
        _ => {
            println!(
                "SKIPPED pymysql_client: {python} cannot import pymysql \
                 (apt-get install python3-pymysql)"
            );
            return;
        }
    }
    let (server, backend) = start(ServerConfig::default());
    let port = server.local_addr().port().to_string();
    let output = Command::new(python)
        .args(["-c", PYMYSQL_SCRIPT, &port])
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "PyMySQL script failed:\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert_eq!(text(&output.stdout), "pymysql ok\n");
    wait_until("every session is dropped", || {
        backend.counters.sessions_open.load(Ordering::SeqCst) == 0
    });
    server.shutdown(Duration::from_secs(10));
}
