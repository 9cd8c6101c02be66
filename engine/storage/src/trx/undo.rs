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
//!     44  4  next log in the history list (first page only; NULL)
//!     48 ..  records: bytes u16 | record
//! ```
//! Record (all LE; `bytes` = `len u16 | bytes`):
//! ```text
//! type u8 (1 insert, 2 modify) | index_id u64 | pk bytes
//! modify only: flags u8 (bit 0: old version deleted, bit 1: new version
//!              deleted) | old trx_id u64 | old roll_ptr u64 | old row bytes
//! sec_count u8 | sec_op* : kind u8 (1 inserted, 2 marked, 3 unmarked)
//!                        | index_id u64 | entry key bytes | [prev trx u64]
//! ```
//! A record names every secondary-entry change its statement makes, so
//! rollback and purge need nothing but the undo log (no row format).
//! Type codes are persistent.
//!
//! Roll pointer: bit 48 = insert, bits 16..48 = page number, bits 0..16 =
//! offset of the record's length field in the page.

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
const TYPE_MODIFY: u8 = 2;
const SEC_INSERTED: u8 = 1;
const SEC_MARKED: u8 = 2;
const SEC_UNMARKED: u8 = 3;
const HISTORY_NEXT_OFFSET: usize = PAGE_BODY_OFFSET + 20;
const INSERT_FLAG: u64 = 1 << 48;

/// The largest undo record: what fits in one undo page.
pub const MAX_UNDO_RECORD_BYTES: usize = PAGE_BODY_END - RECORDS_START - 2;
const _: () = assert!(RECORDS_START + 2 + MAX_UNDO_RECORD_BYTES <= PAGE_BODY_END);

#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    #[error(transparent)]
    Mtr(Box<MtrError>),
    #[error(transparent)]
    Fsp(Box<FspError>),
    #[error("too many concurrent read-write transactions (all {slots} transaction slots in use)")]
    NoSlot { slots: usize },
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

/// One change to a secondary index entry, and what undoes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecOp {
    /// A new entry: rollback removes it.
    Inserted { index_id: u64, key: Vec<u8> },
    /// A live entry was delete-marked: rollback clears the mark; purge
    /// removes the entry once nobody can need it.
    Marked {
        index_id: u64,
        key: Vec<u8>,
        prev_trx: TrxId,
    },
    /// A delete-marked entry came back to life: rollback marks it again.
    Unmarked {
        index_id: u64,
        key: Vec<u8>,
        prev_trx: TrxId,
    },
}

/// The version of a clustered record before a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OldVersion {
    pub deleted: bool,
    pub trx_id: TrxId,
    pub roll_ptr: RollPtr,
    pub row: Vec<u8>,
}

/// What undoes one change to a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UndoRecord {
    /// A new clustered record: rollback removes it; older views see no row.
    Insert {
        index_id: u64,
        pk: Vec<u8>,
        sec: Vec<SecOp>,
    },
    /// An existing record changed (updated, delete-marked, or an insert
    /// over a delete-marked record): rollback restores `old`.
    Modify {
        index_id: u64,
        pk: Vec<u8>,
        old: OldVersion,
        new_deleted: bool,
        sec: Vec<SecOp>,
    },
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A bounds-checked reader over one record's bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.take(2)?;
        self.take(usize::from(u16::from_le_bytes([len[0], len[1]])))
    }
}

impl UndoRecord {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (index_id, pk, sec) = match self {
            UndoRecord::Insert { index_id, pk, sec } => {
                out.push(TYPE_INSERT);
                (index_id, pk, sec)
            }
            UndoRecord::Modify {
                index_id, pk, sec, ..
            } => {
                out.push(TYPE_MODIFY);
                (index_id, pk, sec)
            }
        };
        out.extend_from_slice(&index_id.to_le_bytes());
        put_bytes(out, pk);
        if let UndoRecord::Modify {
            old, new_deleted, ..
        } = self
        {
            out.push(u8::from(old.deleted) | (u8::from(*new_deleted) << 1));
            out.extend_from_slice(&old.trx_id.0.to_le_bytes());
            out.extend_from_slice(&old.roll_ptr.0.to_le_bytes());
            put_bytes(out, &old.row);
        }
        out.push(sec.len() as u8);
        for op in sec {
            let (kind, index_id, key, prev) = match op {
                SecOp::Inserted { index_id, key } => (SEC_INSERTED, index_id, key, None),
                SecOp::Marked {
                    index_id,
                    key,
                    prev_trx,
                } => (SEC_MARKED, index_id, key, Some(prev_trx)),
                SecOp::Unmarked {
                    index_id,
                    key,
                    prev_trx,
                } => (SEC_UNMARKED, index_id, key, Some(prev_trx)),
            };
            out.push(kind);
            out.extend_from_slice(&index_id.to_le_bytes());
            put_bytes(out, key);
            if let Some(prev) = prev {
                out.extend_from_slice(&prev.0.to_le_bytes());
            }
        }
    }

    pub fn parse(bytes: &[u8], page: PageId, offset: usize) -> Result<Self, UndoError> {
        let corrupt = |what: &str| UndoError::Corrupt {
            page,
            offset,
            what: what.to_string(),
        };
        let mut r = Reader { rest: bytes };
        let code = r.u8().ok_or_else(|| corrupt("empty record"))?;
        let index_id = r.u64().ok_or_else(|| corrupt("truncated index id"))?;
        let pk = r.bytes().ok_or_else(|| corrupt("truncated key"))?.to_vec();
        let old = match code {
            TYPE_INSERT => None,
            TYPE_MODIFY => {
                let flags = r.u8().ok_or_else(|| corrupt("truncated flags"))?;
                let trx_id = TrxId(r.u64().ok_or_else(|| corrupt("truncated old trx id"))?);
                let roll_ptr = RollPtr(
                    r.u64()
                        .ok_or_else(|| corrupt("truncated old roll pointer"))?,
                );
                let row = r
                    .bytes()
                    .ok_or_else(|| corrupt("truncated old row"))?
                    .to_vec();
                Some((
                    OldVersion {
                        deleted: flags & 1 != 0,
                        trx_id,
                        roll_ptr,
                        row,
                    },
                    flags & 2 != 0,
                ))
            }
            other => return Err(corrupt(&format!("unknown record type {other}"))),
        };
        let count = r.u8().ok_or_else(|| corrupt("truncated entry count"))?;
        let mut sec = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let kind = r.u8().ok_or_else(|| corrupt("truncated entry change"))?;
            let index_id = r.u64().ok_or_else(|| corrupt("truncated entry index"))?;
            let key = r
                .bytes()
                .ok_or_else(|| corrupt("truncated entry key"))?
                .to_vec();
            sec.push(match kind {
                SEC_INSERTED => SecOp::Inserted { index_id, key },
                SEC_MARKED | SEC_UNMARKED => {
                    let prev_trx = TrxId(r.u64().ok_or_else(|| corrupt("truncated entry trx"))?);
                    if kind == SEC_MARKED {
                        SecOp::Marked {
                            index_id,
                            key,
                            prev_trx,
                        }
                    } else {
                        SecOp::Unmarked {
                            index_id,
                            key,
                            prev_trx,
                        }
                    }
                }
                other => return Err(corrupt(&format!("unknown entry change {other}"))),
            });
        }
        if !r.rest.is_empty() {
            return Err(corrupt("bytes after the record"));
        }
        Ok(match old {
            None => UndoRecord::Insert { index_id, pk, sec },
            Some((old, new_deleted)) => UndoRecord::Modify {
                index_id,
                pk,
                old,
                new_deleted,
                sec,
            },
        })
    }

    fn is_insert(&self) -> bool {
        matches!(self, UndoRecord::Insert { .. })
    }

    pub fn pk(&self) -> &[u8] {
        match self {
            UndoRecord::Insert { pk, .. } | UndoRecord::Modify { pk, .. } => pk,
        }
    }

    pub fn index_id(&self) -> u64 {
        match self {
            UndoRecord::Insert { index_id, .. } | UndoRecord::Modify { index_id, .. } => *index_id,
        }
    }

    pub fn sec_ops(&self) -> &[SecOp] {
        match self {
            UndoRecord::Insert { sec, .. } | UndoRecord::Modify { sec, .. } => sec,
        }
    }
}

fn roll_ptr(page: PageNo, offset: usize, insert: bool) -> RollPtr {
    RollPtr((u64::from(page.0) << 16) | offset as u64 | if insert { INSERT_FLAG } else { 0 })
}

/// Whether `ptr` names an insert record: the version before it is "no row".
pub fn is_insert(ptr: RollPtr) -> bool {
    ptr.0 & INSERT_FLAG != 0
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
        let mut header = [0u8; 24];
        header[0..8].copy_from_slice(&trx_id.0.to_le_bytes());
        header[8..12].copy_from_slice(&prev.0.to_le_bytes());
        header[12..16].copy_from_slice(&PageNo::NULL.0.to_le_bytes());
        header[16..18].copy_from_slice(&(RECORDS_START as u16).to_le_bytes());
        header[20..24].copy_from_slice(&PageNo::NULL.0.to_le_bytes());
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

    /// Reopens the log whose first page is `first` (recovery, purge).
    pub fn open(pool: &crate::buf::BufferPool, first: PageNo) -> Result<Self, UndoError> {
        let pages = Self::pages(pool, first)?;
        let head = fix(pool, first)?;
        Ok(Self {
            trx_id: page_trx(head.bytes()),
            first,
            last: *pages.last().expect("a log has a page"),
        })
    }

    /// The pages of the log starting at `first`, in order.
    fn pages(pool: &crate::buf::BufferPool, first: PageNo) -> Result<Vec<PageNo>, UndoError> {
        let mut pages = Vec::new();
        let mut page_no = first;
        while !page_no.is_null() {
            let page = fix(pool, page_no)?;
            Self::check_page_bytes(page.bytes(), page.id())?;
            pages.push(page_no);
            if pages.len() > 1 << 20 {
                return Err(UndoError::Corrupt {
                    page: page.id(),
                    offset: NEXT_OFFSET,
                    what: "undo page chain does not end".into(),
                });
            }
            page_no = PageNo(read_u32(page.bytes(), NEXT_OFFSET));
        }
        Ok(pages)
    }

    /// Frees every page of the log, in `mtr` (which may hold some already).
    pub fn free(&self, mtr: &mut Mtr<'_>) -> Result<usize, UndoError> {
        let mut pages = Vec::new();
        let mut page_no = self.first;
        while !page_no.is_null() {
            let id = PageId {
                space: SYSTEM_SPACE,
                page: page_no,
            };
            let handle = mtr.latch(id)?;
            Self::check_page_bytes(mtr.page(handle), id)?;
            pages.push(id);
            if pages.len() > 1 << 20 {
                return Err(UndoError::Corrupt {
                    page: id,
                    offset: NEXT_OFFSET,
                    what: "undo page chain does not end".into(),
                });
            }
            page_no = PageNo(read_u32(mtr.page(handle), NEXT_OFFSET));
        }
        for &id in &pages {
            fsp::free(mtr, id)?;
        }
        Ok(pages.len())
    }

    fn check_page_bytes(bytes: &[u8], id: PageId) -> Result<(), UndoError> {
        if crate::fil::page_type(bytes) != Some(PageType::Undo) {
            return Err(UndoError::Corrupt {
                page: id,
                offset: 0,
                what: "not an undo page".into(),
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

fn fix(pool: &crate::buf::BufferPool, page: PageNo) -> Result<crate::buf::PageRef<'_>, UndoError> {
    pool.fix(PageId {
        space: SYSTEM_SPACE,
        page,
    })
    .map_err(|e| UndoError::from(MtrError::Buf(e)))
}

/// The next log in the history list after the log whose first page this is.
pub fn history_next(first_page: &[u8]) -> PageNo {
    PageNo(read_u32(first_page, HISTORY_NEXT_OFFSET))
}

/// Links `next` after the log whose first page `handle` holds, in `mtr`.
pub fn set_history_next(
    mtr: &mut Mtr<'_>,
    handle: PageHandle,
    next: PageNo,
) -> Result<(), UndoError> {
    let page = mtr.page_id(handle);
    mtr.apply(
        handle,
        &Record::WriteBytes {
            page,
            offset: HISTORY_NEXT_OFFSET as u16,
            bytes: &next.0.to_le_bytes(),
        },
    )?;
    Ok(())
}

/// The transaction an undo page belongs to (recovery, purge).
pub fn page_trx(bytes: &[u8]) -> TrxId {
    TrxId(read_u64(bytes, TRX_OFFSET))
}

#[cfg(test)]
mod tests;
