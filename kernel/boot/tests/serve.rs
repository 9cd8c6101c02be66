//! `floe serve` as a user runs it: the first start generates root's
//! password and prints it once, SQL `SHUTDOWN` stops the server cleanly,
//! the next start keeps the password (and prints none) and the data.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::mpsc;

struct Running {
    child: Child,
    port: u16,
    /// Every log line so far, and the rest as they come.
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

fn read_lines(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    receive
}

impl Running {
    /// Log lines until one contains `needle` (None when the process ended).
    fn wait_for(&mut self, needle: &str) -> Option<String> {
        while let Ok(line) = self.lines.recv() {
            self.seen.push(line.clone());
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    }
}

fn start(data: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_floe"))
        .args([
            "serve",
            "--data",
            &data.display().to_string(),
            "--listen",
            "127.0.0.1:0",
            "--format",
            "auto",
        ])
        .env_remove("FLOE_ROOT_PASSWORD")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("floe starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let mut running = Running {
        child,
        port: 0,
        lines: read_lines(stderr),
        seen: Vec::new(),
    };
    let line = running
        .wait_for(" -P ")
        .unwrap_or_else(|| panic!("no SQL address logged: {:?}", running.seen));
    running.port = line
        .split(" -P ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line}"));
    running
}

fn mysql(port: u16, password: &str, sql: &str) -> Output {
    Command::new("mysql")
        .args([
            "--protocol=TCP",
            "--host=127.0.0.1",
            &format!("--port={port}"),
            "--user=root",
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

fn mysql_ok(port: u16, password: &str, sql: &str) -> String {
    let output = mysql(port, password, sql);
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn first_start_password_sql_shutdown_and_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut first = start(dir.path());
    let line = first
        .seen
        .iter()
        .find(|l| l.contains("generated"))
        .cloned()
        .unwrap_or_else(|| panic!("no generated password logged: {:?}", first.seen));
    let password = line
        .split(" -p")
        .nth(1)
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| panic!("no password in {line}"));
    assert!(password.len() >= 16, "{password}");
    mysql_ok(
        first.port,
        &password,
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY); INSERT INTO d.t VALUES (7)",
    );
    // SQL SHUTDOWN: the server answers, then stops as on SIGTERM.
    mysql_ok(first.port, &password, "SHUTDOWN");
    assert!(
        first.wait_for("storage: shut down cleanly").is_some(),
        "{:?}",
        first.seen
    );
    let status = first.child.wait().expect("floe exits");
    assert!(status.success(), "{status:?}");

    let mut second = start(dir.path());
    assert!(
        !second.seen.iter().any(|l| l.contains("generated")),
        "a password was generated again: {:?}",
        second.seen
    );
    assert_eq!(mysql_ok(second.port, &password, "SELECT a FROM d.t"), "7\n");
    let wrong = mysql(second.port, "not-it", "SELECT 1");
    assert!(!wrong.status.success());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(second.child.id()).expect("pid")),
        nix::sys::signal::SIGTERM,
    )
    .expect("SIGTERM sent");
    assert!(second.wait_for("storage: shut down cleanly").is_some());
    assert!(second.child.wait().expect("floe exits").success());
}
