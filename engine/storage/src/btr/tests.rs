//! The tree against a model: long random operation sequences compared with
//! a `BTreeMap` after every step (and the full invariant check often), and
//! concurrent writers and readers.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use super::tree::{Direction, Tree, TreeEnv, TreeError};
use crate::buf::{BufConfig, BufferPool};
use crate::fil::{FileStore, MemStore, SpaceId, PAGE_BYTES};
use crate::fsp;
use crate::log::writer::{LogConfig, LogStart, LogWriter};
use crate::mtr::Mtr;
use crate::util::clock::ManualClock;

pub(crate) struct TestEnv {
    pub pool: BufferPool,
    pub log: Arc<LogWriter>,
    pub store: MemStore,
}

impl TestEnv {
    pub fn new(pool_pages: usize, data_pages: u64, seed: u64) -> Self {
        let store = MemStore::new(4096, 4096, seed);
        let log = Arc::new(
            LogWriter::start(
                Arc::new(store.clone()),
                LogConfig::default(),
                LogStart {
                    block_no: 1,
                    generation: 1,
                },
                Vec::new(),
            )
            .unwrap(),
        );
        let config = BufConfig {
            pool_pages,
            huge_pages: floe_rt::HugePages::Never,
            ..BufConfig::default()
        };
        let pool = BufferPool::new(config, Arc::new(ManualClock::default())).unwrap();
        let data = store
            .create(
                "data",
                data_pages * PAGE_BYTES as u64,
                crate::fil::Space::Sparse,
            )
            .unwrap();
        pool.open_space(SpaceId(0), data);
        pool.set_wal(log.clone());
        let env = Self { pool, log, store };
        let mut mtr = Mtr::start(&env.pool, &env.log);
        fsp::create_space(&mut mtr, SpaceId(0)).unwrap();
        mtr.commit().unwrap();
        env
    }

    pub fn tree_env(&self) -> TreeEnv<'_> {
        TreeEnv {
            pool: &self.pool,
            log: &self.log,
        }
    }

    pub fn create_tree(&self, index_id: u64) -> Tree {
        let mut mtr = Mtr::start(&self.pool, &self.log);
        let tree = Tree::create(&mut mtr, SpaceId(0), index_id).unwrap();
        mtr.commit().unwrap();
        tree
    }
}

pub(crate) use crate::util::rng::Rng;

pub(crate) fn seed() -> u64 {
    let seed = std::env::var("FLOE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED);
    println!("FLOE_SEED={seed}");
    seed
}

fn key_of(n: u64) -> Vec<u8> {
    format!("key{n:08}").into_bytes()
}

/// A key padded to 200 bytes: fewer separators per internal node, so a
/// modest number of records makes a tree of several levels.
fn long_key_of(n: u64) -> Vec<u8> {
    let mut key = key_of(n);
    key.resize(200, b'.');
    key
}

fn collect(
    tree: &Tree,
    env: TreeEnv<'_>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    direction: Direction,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut cursor = tree.scan(env, lower, upper, direction);
    let mut out = Vec::new();
    while let Some(item) = cursor.next().unwrap() {
        out.push(item);
    }
    out
}

fn model_range(
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    lower: &Bound<Vec<u8>>,
    upper: &Bound<Vec<u8>>,
    direction: Direction,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let valid = match (lower, upper) {
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => {
            l < u || (l == u && matches!((lower, upper), (Bound::Included(_), Bound::Included(_))))
        }
        _ => true,
    };
    if !valid {
        return Vec::new();
    }
    let items = model
        .range((lower.clone(), upper.clone()))
        .map(|(k, v)| (k.clone(), v.clone()));
    match direction {
        Direction::Forward => items.collect(),
        Direction::Backward => items.rev().collect(),
    }
}

fn random_bound(rng: &mut Rng, key_space: u64) -> Bound<Vec<u8>> {
    match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(long_key_of(rng.below(key_space))),
        _ => Bound::Excluded(long_key_of(rng.below(key_space))),
    }
}

/// Thousands of random inserts, updates, upserts, deletes, point reads and
/// range scans (both directions, all bound kinds) agree with a BTreeMap,
/// with a buffer pool small enough to evict; the tree passes its full
/// invariant check throughout and grows to several levels.
#[test]
fn tree_matches_btreemap() {
    let seed = seed();
    let mut rng = Rng(seed);
    let env = TestEnv::new(64, 4096, seed);
    let tree = env.create_tree(1);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let key_space = 6000;
    for step in 0..30_000u64 {
        let key = long_key_of(rng.below(key_space));
        let value_bytes = if rng.below(20) == 0 {
            1500
        } else {
            1 + rng.below(300)
        } as usize;
        let value = vec![(step % 251) as u8; value_bytes];
        let context = format!("seed={seed} step={step}");
        match rng.below(10) {
            0..=3 => match tree.insert(env.tree_env(), &key, &value) {
                Ok(_) => assert!(
                    model.insert(key, value).is_none(),
                    "{context}: insert over a present key"
                ),
                Err(TreeError::Duplicate { .. }) => {
                    assert!(model.contains_key(&key), "{context}: false duplicate")
                }
                Err(e) => panic!("{context}: {e}"),
            },
            4 => {
                let updated = tree.update(env.tree_env(), &key, &value).unwrap();
                assert_eq!(updated.is_some(), model.contains_key(&key), "{context}");
                if updated.is_some() {
                    model.insert(key, value);
                }
            }
            5 => {
                tree.upsert(env.tree_env(), &key, &value).unwrap();
                model.insert(key, value);
            }
            6 | 7 => {
                let deleted = tree.delete(env.tree_env(), &key).unwrap();
                assert_eq!(deleted.is_some(), model.remove(&key).is_some(), "{context}");
            }
            8 => {
                let got = tree.get(env.tree_env(), &key, |v| v.to_vec()).unwrap();
                assert_eq!(got.as_ref(), model.get(&key), "{context}");
            }
            _ => {
                let lower = random_bound(&mut rng, key_space);
                let upper = random_bound(&mut rng, key_space);
                let direction = if rng.below(2) == 0 {
                    Direction::Forward
                } else {
                    Direction::Backward
                };
                let got = collect(
                    &tree,
                    env.tree_env(),
                    lower.clone(),
                    upper.clone(),
                    direction,
                );
                let expected = model_range(&model, &lower, &upper, direction);
                assert_eq!(
                    got.len(),
                    expected.len(),
                    "{context}: scan {lower:?}..{upper:?} {direction:?}"
                );
                assert!(
                    got == expected,
                    "{context}: scan {lower:?}..{upper:?} {direction:?} differs"
                );
            }
        }
        if step % 5000 == 0 || step == 29_999 {
            let shape = tree
                .check(&env.pool)
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            assert_eq!(shape.records, model.len() as u64, "{context}");
        }
    }
    let shape = tree.check(&env.pool).unwrap();
    assert!(
        shape.height >= 3,
        "expected a tree of several levels, got {shape:?}"
    );
    let all = collect(
        &tree,
        env.tree_env(),
        Bound::Unbounded,
        Bound::Unbounded,
        Direction::Forward,
    );
    assert!(all == model.into_iter().collect::<Vec<_>>());
    assert!(
        env.pool.stats().evictions > 0,
        "the pool never evicted: the test does not exercise reads"
    );
}

/// Ascending inserts fill leaves (the append split leaves full pages).
#[test]
fn ascending_inserts_fill_pages() {
    let env = TestEnv::new(256, 4096, 1);
    let tree = env.create_tree(2);
    let value = vec![7u8; 100];
    for n in 0..20_000 {
        tree.insert(env.tree_env(), &key_of(n), &value).unwrap();
    }
    let shape = tree.check(&env.pool).unwrap();
    let per_leaf = shape.records / shape.leaf_pages;
    let fit = (PAGE_BYTES - 100) as u64 / (4 + 11 + 100 + 2);
    assert!(
        per_leaf * 100 >= fit * 95,
        "{per_leaf} records per leaf, {fit} fit: {shape:?}"
    );
}

/// Over-long keys and records are refused with typed errors.
#[test]
fn oversized_input_is_refused() {
    let env = TestEnv::new(32, 64, 1);
    let tree = env.create_tree(3);
    let long_key = vec![1u8; super::tree::MAX_KEY_BYTES + 1];
    assert!(matches!(
        tree.insert(env.tree_env(), &long_key, b"v"),
        Err(TreeError::KeyTooLarge { .. })
    ));
    let long_value = vec![1u8; super::node::MAX_RECORD_BYTES];
    assert!(matches!(
        tree.insert(env.tree_env(), b"k", &long_value),
        Err(TreeError::RecordTooLarge { .. })
    ));
}

/// A full space is a typed error, and the tree stays valid and usable.
#[test]
fn full_space_is_an_error_not_a_panic() {
    let env = TestEnv::new(32, 24, 1);
    let tree = env.create_tree(4);
    let value = vec![9u8; 1000];
    let mut inserted = 0;
    let error = loop {
        match tree.insert(env.tree_env(), &key_of(inserted), &value) {
            Ok(_) => inserted += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(error, TreeError::Fsp(fsp::FspError::Full { .. })),
        "{error}"
    );
    let shape = tree.check(&env.pool).unwrap();
    assert_eq!(shape.records, inserted);
    for n in 0..inserted {
        assert!(tree
            .get(env.tree_env(), &key_of(n), |_| ())
            .unwrap()
            .is_some());
    }
}

/// Writers on disjoint key ranges and readers scanning run at once; in the
/// end every writer's keys are there exactly, and the tree is valid.
#[test]
fn concurrent_writers_and_readers() {
    let env = Arc::new(TestEnv::new(128, 8192, 9));
    let tree = env.create_tree(5);
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let env = env.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(w);
                let mut mine = BTreeMap::new();
                for i in 0..3000u64 {
                    let key = key_of(w + 4 * rng.below(2000));
                    if i % 4 == 3 {
                        if tree.delete(env.tree_env(), &key).unwrap().is_some() {
                            mine.remove(&key);
                        }
                    } else {
                        let value = vec![w as u8; 1 + rng.below(200) as usize];
                        tree.upsert(env.tree_env(), &key, &value).unwrap();
                        mine.insert(key, value);
                    }
                }
                mine
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let env = env.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let direction = if (i + r) % 2 == 0 {
                        Direction::Forward
                    } else {
                        Direction::Backward
                    };
                    let items = collect(
                        &tree,
                        env.tree_env(),
                        Bound::Unbounded,
                        Bound::Unbounded,
                        direction,
                    );
                    let ordered = match direction {
                        Direction::Forward => items.windows(2).all(|w| w[0].0 < w[1].0),
                        Direction::Backward => items.windows(2).all(|w| w[0].0 > w[1].0),
                    };
                    assert!(ordered, "a scan returned keys out of order");
                }
            })
        })
        .collect();
    let mut expected = BTreeMap::new();
    for writer in writers {
        expected.extend(writer.join().unwrap());
    }
    for reader in readers {
        reader.join().unwrap();
    }
    let all = collect(
        &tree,
        env.tree_env(),
        Bound::Unbounded,
        Bound::Unbounded,
        Direction::Forward,
    );
    assert!(all == expected.into_iter().collect::<Vec<_>>());
    tree.check(&env.pool).unwrap();
}

/// Dirty pages written and evicted are read back intact (the pool's write
/// and read paths, checksums included).
#[test]
fn pages_survive_flush_and_eviction() {
    let env = TestEnv::new(32, 4096, 3);
    let tree = env.create_tree(6);
    let value_of = |n: u64| {
        let mut value = n.to_le_bytes().to_vec();
        value.resize(400, (n % 256) as u8);
        value
    };
    for n in 0..5000 {
        tree.insert(env.tree_env(), &key_of(n), &value_of(n))
            .unwrap();
    }
    env.pool.flush_all().unwrap();
    assert_eq!(env.pool.dirty_pages(), 0);
    for n in 0..5000u64 {
        let got = tree
            .get(env.tree_env(), &key_of(n), |v| v.to_vec())
            .unwrap();
        assert_eq!(got, Some(value_of(n)));
    }
    let stats = env.pool.stats();
    assert!(
        stats.reads > 0 && stats.writes > 0 && stats.evictions > 0,
        "{stats:?}"
    );
    env.pool.check_lru().unwrap();
    let _ = env.store.list().unwrap();
}

/// `next_key` agrees with the model, also across leaves that deletes
/// emptied (a run of keys removed whole) and past the last key.
#[test]
fn next_key_matches_the_model() {
    let seed = seed();
    let mut rng = Rng(seed);
    let env = TestEnv::new(64, 4096, seed);
    let tree = env.create_tree(1);
    let mut model = std::collections::BTreeSet::new();
    for n in 0..3000 {
        tree.insert(env.tree_env(), &long_key_of(n), b"v").unwrap();
        model.insert(long_key_of(n));
    }
    // Empty whole leaves in the middle, and thin out the rest.
    for n in (1000..2000).chain((0..3000).filter(|n| n % 7 == 0)) {
        if model.remove(&long_key_of(n)) {
            tree.delete(env.tree_env(), &long_key_of(n)).unwrap();
        }
    }
    assert!(tree.check(&env.pool).unwrap().height >= 2);
    for step in 0..5000 {
        // Present keys, absent ones, and keys between two of them.
        let mut probe = long_key_of(rng.below(3100));
        if step % 3 == 0 {
            probe.push(b'~');
        }
        let expected = model
            .range((Bound::Excluded(probe.clone()), Bound::Unbounded))
            .next()
            .cloned();
        let got = tree.next_key(env.tree_env(), &probe).unwrap();
        assert_eq!(got, expected, "seed={seed} step={step}");
    }
    assert_eq!(
        tree.next_key(env.tree_env(), &long_key_of(2999)).unwrap(),
        None
    );
    assert_eq!(
        tree.next_key(env.tree_env(), b"").unwrap(),
        Some(long_key_of(1))
    );
}
