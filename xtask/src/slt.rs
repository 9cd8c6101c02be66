//! `cargo xtask slt [--update-known-failures] [FILE...]`: the sqllogictest
//! corpus (../shared/slt, see its README) against a real `floe serve`, over
//! the MySQL wire protocol (the `mysql` crate, text protocol).
//!
//! How it works: build `target/release/floe`, start it on a fresh data
//! directory and a free loopback port, then run the files two at a time,
//! each in a fresh database (`CREATE DATABASE slt_<n>`) on its own
//! connection. Records follow the sqllogictest format with engine label
//! `mysql`: `skipif`/`onlyif`, `statement ok|error`, `query <types> <sort>`,
//! `hash-threshold`, `halt`. Values print by the type letter (I integer, R
//! `%.3f`, T text), NULL as `NULL`, the empty string as `(empty)`;
//! `rowsort`/`valuesort` sort after formatting; an expected block of the
//! form `N values hashing to H` (the corpus writes one where the result
//! had more values than its hash threshold) compares as the MD5 of every
//! value followed by a newline, anything else value by value.
//!
//! The parser is ours, not the `sqllogictest` crate's: its record model
//! formats and compares values its own way, and what matters here is
//! exactly the classic rules above.
//!
//! Gate: the run fails when a record fails that engine/sql/slt/
//! known-failures.txt does not list (`path:line`), or when fewer than 95%
//! of the records that ran pass. Listed failures that now pass are
//! reported so the list can be tightened (`--update-known-failures`
//! rewrites it from this run).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use mysql::prelude::Queryable;

use crate::util;

/// Records that must pass, as a share of those that run.
const PASS_RATIO_MIN: f64 = 0.95;
/// Files run at once (the machine has 2 cores).
const PARALLEL_FILES: usize = 2;
const KNOWN_FAILURES: &str = "engine/sql/slt/known-failures.txt";
const ROOT_PASSWORD: &str = "slt-root";
/// How long one statement may take before the runner gives up on it.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub fn slt(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let mut update = false;
    let mut files = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--update-known-failures" => update = true,
            other if other.starts_with("--") => return Err(format!("slt: unknown flag {other}")),
            other => files.push(other.to_string()),
        }
    }
    let root = util::workspace_root();
    let corpus = root.join("../shared/slt");
    let corpus = corpus
        .canonicalize()
        .map_err(|e| format!("slt corpus {}: {e}", corpus.display()))?;
    let all_files = files.is_empty();
    if all_files {
        files = corpus_files(&corpus)?;
    }
    util::step(
        "cargo build --release -p floe",
        util::cargo(&["build", "--release", "-p", "floe"]),
    )?;
    let server = Server::start(&root)?;
    let outcome = run_files(&corpus, &files, server.port);
    drop(server);
    let results = outcome?;

    let known = read_known(&root.join(KNOWN_FAILURES))?;
    let mut total = Counts::default();
    let mut failures: BTreeSet<String> = BTreeSet::new();
    println!("{:<48} {:>8} {:>8} {:>8}", "file", "pass", "fail", "skip");
    for result in &results {
        println!(
            "{:<48} {:>8} {:>8} {:>8}",
            result.file, result.counts.pass, result.counts.fail, result.counts.skip
        );
        total.add(&result.counts);
        for line in &result.failed_lines {
            failures.insert(format!("{}:{line}", result.file));
        }
    }
    let ran = total.pass + total.fail;
    let ratio = if ran == 0 {
        0.0
    } else {
        total.pass as f64 / ran as f64
    };
    println!(
        "{:<48} {:>8} {:>8} {:>8}",
        "total", total.pass, total.fail, total.skip
    );
    println!("BENCH name=slt.pass_ratio value={ratio:.5} unit=ratio");
    println!("BENCH name=slt.passed value={} unit=records", total.pass);
    println!("BENCH name=slt.failed value={} unit=records", total.fail);
    println!("BENCH name=slt.skipped value={} unit=records", total.skip);
    println!(
        "BENCH name=slt.seconds value={:.1} unit=s",
        started.elapsed().as_secs_f64()
    );
    // Known failures of the files that ran.
    let ran_files: BTreeSet<&str> = results.iter().map(|r| r.file.as_str()).collect();
    let known_here: BTreeSet<&String> = known
        .iter()
        .filter(|k| {
            k.rsplit_once(':')
                .is_some_and(|(file, _)| ran_files.contains(file))
        })
        .collect();
    let new: Vec<&String> = failures.iter().filter(|f| !known.contains(*f)).collect();
    let fixed: Vec<&&String> = known_here
        .iter()
        .filter(|k| !failures.contains(k.as_str()))
        .collect();
    if !fixed.is_empty() {
        println!(
            "slt: {} listed failure(s) now pass; tighten {KNOWN_FAILURES} (--update-known-failures):",
            fixed.len()
        );
        for f in fixed.iter().take(20) {
            println!("  {f}");
        }
    }
    if update {
        let mut kept: BTreeSet<String> = known
            .iter()
            .filter(|k| {
                k.rsplit_once(':')
                    .is_none_or(|(file, _)| !ran_files.contains(file))
            })
            .cloned()
            .collect();
        kept.extend(failures.iter().cloned());
        write_known(&root.join(KNOWN_FAILURES), &kept)?;
        println!("slt: wrote {} entries to {KNOWN_FAILURES}", kept.len());
        return Ok(());
    }
    if !new.is_empty() {
        for f in new.iter().take(50) {
            println!("  new failure: {f}");
        }
        return Err(format!(
            "slt: {} record(s) fail that {KNOWN_FAILURES} does not list (details in target/slt/)",
            new.len()
        ));
    }
    if all_files && ratio < PASS_RATIO_MIN {
        return Err(format!(
            "slt: pass ratio {ratio:.4} is below {PASS_RATIO_MIN}"
        ));
    }
    Ok(())
}

fn corpus_files(corpus: &Path) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut stack = vec![corpus.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("reading {}: {e}", dir.display()))?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "test") {
                if let Ok(relative) = path.strip_prefix(corpus) {
                    out.push(relative.to_string_lossy().into_owned());
                }
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(format!("no .test files under {}", corpus.display()));
    }
    Ok(out)
}

fn read_known(path: &Path) -> Result<BTreeSet<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

fn write_known(path: &Path, entries: &BTreeSet<String>) -> Result<(), String> {
    let mut text = String::from(
        "# sqllogictest records (file:line of the record) that Floe fails today.\n\
         # `cargo xtask slt` fails on a failure not listed here; regenerate with\n\
         # `cargo xtask slt --update-known-failures` after fixing some.\n",
    );
    for e in entries {
        text.push_str(e);
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

// ---- the server --------------------------------------------------------

/// A `floe serve` on a fresh data directory; stopped (SIGTERM, then SIGKILL)
/// and its directory removed when dropped.
struct Server {
    child: Child,
    port: u16,
    data: PathBuf,
}

impl Server {
    fn start(root: &Path) -> Result<Server, String> {
        let binary = root.join("target/release/floe");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let data = std::env::temp_dir().join(format!("floe-slt-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&data).map_err(|e| format!("creating {}: {e}", data.display()))?;
        let log = root.join("target/slt/server.log");
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(&binary)
            .args(["serve", "--data"])
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--format", "auto"])
            .env("FLOE_ROOT_PASSWORD", ROOT_PASSWORD)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut server = Server { child, port, data };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "floe serve exited ({status}) before listening; see {}",
                    log.display()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "floe serve did not listen on port {port} within {} s; see {}",
                    START_TIMEOUT.as_secs(),
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!(
            "==> floe serve on 127.0.0.1:{port} (pid {})",
            server.child.id()
        );
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

// ---- running files ------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct Counts {
    pass: u64,
    fail: u64,
    skip: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.pass += other.pass;
        self.fail += other.fail;
        self.skip += other.skip;
    }
}

struct FileResult {
    file: String,
    counts: Counts,
    failed_lines: Vec<usize>,
}

fn run_files(corpus: &Path, files: &[String], port: u16) -> Result<Vec<FileResult>, String> {
    let queue = Arc::new(Mutex::new(
        files.iter().enumerate().rev().collect::<Vec<_>>(),
    ));
    let results = Arc::new(Mutex::new(Vec::new()));
    let details_dir = util::workspace_root().join("target/slt");
    std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for _ in 0..PARALLEL_FILES {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            let details_dir = details_dir.clone();
            workers.push(scope.spawn(move || -> Result<(), String> {
                loop {
                    let next = queue.lock().map_err(|_| "queue poisoned")?.pop();
                    let Some((number, file)) = next else {
                        return Ok(());
                    };
                    let started = Instant::now();
                    let result = run_file(corpus, file, number, port, &details_dir)?;
                    println!(
                        "    {file}: {} pass, {} fail, {} skip in {:.1} s",
                        result.counts.pass,
                        result.counts.fail,
                        result.counts.skip,
                        started.elapsed().as_secs_f64()
                    );
                    results.lock().map_err(|_| "results poisoned")?.push(result);
                }
            }));
        }
        for worker in workers {
            worker
                .join()
                .map_err(|_| "slt worker panicked".to_string())??;
        }
        Ok::<(), String>(())
    })?;
    let mut results = Arc::try_unwrap(results)
        .map_err(|_| "results still shared")?
        .into_inner()
        .map_err(|_| "results poisoned")?;
    results.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(results)
}

fn connect(port: u16) -> Result<mysql::Conn, String> {
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(port)
        .user(Some("root"))
        .pass(Some(ROOT_PASSWORD))
        .prefer_socket(false)
        .read_timeout(Some(STATEMENT_TIMEOUT))
        .write_timeout(Some(STATEMENT_TIMEOUT));
    mysql::Conn::new(opts).map_err(|e| format!("connecting to floe on port {port}: {e}"))
}

fn use_database(conn: &mut mysql::Conn, database: &str) -> Result<(), String> {
    conn.query_drop(format!("USE {database}"))
        .map_err(|e| format!("USE {database}: {e}"))
}

fn run_file(
    corpus: &Path,
    file: &str,
    number: usize,
    port: u16,
    details_dir: &Path,
) -> Result<FileResult, String> {
    let path = corpus.join(file);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let records = parse_records(&text);
    let database = format!("slt_{number}");
    let mut conn = connect(port)?;
    conn.query_drop(format!("CREATE DATABASE {database}"))
        .map_err(|e| format!("CREATE DATABASE {database}: {e}"))?;
    use_database(&mut conn, &database)?;
    let details_path = details_dir.join(format!("{}.log", file.replace('/', "_")));
    let mut details = std::fs::File::create(&details_path)
        .map_err(|e| format!("creating {}: {e}", details_path.display()))?;
    let mut result = FileResult {
        file: file.to_string(),
        counts: Counts::default(),
        failed_lines: Vec::new(),
    };
    for record in records {
        match record {
            // The expected block says whether it is a hash, so the
            // threshold itself is not needed to compare.
            Record::HashThreshold => {}
            Record::Halt => break,
            Record::Skipped => result.counts.skip += 1,
            Record::Statement {
                line,
                sql,
                expect_ok,
            } => {
                let outcome = conn.query_drop(&sql);
                let lost = matches!(&outcome, Err(e) if is_connection_error(e));
                let passed = outcome.is_ok() == expect_ok;
                if passed {
                    result.counts.pass += 1;
                } else {
                    result.counts.fail += 1;
                    result.failed_lines.push(line);
                    let got = match &outcome {
                        Ok(()) => "ok".to_string(),
                        Err(e) => format!("error: {e}"),
                    };
                    let _ = writeln!(
                        details,
                        "{file}:{line}\n{sql}\nexpected {}, got {got}\n",
                        if expect_ok { "ok" } else { "error" }
                    );
                }
                if lost {
                    conn = connect(port)?;
                    use_database(&mut conn, &database)?;
                }
            }
            Record::Query {
                line,
                sql,
                types,
                sort,
                expected,
            } => {
                let outcome = run_query(&mut conn, &sql, &types);
                let verdict = match &outcome {
                    Ok(values) => compare(values.clone(), types.len(), sort, &expected),
                    Err(e) => Err(format!("error: {e}")),
                };
                match verdict {
                    Ok(()) => result.counts.pass += 1,
                    Err(why) => {
                        result.counts.fail += 1;
                        result.failed_lines.push(line);
                        let _ = writeln!(
                            details,
                            "{file}:{line}\n{sql}\nexpected:\n{}\n{why}\n",
                            expected.join("\n")
                        );
                    }
                }
                if matches!(&outcome, Err(e) if is_connection_error(e)) {
                    conn = connect(port)?;
                    use_database(&mut conn, &database)?;
                }
            }
        }
    }
    let _ = conn.query_drop(format!("DROP DATABASE {database}"));
    Ok(result)
}

fn is_connection_error(e: &mysql::Error) -> bool {
    matches!(e, mysql::Error::IoError(_) | mysql::Error::DriverError(_))
}

/// Runs a query and formats every value by its column's type letter.
fn run_query(conn: &mut mysql::Conn, sql: &str, types: &[u8]) -> Result<Vec<String>, mysql::Error> {
    let mut result = conn.query_iter(sql)?;
    let mut values = Vec::new();
    let mut set = result.iter();
    if let Some(rows) = set.as_mut() {
        for row in rows {
            let row = row?;
            for (i, value) in row.unwrap().into_iter().enumerate() {
                values.push(format_value(&value, types.get(i).copied().unwrap_or(b'T')));
            }
        }
    }
    drop(set);
    // Drain any further result sets.
    while let Some(rows) = result.iter() {
        for row in rows {
            row?;
        }
    }
    Ok(values)
}

fn format_value(value: &mysql::Value, kind: u8) -> String {
    let text = match value {
        mysql::Value::NULL => return "NULL".to_string(),
        mysql::Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        mysql::Value::Int(v) => v.to_string(),
        mysql::Value::UInt(v) => v.to_string(),
        mysql::Value::Float(v) => v.to_string(),
        mysql::Value::Double(v) => v.to_string(),
        other => other.as_sql(true),
    };
    match kind {
        b'I' => match text.parse::<i64>() {
            Ok(v) => v.to_string(),
            Err(_) => match text.parse::<f64>() {
                // A non-integer typed I prints truncated, as C's cast does.
                Ok(v) => format!("{}", v.trunc() as i64),
                Err(_) => {
                    // A string typed I: its leading number, as a C atoi.
                    let digits: String = text
                        .trim_start()
                        .chars()
                        .enumerate()
                        .take_while(|(i, c)| {
                            c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+'))
                        })
                        .map(|(_, c)| c)
                        .collect();
                    digits.parse::<i64>().unwrap_or(0).to_string()
                }
            },
        },
        b'R' => match text.parse::<f64>() {
            Ok(v) => format!("{v:.3}"),
            Err(_) => text,
        },
        _ => {
            if text.is_empty() {
                "(empty)".to_string()
            } else {
                // Control characters print as '@', as sqllogictest does.
                text.chars()
                    .map(|c| if (c as u32) < 0x20 { '@' } else { c })
                    .collect()
            }
        }
    }
}

fn md5_hex(values: &[String]) -> String {
    let mut hasher = Md5::new();
    for v in values {
        hasher.update(v.as_bytes());
        hasher.update(b"\n");
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn compare(
    mut values: Vec<String>,
    columns: usize,
    sort: Sort,
    expected: &[String],
) -> Result<(), String> {
    let columns = columns.max(1);
    if !values.len().is_multiple_of(columns) {
        return Err(format!("got {} values for {columns} columns", values.len()));
    }
    match sort {
        Sort::None => {}
        Sort::Row => {
            let mut rows: Vec<Vec<String>> = values.chunks(columns).map(|c| c.to_vec()).collect();
            rows.sort();
            values = rows.concat();
        }
        Sort::Value => values.sort(),
    }
    if let [only] = expected {
        if let Some((count, hash)) = parse_hash_line(only) {
            let got = md5_hex(&values);
            return if count == values.len() && hash == got {
                Ok(())
            } else {
                Err(format!("got {} values hashing to {got}", values.len()))
            };
        }
    }
    // Expected values are one per line, or a row's values on one line.
    let expected_values: Vec<&str> = if expected.len() == values.len() {
        expected.iter().map(String::as_str).collect()
    } else {
        expected.iter().flat_map(|l| l.split_whitespace()).collect()
    };
    if expected_values == values.iter().map(String::as_str).collect::<Vec<_>>() {
        Ok(())
    } else {
        Err(format!("got:\n{}", values.join("\n")))
    }
}

fn parse_hash_line(line: &str) -> Option<(usize, String)> {
    let mut words = line.split_whitespace();
    let count = words.next()?.parse().ok()?;
    if words.next()? != "values" || words.next()? != "hashing" || words.next()? != "to" {
        return None;
    }
    Some((count, words.next()?.to_string()))
}

// ---- the file format -----------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sort {
    None,
    Row,
    Value,
}

#[derive(Debug)]
enum Record {
    Statement {
        line: usize,
        sql: String,
        expect_ok: bool,
    },
    Query {
        line: usize,
        sql: String,
        types: Vec<u8>,
        sort: Sort,
        expected: Vec<String>,
    },
    HashThreshold,
    Halt,
    /// A record that does not run for `mysql`.
    Skipped,
}

/// Splits a file into records: blocks of lines separated by blank lines;
/// `#` lines are comments.
fn parse_records(text: &str) -> Vec<Record> {
    let mut records = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        // Skip blank lines and comments between records.
        let line = lines[i].trim_end();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let mut block = Vec::new();
        while i < lines.len() && !lines[i].trim_end().is_empty() {
            block.push(lines[i].trim_end());
            i += 1;
        }
        if let Some(record) = parse_block(&block, start + 1) {
            records.push(record);
        }
    }
    records
}

fn parse_block(block: &[&str], first_line: usize) -> Option<Record> {
    let mut skip = false;
    let mut at = 0;
    while let Some(line) = block.get(at) {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        match words.next() {
            Some("skipif") => {
                if words.next() == Some("mysql") {
                    skip = true;
                }
            }
            Some("onlyif") => {
                if words.next() != Some("mysql") {
                    skip = true;
                }
            }
            None => {}
            _ => break,
        }
        at += 1;
    }
    let head = *block.get(at)?;
    let line = first_line + at;
    let mut words = head.split_whitespace();
    let record = match words.next()? {
        "hash-threshold" => Record::HashThreshold,
        "halt" => {
            if skip {
                Record::Skipped
            } else {
                Record::Halt
            }
        }
        "statement" => {
            let expect_ok = words.next() != Some("error");
            let sql = block.get(at + 1..)?.join("\n");
            Record::Statement {
                line,
                sql,
                expect_ok,
            }
        }
        "query" => {
            let types = words.next()?.as_bytes().to_vec();
            let sort = match words.next() {
                Some("rowsort") => Sort::Row,
                Some("valuesort") => Sort::Value,
                _ => Sort::None,
            };
            let rest = block.get(at + 1..)?;
            let split = rest.iter().position(|l| *l == "----");
            let (sql_lines, expected) = match split {
                Some(p) => (&rest[..p], rest[p + 1..].to_vec()),
                None => (rest, Vec::new()),
            };
            Record::Query {
                line,
                sql: sql_lines.join("\n"),
                types,
                sort,
                expected: expected.into_iter().map(String::from).collect(),
            }
        }
        _ => return None,
    };
    if skip && !matches!(record, Record::HashThreshold) {
        return Some(Record::Skipped);
    }
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The classic formatting rules: R is %.3f, NULL, (empty), I from text.
    #[test]
    fn formats_values_by_type_letter() {
        let bytes = |s: &str| mysql::Value::Bytes(s.as_bytes().to_vec());
        assert_eq!(format_value(&bytes("3"), b'R'), "3.000");
        assert_eq!(format_value(&bytes("-1.23456"), b'R'), "-1.235");
        assert_eq!(format_value(&mysql::Value::NULL, b'I'), "NULL");
        assert_eq!(format_value(&bytes(""), b'T'), "(empty)");
        assert_eq!(format_value(&bytes("42"), b'I'), "42");
    }

    // Hashes are the MD5 of each value plus a newline; sorting is by row.
    #[test]
    fn hashes_and_sorts() {
        let values: Vec<String> = ["2", "b", "1", "a"].iter().map(|s| s.to_string()).collect();
        assert!(compare(
            values.clone(),
            2,
            Sort::Row,
            &["1".into(), "a".into(), "2".into(), "b".into()]
        )
        .is_ok());
        let sorted: Vec<String> = ["1", "a", "2", "b"].iter().map(|s| s.to_string()).collect();
        let line = format!("4 values hashing to {}", md5_hex(&sorted));
        assert!(compare(values.clone(), 2, Sort::Row, &[line]).is_ok());
        assert!(compare(values, 2, Sort::None, &["1 a".into(), "2 b".into()]).is_err());
        // echo -ne '1\n' | md5sum
        assert_eq!(
            md5_hex(&["1".to_string()]),
            "b026324c6904b2a9cb4b88d6d61c81d1"
        );
    }

    // skipif/onlyif decide whether a record runs for `mysql`.
    #[test]
    fn parses_conditions() {
        let text = "statement ok\nCREATE TABLE t(a INT)\n\nskipif mysql\nquery I rowsort\nSELECT 1\n----\n1\n\nonlyif mysql # x\nquery I nosort\nSELECT 1\n----\n1\n\nonlyif sqlite\nstatement ok\nX\n";
        let records = parse_records(text);
        assert_eq!(records.len(), 4);
        assert!(matches!(records[0], Record::Statement { line: 1, .. }));
        assert!(matches!(records[1], Record::Skipped));
        assert!(matches!(
            records[2],
            Record::Query {
                line: 11,
                sort: Sort::None,
                ..
            }
        ));
        assert!(matches!(records[3], Record::Skipped));
    }
}
