//! The dictionary: records round-trip and refuse damage; DDL survives a
//! crash (it is redo like any change) and dropped tables give back pages.

use std::sync::Arc;

use floe_blk::CrashMode;

use super::*;
use crate::fil::MemStore;
use crate::srv::{DoublewriteMode, EngineConfig};
use crate::util::clock::SystemClock;

fn config() -> EngineConfig {
    EngineConfig {
        buf: crate::buf::BufConfig {
            pool_pages: 64,
            huge_pages: floe_rt::HugePages::Never,
            ..Default::default()
        },
        data_file_bytes: 1024 * crate::fil::PAGE_BYTES as u64,
        doublewrite: DoublewriteMode::Auto,
        cleaner: None,
        ..EngineConfig::default()
    }
}

fn new_table(schema: &str, name: &str) -> NewTable {
    NewTable {
        schema: schema.into(),
        name: name.into(),
        columns: vec![
            ColumnDef {
                name: "id".into(),
                type_code: 8,
                flags: 3,
                length: 20,
                scale: 0,
                default: None,
            },
            ColumnDef {
                name: "k".into(),
                type_code: 3,
                flags: 0,
                length: 11,
                scale: 0,
                default: Some(b"0".to_vec()),
            },
            ColumnDef {
                name: "c".into(),
                type_code: 254,
                flags: 0,
                length: 120,
                scale: 0,
                default: None,
            },
        ],
        indexes: vec![
            ("PRIMARY".into(), IndexKind::Primary, vec![0]),
            ("k_1".into(), IndexKind::NonUnique, vec![1]),
        ],
        options: b"auto_increment=1".to_vec(),
    }
}

/// A table record round-trips; every truncation and a bad version are
/// typed errors.
#[test]
fn table_records_round_trip_and_refuse_damage() {
    let def = TableDef {
        table_id: 7,
        schema: "db".into(),
        name: "t".into(),
        columns: new_table("db", "t").columns,
        indexes: vec![IndexDef {
            name: "PRIMARY".into(),
            index_id: 8,
            root: PageNo(3),
            kind: IndexKind::Primary,
            columns: vec![0],
        }],
        options: vec![1, 2, 3],
    };
    let bytes = def.encode();
    assert_eq!(TableDef::decode(&bytes, "db.t").unwrap(), def);
    for cut in 0..bytes.len() {
        assert!(
            TableDef::decode(&bytes[..cut], "db.t").is_err(),
            "truncation at {cut} accepted"
        );
    }
    let mut versioned = bytes.clone();
    versioned[0] = 9;
    assert!(matches!(
        TableDef::decode(&versioned, "db.t"),
        Err(DictError::UnknownVersion { found: 9, known: 1 })
    ));
    let mut bad_column = bytes.clone();
    let last = bad_column.len() - 4 - 3 - 2; // the index's column position
    bad_column[last] = 99;
    assert!(TableDef::decode(&bad_column, "db.t").is_err());
}

/// Schemas and tables created, listed, dropped; errors name what is wrong;
/// after a power cut (no clean shutdown) every acknowledged DDL is there;
/// a dropped table's pages are reused.
#[test]
fn ddl_survives_a_crash() {
    let store = MemStore::new(512, 512, 42);
    let engine = Engine::create(
        Arc::new(store.clone()),
        config(),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let dict = Dictionary::open(&engine).unwrap();
    dict.create_schema(&engine, "shop").unwrap();
    assert!(matches!(
        dict.create_schema(&engine, "shop"),
        Err(DictError::SchemaExists { .. })
    ));
    assert!(matches!(
        dict.create_table(&engine, new_table("nope", "t")),
        Err(DictError::NoSuchSchema { .. })
    ));
    let orders = dict
        .create_table(&engine, new_table("shop", "orders"))
        .unwrap();
    let items = dict
        .create_table(&engine, new_table("shop", "items"))
        .unwrap();
    assert!(matches!(
        dict.create_table(&engine, new_table("shop", "orders")),
        Err(DictError::TableExists { .. })
    ));
    assert_ne!(orders.indexes[0].root, items.indexes[0].root);
    let rows = orders.indexes[0].tree();
    for n in 0..500u32 {
        rows.insert(engine.env(), &n.to_be_bytes(), &[7; 100])
            .unwrap();
    }
    let dropped = dict.drop_table(&engine, "shop", "items").unwrap();
    assert_eq!(dropped.table_id, items.table_id);
    assert!(matches!(
        dict.drop_table(&engine, "shop", "items"),
        Err(DictError::NoSuchTable { .. })
    ));
    let lsn = engine.log().appended_lsn();
    engine.log().write_up_to(lsn).unwrap();
    drop(engine); // power cut
    let store = store.restart(CrashMode::KeepRandomSubsetTorn);
    let engine = Engine::open(Arc::new(store), config(), Arc::new(SystemClock::new())).unwrap();
    let dict = Dictionary::open(&engine).unwrap();
    assert_eq!(dict.schemas(&engine).unwrap(), vec!["shop".to_string()]);
    let tables = dict.tables(&engine, "shop").unwrap();
    assert_eq!(tables, vec![orders.clone()]);
    let rows = orders.indexes[0].tree();
    assert_eq!(rows.check(engine.pool()).unwrap().records, 500);
    // The dropped table's pages are on the free list and get reused: the
    // space does not grow, the free list shrinks.
    let usage = |engine: &Engine| {
        let header = engine.pool().fix(PageId::new(0, 0)).unwrap();
        crate::fsp::usage(header.bytes())
    };
    let (limit_before, free_before) = usage(&engine);
    assert_eq!(
        free_before, 2,
        "two index roots of the dropped table are free"
    );
    let again = dict
        .create_table(&engine, new_table("shop", "items"))
        .unwrap();
    let (limit_after, free_after) = usage(&engine);
    assert_eq!(
        (limit_after, free_after),
        (limit_before, 0),
        "pages not reused: {:?}",
        again.indexes
    );
    assert!(again.table_id > items.table_id, "ids are never reused");
    assert!(dict.drop_schema(&engine, "shop").is_ok());
}
