//! Test tool for the SIGKILL crash test (`tests/sigkill.rs`): opens (or
//! creates) a database in a directory of real files and commits rows
//! `start..start+count` one per transaction, printing `ACK <n>` after each
//! commit is durable. The test kills it at a random moment.
//!
//! Usage: storage-crash-writer DIR START COUNT

use std::io::Write;
use std::sync::Arc;

use floe_blk::DirectIo;
use floe_storage::dict::{ColumnDef, Dictionary, IndexKind, NewTable};
use floe_storage::fil::DirStore;
use floe_storage::srv::{Engine, EngineConfig, EngineError};
use floe_storage::util::clock::SystemClock;

pub fn value_of(n: u64) -> Vec<u8> {
    (0..64 + n % 200)
        .map(|i| (n as u8).wrapping_add(i as u8))
        .collect()
}

fn config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.buf.pool_pages = 256;
    config.data_file_bytes = 256 << 20;
    config
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, start, count] = args.as_slice() else {
        eprintln!("usage: storage-crash-writer DIR START COUNT");
        std::process::exit(2);
    };
    let start: u64 = start.parse().expect("START is a number");
    let count: u64 = count.parse().expect("COUNT is a number");
    let store = Arc::new(DirStore::open(dir, DirectIo::Prefer).expect("store"));
    let clock = Arc::new(SystemClock::new());
    let engine = match Engine::open(store.clone(), config(), clock.clone()) {
        Ok(engine) => engine,
        Err(EngineError::NotCreated { .. }) => {
            let engine = Engine::create(store, config(), clock).expect("create");
            let dict = Dictionary::open(&engine).expect("dictionary");
            dict.create_schema(&engine, "crash").expect("schema");
            dict.create_table(
                &engine,
                NewTable {
                    schema: "crash".into(),
                    name: "t".into(),
                    columns: vec![ColumnDef {
                        name: "id".into(),
                        type_code: 8,
                        flags: 0,
                        length: 20,
                        scale: 0,
                        default: None,
                    }],
                    indexes: vec![("PRIMARY".into(), IndexKind::Primary, vec![0])],
                    options: Vec::new(),
                },
            )
            .expect("table");
            engine
        }
        Err(e) => panic!("opening {dir}: {e}"),
    };
    let dict = Dictionary::open(&engine).expect("dictionary");
    let tree = dict
        .table(&engine, "crash", "t")
        .expect("read")
        .expect("table crash.t")
        .indexes[0]
        .tree();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "READY").expect("stdout");
    out.flush().expect("stdout");
    for n in start..start + count {
        let lsn = tree
            .upsert(engine.env(), &n.to_be_bytes(), &value_of(n))
            .expect("upsert");
        engine.commit_wait(lsn).expect("commit");
        writeln!(out, "ACK {n}").expect("stdout");
        out.flush().expect("stdout");
    }
    engine.shutdown().expect("shutdown");
}
