//! Rows across a clustered and two secondary indexes (one unique).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::*;
use crate::btr::node;
use crate::btr::tests::{Rng, TestEnv};
use crate::fil::{self, PageId};

fn table(env: &TestEnv) -> TableIndexes {
    TableIndexes {
        primary_name: "PRIMARY".into(),
        clustered: env.create_tree(10),
        secondaries: vec![
            Secondary {
                name: "email".into(),
                tree: env.create_tree(11),
                unique: true,
            },
            Secondary {
                name: "city".into(),
                tree: env.create_tree(12),
                unique: false,
            },
        ],
    }
}

/// A self-delimiting key encoding for the tests: a NULL marker byte, then
/// the value with 0x00 escaped as 0x00 0xFF, ended by 0x00 0x00.
fn encode(value: Option<&str>) -> Vec<u8> {
    let Some(value) = value else { return vec![0] };
    let mut out = vec![1];
    for &b in value.as_bytes() {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
    out
}

fn keys<'a>(email: &'a [u8], city: &'a [u8]) -> [SecondaryKey<'a>; 2] {
    [
        SecondaryKey {
            bytes: email,
            has_null: email == [0],
        },
        SecondaryKey {
            bytes: city,
            has_null: city == [0],
        },
    ]
}

/// The newest page LSN anywhere in a tree.
fn newest_lsn(env: &TestEnv, tree: &Tree) -> fil::Lsn {
    let mut newest = fil::Lsn(0);
    let mut pending = vec![tree.root];
    while let Some(id) = pending.pop() {
        let page = env.pool.fix(id).unwrap();
        newest = newest.max(fil::page_lsn(page.bytes()));
        if !node::is_leaf(page.bytes()) {
            for slot in 0..node::count(page.bytes()) {
                let (_, child) = node::record(page.bytes(), slot).unwrap();
                pending.push(PageId::new(
                    id.space.0,
                    u32::from_le_bytes(child.try_into().unwrap()),
                ));
            }
        }
    }
    newest
}

/// Insert, look up by either index, update with and without key changes,
/// delete; duplicates of the primary or unique key are refused and leave
/// nothing behind; NULLs are not unique; an update that changes no column
/// of an index writes nothing to that index.
#[test]
fn rows_and_secondary_indexes() {
    let env = TestEnv::new(64, 2048, 1);
    let t = table(&env);
    let e = env.tree_env();
    let (a, b, null) = (encode(Some("a@x")), encode(Some("b@x")), encode(None));
    let (paris, oslo) = (encode(Some("paris")), encode(Some("oslo")));
    t.insert_row(e, b"1", b"row one", TrxId(5), &keys(&a, &paris))
        .unwrap();
    t.insert_row(e, b"2", b"row two", TrxId(6), &keys(&b, &paris))
        .unwrap();
    assert!(
        matches!(t.insert_row(e, b"1", b"again", TrxId(7), &keys(&encode(Some("c@x")), &oslo)), Err(RowError::Duplicate { index }) if index == "PRIMARY")
    );
    let refused = t.insert_row(e, b"3", b"row three", TrxId(7), &keys(&a, &oslo));
    assert!(matches!(refused, Err(RowError::Duplicate { index }) if index == "email"));
    assert_eq!(
        t.get_row(e, b"3").unwrap(),
        None,
        "a refused row must leave no trace"
    );
    assert_eq!(
        t.lookup(e, 1, keys(&a, &oslo)[1]).unwrap(),
        Vec::<Vec<u8>>::new()
    );
    t.insert_row(e, b"4", b"null one", TrxId(8), &keys(&null, &oslo))
        .unwrap();
    t.insert_row(e, b"5", b"null two", TrxId(9), &keys(&null, &oslo))
        .unwrap();

    assert_eq!(
        t.get_row(e, b"1").unwrap(),
        Some((TrxId(5), b"row one".to_vec()))
    );
    assert_eq!(
        t.lookup(e, 0, keys(&a, &paris)[0]).unwrap(),
        vec![b"1".to_vec()]
    );
    assert_eq!(
        t.lookup(e, 0, keys(&null, &paris)[0]).unwrap(),
        vec![b"4".to_vec(), b"5".to_vec()]
    );
    assert_eq!(
        t.lookup(e, 1, keys(&a, &paris)[1]).unwrap(),
        vec![b"1".to_vec(), b"2".to_vec()]
    );

    // No indexed column changes: neither secondary tree is written.
    let (email_before, city_before) = (
        newest_lsn(&env, &t.secondaries[0].tree),
        newest_lsn(&env, &t.secondaries[1].tree),
    );
    t.update_row(
        e,
        b"1",
        b"row one, edited",
        TrxId(10),
        &keys(&a, &paris),
        &keys(&a, &paris),
    )
    .unwrap()
    .unwrap();
    assert_eq!(newest_lsn(&env, &t.secondaries[0].tree), email_before);
    assert_eq!(newest_lsn(&env, &t.secondaries[1].tree), city_before);
    assert_eq!(
        t.get_row(e, b"1").unwrap(),
        Some((TrxId(10), b"row one, edited".to_vec()))
    );

    // The city changes: only that index moves the entry.
    t.update_row(
        e,
        b"1",
        b"moved",
        TrxId(11),
        &keys(&a, &paris),
        &keys(&a, &oslo),
    )
    .unwrap()
    .unwrap();
    assert_eq!(newest_lsn(&env, &t.secondaries[0].tree), email_before);
    assert_eq!(
        t.lookup(e, 1, keys(&a, &paris)[1]).unwrap(),
        vec![b"2".to_vec()]
    );
    assert_eq!(
        t.lookup(e, 1, keys(&a, &oslo)[1]).unwrap(),
        vec![b"1".to_vec(), b"4".to_vec(), b"5".to_vec()]
    );

    t.delete_row(e, b"1", &keys(&a, &oslo)).unwrap().unwrap();
    assert_eq!(t.get_row(e, b"1").unwrap(), None);
    assert!(t.lookup(e, 0, keys(&a, &oslo)[0]).unwrap().is_empty());
    for tree in [&t.clustered, &t.secondaries[0].tree, &t.secondaries[1].tree] {
        tree.check(&env.pool).unwrap();
    }
    assert_eq!(t.secondaries[0].tree.check(&env.pool).unwrap().records, 3);
}

/// Threads insert rows whose unique keys collide: every unique key ends up
/// on exactly one row, and every index holds exactly the rows that exist.
#[test]
fn unique_keys_hold_under_concurrency() {
    let env = Arc::new(TestEnv::new(128, 4096, 2));
    let t = Arc::new(table(&env));
    let threads: Vec<_> = (0..4u64)
        .map(|thread| {
            let (env, t) = (env.clone(), t.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(thread);
                let mut mine = BTreeMap::new();
                for i in 0..800u64 {
                    let pk = format!("{thread}-{i:04}").into_bytes();
                    let email = encode(Some(&format!("user{}", rng.below(1500))));
                    let city = encode(Some(&format!("city{}", rng.below(20))));
                    match t.insert_row(env.tree_env(), &pk, b"row", TrxId(i), &keys(&email, &city))
                    {
                        Ok(_) => {
                            mine.insert(pk, (email, city));
                        }
                        Err(RowError::Duplicate { index }) => assert_eq!(index, "email"),
                        Err(e) => panic!("{e}"),
                    }
                }
                mine
            })
        })
        .collect();
    let mut rows = BTreeMap::new();
    for thread in threads {
        rows.extend(thread.join().unwrap());
    }
    let emails: HashSet<&Vec<u8>> = rows.values().map(|(email, _)| email).collect();
    assert_eq!(emails.len(), rows.len(), "two rows share a unique key");
    for (pk, (email, city)) in &rows {
        assert_eq!(
            t.lookup(env.tree_env(), 0, keys(email, city)[0]).unwrap(),
            vec![pk.clone()]
        );
    }
    let counts: Vec<u64> = [&t.clustered, &t.secondaries[0].tree, &t.secondaries[1].tree]
        .iter()
        .map(|tree| tree.check(&env.pool).unwrap().records)
        .collect();
    assert_eq!(counts, vec![rows.len() as u64; 3]);
}

/// Payloads shorter than the hidden fields are typed errors.
#[test]
fn short_clustered_payload_is_corrupt() {
    assert!(matches!(
        ClusteredRecord::parse(&[0; 16], 3),
        Err(RowError::Corrupt {
            index_id: 3,
            payload_bytes: 16
        })
    ));
    let mut out = Vec::new();
    ClusteredRecord {
        deleted: true,
        trx_id: TrxId(9),
        roll_ptr: RollPtr(4),
        row: b"r",
    }
    .encode(&mut out);
    assert_eq!(
        out,
        [1, 9, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, b'r']
    );
    assert_eq!(ClusteredRecord::parse(&out, 3).unwrap().row, b"r");
}
