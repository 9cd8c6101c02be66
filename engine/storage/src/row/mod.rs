//! Rows in indexes (as InnoDB's `row0*`): the clustered record with its
//! hidden fields, and secondary index entries that name their row by
//! primary key, never by a physical address. An update that changes no
//! column of a secondary index does not touch that index.
//!
//! Clustered record payload (LE): `flags u8 | trx_id u64 | roll_ptr u64 |
//! row bytes`. Flag bit 0 is the delete mark (purge, next issue, removes
//! delete-marked records). `trx_id` is the transaction that wrote the
//! version; `roll_ptr` points at its undo record (0 until undo exists).
//!
//! Secondary entries, with key bytes that are self-delimiting and compare
//! in SQL order (the row layer above encodes them so):
//! - non-unique: key = secondary key | primary key, payload = `flags u8`;
//! - unique: key = secondary key, payload = `flags u8 | primary key`, so the
//!   tree's own duplicate check (made under the leaf's X latch) enforces
//!   uniqueness with no window between check and insert; a key containing
//!   a NULL is not subject to uniqueness (SQL) and is stored as non-unique.
//!
//! Not yet atomic across indexes: a row's clustered and secondary changes
//! are separate mini-transactions until undo and rollback arrive (issue
//! "Storage engine II"); a failure between them is reported, not hidden.

use std::ops::Bound;

use crate::btr::tree::{Direction, Tree, TreeEnv, TreeError};
use crate::fil::Lsn;

pub const HIDDEN_BYTES: usize = 17;
const FLAG_DELETED: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TrxId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RollPtr(pub u64);

#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("duplicate entry for key '{index}'")]
    Duplicate { index: String },
    #[error("index {index_id}: record of {payload_bytes} bytes is shorter than its hidden fields")]
    Corrupt { index_id: u64, payload_bytes: usize },
    // Boxed: tree errors are large and rare on this path.
    #[error(transparent)]
    Tree(Box<TreeError>),
}

impl From<TreeError> for RowError {
    fn from(e: TreeError) -> Self {
        RowError::Tree(Box::new(e))
    }
}

/// A clustered record as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusteredRecord<'a> {
    pub deleted: bool,
    pub trx_id: TrxId,
    pub roll_ptr: RollPtr,
    pub row: &'a [u8],
}

impl<'a> ClusteredRecord<'a> {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(if self.deleted { FLAG_DELETED } else { 0 });
        out.extend_from_slice(&self.trx_id.0.to_le_bytes());
        out.extend_from_slice(&self.roll_ptr.0.to_le_bytes());
        out.extend_from_slice(self.row);
    }

    pub fn parse(payload: &'a [u8], index_id: u64) -> Result<Self, RowError> {
        let Some((hidden, row)) = payload.split_at_checked(HIDDEN_BYTES) else {
            return Err(RowError::Corrupt {
                index_id,
                payload_bytes: payload.len(),
            });
        };
        let mut trx = [0u8; 8];
        trx.copy_from_slice(&hidden[1..9]);
        let mut roll = [0u8; 8];
        roll.copy_from_slice(&hidden[9..17]);
        Ok(Self {
            deleted: hidden[0] & FLAG_DELETED != 0,
            trx_id: TrxId(u64::from_le_bytes(trx)),
            roll_ptr: RollPtr(u64::from_le_bytes(roll)),
            row,
        })
    }
}

/// A secondary index of a table.
#[derive(Clone, Debug)]
pub struct Secondary {
    pub name: String,
    pub tree: Tree,
    pub unique: bool,
}

/// A secondary key as the row layer encodes it.
#[derive(Clone, Copy, Debug)]
pub struct SecondaryKey<'a> {
    pub bytes: &'a [u8],
    /// A NULL in any key column: uniqueness does not apply (SQL).
    pub has_null: bool,
}

/// The clustered index and secondary indexes of one table.
#[derive(Clone, Debug)]
pub struct TableIndexes {
    pub primary_name: String,
    pub clustered: Tree,
    pub secondaries: Vec<Secondary>,
}

fn entry(index: &Secondary, key: SecondaryKey<'_>, pk: &[u8]) -> (Vec<u8>, Vec<u8>) {
    if index.unique && !key.has_null {
        let mut payload = vec![0u8];
        payload.extend_from_slice(pk);
        (key.bytes.to_vec(), payload)
    } else {
        let mut full = key.bytes.to_vec();
        full.extend_from_slice(pk);
        (full, vec![0u8])
    }
}

impl TableIndexes {
    /// Inserts a row and its secondary entries. A duplicate primary or
    /// unique key is refused before anything else changes where it can be
    /// seen first (the primary key); a duplicate in a unique secondary
    /// removes the entries this call already made.
    pub fn insert_row(
        &self,
        env: TreeEnv<'_>,
        pk: &[u8],
        row: &[u8],
        trx_id: TrxId,
        keys: &[SecondaryKey<'_>],
    ) -> Result<Lsn, RowError> {
        assert_eq!(
            keys.len(),
            self.secondaries.len(),
            "one key per secondary index"
        );
        let mut payload = Vec::with_capacity(HIDDEN_BYTES + row.len());
        ClusteredRecord {
            deleted: false,
            trx_id,
            roll_ptr: RollPtr(0),
            row,
        }
        .encode(&mut payload);
        let mut lsn = match self.clustered.insert(env, pk, &payload) {
            Ok(lsn) => lsn,
            Err(TreeError::Duplicate { .. }) => {
                return Err(RowError::Duplicate {
                    index: self.primary_name.clone(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        for (done, (index, &key)) in self.secondaries.iter().zip(keys).enumerate() {
            let (entry_key, entry_payload) = entry(index, key, pk);
            match index.tree.insert(env, &entry_key, &entry_payload) {
                Ok(l) => lsn = lsn.max(l),
                Err(TreeError::Duplicate { .. }) => {
                    for (undo_index, &undo_key) in self.secondaries.iter().zip(keys).take(done) {
                        undo_index
                            .tree
                            .delete(env, &entry(undo_index, undo_key, pk).0)?;
                    }
                    self.clustered.delete(env, pk)?;
                    return Err(RowError::Duplicate {
                        index: index.name.clone(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(lsn)
    }

    /// The row stored under `pk`.
    pub fn get_row(
        &self,
        env: TreeEnv<'_>,
        pk: &[u8],
    ) -> Result<Option<(TrxId, Vec<u8>)>, RowError> {
        let index_id = self.clustered.index_id;
        match self.clustered.get(env, pk, |payload| {
            ClusteredRecord::parse(payload, index_id).map(|r| (r.deleted, r.trx_id, r.row.to_vec()))
        })? {
            None => Ok(None),
            Some(parsed) => {
                let (deleted, trx_id, row) = parsed?;
                Ok((!deleted).then_some((trx_id, row)))
            }
        }
    }

    /// Replaces a row. Secondary entries change only for indexes whose key
    /// changed (`old_keys[i]` vs `new_keys[i]`); the others are not touched.
    pub fn update_row(
        &self,
        env: TreeEnv<'_>,
        pk: &[u8],
        row: &[u8],
        trx_id: TrxId,
        old_keys: &[SecondaryKey<'_>],
        new_keys: &[SecondaryKey<'_>],
    ) -> Result<Option<Lsn>, RowError> {
        assert_eq!(old_keys.len(), self.secondaries.len());
        assert_eq!(new_keys.len(), self.secondaries.len());
        let mut payload = Vec::with_capacity(HIDDEN_BYTES + row.len());
        ClusteredRecord {
            deleted: false,
            trx_id,
            roll_ptr: RollPtr(0),
            row,
        }
        .encode(&mut payload);
        let Some(mut lsn) = self.clustered.update(env, pk, &payload)? else {
            return Ok(None);
        };
        for ((index, old), new) in self.secondaries.iter().zip(old_keys).zip(new_keys) {
            if old.bytes == new.bytes && old.has_null == new.has_null {
                continue;
            }
            let (new_key, new_payload) = entry(index, *new, pk);
            match index.tree.insert(env, &new_key, &new_payload) {
                Ok(l) => lsn = lsn.max(l),
                Err(TreeError::Duplicate { .. }) => {
                    return Err(RowError::Duplicate {
                        index: index.name.clone(),
                    })
                }
                Err(e) => return Err(e.into()),
            }
            if let Some(l) = index.tree.delete(env, &entry(index, *old, pk).0)? {
                lsn = lsn.max(l);
            }
        }
        Ok(Some(lsn))
    }

    /// Deletes a row and its secondary entries.
    pub fn delete_row(
        &self,
        env: TreeEnv<'_>,
        pk: &[u8],
        keys: &[SecondaryKey<'_>],
    ) -> Result<Option<Lsn>, RowError> {
        let Some(mut lsn) = self.clustered.delete(env, pk)? else {
            return Ok(None);
        };
        for (index, &key) in self.secondaries.iter().zip(keys) {
            if let Some(l) = index.tree.delete(env, &entry(index, key, pk).0)? {
                lsn = lsn.max(l);
            }
        }
        Ok(Some(lsn))
    }

    /// Primary keys of the rows whose secondary key equals `key`, in order.
    pub fn lookup(
        &self,
        env: TreeEnv<'_>,
        index: usize,
        key: SecondaryKey<'_>,
    ) -> Result<Vec<Vec<u8>>, RowError> {
        let secondary = &self.secondaries[index];
        if secondary.unique && !key.has_null {
            return Ok(secondary
                .tree
                .get(env, key.bytes, |payload| {
                    payload.get(1..).map(<[u8]>::to_vec)
                })?
                .flatten()
                .into_iter()
                .collect());
        }
        let mut pks = Vec::new();
        let mut cursor = secondary.tree.scan(
            env,
            Bound::Included(key.bytes.to_vec()),
            Bound::Unbounded,
            Direction::Forward,
        );
        while let Some((entry_key, _)) = cursor.next()? {
            let Some(pk) = entry_key.strip_prefix(key.bytes) else {
                break;
            };
            pks.push(pk.to_vec());
        }
        Ok(pks)
    }
}

#[cfg(test)]
mod tests;
