//! The transaction system (as InnoDB's `trx0trx`, `trx0roll`, `trx0purge`):
//! transactions with undo, commit through the history list, rollback
//! (whole, to a savepoint, of a statement), recovery of unfinished
//! transactions at open, and purge.
//!
//! Writes follow InnoDB's order: the undo record is appended and committed
//! in its own mtr before the index change it undoes. Undoing is idempotent
//! (a clustered record is restored only while its roll pointer still names
//! the undo record; a secondary entry only while its trx id is the undoing
//! transaction's), so a crash anywhere leaves recovery able to roll back.
//!
//! Commit: one mtr clears the transaction's slot and appends its undo log to
//! the history list; the commit is durable when that mtr's LSN is (per the
//! log's flush policy). Locks are released after the commit mtr and before
//! the durability wait, as InnoDB does.
//!
//! Purge takes committed logs from the history head while their transaction
//! is below `TrxSys::oldest_view_limit` (the one bound: replicas' views will
//! join it there), removes the delete-marked records and entries they made
//! that nobody changed since and nobody holds a lock on, and frees the logs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::lock::{LockSys, Target};
use super::rseg::Rseg;
use super::undo::{self, SecOp, UndoError, UndoLog, UndoRecord};
use super::{ReadView, TrxError, TrxSys};
use crate::btr::tree::{Change, Tree, TreeEnv};
use crate::dict::Dictionary;
use crate::mtr::Mtr;
use crate::row::{ClusteredRecord, RollPtr, SecEntry, TrxId};
use crate::srv::Engine;
use floe_rt::sched::{spawn_service, SchedulerHandle, Service};
use floe_rt::sync::{Condvar, Mutex, RwLock};

/// InnoDB's isolation levels (READ UNCOMMITTED and SERIALIZABLE are served
/// as READ COMMITTED and REPEATABLE READ; the SQL layer says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Isolation {
    ReadCommitted,
    #[default]
    RepeatableRead,
}

#[derive(Clone, Debug)]
pub struct TrxConfig {
    /// `innodb_lock_wait_timeout`.
    pub lock_wait_timeout: Duration,
    /// Purge worker threads per batch; 0 runs no background purge (tests
    /// call `purge_batch` themselves).
    pub purge_threads: usize,
    /// Committed logs handled per purge batch.
    pub purge_batch_logs: usize,
    /// How long the purge coordinator sleeps when there is nothing to do.
    pub purge_idle: Duration,
    /// Where purge runs: a fiber on these cores, or a thread (None).
    pub services: Option<SchedulerHandle>,
}

impl Default for TrxConfig {
    fn default() -> Self {
        Self {
            lock_wait_timeout: Duration::from_secs(50),
            purge_threads: 1,
            purge_batch_logs: 300,
            purge_idle: Duration::from_millis(100),
            services: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrxStats {
    /// Committed undo logs not yet purged (InnoDB's history list length).
    pub history_len: u64,
    pub active: usize,
    pub locks: usize,
    pub purged_logs: u64,
    pub purged_records: u64,
    pub rolled_back_at_open: u64,
}

pub struct TrxSystem {
    engine: Engine,
    pub(crate) sys: TrxSys,
    pub(crate) rseg: Rseg,
    pub(crate) locks: LockSys,
    /// Index id -> tree, for rollback and purge (undo names indexes by id).
    trees: RwLock<HashMap<u64, Tree>>,
    pub(crate) config: TrxConfig,
    purge_lock: Mutex<()>,
    stop: AtomicBool,
    wake: (Mutex<()>, Condvar),
    purge_thread: Mutex<Option<Service>>,
    purge_error: Mutex<Option<String>>,
    purged_logs: AtomicU64,
    purged_records: AtomicU64,
    rolled_back_at_open: u64,
    /// Serialises the uniqueness check and insert of one secondary key.
    pub(crate) unique_stripes: Box<[Mutex<()>]>,
}

/// A savepoint: the number of undo records written before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Savepoint(usize);

fn map_undo(e: UndoError) -> TrxError {
    TrxError::Undo(Box::new(e))
}

impl TrxSystem {
    /// Takes over an open engine: loads ids, the slot page and the index
    /// trees of every table, rolls back every transaction that had not
    /// committed, and starts purge.
    pub fn open(engine: Engine, config: TrxConfig) -> Result<Arc<Self>, TrxError> {
        let sys = TrxSys::open(&engine)?;
        let mut mtr = Mtr::start(engine.pool(), engine.log());
        let (rseg, unfinished) = Rseg::open(&mut mtr).map_err(map_undo)?;
        mtr.commit()?;
        let mut trees = HashMap::new();
        let dict = Dictionary::open(&engine).map_err(|e| TrxError::Dict(Box::new(e)))?;
        for schema in dict
            .schemas(&engine)
            .map_err(|e| TrxError::Dict(Box::new(e)))?
        {
            for table in dict
                .tables(&engine, &schema)
                .map_err(|e| TrxError::Dict(Box::new(e)))?
            {
                for index in &table.indexes {
                    trees.insert(index.index_id, index.tree());
                }
            }
        }
        let mut system = Self {
            engine,
            sys,
            rseg,
            locks: LockSys::new(),
            trees: RwLock::new(trees),
            config,
            purge_lock: Mutex::new(()),
            stop: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
            purge_thread: Mutex::new(None),
            purge_error: Mutex::new(None),
            purged_logs: AtomicU64::new(0),
            purged_records: AtomicU64::new(0),
            rolled_back_at_open: 0,
            unique_stripes: (0..64).map(|_| Mutex::new(())).collect(),
        };
        for trx in &unfinished {
            let records = trx
                .log
                .records_newest_first(system.engine.pool())
                .map_err(map_undo)?;
            for (ptr, record) in &records {
                system.undo_one(trx.log.trx_id, *ptr, record)?;
            }
            let mut mtr = Mtr::start(system.engine.pool(), system.engine.log());
            system
                .rseg
                .discard_log(&mut mtr, trx.slot, &trx.log)
                .map_err(map_undo)?;
            mtr.commit()?;
            system.rseg.release_slot(trx.slot);
            log::info!(
                "rolled back transaction {} left unfinished ({} undo records)",
                trx.log.trx_id.0,
                records.len()
            );
        }
        system.rolled_back_at_open = unfinished.len() as u64;
        let system = Arc::new(system);
        if system.config.purge_threads > 0 {
            let worker = system.clone();
            let services = system.config.services.as_ref();
            let handle = spawn_service(services, "floe-purge", move || worker.purge_loop())
                .map_err(|e| TrxError::Thread(e.to_string()))?;
            *system.purge_thread.lock() = Some(handle);
        }
        Ok(system)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn env(&self) -> TreeEnv<'_> {
        self.engine.env()
    }

    /// Makes a table's trees known to rollback and purge (after DDL).
    pub fn register_tree(&self, tree: Tree) {
        self.trees.write().insert(tree.index_id, tree);
    }

    /// Forgets the trees of a table being dropped, after any purge batch
    /// in progress: purge and rollback skip undo of unknown indexes, so
    /// nothing touches the pages once they are freed. (The dropping code
    /// makes sure no transaction that used the table is still active.)
    pub fn forget_trees(&self, index_ids: &[u64]) {
        let _no_batch_running = self.purge_lock.lock();
        let mut trees = self.trees.write();
        for id in index_ids {
            trees.remove(id);
        }
    }

    fn tree(&self, index_id: u64) -> Option<Tree> {
        self.trees.read().get(&index_id).copied()
    }

    /// Starts a transaction. It takes an id only when it first writes or
    /// locks (read-only transactions never do, as in InnoDB 5.6+).
    pub fn begin(self: &Arc<Self>, isolation: Isolation, read_only: bool) -> Trx {
        Trx {
            sys: self.clone(),
            id: None,
            read_only,
            isolation,
            view: None,
            undo: None,
            undo_ptrs: Vec::new(),
            lock_wait_timeout: self.config.lock_wait_timeout,
            done: false,
        }
    }

    pub fn stats(&self) -> TrxStats {
        TrxStats {
            history_len: self
                .rseg
                .history(self.engine.pool())
                .map(|(len, _)| len)
                .unwrap_or(0),
            active: self.sys.active_count(),
            locks: self.locks.count(),
            purged_logs: self.purged_logs.load(Ordering::Relaxed),
            purged_records: self.purged_records.load(Ordering::Relaxed),
            rolled_back_at_open: self.rolled_back_at_open,
        }
    }

    /// The purge thread's last error, if its last batch failed.
    pub fn purge_error(&self) -> Option<String> {
        self.purge_error.lock().clone()
    }

    /// Stops purge and shuts the engine down. Fails, giving the system
    /// back, while transactions still hold it.
    pub fn shutdown(self: Arc<Self>) -> Result<(), ShutdownError> {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.1.notify_all();
        let handle = self.purge_thread.lock().take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        match Arc::try_unwrap(self) {
            Ok(system) => system
                .engine
                .shutdown()
                .map_err(|e| ShutdownError::Engine(Box::new(e))),
            Err(system) => Err(ShutdownError::Busy(system)),
        }
    }

    /// Undoes one record of transaction `trx_id` (idempotent).
    fn undo_one(&self, trx_id: TrxId, ptr: RollPtr, record: &UndoRecord) -> Result<(), TrxError> {
        let env = self.env();
        for op in record.sec_ops().iter().rev() {
            let (index_id, key) = match op {
                SecOp::Inserted { index_id, key }
                | SecOp::Marked { index_id, key, .. }
                | SecOp::Unmarked { index_id, key, .. } => (*index_id, key),
            };
            let Some(tree) = self.tree(index_id) else {
                continue;
            };
            tree.modify(env, key, |old| {
                let Some(old) = old else {
                    return Ok(Change::Keep);
                };
                let Ok(entry) = SecEntry::parse(old, index_id) else {
                    return Ok(Change::Keep);
                };
                if entry.trx_id != trx_id {
                    return Ok(Change::Keep);
                }
                Ok(match op {
                    SecOp::Inserted { .. } => Change::Delete,
                    SecOp::Marked { prev_trx, .. } if entry.deleted => Change::Put(
                        SecEntry {
                            deleted: false,
                            trx_id: *prev_trx,
                            pk: entry.pk,
                        }
                        .encode()
                        .into(),
                    ),
                    SecOp::Unmarked { prev_trx, .. } if !entry.deleted => Change::Put(
                        SecEntry {
                            deleted: true,
                            trx_id: *prev_trx,
                            pk: entry.pk,
                        }
                        .encode()
                        .into(),
                    ),
                    _ => Change::Keep,
                })
            })?;
        }
        let Some(tree) = self.tree(record.index_id()) else {
            return Ok(());
        };
        let index_id = tree.index_id;
        tree.modify(env, record.pk(), |current| {
            let Some(current) = current else {
                return Ok(Change::Keep);
            };
            let Ok(rec) = ClusteredRecord::parse(current, index_id) else {
                return Ok(Change::Keep);
            };
            // Ours only if both match: undo pages are reused, so an undo
            // record that was never applied (an insert that lost its race)
            // can share its roll pointer with another transaction's record.
            if rec.roll_ptr != ptr || rec.trx_id != trx_id {
                return Ok(Change::Keep);
            }
            Ok(match record {
                UndoRecord::Insert { .. } => Change::Delete,
                UndoRecord::Modify { old, .. } => {
                    let mut payload = Vec::with_capacity(17 + old.row.len());
                    ClusteredRecord {
                        deleted: old.deleted,
                        trx_id: old.trx_id,
                        roll_ptr: old.roll_ptr,
                        row: &old.row,
                    }
                    .encode(&mut payload);
                    Change::Put(payload.into())
                }
            })
        })?;
        Ok(())
    }

    fn purge_loop(self: Arc<Self>) {
        while !self.stop.load(Ordering::SeqCst) {
            let outcome = self.purge_batch();
            let idle = match &outcome {
                Ok(done) => done.logs == 0,
                Err(_) => true,
            };
            *self.purge_error.lock() = outcome.err().map(|e| {
                log::warn!("purge: {e}");
                e.to_string()
            });
            if idle {
                let guard = self.wake.0.lock();
                if self.stop.load(Ordering::SeqCst) {
                    break;
                }
                drop(self.wake.1.wait_timeout(guard, self.config.purge_idle).0);
            }
        }
    }

    /// One purge batch: up to `purge_batch_logs` committed logs from the
    /// history head whose transactions every view sees, their records
    /// spread over `purge_threads` workers.
    pub fn purge_batch(&self) -> Result<PurgeDone, TrxError> {
        let _one_at_a_time = self.purge_lock.lock();
        let pool = self.engine.pool();
        let limit = self.sys.oldest_view_limit();
        let (_, mut head) = self.rseg.history(pool).map_err(map_undo)?;
        let mut logs = Vec::new();
        while !head.is_null() && logs.len() < self.config.purge_batch_logs.max(1) {
            let log = UndoLog::open(pool, head).map_err(map_undo)?;
            if log.trx_id >= limit {
                break;
            }
            let next = Rseg::next_in_history(pool, head).map_err(map_undo)?;
            logs.push(log);
            head = next;
        }
        let mut work: Vec<(usize, TrxId, RollPtr, UndoRecord)> = Vec::new();
        for (n, log) in logs.iter().enumerate() {
            for (ptr, record) in log.records_newest_first(pool).map_err(map_undo)? {
                if matches!(record, UndoRecord::Modify { .. }) {
                    work.push((n, log.trx_id, ptr, record));
                }
            }
        }
        let threads = self.config.purge_threads.max(1).min(work.len().max(1));
        let blocked_at = AtomicU64::new(u64::MAX);
        let records = AtomicU64::new(0);
        let run = |chunk: &[(usize, TrxId, RollPtr, UndoRecord)]| -> Result<(), TrxError> {
            for (n, trx_id, ptr, record) in chunk {
                if self.purge_record(*trx_id, *ptr, record)? {
                    records.fetch_add(1, Ordering::Relaxed);
                } else {
                    blocked_at.fetch_min(*n as u64, Ordering::SeqCst);
                }
            }
            Ok(())
        };
        if threads <= 1 {
            run(&work)?;
        } else {
            let per = work.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = work.chunks(per).map(|c| scope.spawn(|| run(c))).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or(Err(TrxError::Thread("purge worker panicked".into())))
                    })
                    .collect::<Result<Vec<()>, _>>()
            })?;
        }
        // Logs before the first blocked one are done: unlink them in order.
        let done = (blocked_at.load(Ordering::SeqCst) as usize).min(logs.len());
        for log in &logs[..done] {
            let mut mtr = Mtr::start(pool, self.engine.log());
            self.rseg.purge_head(&mut mtr, log).map_err(map_undo)?;
            mtr.commit()?;
        }
        self.purged_logs.fetch_add(done as u64, Ordering::Relaxed);
        self.purged_records
            .fetch_add(records.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(PurgeDone {
            logs: done,
            records: records.load(Ordering::Relaxed) as usize,
        })
    }

    /// Purges one committed change. `Ok(false)`: something it would remove
    /// is locked; retry in a later batch.
    fn purge_record(
        &self,
        trx_id: TrxId,
        ptr: RollPtr,
        record: &UndoRecord,
    ) -> Result<bool, TrxError> {
        let env = self.env();
        let UndoRecord::Modify {
            index_id,
            pk,
            new_deleted,
            sec,
            ..
        } = record
        else {
            return Ok(true);
        };
        let mut all = true;
        for op in sec {
            let SecOp::Marked { index_id, key, .. } = op else {
                continue;
            };
            let Some(tree) = self.tree(*index_id) else {
                continue;
            };
            let target = Target::record(*index_id, key);
            let removed = self.locks.with_unlocked(&target, |free| {
                if !free {
                    return Ok(false);
                }
                tree.modify(env, key, |old| {
                    Ok(match old.map(|p| SecEntry::parse(p, *index_id)) {
                        Some(Ok(e)) if e.deleted && e.trx_id == trx_id => Change::Delete,
                        _ => Change::Keep,
                    })
                })
                .map(|_| true)
            })?;
            all &= removed;
        }
        if *new_deleted {
            if let Some(tree) = self.tree(*index_id) {
                let target = Target::record(*index_id, pk);
                let removed = self.locks.with_unlocked(&target, |free| {
                    if !free {
                        return Ok(false);
                    }
                    tree.modify(env, pk, |old| {
                        Ok(match old.map(|p| ClusteredRecord::parse(p, *index_id)) {
                            Some(Ok(r)) if r.deleted && r.roll_ptr == ptr && r.trx_id == trx_id => {
                                Change::Delete
                            }
                            _ => Change::Keep,
                        })
                    })
                    .map(|_| true)
                })?;
                all &= removed;
            }
        }
        Ok(all)
    }

    /// Runs purge batches until the history holds nothing purgeable.
    pub fn purge_all(&self) -> Result<PurgeDone, TrxError> {
        let mut total = PurgeDone::default();
        loop {
            let done = self.purge_batch()?;
            if done.logs == 0 {
                return Ok(total);
            }
            total.logs += done.logs;
            total.records += done.records;
        }
    }
}

#[derive(thiserror::Error)]
pub enum ShutdownError {
    #[error("transactions are still open")]
    Busy(Arc<TrxSystem>),
    #[error(transparent)]
    Engine(Box<crate::srv::EngineError>),
}

impl std::fmt::Debug for ShutdownError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeDone {
    pub logs: usize,
    pub records: usize,
}

/// One transaction. Dropping an active one rolls it back (a session that
/// vanished): nothing keeps its locks.
pub struct Trx {
    pub(crate) sys: Arc<TrxSystem>,
    id: Option<TrxId>,
    read_only: bool,
    isolation: Isolation,
    view: Option<ReadView>,
    undo: Option<(u16, UndoLog)>,
    undo_ptrs: Vec<RollPtr>,
    pub lock_wait_timeout: Duration,
    done: bool,
}

impl Trx {
    pub fn id(&self) -> Option<TrxId> {
        self.id
    }

    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Starts a statement: under READ COMMITTED its reads get a new view.
    /// Returns the savepoint a failed statement rolls back to.
    pub fn start_statement(&mut self) -> Savepoint {
        if self.isolation == Isolation::ReadCommitted {
            if let Some(view) = self.view.take() {
                self.sys.sys.close_view(view);
            }
        }
        self.savepoint()
    }

    pub fn savepoint(&self) -> Savepoint {
        Savepoint(self.undo_ptrs.len())
    }

    /// The view consistent reads use (created on first use).
    pub fn read_view(&mut self) -> &ReadView {
        if self.view.is_none() {
            self.view = Some(self.sys.sys.open_view(self.id));
        }
        self.view.as_ref().expect("just set")
    }

    /// The id, taking one on first use (writes and locking reads).
    pub(crate) fn ensure_id(&mut self) -> Result<TrxId, TrxError> {
        if let Some(id) = self.id {
            return Ok(id);
        }
        if self.read_only {
            return Err(TrxError::ReadOnly);
        }
        let id = self.sys.sys.begin_read_write(&self.sys.engine)?;
        self.sys.locks.register(id);
        if let Some(view) = self.view.as_mut() {
            view.set_creator(id);
        }
        self.id = Some(id);
        Ok(id)
    }

    /// Appends an undo record (in its own mtr, before the change it undoes).
    pub(crate) fn append_undo(&mut self, record: &UndoRecord) -> Result<RollPtr, TrxError> {
        let id = self.ensure_id()?;
        let sys = self.sys.clone();
        let mut mtr = Mtr::start(sys.engine.pool(), sys.engine.log());
        if self.undo.is_none() {
            let started = sys.rseg.start_log(&mut mtr, id).map_err(map_undo)?;
            self.undo = Some(started);
        }
        let (_, log) = self.undo.as_mut().expect("just set");
        let ptr = log.append(&mut mtr, record).map_err(map_undo)?;
        mtr.commit()?;
        self.undo_ptrs.push(ptr);
        Ok(ptr)
    }

    /// Rolls back every change made after `savepoint`; locks stay (InnoDB).
    pub fn rollback_to(&mut self, savepoint: Savepoint) -> Result<(), TrxError> {
        let Some(id) = self.id else {
            return Ok(());
        };
        while self.undo_ptrs.len() > savepoint.0 {
            let ptr = *self.undo_ptrs.last().expect("len checked");
            let record = undo::read(self.sys.engine.pool(), ptr).map_err(map_undo)?;
            self.sys.undo_one(id, ptr, &record)?;
            self.undo_ptrs.pop();
        }
        Ok(())
    }

    /// Commits: durable when this returns (per the log's flush policy).
    pub fn commit(mut self) -> Result<(), TrxError> {
        self.finish(true)
    }

    pub fn rollback(mut self) -> Result<(), TrxError> {
        self.finish(false)
    }

    fn finish(&mut self, commit: bool) -> Result<(), TrxError> {
        if self.done {
            return Ok(());
        }
        let sys = self.sys.clone();
        if let Some(view) = self.view.take() {
            sys.sys.close_view(view);
        }
        let Some(id) = self.id else {
            self.done = true;
            return Ok(());
        };
        if !commit {
            self.rollback_to(Savepoint(0))?;
        }
        let mut lsn = None;
        if let Some((slot, log)) = self.undo.take() {
            let mut mtr = Mtr::start(sys.engine.pool(), sys.engine.log());
            // A log of inserts only is not needed once committed (as
            // InnoDB's insert undo): readers never read it (an insert's
            // roll pointer says "no older version" by itself) and purge
            // has nothing to remove, so it is freed in the commit's mtr
            // instead of joining the history.
            let inserts_only = self.undo_ptrs.iter().all(|ptr| undo::is_insert(*ptr));
            let step = if commit && !inserts_only {
                sys.rseg.commit_log(&mut mtr, slot, &log)
            } else {
                sys.rseg.discard_log(&mut mtr, slot, &log)
            };
            if let Err(e) = step {
                self.undo = Some((slot, log));
                return Err(map_undo(e));
            }
            match mtr.commit() {
                Ok(l) => lsn = Some(l),
                Err(e) => {
                    self.undo = Some((slot, log));
                    return Err(e.into());
                }
            }
            sys.rseg.release_slot(slot);
        }
        self.done = true;
        sys.sys.end(id)?;
        sys.locks.release_all(id);
        if commit {
            if let Some(lsn) = lsn {
                sys.engine.commit_wait(lsn)?;
            }
        }
        Ok(())
    }
}

impl Drop for Trx {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = self.finish(false) {
                log::error!("rolling back a dropped transaction: {e}");
                // Never leave locks behind, whatever the undo error was.
                if let Some(id) = self.id {
                    self.sys.locks.release_all(id);
                    let _ = self.sys.sys.end(id);
                }
                if let Some(view) = self.view.take() {
                    self.sys.sys.close_view(view);
                }
            }
        }
    }
}
