//! Row locks (as InnoDB's `lock0lock`): shared and exclusive locks on index
//! records, on the gap before a record, or both (next-key), and insert
//! intentions; waits with a timeout; deadlock detection on a wait-for graph.
//!
//! Locks name records by (index id, key bytes), not by page and heap number
//! as InnoDB does: our trees move records between pages on splits, and a
//! logical name needs no lock migration then. The price is that a gap is
//! "the keys below this record and above its predecessor at the time", so
//! code that locks a gap re-reads the tree after the lock is granted
//! (`Table`'s locking scans do) and inserts check and insert under the
//! successor's shard latch (`insert_guarded`), which keeps the two atomic.
//! A gap past the last record is the supremum target (`key: None`).
//!
//! Implicit locks: a record (or secondary entry) whose last writer is an
//! active transaction is X-locked by it without a lock object. A requester
//! turns that into an explicit lock first (`implicit` argument), under the
//! owners latch, so the writer cannot end in between and leave it behind.
//!
//! Latch order: an owner's stripe of `owners` before any shard (one stripe
//! at a time), shards in index order, `waits`
//! last. A waiting thread holds none of them.
//!
//! Conflicts follow InnoDB's `lock_rec_has_to_wait`: S/S never conflict;
//! a gap-only request never waits; gap locks block only insert intentions;
//! an insert intention blocks nobody; record-only locks leave gaps free.
//!
//! The victim of a deadlock is the requester that closes the cycle; it gets
//! `LockError::Deadlock` at once (MySQL 1213) and its statement or
//! transaction is rolled back by the caller.
//!
//! Written here rather than taken from a crate: the lock table sits on the
//! write path of every row and needs InnoDB's exact conflict rules, implicit
//! locks and the gap protocol, which no general lock-manager crate has.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use crate::row::TrxId;
use floe_rt::sync::{Condvar, Mutex, MutexGuard};

const SHARDS: usize = 64;
const OWNER_STRIPES: usize = 16;

/// Owners and the targets they hold locks on.
type Held = HashMap<TrxId, HashSet<Target>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockMode {
    Shared,
    Exclusive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockKind {
    /// The record only (READ COMMITTED, unique equality matches, writes).
    Record,
    /// The gap before the record only.
    Gap,
    /// The record and the gap before it (REPEATABLE READ scans).
    NextKey,
    /// An insert waiting for a gap; never blocks anybody.
    InsertIntention,
}

/// What a lock is on: a record of an index, or the gap past its last record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub index_id: u64,
    /// `None`: the supremum (the gap after the last record).
    pub key: Option<Vec<u8>>,
}

impl Target {
    pub fn record(index_id: u64, key: &[u8]) -> Self {
        Self {
            index_id,
            key: Some(key.to_vec()),
        }
    }

    pub fn supremum(index_id: u64) -> Self {
        Self {
            index_id,
            key: None,
        }
    }

    fn shard(&self) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        (h.finish() as usize) % SHARDS
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    #[error("Lock wait timeout exceeded; try restarting transaction")]
    Timeout,
    #[error("Deadlock found when trying to get lock; try restarting transaction")]
    Deadlock,
}

impl LockError {
    /// MySQL's error number for this error.
    pub fn mysql_code(self) -> u16 {
        match self {
            LockError::Timeout => 1205,
            LockError::Deadlock => 1213,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Request {
    owner: TrxId,
    mode: LockMode,
    kind: LockKind,
    granted: bool,
}

fn is_gap_only(kind: LockKind, on_supremum: bool) -> bool {
    kind == LockKind::Gap || (on_supremum && kind == LockKind::NextKey)
}

/// Whether `req` must wait for `held` (InnoDB's `lock_rec_has_to_wait`).
fn has_to_wait(req: &Request, held: &Request, on_supremum: bool) -> bool {
    if req.owner == held.owner {
        return false;
    }
    if req.mode == LockMode::Shared && held.mode == LockMode::Shared {
        return false;
    }
    let req_ii = req.kind == LockKind::InsertIntention;
    if !req_ii && is_gap_only(req.kind, on_supremum) {
        return false;
    }
    if !req_ii && held.kind == LockKind::Gap {
        return false;
    }
    if req_ii && held.kind == LockKind::Record {
        return false;
    }
    if held.kind == LockKind::InsertIntention {
        return false;
    }
    true
}

/// Whether a granted lock of `owner` already gives what `req` asks.
fn covers(held: &Request, req: &Request) -> bool {
    if held.owner != req.owner || !held.granted {
        return false;
    }
    let mode_ok = held.mode == LockMode::Exclusive || req.mode == LockMode::Shared;
    let kind_ok = match req.kind {
        LockKind::Record => matches!(held.kind, LockKind::Record | LockKind::NextKey),
        LockKind::Gap => matches!(held.kind, LockKind::Gap | LockKind::NextKey),
        LockKind::NextKey => held.kind == LockKind::NextKey,
        LockKind::InsertIntention => false,
    };
    mode_ok && kind_ok
}

#[derive(Default)]
struct Shard {
    queues: HashMap<Target, Vec<Request>>,
}

impl Shard {
    /// Owners `req` (at `position` in its queue, or new) must wait for.
    fn blockers(&self, target: &Target, req: &Request, position: Option<usize>) -> Vec<TrxId> {
        let Some(queue) = self.queues.get(target) else {
            return Vec::new();
        };
        let on_supremum = target.key.is_none();
        let mut out: Vec<TrxId> = queue
            .iter()
            .enumerate()
            .filter(|(i, held)| {
                (held.granted || position.is_none_or(|p| *i < p))
                    && has_to_wait(req, held, on_supremum)
            })
            .map(|(_, held)| held.owner)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

pub struct LockSys {
    shards: Box<[(Mutex<Shard>, Condvar)]>,
    /// Live lock owners and the targets they hold locks on, striped by
    /// owner so grants of different transactions do not share a latch.
    owners: Box<[Mutex<Held>]>,
    /// The wait-for graph: a waiting owner -> the owners it waits for.
    waits: Mutex<HashMap<TrxId, Vec<TrxId>>>,
}

impl Default for LockSys {
    fn default() -> Self {
        Self::new()
    }
}

impl LockSys {
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| (Mutex::new(Shard::default()), Condvar::new()))
                .collect(),
            owners: (0..OWNER_STRIPES)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            waits: Mutex::new(HashMap::new()),
        }
    }

    fn owners_of(&self, owner: TrxId) -> &Mutex<Held> {
        &self.owners[(owner.0 % OWNER_STRIPES as u64) as usize]
    }

    /// Makes `owner` able to hold locks (a transaction that got its id).
    pub fn register(&self, owner: TrxId) {
        self.owners_of(owner).lock().entry(owner).or_default();
    }

    /// Turns `holder`'s implicit X record lock on `target` into an explicit
    /// one, if `holder` still holds locks at all (has not ended).
    fn convert_implicit(&self, target: &Target, holder: TrxId) {
        let mut owners = self.owners_of(holder).lock();
        let Some(held) = owners.get_mut(&holder) else {
            return;
        };
        let mut shard = self.shards[target.shard()].0.lock();
        let queue = shard.queues.entry(target.clone()).or_default();
        let want = Request {
            owner: holder,
            mode: LockMode::Exclusive,
            kind: LockKind::Record,
            granted: true,
        };
        if !queue.iter().any(|r| covers(r, &want)) {
            // Ahead of every waiter: it was held before they came.
            queue.insert(0, want);
            held.insert(target.clone());
        }
    }

    /// Acquires a lock for `owner`, waiting up to `timeout`. `implicit` is
    /// the transaction holding an implicit X lock on the record, if any.
    pub fn lock(
        &self,
        owner: TrxId,
        target: &Target,
        mode: LockMode,
        kind: LockKind,
        timeout: Duration,
        implicit: Option<TrxId>,
    ) -> Result<(), LockError> {
        if let Some(holder) = implicit.filter(|&h| h != owner) {
            self.convert_implicit(target, holder);
        }
        let req = Request {
            owner,
            mode,
            kind,
            granted: false,
        };
        let (mutex, condvar) = &self.shards[target.shard()];
        let mut shard = mutex.lock();
        if let Some(queue) = shard.queues.get(target) {
            if queue.iter().any(|r| covers(r, &req)) {
                return Ok(());
            }
        }
        if shard.blockers(target, &req, None).is_empty() {
            if kind != LockKind::InsertIntention {
                shard
                    .queues
                    .entry(target.clone())
                    .or_default()
                    .push(Request {
                        granted: true,
                        ..req
                    });
                drop(shard);
                self.note_held(owner, target);
            }
            return Ok(());
        }
        shard.queues.entry(target.clone()).or_default().push(req);
        let granted = self.wait(shard, condvar, target, req, timeout)?;
        if granted && kind != LockKind::InsertIntention {
            self.note_held(owner, target);
        }
        Ok(())
    }

    /// Waits until the request (already queued, not granted) can be granted.
    /// On success the request is granted (an insert intention is removed,
    /// as it needs no keeping); on error it is removed.
    fn wait<'a>(
        &'a self,
        mut shard: MutexGuard<'a, Shard>,
        condvar: &Condvar,
        target: &Target,
        req: Request,
        timeout: Duration,
    ) -> Result<bool, LockError> {
        let deadline = Instant::now() + timeout;
        loop {
            let position = shard.queues.get(target).and_then(|q| {
                q.iter()
                    .position(|r| r.owner == req.owner && !r.granted && r.kind == req.kind)
            });
            let Some(position) = position else {
                // Removed under us: cannot happen, but never wait forever.
                self.clear_wait(req.owner);
                return Err(LockError::Timeout);
            };
            let blockers = shard.blockers(target, &req, Some(position));
            let outcome = if blockers.is_empty() {
                Some(Ok(true))
            } else if self.closes_cycle(req.owner, blockers) {
                Some(Err(LockError::Deadlock))
            } else if Instant::now() >= deadline {
                Some(Err(LockError::Timeout))
            } else {
                None
            };
            if let Some(outcome) = outcome {
                let queue = shard
                    .queues
                    .get_mut(target)
                    .expect("queue holds the request");
                if matches!(outcome, Ok(true)) && req.kind != LockKind::InsertIntention {
                    queue[position].granted = true;
                } else {
                    queue.remove(position);
                    if queue.is_empty() {
                        shard.queues.remove(target);
                    }
                    condvar.notify_all();
                }
                drop(shard);
                self.clear_wait(req.owner);
                return outcome;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            shard = condvar
                .wait_timeout(shard, left.min(Duration::from_millis(100)))
                .0;
        }
    }

    /// Records that `owner` waits for `blockers` and tells whether that
    /// closes a cycle in the wait-for graph (then the edge is not kept).
    fn closes_cycle(&self, owner: TrxId, blockers: Vec<TrxId>) -> bool {
        let mut waits = self.waits.lock();
        let mut stack = blockers.clone();
        let mut seen = HashSet::new();
        while let Some(t) = stack.pop() {
            if t == owner {
                waits.remove(&owner);
                return true;
            }
            if seen.insert(t) {
                if let Some(next) = waits.get(&t) {
                    stack.extend_from_slice(next);
                }
            }
        }
        waits.insert(owner, blockers);
        false
    }

    fn clear_wait(&self, owner: TrxId) {
        self.waits.lock().remove(&owner);
    }

    fn note_held(&self, owner: TrxId, target: &Target) {
        self.owners_of(owner)
            .lock()
            .entry(owner)
            .or_default()
            .insert(target.clone());
    }

    /// Releases every lock of `owner` (commit or rollback) and wakes waiters.
    pub fn release_all(&self, owner: TrxId) {
        let mut owners = self.owners_of(owner).lock();
        let targets = owners.remove(&owner).unwrap_or_default();
        for target in targets {
            let (mutex, condvar) = &self.shards[target.shard()];
            let mut shard = mutex.lock();
            if let Some(queue) = shard.queues.get_mut(&target) {
                queue.retain(|r| r.owner != owner);
                if queue.is_empty() {
                    shard.queues.remove(&target);
                }
            }
            condvar.notify_all();
        }
        drop(owners);
        self.clear_wait(owner);
    }

    /// Runs `f` with `target`'s shard latched, telling it whether anybody
    /// holds or waits for a lock on the target (purge removes only records
    /// nobody has locked, and does it under this latch).
    pub fn with_unlocked<R>(&self, target: &Target, f: impl FnOnce(bool) -> R) -> R {
        let shard = self.shards[target.shard()].0.lock();
        let free = !shard.queues.contains_key(target);
        let r = f(free);
        drop(shard);
        r
    }

    /// Inserts under the gap protocol: `successor` finds the target after
    /// the new key (re-read under the latches), conflicting gap locks of
    /// others are waited for as an insert intention, `insert` runs with
    /// the successor's and the new record's shards latched, and the
    /// inserter's own gap locks on the successor are inherited by the new
    /// record as gap locks (the gap they covered is now split).
    pub fn insert_guarded<T, E: From<LockError>>(
        &self,
        owner: TrxId,
        new: &Target,
        timeout: Duration,
        mut successor: impl FnMut() -> Result<Target, E>,
        insert: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let deadline = Instant::now() + timeout;
        loop {
            let next = successor()?;
            let (a, b) = (next.shard(), new.shard());
            let (first, second) = (a.min(b), a.max(b));
            let g1 = self.shards[first].0.lock();
            let g2 = (second != first).then(|| self.shards[second].0.lock());
            if successor()? != next {
                continue;
            }
            let (next_shard, new_shard) = if a == first {
                (g1, g2)
            } else {
                (g2.expect("two shards"), Some(g1))
            };
            let ii = Request {
                owner,
                mode: LockMode::Exclusive,
                kind: LockKind::InsertIntention,
                granted: false,
            };
            if !next_shard.blockers(&next, &ii, None).is_empty() {
                drop(new_shard);
                let mut shard = next_shard;
                shard.queues.entry(next.clone()).or_default().push(ii);
                let left = deadline.saturating_duration_since(Instant::now());
                self.wait(shard, &self.shards[a].1, &next, ii, left)?;
                continue;
            }
            let result = insert()?;
            let inherited: Vec<Request> = next_shard
                .queues
                .get(&next)
                .map(|q| {
                    q.iter()
                        .filter(|r| {
                            r.owner == owner
                                && r.granted
                                && matches!(r.kind, LockKind::Gap | LockKind::NextKey)
                        })
                        .map(|r| Request {
                            kind: LockKind::Gap,
                            ..*r
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut new_shard = new_shard;
            if !inherited.is_empty() {
                let shard: &mut Shard = match new_shard.as_mut() {
                    Some(g) => g,
                    None => {
                        // Same shard: the guard we hold is the successor's.
                        let mut shard = next_shard;
                        shard
                            .queues
                            .entry(new.clone())
                            .or_default()
                            .extend(inherited);
                        drop(shard);
                        self.note_held(owner, new);
                        return Ok(result);
                    }
                };
                shard
                    .queues
                    .entry(new.clone())
                    .or_default()
                    .extend(inherited);
                drop(new_shard);
                drop(next_shard);
                self.note_held(owner, new);
            }
            return Ok(result);
        }
    }

    /// Every queue, for diagnostics.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (m, _) in self.shards.iter() {
            for (target, queue) in &m.lock().queues {
                out.push_str(&format!("{target:?}: {queue:?}\n"));
            }
        }
        out
    }

    /// Number of lock requests held or waiting (tests, status).
    pub fn count(&self) -> usize {
        self.shards
            .iter()
            .map(|(m, _)| m.lock().queues.values().map(Vec::len).sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u64) -> TrxId {
        TrxId(n)
    }

    #[test]
    fn conflict_rules_follow_innodb() {
        let req = |owner, mode, kind| Request {
            owner: t(owner),
            mode,
            kind,
            granted: false,
        };
        use LockKind::*;
        use LockMode::*;
        // S/S never conflict.
        assert!(!has_to_wait(
            &req(1, Shared, NextKey),
            &req(2, Shared, NextKey),
            false
        ));
        // X record vs S record conflict; gap-only requests never wait.
        assert!(has_to_wait(
            &req(1, Exclusive, Record),
            &req(2, Shared, Record),
            false
        ));
        assert!(!has_to_wait(
            &req(1, Exclusive, Gap),
            &req(2, Exclusive, NextKey),
            false
        ));
        // Insert intention waits for gap and next-key locks, not record locks.
        assert!(has_to_wait(
            &req(1, Exclusive, InsertIntention),
            &req(2, Shared, Gap),
            false
        ));
        assert!(has_to_wait(
            &req(1, Exclusive, InsertIntention),
            &req(2, Shared, NextKey),
            false
        ));
        assert!(!has_to_wait(
            &req(1, Exclusive, InsertIntention),
            &req(2, Exclusive, Record),
            false
        ));
        // Nobody waits for an insert intention; record locks ignore gaps.
        assert!(!has_to_wait(
            &req(1, Exclusive, NextKey),
            &req(2, Exclusive, InsertIntention),
            false
        ));
        assert!(!has_to_wait(
            &req(1, Exclusive, Record),
            &req(2, Exclusive, Gap),
            false
        ));
        // Next-key on the supremum is a gap lock.
        assert!(!has_to_wait(
            &req(1, Exclusive, NextKey),
            &req(2, Exclusive, NextKey),
            true
        ));
        // Own locks never conflict.
        assert!(!has_to_wait(
            &req(1, Exclusive, Record),
            &req(1, Exclusive, Record),
            false
        ));
    }

    #[test]
    fn opposite_order_deadlocks_exactly_one() {
        let locks = std::sync::Arc::new(LockSys::new());
        let (a, b) = (Target::record(1, b"a"), Target::record(1, b"b"));
        let long = Duration::from_secs(30);
        locks.register(t(1));
        locks.register(t(2));
        locks
            .lock(t(1), &a, LockMode::Exclusive, LockKind::Record, long, None)
            .unwrap();
        locks
            .lock(t(2), &b, LockMode::Exclusive, LockKind::Record, long, None)
            .unwrap();
        let other = {
            let locks = locks.clone();
            let a = a.clone();
            std::thread::spawn(move || {
                locks.lock(t(2), &a, LockMode::Exclusive, LockKind::Record, long, None)
            })
        };
        // Let trx 2 start waiting, then close the cycle.
        while locks.waits.lock().is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Deadlock, not the long timeout: detected when the cycle closed.
        let mine = locks.lock(t(1), &b, LockMode::Exclusive, LockKind::Record, long, None);
        assert_eq!(mine, Err(LockError::Deadlock));
        locks.release_all(t(1));
        other.join().unwrap().unwrap();
        locks.release_all(t(2));
        assert_eq!(locks.count(), 0);
    }

    #[test]
    fn waits_time_out_and_leave_nothing() {
        let locks = LockSys::new();
        let a = Target::record(1, b"a");
        locks.register(t(1));
        locks.register(t(2));
        locks
            .lock(
                t(1),
                &a,
                LockMode::Shared,
                LockKind::NextKey,
                Duration::from_secs(1),
                None,
            )
            .unwrap();
        let r = locks.lock(
            t(2),
            &a,
            LockMode::Exclusive,
            LockKind::Record,
            Duration::from_millis(50),
            None,
        );
        assert_eq!(r, Err(LockError::Timeout));
        assert_eq!(locks.count(), 1);
        // Shared locks coexist; an implicit holder becomes explicit.
        locks
            .lock(
                t(2),
                &a,
                LockMode::Shared,
                LockKind::Record,
                Duration::from_secs(1),
                None,
            )
            .unwrap();
        let b = Target::record(1, b"b");
        let r = locks.lock(
            t(2),
            &b,
            LockMode::Shared,
            LockKind::Record,
            Duration::from_millis(20),
            Some(t(1)),
        );
        assert_eq!(r, Err(LockError::Timeout), "trx 1 holds b implicitly");
        locks.release_all(t(1));
        locks.release_all(t(2));
        assert_eq!(locks.count(), 0);
        // An ended transaction's implicit lock is not resurrected.
        locks
            .lock(
                t(3),
                &b,
                LockMode::Shared,
                LockKind::Record,
                Duration::from_millis(20),
                Some(t(1)),
            )
            .unwrap();
    }
}
