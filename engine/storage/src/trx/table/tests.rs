//! Transactions over a table: InnoDB's outcome for each anomaly at each
//! isolation level, locks and deadlocks, uniqueness under concurrency,
//! rollback of statements and savepoints, purge, and a bank whose total
//! never changes — while running, and after power cuts at random writes.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_blk::CrashMode;

use super::*;
use crate::dict::{ColumnDef, Dictionary, IndexKind, NewTable};
use crate::fil::{MemStore, PAGE_BYTES};
use crate::srv::{Engine, EngineConfig};
use crate::trx::{LockError, TrxConfig};
use crate::util::clock::SystemClock;
use crate::util::rng::Rng;

/// Test rows: `group u32 BE | code u32 BE | value i64 LE`. Secondary 0 is
/// `by_group` (non-unique), secondary 1 `by_code` (unique); fixed-width
/// keys are self-delimiting.
struct TestKeys;

impl RowKeys for TestKeys {
    fn secondary_key(&self, index: usize, row: &[u8], out: &mut Vec<u8>) -> bool {
        let at = index * 4;
        out.extend_from_slice(&row[at..at + 4]);
        false
    }
}

fn row(group: u32, code: u32, value: i64) -> Vec<u8> {
    let mut r = Vec::with_capacity(16);
    r.extend_from_slice(&group.to_be_bytes());
    r.extend_from_slice(&code.to_be_bytes());
    r.extend_from_slice(&value.to_le_bytes());
    r
}

fn value(row: &[u8]) -> i64 {
    i64::from_le_bytes(row[8..16].try_into().unwrap())
}

fn pk(n: u32) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

fn engine_config() -> EngineConfig {
    EngineConfig {
        buf: crate::buf::BufConfig {
            pool_pages: 256,
            huge_pages: floe_rt::HugePages::Never,
            ..Default::default()
        },
        data_file_bytes: 4096 * PAGE_BYTES as u64,
        cleaner: None,
        ..EngineConfig::default()
    }
}

fn trx_config() -> TrxConfig {
    TrxConfig {
        lock_wait_timeout: Duration::from_secs(10),
        purge_threads: 0,
        ..TrxConfig::default()
    }
}

struct Fixture {
    sys: Arc<TrxSystem>,
    table: Table,
}

fn open(store: &MemStore, create: bool, config: TrxConfig) -> Fixture {
    let engine = if create {
        Engine::create(
            Arc::new(store.clone()),
            engine_config(),
            Arc::new(SystemClock::new()),
        )
    } else {
        Engine::open(
            Arc::new(store.clone()),
            engine_config(),
            Arc::new(SystemClock::new()),
        )
    }
    .unwrap();
    let sys = TrxSystem::open(engine, config).unwrap();
    let engine = sys.engine();
    let dict = Dictionary::open(engine).unwrap();
    if !dict.schema_exists(engine, "bank").unwrap() {
        dict.create_schema(engine, "bank").unwrap();
        let column = |name: &str| ColumnDef {
            name: name.into(),
            type_code: 3,
            flags: 0,
            length: 4,
            scale: 0,
            default: None,
        };
        dict.create_table(
            engine,
            NewTable {
                schema: "bank".into(),
                name: "accounts".into(),
                columns: vec![column("id"), column("grp"), column("code"), column("value")],
                indexes: vec![
                    ("PRIMARY".into(), IndexKind::Primary, vec![0]),
                    ("by_group".into(), IndexKind::NonUnique, vec![1]),
                    ("by_code".into(), IndexKind::Unique, vec![2]),
                ],
                options: Vec::new(),
            },
        )
        .unwrap();
    }
    let def = dict.table(engine, "bank", "accounts").unwrap().unwrap();
    let table = Table::open(&sys, &def, Arc::new(TestKeys));
    Fixture { sys, table }
}

fn fresh() -> Fixture {
    open(&MemStore::new(512, 512, 1), true, trx_config())
}

impl Fixture {
    fn begin(&self, iso: Isolation) -> Trx {
        self.sys.begin(iso, false)
    }

    fn get(&self, trx: &mut Trx, n: u32) -> Option<i64> {
        self.table
            .get(trx, &pk(n), LockRead::None)
            .unwrap()
            .map(|r| value(&r))
    }

    fn put(&self, trx: &mut Trx, n: u32, v: i64) {
        let r = row(n % 10, n, v);
        if !self.table.update(trx, &pk(n), &r).unwrap() {
            self.table.insert(trx, &pk(n), &r).unwrap();
        }
    }

    fn seed(&self, rows: u32, v: i64) {
        let mut t = self.begin(Isolation::RepeatableRead);
        for n in 0..rows {
            self.table
                .insert(&mut t, &pk(n), &row(n % 10, n, v))
                .unwrap();
        }
        t.commit().unwrap();
    }

    fn count(&self, trx: &mut Trx, lock: LockRead) -> usize {
        let mut scan =
            self.table
                .scan(Bound::Unbounded, Bound::Unbounded, Direction::Forward, lock);
        let mut n = 0;
        while scan.next(trx).unwrap().is_some() {
            n += 1;
        }
        n
    }

    /// Physical entries in a tree, delete-marked ones included.
    fn entries(&self, tree: &Tree) -> usize {
        let env = self.sys.engine().env();
        let mut c = tree.scan(env, Bound::Unbounded, Bound::Unbounded, Direction::Forward);
        let mut n = 0;
        while c.next().unwrap().is_some() {
            n += 1;
        }
        n
    }

    fn sum(&self, trx: &mut Trx) -> i64 {
        let mut scan = self.table.scan(
            Bound::Unbounded,
            Bound::Unbounded,
            Direction::Forward,
            LockRead::None,
        );
        let mut sum = 0;
        while let Some((_, r)) = scan.next(trx).unwrap() {
            sum += value(&r);
        }
        sum
    }
}

const LEVELS: [Isolation; 2] = [Isolation::ReadCommitted, Isolation::RepeatableRead];

/// Dirty read: never, at either level.
#[test]
fn no_dirty_reads() {
    for iso in LEVELS {
        let f = fresh();
        f.seed(1, 10);
        let mut writer = f.begin(iso);
        f.put(&mut writer, 0, 99);
        let mut reader = f.begin(iso);
        assert_eq!(f.get(&mut reader, 0), Some(10), "{iso:?}");
        writer.rollback().unwrap();
        assert_eq!(f.get(&mut reader, 0), Some(10));
    }
}

/// Non-repeatable read: READ COMMITTED sees the new committed value in the
/// next statement; REPEATABLE READ keeps its first view.
#[test]
fn non_repeatable_read_only_under_read_committed() {
    for iso in LEVELS {
        let f = fresh();
        f.seed(1, 10);
        let mut reader = f.begin(iso);
        reader.start_statement();
        assert_eq!(f.get(&mut reader, 0), Some(10));
        let mut writer = f.begin(iso);
        f.put(&mut writer, 0, 20);
        writer.commit().unwrap();
        reader.start_statement();
        let expected = if iso == Isolation::ReadCommitted {
            20
        } else {
            10
        };
        assert_eq!(f.get(&mut reader, 0), Some(expected), "{iso:?}");
        // A locking read sees the newest committed version at any level.
        assert_eq!(
            value(
                &f.table
                    .get(&mut reader, &pk(0), LockRead::Shared)
                    .unwrap()
                    .unwrap()
            ),
            20
        );
    }
}

/// Phantoms: consistent reads under RR never see rows committed later;
/// locking reads under RR lock the range's gaps so an insert must wait;
/// under RC the insert goes through and the next statement sees it.
#[test]
fn phantoms_prevented_under_repeatable_read() {
    for iso in LEVELS {
        let f = fresh();
        f.seed(5, 1); // keys 0..5
        let mut reader = f.begin(iso);
        reader.start_statement();
        assert_eq!(f.count(&mut reader, LockRead::None), 5);
        let mut writer = f.begin(iso);
        f.table.insert(&mut writer, &pk(7), &row(7, 7, 1)).unwrap();
        writer.commit().unwrap();
        reader.start_statement();
        let seen = f.count(&mut reader, LockRead::None);
        assert_eq!(
            seen,
            if iso == Isolation::RepeatableRead {
                5
            } else {
                6
            },
            "{iso:?}"
        );

        // Locking read of keys 5..=8 (only 7 exists), then another
        // transaction inserts 6, into a gap the read covered.
        reader.start_statement();
        let mut scan = f.table.scan(
            Bound::Included(pk(5)),
            Bound::Included(pk(8)),
            Direction::Forward,
            LockRead::Exclusive,
        );
        let mut locked = 0;
        while scan.next(&mut reader).unwrap().is_some() {
            locked += 1;
        }
        assert_eq!(locked, 1, "only key 7 is in 5..=8");
        let mut inserter = f.begin(iso);
        inserter.lock_wait_timeout = Duration::from_millis(200);
        let r = f.table.insert(&mut inserter, &pk(6), &row(6, 6, 1));
        if iso == Isolation::RepeatableRead {
            assert!(
                matches!(r, Err(TrxError::Lock(LockError::Timeout))),
                "{iso:?}: insert into a locked gap must wait, got {r:?}"
            );
            assert_eq!(
                r.unwrap_err().mysql_code(),
                Some(1205),
                "a lock wait timeout maps to MySQL's 1205"
            );
        } else {
            r.unwrap();
        }
        inserter.rollback().unwrap();
        reader.commit().unwrap();
    }
}

/// Lost update: InnoDB lets a read-then-write on a consistent read lose an
/// update at both levels; a locking read (`FOR UPDATE`) prevents it.
#[test]
fn lost_update_as_innodb() {
    for iso in LEVELS {
        for locking in [false, true] {
            let f = Arc::new(fresh());
            f.seed(1, 10);
            let lock = if locking {
                LockRead::Exclusive
            } else {
                LockRead::None
            };
            let mut t1 = f.begin(iso);
            let mut t2 = f.begin(iso);
            let v1 = value(&f.table.get(&mut t1, &pk(0), lock).unwrap().unwrap());
            let f2 = f.clone();
            let second = std::thread::spawn(move || {
                let v2 = value(&f2.table.get(&mut t2, &pk(0), lock).unwrap().unwrap());
                f2.table
                    .update(&mut t2, &pk(0), &row(0, 0, v2 + 1))
                    .unwrap();
                t2.commit().unwrap();
            });
            std::thread::sleep(Duration::from_millis(50));
            f.table.update(&mut t1, &pk(0), &row(0, 0, v1 + 1)).unwrap();
            t1.commit().unwrap();
            second.join().unwrap();
            let mut check = f.begin(iso);
            let expected = if locking { 12 } else { 11 };
            assert_eq!(
                f.get(&mut check, 0),
                Some(expected),
                "{iso:?} locking={locking}"
            );
        }
    }
}

/// Write skew: permitted with consistent reads (both commit); with shared
/// locking reads the two transactions deadlock and exactly one survives.
#[test]
fn write_skew_as_innodb() {
    for iso in LEVELS {
        let f = fresh();
        f.seed(2, 1);
        let mut t1 = f.begin(iso);
        let mut t2 = f.begin(iso);
        let total = |t: &mut Trx| f.get(t, 0).unwrap() + f.get(t, 1).unwrap();
        assert_eq!(total(&mut t1), 2);
        assert_eq!(total(&mut t2), 2);
        f.put(&mut t1, 0, 0);
        f.put(&mut t2, 1, 0);
        t1.commit().unwrap();
        t2.commit().unwrap();
        let mut check = f.begin(iso);
        assert_eq!(total(&mut check), 0, "{iso:?}: InnoDB permits write skew");
    }
    let f = Arc::new(fresh());
    f.seed(2, 1);
    let mut t1 = f.begin(Isolation::RepeatableRead);
    let mut t2 = f.begin(Isolation::RepeatableRead);
    for t in [&mut t1, &mut t2] {
        for n in 0..2 {
            f.table.get(t, &pk(n), LockRead::Shared).unwrap();
        }
    }
    let f2 = f.clone();
    let first = std::thread::spawn(move || {
        let r = f2.table.update(&mut t1, &pk(0), &row(0, 0, 0));
        (r.map_err(|e| e.mysql_code()), t1)
    });
    std::thread::sleep(Duration::from_millis(100));
    let second = f.table.update(&mut t2, &pk(1), &row(1, 1, 0));
    assert!(
        matches!(second, Err(TrxError::Lock(LockError::Deadlock))),
        "the second writer closes the cycle: {second:?}"
    );
    t2.rollback().unwrap();
    let (r, t1) = first.join().unwrap();
    assert_eq!(r, Ok(true));
    t1.commit().unwrap();
}

/// Two transactions locking in opposite order: exactly one gets the
/// deadlock error (1213) at once, the other completes.
#[test]
fn deadlock_in_opposite_order() {
    let f = Arc::new(fresh());
    f.seed(2, 0);
    let mut a = f.begin(Isolation::RepeatableRead);
    let mut b = f.begin(Isolation::RepeatableRead);
    a.lock_wait_timeout = Duration::from_secs(30);
    b.lock_wait_timeout = Duration::from_secs(30);
    f.put(&mut a, 0, 1);
    f.put(&mut b, 1, 2);
    let f2 = f.clone();
    let waiter = std::thread::spawn(move || {
        f2.put(&mut a, 1, 1);
        a.commit().unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    // 1213 (deadlock), not 1205 after the 30 s wait: detected at once.
    let err = f.table.update(&mut b, &pk(0), &row(0, 0, 2)).unwrap_err();
    assert_eq!(err.mysql_code(), Some(1213));
    b.rollback().unwrap();
    waiter.join().unwrap();
    let mut check = f.begin(Isolation::RepeatableRead);
    assert_eq!(
        (f.get(&mut check, 0), f.get(&mut check, 1)),
        (Some(1), Some(1))
    );
    assert_eq!(f.sys.stats().locks, 0);
}

/// Many threads insert the same primary key and the same unique code:
/// exactly one wins each race, whatever the interleaving.
#[test]
fn unique_keys_hold_under_concurrency() {
    for round in 0..8u32 {
        let f = Arc::new(fresh());
        let wins = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..6u32)
            .map(|i| {
                let (f, wins) = (f.clone(), wins.clone());
                std::thread::spawn(move || {
                    let mut t = f.begin(Isolation::RepeatableRead);
                    // Same pk for all in even rounds; distinct pks but the
                    // same unique code in odd rounds.
                    let key = if round % 2 == 0 { 1 } else { 100 + i };
                    match f.table.insert(&mut t, &pk(key), &row(1, 7, 1)) {
                        Ok(()) => {
                            if (i + round) % 3 == 0 {
                                t.rollback().unwrap();
                            } else {
                                wins.fetch_add(1, Ordering::SeqCst);
                                t.commit().unwrap();
                            }
                        }
                        Err(TrxError::Duplicate { .. })
                        | Err(TrxError::Lock(LockError::Deadlock)) => t.rollback().unwrap(),
                        Err(e) => panic!("{e}"),
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut check = f.begin(Isolation::RepeatableRead);
        let rows = f.count(&mut check, LockRead::None);
        assert_eq!(rows as u64, wins.load(Ordering::SeqCst), "round {round}");
        assert!(rows <= 1, "round {round}: {rows} rows share a unique key");
    }
}

/// A failed statement undoes only itself; rollback to a savepoint undoes
/// what followed it; a dropped transaction rolls back and frees its locks.
#[test]
fn statement_savepoint_and_vanished_session_rollback() {
    let f = fresh();
    f.seed(3, 5);
    let mut t = f.begin(Isolation::RepeatableRead);
    f.put(&mut t, 0, 6);
    let stmt = t.start_statement();
    f.put(&mut t, 1, 7);
    // The statement then hits a duplicate: it alone is undone.
    let dup = f.table.insert(&mut t, &pk(2), &row(2, 2, 0)).unwrap_err();
    assert_eq!(dup.mysql_code(), Some(1062));
    t.rollback_to(stmt).unwrap();
    assert_eq!((f.get(&mut t, 0), f.get(&mut t, 1)), (Some(6), Some(5)));
    let sp = t.savepoint();
    f.table.delete(&mut t, &pk(2)).unwrap();
    f.table.insert(&mut t, &pk(9), &row(9, 9, 9)).unwrap();
    f.table.update(&mut t, &pk(0), &row(5, 0, 60)).unwrap();
    t.rollback_to(sp).unwrap();
    assert_eq!(f.get(&mut t, 2), Some(5));
    assert_eq!(f.get(&mut t, 9), None);
    assert_eq!(f.get(&mut t, 0), Some(6));
    // Secondary indexes agree after the partial rollback.
    let mut by_group = f.table.scan_index(
        0,
        Bound::Included(5u32.to_be_bytes().to_vec()),
        Bound::Included(5u32.to_be_bytes().to_vec()),
        Direction::Forward,
        LockRead::None,
    );
    assert!(
        by_group.next(&mut t).unwrap().is_none(),
        "group 5 was rolled back"
    );
    drop(t); // the session vanished
    assert_eq!(f.sys.stats().locks, 0, "nothing keeps its locks");
    assert_eq!(f.sys.stats().active, 0);
    let mut check = f.begin(Isolation::RepeatableRead);
    assert_eq!(f.get(&mut check, 0), Some(5));
}

/// Secondary-index reads see, through the clustered record, the version
/// their view sees; an update that keeps the key does not touch the index.
#[test]
fn secondary_reads_follow_versions() {
    let f = fresh();
    f.seed(1, 1); // row 0 in group 0
    let group = |g: u32| g.to_be_bytes().to_vec();
    let rows_in = |f: &Fixture, t: &mut Trx, g: u32, lock: LockRead| {
        let mut scan = f.table.scan_index(
            0,
            Bound::Included(group(g)),
            Bound::Included(group(g)),
            Direction::Forward,
            lock,
        );
        let mut out = Vec::new();
        while let Some((k, r)) = scan.next(t).unwrap() {
            out.push((k, value(&r)));
        }
        out
    };
    let mut old = f.begin(Isolation::RepeatableRead);
    assert_eq!(rows_in(&f, &mut old, 0, LockRead::None), vec![(pk(0), 1)]);
    let lsn_before = f.sys.engine().log().appended_lsn();
    let mut t = f.begin(Isolation::RepeatableRead);
    f.table.update(&mut t, &pk(0), &row(4, 0, 2)).unwrap(); // group 0 -> 4
    t.commit().unwrap();
    assert!(f.sys.engine().log().appended_lsn() > lsn_before);
    assert_eq!(rows_in(&f, &mut old, 0, LockRead::None), vec![(pk(0), 1)]);
    assert_eq!(rows_in(&f, &mut old, 4, LockRead::None), vec![]);
    let mut new = f.begin(Isolation::RepeatableRead);
    assert_eq!(rows_in(&f, &mut new, 0, LockRead::None), vec![]);
    assert_eq!(rows_in(&f, &mut new, 4, LockRead::None), vec![(pk(0), 2)]);
    assert_eq!(rows_in(&f, &mut new, 4, LockRead::Shared), vec![(pk(0), 2)]);
    new.commit().unwrap(); // its shared locks would block the next writer
                           // Same group, new value: the by_group tree is not written.
    let root = f.table.secondaries[0].tree.root;
    let before = crate::fil::page_lsn(f.sys.engine().pool().fix(root).unwrap().bytes());
    let mut t = f.begin(Isolation::RepeatableRead);
    f.table.update(&mut t, &pk(0), &row(4, 0, 3)).unwrap();
    t.commit().unwrap();
    assert_eq!(
        crate::fil::page_lsn(f.sys.engine().pool().fix(root).unwrap().bytes()),
        before
    );
    old.commit().unwrap();
}

/// Read-only transactions take no id and stay out of the active list.
#[test]
fn read_only_transactions_take_no_id() {
    let f = fresh();
    f.seed(2, 1);
    let mut ro = f.sys.begin(Isolation::RepeatableRead, true);
    assert_eq!(f.count(&mut ro, LockRead::None), 2);
    assert_eq!(ro.id(), None);
    assert_eq!(f.sys.stats().active, 0);
    let err = f.table.insert(&mut ro, &pk(5), &row(0, 5, 0)).unwrap_err();
    assert_eq!(err.mysql_code(), Some(1792));
    ro.commit().unwrap();
}

/// After a long update workload under an old view, the history grows;
/// once the view ends, purge takes it to zero, removes delete-marked
/// records and entries, and frees undo pages that later work reuses.
#[test]
fn purge_empties_the_history_and_space_is_reused() {
    let f = fresh();
    f.seed(50, 0);
    f.sys.purge_all().unwrap(); // the seeding transaction: every view sees it
    let mut old = f.begin(Isolation::RepeatableRead);
    assert_eq!(f.sum(&mut old), 0);
    for round in 1..=40 {
        let mut t = f.begin(Isolation::RepeatableRead);
        for n in 0..50 {
            f.table
                .update(&mut t, &pk(n), &row((n + round) % 7, n, round as i64))
                .unwrap();
        }
        t.commit().unwrap();
    }
    let mut t = f.begin(Isolation::RepeatableRead);
    for n in 0..25 {
        assert!(f.table.delete(&mut t, &pk(n)).unwrap());
    }
    t.commit().unwrap();
    assert_eq!(f.sum(&mut old), 0, "the old view still sees the start");
    let done = f.sys.purge_all().unwrap();
    assert_eq!(done.logs, 0, "nothing purgeable while the old view is open");
    assert!(f.sys.stats().history_len >= 41);
    old.commit().unwrap();
    f.sys.purge_all().unwrap();
    assert_eq!(f.sys.stats().history_len, 0);
    // Physically: 25 clustered records, and secondary entries only for them.
    let count = |tree: &Tree| f.entries(tree);
    assert_eq!(count(&f.table.clustered), 25);
    assert_eq!(count(&f.table.secondaries[0].tree), 25);
    assert_eq!(count(&f.table.secondaries[1].tree), 25);
    // Undo pages went back to the free list and are reused.
    let header = |f: &Fixture| {
        let page = f
            .sys
            .engine()
            .pool()
            .fix(crate::fil::PageId::new(0, 0))
            .unwrap();
        crate::fsp::usage(page.bytes())
    };
    let (limit, free) = header(&f);
    assert!(free > 10, "undo pages freed: {free}");
    for round in 0..10 {
        let mut t = f.begin(Isolation::RepeatableRead);
        for n in 25..50 {
            f.table.update(&mut t, &pk(n), &row(1, n, round)).unwrap();
        }
        t.commit().unwrap();
        f.sys.purge_all().unwrap();
    }
    assert_eq!(
        header(&f).0,
        limit,
        "the space did not grow: freed pages were reused"
    );
}

/// The bank: threads move money between accounts in transactions that
/// abort at random; every consistent read sees the same total.
#[test]
fn bank_total_never_changes() {
    let f = Arc::new(open(
        &MemStore::new(512, 512, 5),
        true,
        TrxConfig {
            purge_threads: 2,
            ..trx_config()
        },
    ));
    const ACCOUNTS: u32 = 20;
    f.seed(ACCOUNTS, 100);
    let stop = Arc::new(AtomicBool::new(false));
    let transfers = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let (f, stop, transfers) = (f.clone(), stop.clone(), transfers.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(w + 1);
                // Bounded: every transaction takes an undo page until purge
                // frees it, and the test space is 64 MiB.
                while !stop.load(Ordering::Relaxed) && transfers.load(Ordering::Relaxed) < 2000 {
                    bank_transfer(&f, &mut rng, ACCOUNTS, &transfers);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut checks = 0;
    while Instant::now() < deadline && !workers.iter().all(|w| w.is_finished()) {
        for iso in LEVELS {
            let mut t = f.sys.begin(iso, true);
            assert_eq!(f.sum(&mut t), 100 * i64::from(ACCOUNTS));
            t.commit().unwrap();
            checks += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(transfers.load(Ordering::SeqCst) > 50, "the bank did work");
    assert!(checks > 10);
}

fn bank_transfer(f: &Fixture, rng: &mut Rng, accounts: u32, transfers: &AtomicU64) {
    let mut t = f.begin(Isolation::RepeatableRead);
    let from = rng.below(u64::from(accounts)) as u32;
    let to = rng.below(u64::from(accounts)) as u32;
    let amount = rng.below(20) as i64;
    let result = (|| -> Result<(), TrxError> {
        for (n, delta) in [(from, -amount), (to, amount)] {
            let r = f
                .table
                .get(&mut t, &pk(n), LockRead::Exclusive)?
                .expect("account");
            f.table
                .update(&mut t, &pk(n), &row(n % 10, n, value(&r) + delta))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) if rng.below(5) == 0 => t.rollback().unwrap(),
        Ok(()) => {
            t.commit().unwrap();
            transfers.fetch_add(1, Ordering::Relaxed);
        }
        Err(TrxError::Lock(_)) => t.rollback().unwrap(),
        Err(e) => panic!("{e}"),
    }
}

/// Power cuts at random writes while the bank runs (in every crash mode,
/// many seeds): after recovery, with unfinished transactions rolled back,
/// the total is right and the history and tables are consistent.
#[test]
fn bank_total_survives_power_cuts() {
    let seeds = match std::env::var("FLOE_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(seed) => seed..seed + 1,
        None => 100..112,
    };
    let config = TrxConfig {
        lock_wait_timeout: Duration::from_millis(5),
        ..trx_config()
    };
    let sweep = seeds.end - seeds.start > 1;
    let mut rolled_back = 0;
    for seed in seeds {
        let store = MemStore::new(512, 512, seed);
        let f = open(&store, true, config.clone());
        const ACCOUNTS: u32 = 12;
        f.seed(ACCOUNTS, 50);
        f.sys.engine().checkpoint().unwrap();
        let mut rng = Rng(seed);
        store.crash_after_writes(5 + rng.below(400));
        let transfers = AtomicU64::new(0);
        // Single-threaded so the cut lands anywhere in a transaction's life,
        // with other transactions left open around it.
        let mut open_trx = Vec::new();
        for _ in 0..400 {
            if store.is_crashed() {
                break;
            }
            if rng.below(4) == 0 {
                // Leave one transaction unfinished across the cut.
                let mut t = f.begin(Isolation::RepeatableRead);
                let n = rng.below(u64::from(ACCOUNTS)) as u32;
                if f.table.update(&mut t, &pk(n), &row(n % 10, n, 0)).is_ok() {
                    open_trx.push(t);
                    continue;
                }
            }
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                bank_transfer(&f, &mut rng, ACCOUNTS, &transfers)
            }));
            if r.is_err() {
                break; // the device died mid-transaction
            }
            if open_trx.len() > 3 {
                drop(open_trx.remove(0));
            }
        }
        store.crash_now();
        std::mem::forget(open_trx); // the power is gone: no rollback runs
        let Fixture { sys, table: _ } = f;
        std::mem::forget(sys);
        let mode = CrashMode::ALL[(seed % CrashMode::ALL.len() as u64) as usize];
        let store = store.restart(mode);
        let f = open(&store, false, config.clone());
        rolled_back += f.sys.stats().rolled_back_at_open;
        let mut t = f.sys.begin(Isolation::RepeatableRead, true);
        assert_eq!(
            f.sum(&mut t),
            50 * i64::from(ACCOUNTS),
            "seed {seed} {mode:?}"
        );
        assert_eq!(f.count(&mut t, LockRead::None), ACCOUNTS as usize);
        t.commit().unwrap();
        f.sys.purge_all().unwrap();
        assert_eq!(f.sys.stats().history_len, 0, "seed {seed}");
        f.table.clustered.check(f.sys.engine().pool()).unwrap();
    }
    if sweep {
        assert!(rolled_back > 0, "no cut left a transaction to roll back");
    }
}

/// A transaction that only inserts leaves no history (its undo is freed
/// at commit, as InnoDB's insert undo); an older read view still sees no
/// row, and a rolled-back insert is gone as before.
#[test]
fn insert_only_commits_leave_no_history() {
    let store = MemStore::new(512, 512, 9);
    let f = open(&store, true, trx_config());
    let mut old_view = f.begin(Isolation::RepeatableRead);
    assert_eq!(f.get(&mut old_view, 1), None);
    let before = f.sys.stats().history_len;
    for n in 1..=20 {
        let mut t = f.begin(Isolation::RepeatableRead);
        f.table.insert(&mut t, &pk(n), &row(n % 10, n, 1)).unwrap();
        t.commit().unwrap();
    }
    assert_eq!(f.sys.stats().history_len, before);
    assert_eq!(f.get(&mut old_view, 1), None, "older view sees no row");
    let mut t = f.begin(Isolation::RepeatableRead);
    f.table.insert(&mut t, &pk(99), &row(9, 99, 1)).unwrap();
    t.rollback().unwrap();
    let mut fresh = f.begin(Isolation::RepeatableRead);
    assert_eq!(f.get(&mut fresh, 1), Some(1));
    assert_eq!(f.get(&mut fresh, 99), None);
    // An update after the inserts does join the history.
    f.table.update(&mut fresh, &pk(1), &row(1, 1, 2)).unwrap();
    fresh.commit().unwrap();
    assert_eq!(f.sys.stats().history_len, before + 1);
    assert_eq!(f.get(&mut old_view, 1), None);
}

/// Unfinished transactions are rolled back at open (their inserts,
/// updates and deletes, in every index); committed history survives the
/// restart and is purged afterwards.
#[test]
fn recovery_rolls_back_the_unfinished_and_keeps_history() {
    let store = MemStore::new(512, 512, 9);
    let f = open(&store, true, trx_config());
    f.seed(10, 1);
    for round in 0..3 {
        let mut t = f.begin(Isolation::RepeatableRead);
        f.table
            .update(&mut t, &pk(round), &row(9, round, 2))
            .unwrap();
        t.commit().unwrap();
    }
    let mut open_trx = f.begin(Isolation::RepeatableRead);
    f.table
        .insert(&mut open_trx, &pk(50), &row(3, 50, 5))
        .unwrap();
    f.table
        .update(&mut open_trx, &pk(5), &row(8, 500, 6))
        .unwrap();
    f.table.delete(&mut open_trx, &pk(6)).unwrap();
    // Another commit makes the open transaction's redo durable too.
    let mut t = f.begin(Isolation::RepeatableRead);
    f.table.update(&mut t, &pk(7), &row(7, 7, 3)).unwrap();
    t.commit().unwrap();
    // Four committed updates; the seeding inserts left no history.
    let history_before = f.sys.stats().history_len;
    assert_eq!(history_before, 4);
    store.crash_now();
    std::mem::forget(open_trx);
    std::mem::forget(f);
    for mode in CrashMode::ALL {
        let f = open(&store.restart(mode), false, trx_config());
        assert_eq!(f.sys.stats().rolled_back_at_open, 1, "{mode:?}");
        assert_eq!(
            f.sys.stats().history_len,
            history_before,
            "{mode:?}: history survives"
        );
        let mut t = f.begin(Isolation::RepeatableRead);
        assert_eq!(f.get(&mut t, 50), None);
        assert_eq!(f.get(&mut t, 5), Some(1));
        assert_eq!(f.get(&mut t, 6), Some(1));
        assert_eq!(f.get(&mut t, 7), Some(3));
        let codes = |t: &mut Trx, code: u32| {
            let k = code.to_be_bytes().to_vec();
            let mut scan = f.table.scan_index(
                1,
                Bound::Included(k.clone()),
                Bound::Included(k),
                Direction::Forward,
                LockRead::None,
            );
            let mut n = 0;
            while scan.next(t).unwrap().is_some() {
                n += 1;
            }
            n
        };
        assert_eq!(
            (codes(&mut t, 5), codes(&mut t, 500), codes(&mut t, 50)),
            (1, 0, 0)
        );
        t.commit().unwrap();
        f.sys.purge_all().unwrap();
        assert_eq!(f.sys.stats().history_len, 0);
        // Ids continue above everything used before the crash.
        let mut t = f.begin(Isolation::RepeatableRead);
        f.table.insert(&mut t, &pk(60), &row(1, 60, 1)).unwrap();
        t.commit().unwrap();
    }
}

/// A deleted row's key is taken again: the insert modifies the
/// delete-marked record (old views still see the old row), a unique code
/// freed by a delete is free once the delete commits and waits while it
/// has not, and purge leaves exactly the live entries.
#[test]
fn insert_over_deleted_rows_and_freed_unique_keys() {
    let f = Arc::new(fresh());
    f.seed(3, 1); // codes 0, 1, 2
    let mut old = f.begin(Isolation::RepeatableRead);
    assert_eq!(f.get(&mut old, 1), Some(1));
    let mut t = f.begin(Isolation::RepeatableRead);
    assert!(f.table.delete(&mut t, &pk(1)).unwrap());
    t.commit().unwrap();
    let mut t = f.begin(Isolation::RepeatableRead);
    f.table.insert(&mut t, &pk(1), &row(5, 11, 9)).unwrap();
    t.commit().unwrap();
    assert_eq!(
        f.get(&mut old, 1),
        Some(1),
        "the old view still sees the old row"
    );
    let mut now = f.begin(Isolation::RepeatableRead);
    assert_eq!(f.get(&mut now, 1), Some(9));
    now.commit().unwrap();

    // Code 2 is held by row 2; its delete frees it only when committed.
    let mut deleter = f.begin(Isolation::RepeatableRead);
    assert!(f.table.delete(&mut deleter, &pk(2)).unwrap());
    let f2 = f.clone();
    let waiter = std::thread::spawn(move || {
        let mut t = f2.begin(Isolation::RepeatableRead);
        let r = f2.table.insert(&mut t, &pk(20), &row(0, 2, 1));
        (r.map_err(|e| e.to_string()), t)
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(!waiter.is_finished(), "the insert waits for the deleter");
    deleter.commit().unwrap();
    let (r, t) = waiter.join().unwrap();
    r.unwrap();
    t.commit().unwrap();
    // Code 0 is live: a duplicate.
    let mut t = f.begin(Isolation::RepeatableRead);
    let err = f.table.insert(&mut t, &pk(30), &row(0, 0, 1)).unwrap_err();
    assert_eq!(err.to_string(), "Duplicate entry for key 'by_code'");
    t.rollback().unwrap();
    old.commit().unwrap();
    f.sys.purge_all().unwrap();
    let count = |tree: &Tree| f.entries(tree);
    // Rows 0, 1 (re-inserted) and 20: three live rows, three entries each.
    assert_eq!(count(&f.table.clustered), 3);
    assert_eq!(count(&f.table.secondaries[0].tree), 3);
    assert_eq!(count(&f.table.secondaries[1].tree), 3);
}

/// A locking read through a secondary index under REPEATABLE READ locks
/// that index's gaps: a new row in the range must wait; under READ
/// COMMITTED it goes through. A consistent read never waits for locks.
#[test]
fn secondary_locking_reads_prevent_phantoms() {
    for iso in LEVELS {
        let f = fresh();
        f.seed(30, 1); // groups n % 10
        let group = |g: u32| g.to_be_bytes().to_vec();
        let mut reader = f.begin(iso);
        let mut scan = f.table.scan_index(
            0,
            Bound::Included(group(3)),
            Bound::Included(group(4)),
            Direction::Forward,
            LockRead::Exclusive,
        );
        let mut n = 0;
        while scan.next(&mut reader).unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 6, "rows of groups 3 and 4");
        let mut inserter = f.begin(iso);
        inserter.lock_wait_timeout = Duration::from_millis(200);
        // Row 33 goes to group 3 (33 % 10): into the locked range.
        let r = f.table.insert(&mut inserter, &pk(33), &row(3, 33, 1));
        match iso {
            Isolation::RepeatableRead => assert!(
                matches!(r, Err(TrxError::Lock(LockError::Timeout))),
                "phantom let in: {r:?}"
            ),
            Isolation::ReadCommitted => r.unwrap(),
        }
        inserter.rollback().unwrap();
        // Locked rows still read consistently without waiting.
        let mut plain = f.begin(iso);
        assert_eq!(f.get(&mut plain, 3), Some(1));
        plain.commit().unwrap();
        reader.commit().unwrap();
    }
}

/// A dropped table's committed history still purges: its trees are
/// forgotten before their pages are freed, and purge skips their undo.
#[test]
fn purge_after_drop_table_skips_the_freed_trees() {
    let f = fresh();
    f.seed(40, 1);
    let mut old = f.begin(Isolation::RepeatableRead);
    assert_eq!(f.count(&mut old, LockRead::None), 40);
    let mut t = f.begin(Isolation::RepeatableRead);
    for n in 0..40 {
        f.table.delete(&mut t, &pk(n)).unwrap();
    }
    t.commit().unwrap();
    let ids: Vec<u64> = std::iter::once(f.table.clustered.index_id)
        .chain(f.table.secondaries.iter().map(|s| s.tree.index_id))
        .collect();
    f.sys.forget_trees(&ids);
    let engine = f.sys.engine();
    Dictionary::open(engine)
        .unwrap()
        .drop_table(engine, "bank", "accounts")
        .unwrap();
    old.commit().unwrap();
    f.sys.purge_all().unwrap();
    assert_eq!(f.sys.stats().history_len, 0);
}

/// Covering reads (entries answered alone when their stamp is visible)
/// give exactly what reads through the clustered index give, for old and
/// new views, while entries move between keys, are deleted, re-inserted
/// and rolled back.
#[test]
fn covering_reads_agree_with_row_reads() {
    use crate::trx::IndexRead;
    let f = fresh();
    f.seed(200, 1);
    let by_group = |f: &Fixture, t: &mut Trx, covering: bool, answered: &mut [usize; 2]| {
        let mut scan = f.table.scan_index(
            0,
            Bound::Unbounded,
            Bound::Unbounded,
            Direction::Forward,
            LockRead::None,
        );
        let mut out = Vec::new();
        if !covering {
            while let Some((k, r)) = scan.next(t).unwrap() {
                out.push((r[0..4].to_vec(), k));
            }
            return out;
        }
        while let Some(read) = scan.next_covering(t).unwrap() {
            match read {
                IndexRead::Entry(key) => {
                    answered[0] += 1;
                    out.push((key[0..4].to_vec(), key[4..].to_vec()));
                }
                IndexRead::Row(k, r) => {
                    answered[1] += 1;
                    out.push((r[0..4].to_vec(), k));
                }
            }
        }
        out
    };
    let mut rng = Rng(7);
    let mut views: Vec<Trx> = Vec::new();
    let mut answered = [0usize; 2];
    for round in 0..12 {
        views.push(f.begin(Isolation::RepeatableRead));
        // Fix each new view's snapshot before the round's changes.
        let last = views.last_mut().unwrap();
        let _ = by_group(&f, last, false, &mut answered);
        let mut t = f.begin(Isolation::RepeatableRead);
        for _ in 0..20 {
            let n = rng.below(260) as u32;
            match rng.below(3) {
                0 => {
                    let _ = f.table.delete(&mut t, &pk(n)).unwrap();
                }
                _ => {
                    let r = row(rng.below(7) as u32, n, round as i64);
                    if !f.table.update(&mut t, &pk(n), &r).unwrap() {
                        f.table.insert(&mut t, &pk(n), &r).unwrap();
                    }
                }
            }
        }
        // An uncommitted writer while the views read: entries it stamped
        // must not be answered alone.
        for view in views.iter_mut() {
            let plain = by_group(&f, view, false, &mut answered);
            let covered = by_group(&f, view, true, &mut answered);
            assert_eq!(plain, covered, "round {round}, writer active");
        }
        if round % 3 == 2 {
            t.rollback().unwrap();
        } else {
            t.commit().unwrap();
        }
        for view in views.iter_mut() {
            let plain = by_group(&f, view, false, &mut answered);
            let covered = by_group(&f, view, true, &mut answered);
            assert_eq!(plain, covered, "round {round}, writer ended");
        }
    }
    // Both ways were taken: entries decided alone, and versions were built.
    assert!(answered[0] > 1000, "answered from entries: {answered:?}");
    assert!(answered[1] > 100, "answered from rows: {answered:?}");
    for view in views {
        view.commit().unwrap();
    }
}

/// Sampling reads small indexes whole (exact) and estimates large ones from
/// random dives; delete-marked records are not counted.
#[test]
fn samples_count_live_records() {
    let f = fresh();
    f.seed(100, 1);
    let small = f.table.sample(&f.sys, None, 8, 1).unwrap();
    assert!(small.exact);
    assert_eq!(small.records, 100.0);
    let mut t = f.begin(Isolation::RepeatableRead);
    for n in 100..20_000 {
        f.table.insert(&mut t, &pk(n), &row(n % 10, n, 1)).unwrap();
    }
    for n in 0..50 {
        assert!(f.table.delete(&mut t, &pk(n)).unwrap());
    }
    t.commit().unwrap();
    let big = f.table.sample(&f.sys, None, 16, 1).unwrap();
    assert!(!big.exact);
    assert_eq!(big.leaves.len(), 16);
    let live = 19_950.0;
    assert!(
        big.records > live / 2.0 && big.records < live * 2.0,
        "estimated {} of {live}",
        big.records
    );
    // Secondary 0 (by_group) has ten keys; every sampled entry is one.
    let groups = f.table.sample(&f.sys, Some(0), 16, 2).unwrap();
    assert!(groups
        .leaves
        .iter()
        .flatten()
        .all(|k| k.len() == 8 && k[0..3] == [0, 0, 0] && k[3] < 10));
    assert!(f.table.sample(&f.sys, Some(9), 4, 1).is_err());
}
