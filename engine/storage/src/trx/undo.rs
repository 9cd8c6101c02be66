//! Undo logs (as InnoDB's `trx0undo`, `trx0rec`): each read-write
//! transaction appends, before it changes a clustered record, what it takes
//! to undo the change; the record's `roll_ptr` points at it, so readers
//! walk back to older versions and rollback walks the log backwards.
//! Undo pages change through mini-transactions like any page: an append
//! goes into the caller's mtr, beside the index change it undoes.
//!
//! Undo page body (page type Undo), LE:
//! ```text
//!     24  8  transaction id
//!     32  4  previous page of this log (NULL for the first)
//!     36  4  next page of this log (NULL for the last)
//!     40  2  free offset: where the next record goes
//!     42  2  record count
//!     44  4  reserved
//!     48 ..  records: bytes u16 | record
//! ```
//! Record: `type u8 | index_id u64 | pk_bytes u16 | pk` and, for update and
//! delete-mark, `old trx_id u64 | old roll_ptr u64 | old row (rest)`.
//! Type codes are persistent: 1 insert, 2 update, 3 delete-mark.
//!
//! Roll pointer: bit 48 = insert, bits 16..48 = page number, bits 0..16 =
//! offset of the record's length field in the page.

use crate::btr::node::MAX_RECORD_BYTES;
use crate::fil::{
    read_u16, read_u32, read_u64, PageId, PageNo, PageType, PAGE_BODY_END, PAGE_BODY_OFFSET,
};
use crate::fsp::{self, FspError};
use crate::log::record::Record;
use crate::mtr::{Mtr, MtrError, PageHandle};
use crate::row::{RollPtr, TrxId};
use crate::srv::SYSTEM_SPACE;

const TRX_OFFSET: usize = PAGE_BODY_OFFSET;
const PREV_OFFSET: usize = PAGE_BODY_OFFSET + 8;
const NEXT_OFFSET: usize = PAGE_BODY_OFFSET + 12;
const FREE_OFFSET: usize = PAGE_BODY_OFFSET + 16;
const COUNT_OFFSET: usize = PAGE_BODY_OFFSET + 18;
const RECORDS_START: usize = PAGE_BODY_OFFSET + 24;

const TYPE_INSERT: u8 = 1;
const TYPE_UPDATE: u8 = 2;
const TYPE_DELETE_MARK: u8 = 3;
const INSERT_FLAG: u64 = 1 << 48;

/// The largest undo record: an old row as large as any record, plus its header.
pub const MAX_UNDO_RECORD_BYTES: usize = MAX_RECORD_BYTES + 64;
const _: () = assert!(RECORDS_START + 2 + MAX_UNDO_RECORD_BYTES <= PAGE_BODY_END);

#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    #[error(transparent)]
    Mtr(Box<MtrError>),
    #[error(transparent)]
    Fsp(Box<FspError>),
    #[error("undo record of {record_bytes} bytes exceeds {MAX_UNDO_RECORD_BYTES}")]
    TooLarge { record_bytes: usize },
    #[error("undo {page} offset {offset}: {what}")]
    Corrupt {
        page: PageId,
        offset: usize,
        what: String,
    },
}

impl From<MtrError> for UndoError {
    fn from(e: MtrError) -> Self {
        UndoError::Mtr(Box::new(e))
    }
}

impl From<FspError> for UndoError {
    fn from(e: FspError) -> Self {
        UndoError::Fsp(Box::new(e))
    }
}

/// What undoes one change to a clustered record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UndoRecord {
    /// The row was inserted: undo deletes it.
    Insert { index_id: u64, pk: Vec<u8> },
    /// The row was changed: undo restores the old version.
    Update {
        index_id: u64,
        pk: Vec<u8>,
        old_trx_id: TrxId,
        old_roll_ptr: RollPtr,
        old_row: Vec<u8>,
    },
    /// The row was delete-marked: undo clears the mark (restores the version).
    DeleteMark {
        index_id: u64,
        pk: Vec<u8>,
        old_trx_id: TrxId,
        old_roll_ptr: RollPtr,
        old_row: Vec<u8>,
    },
}

impl UndoRecord {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (code, index_id, pk) = match self {
            UndoRecord::Insert { index_id, pk } => (TYPE_INSERT, index_id, pk),
            UndoRecord::Update { index_id, pk, .. } => (TYPE_UPDATE, index_id, pk),
            UndoRecord::DeleteMark { index_id, pk, .. } => (TYPE_DELETE_MARK, index_id, pk),
        };
        out.push(code);
        out.extend_from_slice(&index_id.to_le_bytes());
        out.extend_from_slice(&(pk.len() as u16).to_le_bytes());
        out.extend_from_slice(pk);
        if let UndoRecord::Update {
            old_trx_id,
            old_roll_ptr,
            old_row,
            ..
        }
        | UndoRecord::DeleteMark {
            old_trx_id,
            old_roll_ptr,
            old_row,
            ..
        } = self
        {
            out.extend_from_slice(&old_trx_id.0.to_le_bytes());
            out.extend_from_slice(&old_roll_ptr.0.to_le_bytes());
            out.extend_from_slice(old_row);
        }
    }

    pub fn parse(bytes: &[u8], page: PageId, offset: usize) -> Result<Self, UndoError> {
        let corrupt = |what: &str| UndoError::Corrupt {
            page,
            offset,
            what: what.to_string(),
        };
        let [code, rest @ ..] = bytes else {
            return Err(corrupt("empty record"));
        };
        let Some((index_id, rest)) = rest.split_first_chunk::<8>() else {
            return Err(corrupt("truncated index id"));
        };
        let Some((pk_bytes, rest)) = rest.split_first_chunk::<2>() else {
            return Err(corrupt("truncated key length"));
        };
        let Some((pk, rest)) = rest.split_at_checked(usize::from(u16::from_le_bytes(*pk_bytes)))
        else {
            return Err(corrupt("truncated key"));
        };
        let index_id = u64::from_le_bytes(*index_id);
        let pk = pk.to_vec();
        if *code == TYPE_INSERT {
            return if rest.is_empty() {
                Ok(UndoRecord::Insert { index_id, pk })
            } else {
                Err(corrupt("bytes after an insert record"))
            };
        }
        let Some((trx, rest)) = rest.split_first_chunk::<8>() else {
            return Err(corrupt("truncated old trx id"));
        };
        let Some((roll, old_row)) = rest.split_first_chunk::<8>() else {
            return Err(corrupt("truncated old roll pointer"));
        };
        let (old_trx_id, old_roll_ptr, old_row) = (
            TrxId(u64::from_le_bytes(*trx)),
            RollPtr(u64::from_le_bytes(*roll)),
            old_row.to_vec(),
        );
        match *code {
            TYPE_UPDATE => Ok(UndoRecord::Update {
                index_id,
                pk,
                old_trx_id,
                old_roll_ptr,
                old_row,
            }),
            TYPE_DELETE_MARK => Ok(UndoRecord::DeleteMark {
                index_id,
                pk,
                old_trx_id,
                old_roll_ptr,
                old_row,
            }),
            other => Err(corrupt(&format!("unknown record type {other}"))),
        }
    }

    fn is_insert(&self) -> bool {
        matches!(self, UndoRecord::Insert { .. })
    }
}

fn roll_ptr(page: PageNo, offset: usize, insert: bool) -> RollPtr {
    RollPtr((u64::from(page.0) << 16) | offset as u64 | if insert { INSERT_FLAG } else { 0 })
}

fn roll_ptr_parts(ptr: RollPtr) -> (PageNo, usize) {
    (
        PageNo(((ptr.0 >> 16) & 0xFFFF_FFFF) as u32),
        (ptr.0 & 0xFFFF) as usize,
    )
}

/// One transaction's undo log: a chain of undo pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UndoLog {
    pub trx_id: TrxId,
    pub first: PageNo,
    pub last: PageNo,
}

impl UndoLog {
    /// Starts a log with one empty page, in `mtr`.
    pub fn create(mtr: &mut Mtr<'_>, trx_id: TrxId) -> Result<Self, UndoError> {
        let page = Self::new_page(mtr, trx_id, PageNo::NULL)?;
        Ok(Self {
            trx_id,
            first: page,
            last: page,
        })
    }

    fn new_page(mtr: &mut Mtr<'_>, trx_id: TrxId, prev: PageNo) -> Result<PageNo, UndoError> {
        let page = fsp::allocate(mtr, SYSTEM_SPACE)?;
        let id = PageId {
            space: SYSTEM_SPACE,
            page,
        };
        let handle = mtr.create_page(id, PageType::Undo, 0, 0)?;
        let mut header = [0u8; 20];
        header[0..8].copy_from_slice(&trx_id.0.to_le_bytes());
        header[8..12].copy_from_slice(&prev.0.to_le_bytes());
        header[12..16].copy_from_slice(&PageNo::NULL.0.to_le_bytes());
        header[16..18].copy_from_slice(&(RECORDS_START as u16).to_le_bytes());
        mtr.apply(
            handle,
            &Record::WriteBytes {
                page: id,
                offset: TRX_OFFSET as u16,
                bytes: &header,
            },
        )?;
        Ok(page)
    }

    /// Appends `record` in `mtr` (a new page when the last one is full) and
    /// returns the roll pointer that names it.
    pub fn append(&mut self, mtr: &mut Mtr<'_>, record: &UndoRecord) -> Result<RollPtr, UndoError> {
        let mut bytes = Vec::with_capacity(64);
        record.encode(&mut bytes);
        if bytes.len() > MAX_UNDO_RECORD_BYTES {
            return Err(UndoError::TooLarge {
                record_bytes: bytes.len(),
            });
        }
        let mut id = PageId {
            space: SYSTEM_SPACE,
            page: self.last,
        };
        let mut handle = mtr.latch(id)?;
        let mut free = usize::from(read_u16(mtr.page(handle), FREE_OFFSET));
        if free + 2 + bytes.len() > PAGE_BODY_END {
            let next = Self::new_page(mtr, self.trx_id, self.last)?;
            mtr.apply(
                handle,
                &Record::WriteBytes {
                    page: id,
                    offset: NEXT_OFFSET as u16,
                    bytes: &next.0.to_le_bytes(),
                },
            )?;
            self.last = next;
            id = PageId {
                space: SYSTEM_SPACE,
                page: next,
            };
            handle = mtr.latch(id)?;
            free = RECORDS_START;
        }
        Self::check_page(mtr, handle, id, free)?;
        let mut framed = Vec::with_capacity(2 + bytes.len());
        framed.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        framed.extend_from_slice(&bytes);
        mtr.apply(
            handle,
            &Record::WriteBytes {
                page: id,
                offset: free as u16,
                bytes: &framed,
            },
        )?;
        let count = read_u16(mtr.page(handle), COUNT_OFFSET) + 1;
        let mut header = [0u8; 4];
        header[0..2].copy_from_slice(&((free + framed.len()) as u16).to_le_bytes());
        header[2..4].copy_from_slice(&count.to_le_bytes());
        mtr.apply(
            handle,
            &Record::WriteBytes {
                page: id,
                offset: FREE_OFFSET as u16,
                bytes: &header,
            },
        )?;
        Ok(roll_ptr(self.last, free, record.is_insert()))
    }

    fn check_page(
        mtr: &Mtr<'_>,
        handle: PageHandle,
        id: PageId,
        free: usize,
    ) -> Result<(), UndoError> {
        let bytes = mtr.page(handle);
        if crate::fil::page_type(bytes) != Some(PageType::Undo)
            || !(RECORDS_START..=PAGE_BODY_END).contains(&free)
        {
            return Err(UndoError::Corrupt {
                page: id,
                offset: free,
                what: "not an undo page, or its free offset is out of range".into(),
            });
        }
        Ok(())
    }

    /// The records of this log, newest first (the order rollback applies).
    pub fn records_newest_first(
        &self,
        pool: &crate::buf::BufferPool,
    ) -> Result<Vec<(RollPtr, UndoRecord)>, UndoError> {
        let mut all = Vec::new();
        let mut page_no = self.last;
        while !page_no.is_null() {
            let id = PageId {
                space: SYSTEM_SPACE,
                page: page_no,
            };
            let page = pool
                .fix(id)
                .map_err(|e| UndoError::from(MtrError::Buf(e)))?;
            let bytes = page.bytes();
            let free = usize::from(read_u16(bytes, FREE_OFFSET));
            let mut offset = RECORDS_START;
            let mut in_page = Vec::new();
            while offset < free {
                let (record, end) = read_at(bytes, id, offset, free)?;
                in_page.push((roll_ptr(page_no, offset, record.is_insert()), record));
                offset = end;
            }
            all.extend(in_page.into_iter().rev());
            page_no = PageNo(read_u32(bytes, PREV_OFFSET));
        }
        Ok(all)
    }
}

fn read_at(
    bytes: &[u8],
    id: PageId,
    offset: usize,
    free: usize,
) -> Result<(UndoRecord, usize), UndoError> {
    let corrupt = |what: &str| UndoError::Corrupt {
        page: id,
        offset,
        what: what.to_string(),
    };
    if crate::fil::page_type(bytes) != Some(PageType::Undo) {
        return Err(corrupt("not an undo page"));
    }
    if offset < RECORDS_START || offset + 2 > free || free > PAGE_BODY_END {
        return Err(corrupt("record offset outside the page's records"));
    }
    let length = usize::from(read_u16(bytes, offset));
    let end = offset + 2 + length;
    if end > free {
        return Err(corrupt("record runs past the page's records"));
    }
    Ok((UndoRecord::parse(&bytes[offset + 2..end], id, offset)?, end))
}

/// The undo record a roll pointer names (readers building old versions).
pub fn read(pool: &crate::buf::BufferPool, ptr: RollPtr) -> Result<UndoRecord, UndoError> {
    let (page_no, offset) = roll_ptr_parts(ptr);
    let id = PageId {
        space: SYSTEM_SPACE,
        page: page_no,
    };
    let page = pool
        .fix(id)
        .map_err(|e| UndoError::from(MtrError::Buf(e)))?;
    let free = usize::from(read_u16(page.bytes(), FREE_OFFSET));
    read_at(page.bytes(), id, offset, free).map(|(record, _)| record)
}

/// The transaction an undo page belongs to (recovery, purge).
pub fn page_trx(bytes: &[u8]) -> TrxId {
    TrxId(read_u64(bytes, TRX_OFFSET))
}

#[cfg(test)]
mod tests;
