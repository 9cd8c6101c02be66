//! Row operations inside transactions (as InnoDB's `row0ins`, `row0upd`,
//! `row0sel`, `row0vers`): inserts, updates and deletes with undo and
//! locks; consistent reads that build the version a read view sees from the
//! undo chain; locking reads with InnoDB's record, gap and next-key locks.
//!
//! - A write X-locks its clustered record (an insert holds it implicitly:
//!   the record carries the writer's id), writes undo, changes the record,
//!   then the secondary entries of the indexes whose key changed: the old
//!   entry is delete-marked, the new one inserted (or un-marked when it was
//!   there, delete-marked). Indexes whose key did not change are untouched.
//! - Deletes only mark; purge removes what no view needs.
//! - Consistent reads take no locks and never wait. A secondary-index read
//!   looks up each entry's clustered record, builds the visible version and
//!   keeps it only if that version's key is the entry's (InnoDB's check).
//! - Covering reads (`Scan::next_covering`) answer from the entry alone
//!   when its transaction id is visible to the view: every change to an
//!   entry (insert, delete-mark, un-mark) stamps the entry with the
//!   changing transaction, and a row change that moves the row off this
//!   key marks this entry, so a live entry whose stamp the view sees is
//!   the key of the row version the view sees. Otherwise the read falls
//!   back to the clustered version as above. (InnoDB decides per page with
//!   PAGE_MAX_TRX_ID; the per-entry id here decides per entry.)
//! - Locking reads (and the writes' own locks) read the newest version.
//!   Under REPEATABLE READ scans take next-key locks and lock the gap after
//!   the range, so no phantom can appear; READ COMMITTED locks records only.
//!   A lock names a key, so after each grant the scan re-reads the tree
//!   (a record inserted before the grant is found and locked too).
//! - Uniqueness: a unique secondary key is checked and inserted under a
//!   stripe latch of that key; a live duplicate, or a delete-marked one
//!   whose deleter is still active, is waited for with an S lock first.
//!
//! Known cost, left for later: an insert descends the tree four times (the
//! record, its successor before and again under the latch, the insert).

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use super::lock::{LockKind, LockMode, Target};
use super::system::{Isolation, Trx, TrxSystem};
use super::undo::{self, OldVersion, SecOp, UndoRecord};
use super::{ReadView, TrxError};
use crate::btr::tree::{Change, Direction, Tree, TreeEnv};
use crate::row::{ClusteredRecord, RollPtr, RowKeys, SecEntry, TrxId};

/// A secondary key as `RowKeys` gives it: bytes, and whether it has a NULL.
type SecKey = (Vec<u8>, bool);

/// A key and its payload or row, owned.
pub type KeyRow = (Vec<u8>, Vec<u8>);

/// Entries a scan reads from the tree per descent.
const SCAN_BATCH: usize = 64;

/// A secondary index of a table.
#[derive(Clone, Debug)]
pub struct Secondary {
    pub name: String,
    pub tree: Tree,
    pub unique: bool,
}

/// A table as the transaction layer sees it: its trees and how to find
/// secondary keys in its rows.
#[derive(Clone)]
pub struct Table {
    pub primary_name: String,
    pub clustered: Tree,
    pub secondaries: Vec<Secondary>,
    pub keys: Arc<dyn RowKeys>,
}

/// The lock a read takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockRead {
    /// A consistent read: no lock, the version the read view sees.
    None,
    /// `LOCK IN SHARE MODE` / `FOR SHARE`.
    Shared,
    /// `FOR UPDATE` (and the scans of UPDATE and DELETE).
    Exclusive,
}

/// A clustered record, owned.
#[derive(Clone, Debug)]
struct Record {
    deleted: bool,
    trx_id: TrxId,
    roll_ptr: RollPtr,
    row: Vec<u8>,
}

impl Record {
    fn parse(payload: &[u8], index_id: u64) -> Result<Self, TrxError> {
        let r = ClusteredRecord::parse(payload, index_id)?;
        Ok(Self {
            deleted: r.deleted,
            trx_id: r.trx_id,
            roll_ptr: r.roll_ptr,
            row: r.row.to_vec(),
        })
    }
}

fn encode_record(deleted: bool, trx_id: TrxId, roll_ptr: RollPtr, row: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(crate::row::HIDDEN_BYTES + row.len());
    ClusteredRecord {
        deleted,
        trx_id,
        roll_ptr,
        row,
    }
    .encode(&mut out);
    out
}

/// The smallest key above every key that starts with `key` (`None`: no
/// such key, everything above `key` starts with it).
fn prefix_successor(key: &[u8]) -> Option<Vec<u8>> {
    let mut out = key.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

fn entry_key(seckey: &[u8], pk: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(seckey.len() + pk.len());
    e.extend_from_slice(seckey);
    e.extend_from_slice(pk);
    e
}

/// The version of `rec` that `view` sees (`None`: no row for it).
fn visible_version(
    sys: &TrxSystem,
    view: &ReadView,
    rec: &ClusteredRecord<'_>,
) -> Result<Option<Vec<u8>>, TrxError> {
    if view.sees(rec.trx_id) {
        return Ok((!rec.deleted).then(|| rec.row.to_vec()));
    }
    let mut ptr = rec.roll_ptr;
    loop {
        if undo::is_insert(ptr) || ptr.0 == 0 {
            return Ok(None);
        }
        let record =
            undo::read(sys.engine().pool(), ptr).map_err(|e| TrxError::Undo(Box::new(e)))?;
        let UndoRecord::Modify { old, .. } = record else {
            return Ok(None);
        };
        if view.sees(old.trx_id) {
            return Ok((!old.deleted).then_some(old.row));
        }
        ptr = old.roll_ptr;
    }
}

/// The version of the clustered record `pk` (whose payload was just read)
/// that `view` sees. A walk down the undo chain is checked afterwards
/// against the record: if a rollback changed it meanwhile (and may have
/// freed the undo pages walked), the walk is done again.
fn consistent_version(
    sys: &TrxSystem,
    view: &ReadView,
    tree: &Tree,
    pk: &[u8],
    mut payload: Vec<u8>,
) -> Result<Option<Vec<u8>>, TrxError> {
    loop {
        let rec = ClusteredRecord::parse(&payload, tree.index_id)?;
        if view.sees(rec.trx_id) {
            return Ok((!rec.deleted).then(|| rec.row.to_vec()));
        }
        let walked = visible_version(sys, view, &rec);
        let (trx_id, roll_ptr) = (rec.trx_id, rec.roll_ptr);
        let Some(now) = read_payload(sys.env(), tree, pk)? else {
            // Gone under us: a rolled-back insert (or purge). Nothing to see.
            return Ok(None);
        };
        let now_rec = ClusteredRecord::parse(&now, tree.index_id)?;
        if now_rec.trx_id == trx_id && now_rec.roll_ptr == roll_ptr {
            return walked;
        }
        payload = now;
    }
}

fn read_payload(env: TreeEnv<'_>, tree: &Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TrxError> {
    Ok(tree.get(env, key, <[u8]>::to_vec)?)
}

fn read_record(env: TreeEnv<'_>, tree: &Tree, key: &[u8]) -> Result<Option<Record>, TrxError> {
    read_payload(env, tree, key)?
        .map(|p| Record::parse(&p, tree.index_id))
        .transpose()
}

/// The first key above `key` in `tree`, as a lock target.
fn successor(env: TreeEnv<'_>, tree: &Tree, key: &[u8]) -> Result<Target, TrxError> {
    Ok(match tree.next_key(env, key)? {
        Some(next) => Target {
            index_id: tree.index_id,
            key: Some(next),
        },
        None => Target::supremum(tree.index_id),
    })
}

/// Up to `SCAN_BATCH` entries after `from` (exclusive when `after`).
fn batch(
    env: TreeEnv<'_>,
    tree: &Tree,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    direction: Direction,
    limit: usize,
) -> Result<Vec<KeyRow>, TrxError> {
    let mut cursor = tree.scan(env, lower, upper, direction);
    let mut out = Vec::new();
    while out.len() < limit {
        match cursor.next()? {
            Some(entry) => out.push(entry),
            None => break,
        }
    }
    Ok(out)
}

impl Table {
    /// The table of a dictionary definition (first index clustered), its
    /// trees made known to rollback and purge.
    pub fn open(sys: &TrxSystem, def: &crate::dict::TableDef, keys: Arc<dyn RowKeys>) -> Self {
        for index in &def.indexes {
            sys.register_tree(index.tree());
        }
        let mut indexes = def.indexes.iter();
        let primary = indexes.next().expect("a table has a clustered index");
        Self {
            primary_name: primary.name.clone(),
            clustered: primary.tree(),
            secondaries: indexes
                .map(|i| Secondary {
                    name: i.name.clone(),
                    tree: i.tree(),
                    unique: i.kind == crate::dict::IndexKind::Unique,
                })
                .collect(),
            keys,
        }
    }

    fn secondary_keys(&self, row: &[u8]) -> Vec<SecKey> {
        (0..self.secondaries.len())
            .map(|i| {
                let mut key = Vec::new();
                let has_null = self.keys.secondary_key(i, row, &mut key);
                (key, has_null)
            })
            .collect()
    }

    fn implicit(sys: &TrxSystem, writer: TrxId, me: Option<TrxId>) -> Option<TrxId> {
        (Some(writer) != me && sys.sys.is_active(writer)).then_some(writer)
    }

    /// Locks the clustered record `pk` (if present) and returns its newest
    /// version read under the lock.
    fn lock_record(
        &self,
        trx: &mut Trx,
        pk: &[u8],
        mode: LockMode,
        kind: LockKind,
    ) -> Result<Option<Record>, TrxError> {
        let me = trx.ensure_id()?;
        let sys = trx.sys.clone();
        let env = sys.env();
        let target = Target::record(self.clustered.index_id, pk);
        loop {
            let Some(rec) = read_record(env, &self.clustered, pk)? else {
                return Ok(None);
            };
            sys.locks.lock(
                me,
                &target,
                mode,
                kind,
                trx.lock_wait_timeout,
                Self::implicit(&sys, rec.trx_id, Some(me)),
            )?;
            // Under the lock only purge can still change it (remove it).
            match read_record(env, &self.clustered, pk)? {
                Some(now) if now.trx_id == rec.trx_id || now.trx_id == me => return Ok(Some(now)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The row under `pk`: the version the read view sees (`LockRead::None`)
    /// or, locked, the newest committed one.
    pub fn get(
        &self,
        trx: &mut Trx,
        pk: &[u8],
        lock: LockRead,
    ) -> Result<Option<Vec<u8>>, TrxError> {
        let sys = trx.sys.clone();
        let env = sys.env();
        let mode = match lock {
            LockRead::None => {
                // The view first: a record read before it could be older
                // than what the view must see.
                trx.read_view();
                let Some(payload) = read_payload(env, &self.clustered, pk)? else {
                    return Ok(None);
                };
                let view = trx.read_view();
                return consistent_version(&sys, view, &self.clustered, pk, payload);
            }
            LockRead::Shared => LockMode::Shared,
            LockRead::Exclusive => LockMode::Exclusive,
        };
        let me = trx.ensure_id()?;
        let rr = trx.isolation() == Isolation::RepeatableRead;
        loop {
            // A live record: a record lock; a delete-marked one under RR:
            // next-key (an insert of this key must wait for us).
            if let Some(rec) = read_record(env, &self.clustered, pk)? {
                let kind = if rec.deleted && rr {
                    LockKind::NextKey
                } else {
                    LockKind::Record
                };
                if let Some(now) = self.lock_record(trx, pk, mode, kind)? {
                    return Ok((!now.deleted).then_some(now.row));
                }
                continue;
            }
            if !rr {
                return Ok(None);
            }
            // Absent under RR: lock the gap where it would go.
            let next = successor(env, &self.clustered, pk)?;
            sys.locks
                .lock(me, &next, mode, LockKind::Gap, trx.lock_wait_timeout, None)?;
            if successor(env, &self.clustered, pk)? == next
                && read_payload(env, &self.clustered, pk)?.is_none()
            {
                return Ok(None);
            }
        }
    }

    /// Plans the secondary-entry changes that give the row with `pk` the
    /// keys `new` instead of `old` (`None`: no entries), reading the
    /// entries' current state (the caller holds the row's X lock).
    fn plan_sec_ops(
        &self,
        env: TreeEnv<'_>,
        pk: &[u8],
        old: Option<&[SecKey]>,
        new: Option<&[SecKey]>,
    ) -> Result<Vec<(usize, SecOp)>, TrxError> {
        let mut ops = Vec::new();
        for (i, sec) in self.secondaries.iter().enumerate() {
            let old_key = old.map(|k| &k[i].0);
            let new_key = new.map(|k| &k[i].0);
            if old_key == new_key {
                continue;
            }
            let index_id = sec.tree.index_id;
            if let Some(old_key) = old_key {
                let key = entry_key(old_key, pk);
                if let Some(p) = read_payload(env, &sec.tree, &key)? {
                    let e = SecEntry::parse(&p, index_id)?;
                    if !e.deleted {
                        ops.push((
                            i,
                            SecOp::Marked {
                                index_id,
                                key,
                                prev_trx: e.trx_id,
                            },
                        ));
                    }
                }
            }
            if let Some(new_key) = new_key {
                let key = entry_key(new_key, pk);
                match read_payload(env, &sec.tree, &key)? {
                    None => ops.push((i, SecOp::Inserted { index_id, key })),
                    Some(p) => {
                        let e = SecEntry::parse(&p, index_id)?;
                        if e.deleted {
                            ops.push((
                                i,
                                SecOp::Unmarked {
                                    index_id,
                                    key,
                                    prev_trx: e.trx_id,
                                },
                            ));
                        }
                    }
                }
            }
        }
        Ok(ops)
    }

    /// Carries out planned secondary changes (marks first, so a key moving
    /// within a unique index never meets itself).
    fn apply_sec_ops(
        &self,
        trx: &mut Trx,
        pk: &[u8],
        keys: Option<&[SecKey]>,
        ops: &[(usize, SecOp)],
    ) -> Result<(), TrxError> {
        let me = trx.ensure_id()?;
        let sys = trx.sys.clone();
        let env = sys.env();
        for (i, op) in ops {
            if let SecOp::Marked { index_id, key, .. } = op {
                let index_id = *index_id;
                self.secondaries[*i].tree.modify(env, key, |old| {
                    Ok(match old.map(|p| SecEntry::parse(p, index_id)) {
                        Some(Ok(e)) if !e.deleted => Change::Put(
                            SecEntry {
                                deleted: true,
                                trx_id: me,
                                pk: e.pk,
                            }
                            .encode()
                            .into(),
                        ),
                        _ => Change::Keep,
                    })
                })?;
            }
        }
        for (i, op) in ops {
            if let SecOp::Inserted { key, .. } | SecOp::Unmarked { key, .. } = op {
                let keys = keys.expect("entries are added only for a row with keys");
                let (seckey, has_null) = &keys[*i];
                self.sec_put(trx, *i, seckey, *has_null, pk, key)?;
            }
        }
        Ok(())
    }

    /// Makes the entry `key` (= `seckey` | `pk`) of secondary `i` live for
    /// this transaction: checks uniqueness, inserts under the gap protocol
    /// or un-marks the delete-marked entry.
    fn sec_put(
        &self,
        trx: &mut Trx,
        i: usize,
        seckey: &[u8],
        has_null: bool,
        pk: &[u8],
        key: &[u8],
    ) -> Result<(), TrxError> {
        let me = trx.ensure_id()?;
        let sys = trx.sys.clone();
        let env = sys.env();
        let sec = &self.secondaries[i];
        let index_id = sec.tree.index_id;
        let unique = sec.unique && !has_null;
        loop {
            let stripe = if unique {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::hash::Hash::hash(&(index_id, seckey), &mut h);
                let n = std::hash::Hasher::finish(&h) as usize % sys.unique_stripes.len();
                Some(sys.unique_stripes[n].lock())
            } else {
                None
            };
            if unique {
                let upper = prefix_successor(seckey).map_or(Bound::Unbounded, Bound::Excluded);
                let mut wait_for = None;
                let mut cursor = sec.tree.scan(
                    env,
                    Bound::Included(seckey.to_vec()),
                    upper,
                    Direction::Forward,
                );
                while let Some((k, p)) = cursor.next()? {
                    let e = SecEntry::parse(&p, index_id)?;
                    if e.pk == pk {
                        continue;
                    }
                    let writer_active = Self::implicit(&sys, e.trx_id, Some(me)).is_some();
                    if writer_active {
                        wait_for = Some((k, e.trx_id));
                        break;
                    }
                    if !e.deleted {
                        return Err(TrxError::Duplicate {
                            index: sec.name.clone(),
                        });
                    }
                }
                if let Some((k, writer)) = wait_for {
                    drop(stripe);
                    sys.locks.lock(
                        me,
                        &Target::record(index_id, &k),
                        LockMode::Shared,
                        LockKind::Record,
                        trx.lock_wait_timeout,
                        Some(writer),
                    )?;
                    continue;
                }
            }
            let live = SecEntry {
                deleted: false,
                trx_id: me,
                pk,
            }
            .encode();
            if read_payload(env, &sec.tree, key)?.is_some() {
                // Delete-marked (or ours already): bring it back.
                sec.tree
                    .modify(env, key, |_| Ok(Change::Put(live.as_slice().into())))?;
                return Ok(());
            }
            let tree = sec.tree;
            let attempt = sys.locks.insert_guarded(
                me,
                &Target::record(index_id, key),
                Duration::ZERO,
                || successor(env, &tree, key),
                || {
                    tree.modify(env, key, |_| Ok(Change::Put(live.as_slice().into())))?;
                    Ok::<_, TrxError>(())
                },
            );
            match attempt {
                Ok(()) => return Ok(()),
                Err(TrxError::Lock(super::LockError::Timeout)) => {
                    drop(stripe);
                    let next = successor(env, &tree, key)?;
                    sys.locks.lock(
                        me,
                        &next,
                        LockMode::Exclusive,
                        LockKind::InsertIntention,
                        trx.lock_wait_timeout,
                        None,
                    )?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Inserts a row; a live row with the same primary key (or a unique
    /// secondary key) is `TrxError::Duplicate` once its writer has ended.
    pub fn insert(&self, trx: &mut Trx, pk: &[u8], row: &[u8]) -> Result<(), TrxError> {
        let me = trx.ensure_id()?;
        let sys = trx.sys.clone();
        let env = sys.env();
        let keys = self.secondary_keys(row);
        let rr = trx.isolation() == Isolation::RepeatableRead;
        let target = Target::record(self.clustered.index_id, pk);
        loop {
            match read_record(env, &self.clustered, pk)? {
                Some(rec) if !rec.deleted => {
                    if rec.trx_id == me {
                        return Err(self.duplicate());
                    }
                    // Wait for its writer: a rollback would free the key.
                    let kind = if rr {
                        LockKind::NextKey
                    } else {
                        LockKind::Record
                    };
                    sys.locks.lock(
                        me,
                        &target,
                        LockMode::Shared,
                        kind,
                        trx.lock_wait_timeout,
                        Self::implicit(&sys, rec.trx_id, Some(me)),
                    )?;
                    match read_record(env, &self.clustered, pk)? {
                        Some(now) if !now.deleted => return Err(self.duplicate()),
                        _ => continue,
                    }
                }
                Some(_) => {
                    // Delete-marked: insert by modifying it, its old
                    // version kept in undo for readers that still see it.
                    let Some(rec) =
                        self.lock_record(trx, pk, LockMode::Exclusive, LockKind::Record)?
                    else {
                        continue;
                    };
                    if !rec.deleted {
                        continue;
                    }
                    let old_keys = self.secondary_keys(&rec.row);
                    let ops = self.plan_sec_ops(env, pk, Some(&old_keys), Some(&keys))?;
                    // Entries of the old version are all marked already.
                    let ops: Vec<_> = ops
                        .into_iter()
                        .filter(|(_, op)| !matches!(op, SecOp::Marked { .. }))
                        .collect();
                    let ops = self.with_unchanged_entries(env, pk, &keys, ops)?;
                    return self.modify_row(trx, pk, rec, Some((row, &keys)), &ops);
                }
                None => {
                    let ops = self.plan_sec_ops(env, pk, None, Some(&keys))?;
                    let undo_record = UndoRecord::Insert {
                        index_id: self.clustered.index_id,
                        pk: pk.to_vec(),
                        sec: ops.iter().map(|(_, op)| op.clone()).collect(),
                    };
                    // Undo first and outside the gap latch (its first
                    // record also starts the transaction's undo log, a
                    // page allocation): only the tree insert needs the
                    // latch. Should the insert not happen (a concurrent
                    // inserter of this key won, or the wait failed), the
                    // record undoes nothing: a rollback finds no record
                    // with its roll pointer and no entry of ours.
                    let ptr = trx.append_undo(&undo_record)?;
                    let payload = encode_record(false, me, ptr, row);
                    let tree = self.clustered;
                    let inserted = sys.locks.insert_guarded(
                        me,
                        &target,
                        trx.lock_wait_timeout,
                        || successor(env, &tree, pk),
                        // The leaf's X latch makes "still absent?" and the
                        // insert one step for inserters of the same key.
                        || match tree.insert(env, pk, &payload) {
                            Ok(_) => Ok(true),
                            Err(crate::btr::tree::TreeError::Duplicate { .. }) => Ok(false),
                            Err(e) => Err(TrxError::from(e)),
                        },
                    )?;
                    if !inserted {
                        continue;
                    }
                    return self.apply_sec_ops(trx, pk, Some(&keys), &ops);
                }
            }
        }
    }

    /// After an insert over a delete-marked record: an entry whose key did
    /// not change is delete-marked too and must come back to life.
    fn with_unchanged_entries(
        &self,
        env: TreeEnv<'_>,
        pk: &[u8],
        keys: &[SecKey],
        mut ops: Vec<(usize, SecOp)>,
    ) -> Result<Vec<(usize, SecOp)>, TrxError> {
        for (i, sec) in self.secondaries.iter().enumerate() {
            if ops.iter().any(|(j, _)| *j == i) {
                continue;
            }
            let key = entry_key(&keys[i].0, pk);
            if let Some(p) = read_payload(env, &sec.tree, &key)? {
                let e = SecEntry::parse(&p, sec.tree.index_id)?;
                if e.deleted {
                    ops.push((
                        i,
                        SecOp::Unmarked {
                            index_id: sec.tree.index_id,
                            key,
                            prev_trx: e.trx_id,
                        },
                    ));
                }
            } else {
                ops.push((
                    i,
                    SecOp::Inserted {
                        index_id: sec.tree.index_id,
                        key,
                    },
                ));
            }
        }
        Ok(ops)
    }

    /// Changes an existing clustered record (X-locked by the caller) to
    /// `new` (row and its secondary keys), or delete-marks it (`None`):
    /// undo first, then the record, then the planned secondary changes.
    fn modify_row(
        &self,
        trx: &mut Trx,
        pk: &[u8],
        rec: Record,
        new: Option<(&[u8], &[SecKey])>,
        ops: &[(usize, SecOp)],
    ) -> Result<(), TrxError> {
        let me = trx.ensure_id()?;
        let sys = trx.sys.clone();
        let payload_row = new.map_or(rec.row.clone(), |(row, _)| row.to_vec());
        let ptr = trx.append_undo(&UndoRecord::Modify {
            index_id: self.clustered.index_id,
            pk: pk.to_vec(),
            old: OldVersion {
                deleted: rec.deleted,
                trx_id: rec.trx_id,
                roll_ptr: rec.roll_ptr,
                row: rec.row,
            },
            new_deleted: new.is_none(),
            sec: ops.iter().map(|(_, op)| op.clone()).collect(),
        })?;
        let payload = encode_record(new.is_none(), me, ptr, &payload_row);
        self.clustered.modify(sys.env(), pk, |_| {
            Ok(Change::Put(payload.as_slice().into()))
        })?;
        self.apply_sec_ops(trx, pk, new.map(|(_, keys)| keys), ops)
    }

    fn duplicate(&self) -> TrxError {
        TrxError::Duplicate {
            index: self.primary_name.clone(),
        }
    }

    /// Replaces the row under `pk`; `false` if there is none. Secondary
    /// indexes whose key is unchanged are not touched.
    pub fn update(&self, trx: &mut Trx, pk: &[u8], row: &[u8]) -> Result<bool, TrxError> {
        self.change_live_row(trx, pk, Some(row))
    }

    /// Delete-marks the row under `pk` and its entries; `false` if none.
    pub fn delete(&self, trx: &mut Trx, pk: &[u8]) -> Result<bool, TrxError> {
        self.change_live_row(trx, pk, None)
    }

    /// X-locks the live row under `pk` and replaces it with `new` (or
    /// delete-marks it); `false` if there is no live row.
    fn change_live_row(
        &self,
        trx: &mut Trx,
        pk: &[u8],
        new: Option<&[u8]>,
    ) -> Result<bool, TrxError> {
        let Some(rec) = self.lock_record(trx, pk, LockMode::Exclusive, LockKind::Record)? else {
            return Ok(false);
        };
        if rec.deleted {
            return Ok(false);
        }
        let sys = trx.sys.clone();
        let old_keys = self.secondary_keys(&rec.row);
        let new_keys = new.map(|row| self.secondary_keys(row));
        let ops = self.plan_sec_ops(sys.env(), pk, Some(&old_keys), new_keys.as_deref())?;
        self.modify_row(trx, pk, rec, new.zip(new_keys.as_deref()), &ops)?;
        Ok(true)
    }

    /// Rows with primary keys in (`lower`, `upper`), in `direction`.
    pub fn scan(
        &self,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        direction: Direction,
        lock: LockRead,
    ) -> Scan<'_> {
        Scan::new(self, None, lower, upper, direction, lock)
    }

    /// Rows whose key in secondary index `index` is in (`lower`, `upper`),
    /// in that index's order.
    pub fn scan_index(
        &self,
        index: usize,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        direction: Direction,
        lock: LockRead,
    ) -> Scan<'_> {
        // Entries are key | pk: map bounds on keys to bounds on entries.
        let mut empty = false;
        let lower = match lower {
            Bound::Excluded(k) => match prefix_successor(&k) {
                Some(next) => Bound::Included(next),
                None => {
                    // Nothing sorts above an all-0xFF key's entries.
                    empty = true;
                    Bound::Excluded(k)
                }
            },
            other => other,
        };
        let upper = match upper {
            Bound::Included(k) => prefix_successor(&k).map_or(Bound::Unbounded, Bound::Excluded),
            other => other,
        };
        let mut scan = Scan::new(self, Some(index), lower, upper, direction, lock);
        scan.exhausted = empty;
        scan
    }
}

/// What a covering read returns for one index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexRead {
    /// The entry key (secondary key, then primary key): the row version the
    /// view sees has exactly this key.
    Entry(Vec<u8>),
    /// The entry could not decide alone: (pk, row) of the visible version.
    Row(Vec<u8>, Vec<u8>),
}

/// The live records of an index as `Table::sample` reads them.
#[derive(Debug, Clone)]
pub struct IndexSample {
    /// Keys of live (not delete-marked) records, per leaf read; with
    /// `exact`, every leaf in key order.
    pub leaves: Vec<Vec<Vec<u8>>>,
    /// Estimated live records in the index (exact with `exact`).
    pub records: f64,
    pub exact: bool,
}

impl Table {
    /// Statistics input for index `index` (None: the clustered index):
    /// `dives` random leaves (see `Tree::sample`), delete-marked records
    /// left out. Reads pages only: no read view, no locks.
    pub fn sample(
        &self,
        sys: &TrxSystem,
        index: Option<usize>,
        dives: usize,
        seed: u64,
    ) -> Result<IndexSample, TrxError> {
        let tree = match index {
            None => self.clustered,
            Some(i) => self
                .secondaries
                .get(i)
                .map(|s| s.tree)
                .ok_or(TrxError::NoIndex { index: i })?,
        };
        let sample = tree.sample(sys.env(), dives, seed)?;
        let mut leaves = Vec::with_capacity(sample.leaves.len());
        let mut live = 0usize;
        for leaf in sample.leaves {
            let mut keys = Vec::with_capacity(leaf.len());
            for (key, payload) in leaf {
                let deleted = match index {
                    None => ClusteredRecord::parse(&payload, tree.index_id)?.deleted,
                    Some(_) => SecEntry::parse(&payload, tree.index_id)?.deleted,
                };
                if !deleted {
                    keys.push(key);
                }
            }
            live += keys.len();
            leaves.push(keys);
        }
        let records = if sample.exact || leaves.is_empty() {
            live as f64
        } else {
            live as f64 / leaves.len() as f64 * sample.leaf_pages
        };
        Ok(IndexSample {
            leaves,
            records,
            exact: sample.exact,
        })
    }
}

/// An index scan inside a transaction; `next(trx)` yields (pk, row).
pub struct Scan<'t> {
    table: &'t Table,
    index: Option<usize>,
    /// Where the next batch starts (moves as rows are returned).
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    direction: Direction,
    lock: LockRead,
    buffer: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    exhausted: bool,
    /// Backward locking scans lock forward, then hand rows out reversed.
    reversed: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl<'t> Scan<'t> {
    fn new(
        table: &'t Table,
        index: Option<usize>,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        direction: Direction,
        lock: LockRead,
    ) -> Self {
        Self {
            table,
            index,
            lower,
            upper,
            direction,
            lock,
            buffer: Default::default(),
            exhausted: false,
            reversed: None,
        }
    }

    fn tree(&self) -> Tree {
        match self.index {
            None => self.table.clustered,
            Some(i) => self.table.secondaries[i].tree,
        }
    }

    /// The next (pk, row), or `None` at the end of the range.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self, trx: &mut Trx) -> Result<Option<KeyRow>, TrxError> {
        match self.lock {
            LockRead::None => Ok(self.next_consistent(trx, false)?.map(|read| match read {
                IndexRead::Row(pk, row) => (pk, row),
                // `next_consistent(_, false)` gives rows only.
                IndexRead::Entry(key) => (key, Vec::new()),
            })),
            LockRead::Shared | LockRead::Exclusive => {
                if self.direction == Direction::Backward {
                    if self.reversed.is_none() {
                        let mut all = Vec::new();
                        self.direction = Direction::Forward;
                        while let Some(row) = self.next_locking(trx)? {
                            all.push(row);
                        }
                        self.direction = Direction::Backward;
                        self.reversed = Some(all);
                    }
                    return Ok(self.reversed.as_mut().expect("just set").pop());
                }
                self.next_locking(trx)
            }
        }
    }

    /// The next entry of a secondary-index scan, answered from the entry
    /// when it can be (see the module comment); locking scans and
    /// clustered scans always give rows.
    pub fn next_covering(&mut self, trx: &mut Trx) -> Result<Option<IndexRead>, TrxError> {
        if self.lock == LockRead::None {
            return self.next_consistent(trx, self.index.is_some());
        }
        Ok(self.next(trx)?.map(|(pk, row)| IndexRead::Row(pk, row)))
    }

    fn next_consistent(
        &mut self,
        trx: &mut Trx,
        covering: bool,
    ) -> Result<Option<IndexRead>, TrxError> {
        let sys = trx.sys.clone();
        let env = sys.env();
        let tree = self.tree();
        // The view before any read: entries read earlier could be older
        // than what it must see.
        trx.read_view();
        loop {
            if self.buffer.is_empty() {
                if self.exhausted {
                    return Ok(None);
                }
                let got = batch(
                    env,
                    &tree,
                    self.lower.clone(),
                    self.upper.clone(),
                    self.direction,
                    SCAN_BATCH,
                )?;
                if got.len() < SCAN_BATCH {
                    self.exhausted = true;
                }
                if let Some((last, _)) = got.last() {
                    match self.direction {
                        Direction::Forward => self.lower = Bound::Excluded(last.clone()),
                        Direction::Backward => self.upper = Bound::Excluded(last.clone()),
                    }
                }
                self.buffer.extend(got);
                continue;
            }
            let (key, payload) = self.buffer.pop_front().expect("not empty");
            match self.index {
                None => {
                    let view = trx.read_view();
                    if let Some(row) = consistent_version(&sys, view, &tree, &key, payload)? {
                        return Ok(Some(IndexRead::Row(key, row)));
                    }
                }
                Some(i) => {
                    let entry = SecEntry::parse(&payload, tree.index_id)?;
                    if covering && trx.read_view().sees(entry.trx_id) {
                        if entry.deleted {
                            continue;
                        }
                        return Ok(Some(IndexRead::Entry(key)));
                    }
                    let Some(clustered) = read_payload(env, &self.table.clustered, entry.pk)?
                    else {
                        continue;
                    };
                    let view = trx.read_view();
                    let Some(row) =
                        consistent_version(&sys, view, &self.table.clustered, entry.pk, clustered)?
                    else {
                        continue;
                    };
                    let mut seckey = Vec::new();
                    self.table.keys.secondary_key(i, &row, &mut seckey);
                    if key.len() == seckey.len() + entry.pk.len() && key.starts_with(&seckey) {
                        return Ok(Some(IndexRead::Row(entry.pk.to_vec(), row)));
                    }
                }
            }
        }
    }

    fn next_locking(&mut self, trx: &mut Trx) -> Result<Option<KeyRow>, TrxError> {
        if self.exhausted {
            return Ok(None);
        }
        let me = trx.ensure_id()?;
        let sys = trx.sys.clone();
        let env = sys.env();
        let tree = self.tree();
        let rr = trx.isolation() == Isolation::RepeatableRead;
        let mode = if self.lock == LockRead::Shared {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        loop {
            // The first entry after our position, ignoring the upper bound.
            let first = batch(
                env,
                &tree,
                self.lower.clone(),
                Bound::Unbounded,
                Direction::Forward,
                1,
            )?;
            let (target, entry) = match first.into_iter().next() {
                Some((k, p)) => (Target::record(tree.index_id, &k), Some((k, p))),
                None => (Target::supremum(tree.index_id), None),
            };
            let beyond = match &entry {
                None => true,
                Some((k, _)) => match &self.upper {
                    Bound::Included(u) => k > u,
                    Bound::Excluded(u) => k >= u,
                    Bound::Unbounded => false,
                },
            };
            if beyond {
                if rr {
                    // The gap after the range: no phantom can be inserted.
                    sys.locks.lock(
                        me,
                        &target,
                        mode,
                        LockKind::Gap,
                        trx.lock_wait_timeout,
                        None,
                    )?;
                    let again = batch(
                        env,
                        &tree,
                        self.lower.clone(),
                        Bound::Unbounded,
                        Direction::Forward,
                        1,
                    )?;
                    if again.first().map(|(k, _)| k) != entry.as_ref().map(|(k, _)| k) {
                        continue;
                    }
                }
                self.exhausted = true;
                return Ok(None);
            }
            let (key, payload) = entry.expect("not beyond");
            let writer = match self.index {
                None => ClusteredRecord::parse(&payload, tree.index_id)?.trx_id,
                Some(_) => SecEntry::parse(&payload, tree.index_id)?.trx_id,
            };
            let kind = if rr {
                LockKind::NextKey
            } else {
                LockKind::Record
            };
            sys.locks.lock(
                me,
                &target,
                mode,
                kind,
                trx.lock_wait_timeout,
                Table::implicit(&sys, writer, Some(me)),
            )?;
            // Re-read under the lock: something inserted before the grant
            // comes first now and is locked on the next round.
            let now = batch(
                env,
                &tree,
                self.lower.clone(),
                Bound::Unbounded,
                Direction::Forward,
                1,
            )?;
            let Some((now_key, now_payload)) = now.into_iter().next() else {
                continue;
            };
            if now_key != key {
                continue;
            }
            self.lower = Bound::Excluded(key.clone());
            match self.index {
                None => {
                    let rec = ClusteredRecord::parse(&now_payload, tree.index_id)?;
                    if rec.deleted {
                        continue;
                    }
                    return Ok(Some((key, rec.row.to_vec())));
                }
                Some(i) => {
                    let entry = SecEntry::parse(&now_payload, tree.index_id)?;
                    if entry.deleted {
                        continue;
                    }
                    let pk = entry.pk.to_vec();
                    let Some(rec) = self.table.lock_record(trx, &pk, mode, LockKind::Record)?
                    else {
                        continue;
                    };
                    if rec.deleted {
                        continue;
                    }
                    let mut seckey = Vec::new();
                    self.table.keys.secondary_key(i, &rec.row, &mut seckey);
                    if key.len() == seckey.len() + pk.len() && key.starts_with(&seckey) {
                        return Ok(Some((pk, rec.row)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
