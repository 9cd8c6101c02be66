//! The crash test on real files with a real process: a writer commits rows
//! on `FileDevice`s (O_DIRECT) and is killed with SIGKILL at a random
//! moment; the database recovers in this process with every acknowledged
//! row present and intact, then the next writer continues from it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use floe_blk::DirectIo;
use floe_storage::dict::Dictionary;
use floe_storage::fil::DirStore;
use floe_storage::srv::{Engine, EngineConfig};
use floe_storage::util::clock::SystemClock;

fn value_of(n: u64) -> Vec<u8> {
    (0..64 + n % 200)
        .map(|i| (n as u8).wrapping_add(i as u8))
        .collect()
}

/// Three rounds of: start the writer, let it acknowledge a random number
/// of commits, SIGKILL it, recover here, check every acknowledged row.
#[test]
fn acknowledged_commits_survive_sigkill() {
    let seed: u64 = std::env::var("FLOE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(77);
    println!("FLOE_SEED={seed}");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut next = 0u64;
    let mut state = seed;
    for round in 0..3 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let kill_after = 50 + (state >> 33) % 400;
        let mut child = Command::new(env!("CARGO_BIN_EXE_storage-crash-writer"))
            .arg(dir.path())
            .arg(next.to_string())
            .arg("100000")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the writer");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut acknowledged = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("reading the writer");
            if let Some(n) = line.strip_prefix("ACK ") {
                acknowledged.push(n.parse::<u64>().expect("ACK number"));
                if acknowledged.len() as u64 == kill_after {
                    child.kill().expect("SIGKILL");
                    break;
                }
            }
        }
        let status = child.wait().expect("reaping the writer");
        assert!(
            !status.success(),
            "round {round}: the writer finished before it was killed"
        );
        assert_eq!(
            acknowledged.len() as u64,
            kill_after,
            "round {round}: writer died early"
        );

        let store = Arc::new(DirStore::open(dir.path(), DirectIo::Prefer).expect("store"));
        let mut config = EngineConfig::default();
        config.buf.pool_pages = 256;
        config.data_file_bytes = 256 << 20;
        let engine = Engine::open(store, config, Arc::new(SystemClock::new()))
            .unwrap_or_else(|e| panic!("FLOE_SEED={seed} round {round}: recovery failed: {e}"));
        let dict = Dictionary::open(&engine).expect("dictionary");
        let tree = dict
            .table(&engine, "crash", "t")
            .expect("read")
            .expect("table crash.t")
            .indexes[0]
            .tree();
        let shape = tree.check(engine.pool()).expect("tree check");
        for &n in &acknowledged {
            let value = tree
                .get(engine.env(), &n.to_be_bytes(), |v| v.to_vec())
                .expect("get");
            assert_eq!(
                value,
                Some(value_of(n)),
                "FLOE_SEED={seed} round {round}: row {n} acknowledged but not recovered"
            );
        }
        // One writer committing in order: what survives is a prefix 0..R
        // (the writer may have committed past the last ACK we read).
        let last = *acknowledged.last().expect("some rows");
        assert!(
            shape.records > last,
            "round {round}: {} rows, row {last} acknowledged",
            shape.records
        );
        for n in 0..shape.records {
            let value = tree
                .get(engine.env(), &n.to_be_bytes(), |v| v.to_vec())
                .expect("get");
            assert_eq!(
                value,
                Some(value_of(n)),
                "FLOE_SEED={seed} round {round}: row {n} missing or wrong: not a prefix"
            );
        }
        next = shape.records;
        engine.shutdown().expect("clean shutdown");
        println!(
            "round {round}: killed after {kill_after} acknowledged commits; {} rows recovered",
            shape.records
        );
    }
}
