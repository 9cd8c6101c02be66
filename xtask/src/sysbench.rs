//! sysbench against Floe: the `sysbench` step of `cargo xtask test` and
//! `cargo xtask bench sysbench` (side by side with a private MariaDB).
//!
//! Each server is a child process on a free loopback port with a fresh data
//! directory under target/sysbench/, stopped by its PID at the end (SIGTERM,
//! SIGKILL after a grace period), also when a step fails (`Drop`).
//!
//! The test runs sysbench's bundled OLTP scripts with `prepare`, `run` and
//! `cleanup` and fails on any nonzero exit, any FATAL line, any "errors:"
//! count above zero, and "ignored errors:" (deadlocks and lock wait
//! timeouts that sysbench retried, as applications do) above one per
//! thousand transactions. Deadlocks are genuine in these workloads (two
//! transactions deleting and re-inserting rows near each other; MariaDB
//! shows them too, e.g. 2 in write_only at 32 threads in the bench), and at
//! 20k transactions per run a rare one is expected; a storm of them, the
//! sign of a locking bug, still fails the step. The bench gives MariaDB and
//! Floe the same durability (redo flushed at every commit, no binary log)
//! and the same buffer pool (128 MiB, Floe's hosted default), and reports
//! queries per second and 95th-percentile latency with Floe/MariaDB ratios.
//!
//! `cargo xtask bench sysbench` takes `--time S`, `--table-size N`,
//! `--workloads write_only,insert` (names with or without `oltp_`; the
//! bench's order is kept) and `--threads 4,32` to run part of the table.
//!
//! oltp_read_write and oltp_read_only send `SELECT DISTINCT` unless told
//! `--distinct_ranges=0`: the step asks the server whether it knows
//! DISTINCT and turns those queries off (and says so) when it does not.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "sysbench-pw";
const DATABASE: &str = "sbtest";
/// How long a server has to accept SQL after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// SIGTERM first; SIGKILL when the server is still there after this.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Both servers' buffer pool: Floe's hosted default (8192 pages of 16 KiB).
const BUFFER_POOL_BYTES: u64 = 8192 * 16 * 1024;

/// The test step's workloads: sysbench's bundled scripts.
const TEST_WORKLOADS: &[&str] = &[
    "oltp_read_write",
    "oltp_point_select",
    "oltp_insert",
    "oltp_update_index",
    "oltp_delete",
];
const TEST_TABLES: u32 = 4;
/// Rows per table: sysbench's default "special" distribution sends most
/// accesses to 1% of the rows; with 10 000 rows 4 writers met often enough
/// for a deadlock (a genuine one: two rows locked in opposite orders) about
/// once a minute. 50 000 rows make that rare and prepare in about 4 s.
const TEST_TABLE_ROWS: u32 = 50_000;
const TEST_THREADS: u32 = 4;
const TEST_SECONDS: u32 = 20;

/// The bench's workloads (sysbench script names) and thread counts.
const BENCH_WORKLOADS: &[&str] = &[
    "oltp_point_select",
    "oltp_read_only",
    "oltp_read_write",
    "oltp_write_only",
    // Last: it grows the tables.
    "oltp_insert",
];
const BENCH_THREADS: &[u32] = &[1, 4, 32];
const BENCH_TABLES: u32 = 4;
const BENCH_TABLE_ROWS: u32 = 100_000;
const BENCH_SECONDS_DEFAULT: u32 = 20;

/// A server child process, stopped by PID when dropped.
struct Server {
    name: &'static str,
    child: Child,
    port: u16,
    data_dir: PathBuf,
}

impl Server {
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "==> {} (pid {pid}) still running {} s after SIGTERM: SIGKILL",
            self.name,
            STOP_GRACE.as_secs()
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// A fresh directory under target/sysbench/.
fn fresh_dir(label: &str) -> Result<PathBuf, String> {
    let dir = crate::util::workspace_root()
        .join("target")
        .join("sysbench")
        .join(format!("{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Runs `sql` with the mysql client over TCP as root.
fn mysql(port: u16, sql: &str) -> Result<String, String> {
    let output = Command::new("mysql")
        .args([
            "-h127.0.0.1",
            &format!("-P{port}"),
            "-uroot",
            &format!("-p{PASSWORD}"),
            "-N",
            "-e",
            sql,
        ])
        .output()
        .map_err(|e| format!("running mysql: {e} (cargo xtask deps installs it)"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Waits until `server` answers SQL, then makes the sysbench database.
fn wait_ready(server: &mut Server) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match mysql(server.port, "SELECT 1") {
            Ok(_) => break,
            Err(e) => {
                if let Ok(Some(status)) = server.child.try_wait() {
                    return Err(format!(
                        "{} exited ({status}) before accepting SQL; its log is in {}",
                        server.name,
                        server.data_dir.display()
                    ));
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{} did not accept SQL on port {} within {} s: {e}",
                        server.name,
                        server.port,
                        START_TIMEOUT.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    mysql(server.port, &format!("CREATE DATABASE {DATABASE}"))
        .map(|_| ())
        .map_err(|e| format!("{}: CREATE DATABASE: {e}", server.name))
}

fn log_file(dir: &Path, name: &str) -> Result<std::fs::File, String> {
    std::fs::File::create(dir.join(name)).map_err(|e| format!("creating {name}: {e}"))
}

/// `floe serve` (release build) on a fresh data directory.
fn start_floe() -> Result<Server, String> {
    let binary = crate::util::workspace_root().join("target/release/floe");
    let data_dir = fresh_dir("floe")?;
    let port = free_port()?;
    let metrics_port = free_port()?;
    let log = log_file(&data_dir, "floe.log")?;
    let child = Command::new(&binary)
        .args(["serve", "--data"])
        .arg(&data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("FLOE_FORMAT", "auto")
        .env("FLOE_ROOT_PASSWORD", PASSWORD)
        .env("FLOE_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
        .env("FLOE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let mut server = Server {
        name: "floe",
        child,
        port,
        data_dir,
    };
    wait_ready(&mut server)?;
    Ok(server)
}

/// A private mariadbd: its own data directory and socket, loopback only,
/// redo flushed at every commit, no binary log, Floe's buffer pool size.
fn start_mariadb() -> Result<Server, String> {
    let data_dir = fresh_dir("mariadb")?;
    let data = data_dir.join("data");
    let install = Command::new("mariadb-install-db")
        .args([
            "--no-defaults",
            &format!("--datadir={}", data.display()),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--user=root",
        ])
        .output()
        .map_err(|e| format!("running mariadb-install-db: {e} (apt-get install mariadb-server)"))?;
    if !install.status.success() {
        return Err(format!(
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&install.stderr)
        ));
    }
    let port = free_port()?;
    let socket = data_dir.join("mysqld.sock");
    let log = log_file(&data_dir, "mariadbd.log")?;
    let child = Command::new("mariadbd")
        .args([
            "--no-defaults",
            &format!("--datadir={}", data.display()),
            &format!("--socket={}", socket.display()),
            &format!("--pid-file={}", data_dir.join("mariadbd.pid").display()),
            &format!("--port={port}"),
            "--bind-address=127.0.0.1",
            "--user=root",
            "--skip-log-bin",
            "--innodb-flush-log-at-trx-commit=1",
            "--sync-binlog=0",
            &format!("--innodb-buffer-pool-size={BUFFER_POOL_BYTES}"),
            "--max-connections=200",
            "--skip-name-resolve",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting mariadbd: {e} (apt-get install mariadb-server)"))?;
    let mut server = Server {
        name: "mariadb",
        child,
        port,
        data_dir,
    };
    // root has no password after install: give root@127.0.0.1 (which the
    // install may or may not have made) the bench's password.
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let output = Command::new("mysql")
            .args([
                &format!("--socket={}", socket.display()),
                "-uroot",
                "-e",
                &format!(
                    "CREATE USER IF NOT EXISTS root@'127.0.0.1'; \
                     ALTER USER root@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; \
                     GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION"
                ),
            ])
            .output()
            .map_err(|e| format!("running mysql: {e}"))?;
        if output.status.success() {
            break;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "mariadbd exited ({status}); its log is {}/mariadbd.log",
                server.data_dir.display()
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "mariadbd did not accept SQL on its socket within {} s: {}",
                START_TIMEOUT.as_secs(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_ready(&mut server)?;
    Ok(server)
}

/// What one sysbench run reported.
#[derive(Debug, Default, Clone, Copy)]
struct Report {
    transactions: f64,
    queries_per_second: f64,
    ignored_errors: u64,
    errors: u64,
    p95_ms: f64,
}

/// The first number after `label` on a line that starts with it (trimmed).
fn figure(line: &str, label: &str) -> Option<f64> {
    line.trim()
        .strip_prefix(label)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The `(N per sec.)` of a line.
fn per_second(line: &str) -> Option<f64> {
    let open = line.find('(')?;
    line[open + 1..].split_whitespace().next()?.parse().ok()
}

fn parse_report(output: &str) -> Result<Report, String> {
    let mut report = Report::default();
    let mut saw_queries = false;
    for line in output.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("FATAL") {
            report.errors += 1;
        } else if let Some(n) = figure(trimmed, "ignored errors:") {
            report.ignored_errors = n as u64;
        } else if let Some(n) = figure(trimmed, "errors:") {
            report.errors += n as u64;
        } else if let Some(n) = figure(trimmed, "transactions:") {
            report.transactions = n;
        } else if trimmed.starts_with("queries:") {
            report.queries_per_second = per_second(trimmed).unwrap_or(0.0);
            saw_queries = true;
        } else if let Some(n) = figure(trimmed, "95th percentile:") {
            report.p95_ms = n;
        }
    }
    if !saw_queries {
        return Err("no \"queries:\" line in sysbench's output".into());
    }
    Ok(report)
}

/// Runs `sysbench <script> <options> <command>`; the output on success,
/// otherwise an error with its tail.
fn sysbench(script: &str, options: &[String], command: &str) -> Result<String, String> {
    let output = Command::new("sysbench")
        .arg(script)
        .args(options)
        .arg(command)
        .output()
        .map_err(|e| format!("running sysbench: {e} (cargo xtask deps installs it)"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "sysbench {script} {command} failed ({}):\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    Ok(text)
}

fn connection_options(port: u16, tables: u32, rows: u32, threads: u32) -> Vec<String> {
    vec![
        "--mysql-host=127.0.0.1".into(),
        format!("--mysql-port={port}"),
        "--mysql-user=root".into(),
        format!("--mysql-password={PASSWORD}"),
        format!("--mysql-db={DATABASE}"),
        format!("--tables={tables}"),
        format!("--table-size={rows}"),
        format!("--threads={threads}"),
        // Reads and writes go through prepared statements (the default).
        "--db-ps-mode=auto".into(),
    ]
}

/// `--distinct_ranges=0` unless the server returns distinct rows for
/// SELECT DISTINCT (checked on a two-row table: one row must come back).
fn distinct_options(server: &Server) -> Vec<String> {
    let probe = format!(
        "CREATE TABLE {DATABASE}.distinct_probe (a INT); \
         INSERT INTO {DATABASE}.distinct_probe VALUES (1), (1); \
         SELECT DISTINCT a FROM {DATABASE}.distinct_probe; \
         DROP TABLE {DATABASE}.distinct_probe"
    );
    let outcome = mysql(server.port, &probe);
    let _ = mysql(
        server.port,
        &format!("DROP TABLE IF EXISTS {DATABASE}.distinct_probe"),
    );
    let why = match outcome {
        Ok(rows) if rows.lines().count() == 1 => return Vec::new(),
        Ok(rows) => format!("it returned {} rows for one", rows.lines().count()),
        Err(e) => e,
    };
    println!(
        "==> {} does not run SELECT DISTINCT yet ({why}): read workloads run with --distinct_ranges=0",
        server.name
    );
    vec!["--distinct_ranges=0".into()]
}

/// The `sysbench` step of `cargo xtask test`: the release server, the five
/// OLTP workloads with prepare, run and cleanup, zero errors each.
pub fn test_step() -> Result<(), String> {
    crate::util::step(
        "cargo build --release -p floe (for sysbench)",
        crate::util::cargo(&["build", "--release", "-p", "floe"]),
    )?;
    println!(
        "==> sysbench: {} workloads, {TEST_TABLES} tables x {TEST_TABLE_ROWS} rows, {TEST_THREADS} threads, {TEST_SECONDS} s each",
        TEST_WORKLOADS.len()
    );
    let started = Instant::now();
    let server = start_floe()?;
    let distinct = distinct_options(&server);
    let mut failures = Vec::new();
    for script in TEST_WORKLOADS {
        let mut options =
            connection_options(server.port, TEST_TABLES, TEST_TABLE_ROWS, TEST_THREADS);
        options.extend(distinct.iter().cloned());
        let outcome = (|| -> Result<Report, String> {
            sysbench(script, &options, "prepare")?;
            let mut run_options = options.clone();
            run_options.push(format!("--time={TEST_SECONDS}"));
            run_options.push("--report-interval=0".into());
            let output = sysbench(script, &run_options, "run")?;
            let report = parse_report(&output)?;
            sysbench(script, &options, "cleanup")?;
            let retried_allowed = (report.transactions / 1000.0).floor() as u64;
            if report.errors > 0 || report.ignored_errors > retried_allowed {
                return Err(format!(
                    "{} errors, {} ignored errors (deadlocks or lock wait timeouts sysbench retried)",
                    report.errors, report.ignored_errors
                ));
            }
            if report.transactions <= 0.0 {
                return Err("no transaction completed".into());
            }
            Ok(report)
        })();
        match outcome {
            Ok(report) => println!(
                "==> sysbench {script}: {:.0} transactions, {:.0} queries/s, p95 {:.2} ms, 0 errors, {} retried (deadlocks or lock wait timeouts)",
                report.transactions, report.queries_per_second, report.p95_ms, report.ignored_errors
            ),
            Err(e) => {
                println!("==> sysbench {script}: FAILED: {e}");
                failures.push(format!("{script}: {e}"));
                // Leave nothing behind for the next workload.
                let options =
                    connection_options(server.port, TEST_TABLES, TEST_TABLE_ROWS, TEST_THREADS);
                let _ = sysbench(script, &options, "cleanup");
            }
        }
    }
    drop(server);
    let elapsed_s = started.elapsed().as_secs_f64();
    if failures.is_empty() {
        println!("==> sysbench: ok in {elapsed_s:.1} s");
        Ok(())
    } else {
        Err(format!(
            "sysbench against floe failed after {elapsed_s:.1} s:\n  {}",
            failures.join("\n  ")
        ))
    }
}

/// One figure of the bench for both servers.
struct Row {
    workload: &'static str,
    threads: u32,
    floe: Report,
    mariadb: Report,
}

/// What part of the bench to run, and how long.
struct BenchPlan {
    seconds: u32,
    rows: u32,
    workloads: Vec<&'static str>,
    threads: Vec<u32>,
}

fn bench_server(
    server: &Server,
    plan: &BenchPlan,
    distinct: &[String],
) -> Result<Vec<(&'static str, u32, Report)>, String> {
    let (seconds, rows) = (plan.seconds, plan.rows);
    let prepare = connection_options(server.port, BENCH_TABLES, rows, 4);
    println!(
        "==> {}: preparing {BENCH_TABLES} tables x {rows} rows",
        server.name
    );
    let prepared = Instant::now();
    sysbench("oltp_read_write", &prepare, "prepare")?;
    println!(
        "==> {}: prepared in {:.1} s",
        server.name,
        prepared.elapsed().as_secs_f64()
    );
    let mut out = Vec::new();
    for workload in &plan.workloads {
        for &threads in &plan.threads {
            let mut options = connection_options(server.port, BENCH_TABLES, rows, threads);
            options.extend(distinct.iter().cloned());
            options.push(format!("--time={seconds}"));
            options.push("--report-interval=0".into());
            options.push("--percentile=95".into());
            let output = sysbench(workload, &options, "run")?;
            let report = parse_report(&output)?;
            println!(
                "    {} {workload} t{threads}: {:.0} qps, p95 {:.2} ms, {} ignored errors",
                server.name, report.queries_per_second, report.p95_ms, report.ignored_errors
            );
            let _ = std::io::stdout().flush();
            out.push((*workload, threads, report));
        }
    }
    Ok(out)
}

fn ratio(floe: f64, mariadb: f64) -> f64 {
    if mariadb > 0.0 {
        floe / mariadb
    } else {
        0.0
    }
}

/// The bench workloads named in `list` ("write_only,oltp_insert"), in
/// the bench's order.
fn parse_workloads(list: &str) -> Result<Vec<&'static str>, String> {
    let mut wanted = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let full = format!("oltp_{}", name.trim_start_matches("oltp_"));
        let Some(&known) = BENCH_WORKLOADS.iter().find(|w| **w == full) else {
            return Err(format!(
                "--workloads: unknown workload {name}; known: {}",
                BENCH_WORKLOADS.join(", ")
            ));
        };
        wanted.push(known);
    }
    if wanted.is_empty() {
        return Err("--workloads: name at least one workload".into());
    }
    Ok(BENCH_WORKLOADS
        .iter()
        .copied()
        .filter(|w| wanted.contains(w))
        .collect())
}

/// Thread counts from `list` ("4,32").
fn parse_threads(list: &str) -> Result<Vec<u32>, String> {
    let threads = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| match n.parse::<u32>() {
            Ok(t) if t > 0 => Ok(t),
            _ => Err(format!("--threads: {n} is not a positive whole number")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if threads.is_empty() {
        return Err("--threads: name at least one thread count".into());
    }
    Ok(threads)
}

/// `cargo xtask bench sysbench [--time S] [--table-size N] [--workloads A,B] [--threads N,M]`.
pub fn bench(args: &[String]) -> Result<(), String> {
    let mut plan = BenchPlan {
        seconds: BENCH_SECONDS_DEFAULT,
        rows: BENCH_TABLE_ROWS,
        workloads: BENCH_WORKLOADS.to_vec(),
        threads: BENCH_THREADS.to_vec(),
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let number = || -> Result<u32, String> {
            value
                .parse()
                .map_err(|_| format!("{arg} {value}: expected a whole number"))
        };
        match arg.as_str() {
            "--time" => plan.seconds = number()?.max(1),
            "--table-size" => plan.rows = number()?.max(1),
            "--workloads" => plan.workloads = parse_workloads(value)?,
            "--threads" => plan.threads = parse_threads(value)?,
            other => {
                return Err(format!(
                    "unknown option {other}; known: --time SECONDS, --table-size ROWS, \
                     --workloads NAME,..., --threads N,..."
                ))
            }
        }
    }
    crate::util::step(
        "cargo build --release -p floe",
        crate::util::cargo(&["build", "--release", "-p", "floe"]),
    )?;
    println!(
        "==> sysbench bench: {} x threads {:?}, {BENCH_TABLES} tables x {} rows, {} s per run; \
         both servers flush redo at every commit, no binary log, {} MiB buffer pool",
        plan.workloads.join(", "),
        plan.threads,
        plan.rows,
        plan.seconds,
        BENCH_BUFFER_POOL_MIB
    );
    // Floe first: when it lacks DISTINCT, MariaDB runs the same reduced
    // read workloads.
    let (floe_reports, distinct) = {
        let server = start_floe()?;
        let distinct = distinct_options(&server);
        (bench_server(&server, &plan, &distinct)?, distinct)
    };
    let mariadb_reports = {
        let server = start_mariadb()?;
        bench_server(&server, &plan, &distinct)?
    };
    let table: Vec<Row> = floe_reports
        .iter()
        .zip(&mariadb_reports)
        .map(|((workload, threads, floe), (_, _, mariadb))| Row {
            workload,
            threads: *threads,
            floe: *floe,
            mariadb: *mariadb,
        })
        .collect();
    println!();
    println!(
        "{:<20} {:>4} {:>11} {:>11} {:>6} {:>10} {:>10} {:>6}",
        "workload", "thr", "floe qps", "maria qps", "ratio", "floe p95", "maria p95", "ratio"
    );
    for row in &table {
        println!(
            "{:<20} {:>4} {:>11.0} {:>11.0} {:>6.2} {:>10.2} {:>10.2} {:>6.2}",
            row.workload,
            row.threads,
            row.floe.queries_per_second,
            row.mariadb.queries_per_second,
            ratio(row.floe.queries_per_second, row.mariadb.queries_per_second),
            row.floe.p95_ms,
            row.mariadb.p95_ms,
            ratio(row.floe.p95_ms, row.mariadb.p95_ms),
        );
    }
    println!();
    for row in &table {
        let name = row.workload.trim_start_matches("oltp_");
        println!(
            "BENCH name=sysbench.{name}.t{}.qps value={:.1} unit=qps peer=mariadb peer_value={:.1} ratio={:.3}",
            row.threads,
            row.floe.queries_per_second,
            row.mariadb.queries_per_second,
            ratio(row.floe.queries_per_second, row.mariadb.queries_per_second)
        );
        println!(
            "BENCH name=sysbench.{name}.t{}.p95_ms value={:.2} unit=ms peer=mariadb peer_value={:.2} ratio={:.3}",
            row.threads,
            row.floe.p95_ms,
            row.mariadb.p95_ms,
            ratio(row.floe.p95_ms, row.mariadb.p95_ms)
        );
    }
    Ok(())
}

const BENCH_BUFFER_POOL_MIB: u64 = BUFFER_POOL_BYTES >> 20;

#[cfg(test)]
mod tests {
    use super::*;

    // Workload filters keep the bench's order and refuse unknown names.
    #[test]
    fn parses_workload_and_thread_filters() {
        assert_eq!(
            parse_workloads("insert,oltp_write_only").unwrap(),
            ["oltp_write_only", "oltp_insert"]
        );
        assert!(parse_workloads("write_everything").is_err());
        assert!(parse_workloads(",").is_err());
        assert_eq!(parse_threads("4, 32").unwrap(), [4, 32]);
        assert!(parse_threads("0").is_err());
        assert!(parse_threads("four").is_err());
    }

    // sysbench 1.0.20's summary parses into its figures; FATAL lines and
    // ignored errors are counted; a run without a summary is refused.
    #[test]
    fn parses_a_sysbench_summary() {
        let output = "\
SQL statistics:
    queries performed:
        read:                            140
        other:                           20
        total:                           160
    transactions:                        10     (9.95 per sec.)
    queries:                             160    (159.21 per sec.)
    ignored errors:                      2      (1.99 per sec.)
    reconnects:                          0      (0.00 per sec.)
Latency (ms):
         min:                                    0.50
         95th percentile:                        1.52
";
        let report = parse_report(output).expect("parses");
        assert_eq!(report.transactions, 10.0);
        assert_eq!(report.queries_per_second, 159.21);
        assert_eq!(report.ignored_errors, 2);
        assert_eq!(report.errors, 0);
        assert_eq!(report.p95_ms, 1.52);
        let fatal = format!("FATAL: mysql_stmt_execute() returned error 1213\n{output}");
        assert_eq!(parse_report(&fatal).expect("parses").errors, 1);
        assert!(parse_report("Initializing worker threads...\n").is_err());
    }
}
