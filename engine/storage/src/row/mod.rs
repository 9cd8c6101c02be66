//! Rows in indexes (as InnoDB's `row0*`): the clustered record with its
//! hidden fields, and secondary index entries that name their row by
//! primary key, never by a physical address. An update that changes no
//! column of a secondary index does not touch that index.
//!
//! Clustered record payload (LE): `flags u8 | trx_id u64 | roll_ptr u64 |
//! row bytes`. Flag bit 0 is the delete mark (purge removes delete-marked
//! records no view needs). `trx_id` is the transaction that wrote the
//! version; `roll_ptr` points at its undo record.
//!
//! Secondary entries: key = secondary key | primary key (both
//! self-delimiting, comparing in SQL order: the SQL layer encodes them so),
//! payload = `flags u8 | trx_id u64 | primary key`. Flag bit 0 is the delete
//! mark; `trx_id` is the last transaction that inserted, marked or unmarked
//! the entry (its implicit lock, and purge's check that nobody changed the
//! entry since). Uniqueness is enforced by `trx::table`, which looks at all
//! entries with the same secondary key.
//!
//! The row bytes are the SQL layer's; storage reaches secondary keys through
//! the `RowKeys` a table is opened with.

use crate::btr::tree::TreeError;

pub const HIDDEN_BYTES: usize = 17;
const FLAG_DELETED: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TrxId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RollPtr(pub u64);

#[derive(Debug, thiserror::Error)]
pub enum RowError {
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

/// A secondary index entry's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecEntry<'a> {
    pub deleted: bool,
    pub trx_id: TrxId,
    pub pk: &'a [u8],
}

impl<'a> SecEntry<'a> {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.pk.len());
        out.push(if self.deleted { FLAG_DELETED } else { 0 });
        out.extend_from_slice(&self.trx_id.0.to_le_bytes());
        out.extend_from_slice(self.pk);
        out
    }

    pub fn parse(payload: &'a [u8], index_id: u64) -> Result<Self, RowError> {
        let Some((hidden, pk)) = payload.split_at_checked(9) else {
            return Err(RowError::Corrupt {
                index_id,
                payload_bytes: payload.len(),
            });
        };
        Ok(Self {
            deleted: hidden[0] & FLAG_DELETED != 0,
            trx_id: TrxId(u64::from_le_bytes(
                hidden[1..9].try_into().expect("8 bytes"),
            )),
            pk,
        })
    }
}

/// How storage finds secondary keys in the SQL layer's row bytes.
pub trait RowKeys: Send + Sync {
    /// Appends to `out` the key of the table's `index`-th secondary index
    /// (self-delimiting, comparing in SQL order) for `row`; returns whether
    /// a key column is NULL (uniqueness does not apply then).
    fn secondary_key(&self, index: usize, row: &[u8], out: &mut Vec<u8>) -> bool;
}
