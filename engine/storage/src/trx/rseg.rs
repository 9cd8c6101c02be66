//! Transaction slots and the history list (as InnoDB's rollback segment
//! header, `trx0rseg`): one page in the system space, its number in the
//! space header's root slot 2.
//!
//! A read-write transaction takes a slot when it writes its first undo
//! record; the slot holds its undo log's first page. Recovery rolls back
//! every transaction still in a slot. At commit, in one mtr, the slot is
//! cleared and the log appended to the history list, which purge consumes
//! from its head. Committed transactions are therefore exactly those whose
//! log left its slot, and the commit is durable with that mtr's LSN.
//!
//! Page body (LE):
//! ```text
//!     24  8  history length (logs in the list)
//!     32  4  history head (first page of the oldest committed log) or NULL
//!     36  4  history tail or NULL
//!     40  2  slot count
//!     48 ..  slots: u32 first undo page, or NULL
//! ```
//!
//! Latch order, everywhere: this page, then undo pages, then the space
//! header (page allocation and freeing).

use floe_rt::sync::Mutex;

use super::undo::{self, UndoError, UndoLog};
use crate::fil::{
    read_u16, read_u32, read_u64, PageId, PageNo, PageType, PAGE_BODY_END, PAGE_BODY_OFFSET,
};
use crate::fsp;
use crate::mtr::{Mtr, PageHandle};
use crate::srv::SYSTEM_SPACE;

/// The space header's root slot of the transaction slot page.
pub const RSEG_ROOT_SLOT: usize = 2;
const HISTORY_LEN_OFFSET: usize = PAGE_BODY_OFFSET;
const HISTORY_HEAD_OFFSET: usize = PAGE_BODY_OFFSET + 8;
const HISTORY_TAIL_OFFSET: usize = PAGE_BODY_OFFSET + 12;
const SLOT_COUNT_OFFSET: usize = PAGE_BODY_OFFSET + 16;
const SLOTS_OFFSET: usize = PAGE_BODY_OFFSET + 24;
/// Concurrent read-write transactions with undo (InnoDB: 1024 per segment).
pub const SLOT_COUNT: usize = (PAGE_BODY_END - SLOTS_OFFSET) / 4;

/// The slot page and the in-memory list of free slots.
pub struct Rseg {
    page: PageId,
    free: Mutex<Vec<u16>>,
}

/// A transaction found in a slot at open: it had not committed.
pub struct Unfinished {
    pub slot: u16,
    pub log: UndoLog,
}

fn write(
    mtr: &mut Mtr<'_>,
    handle: PageHandle,
    offset: usize,
    bytes: &[u8],
) -> Result<(), UndoError> {
    Ok(mtr.write_bytes(handle, offset, bytes)?)
}

impl Rseg {
    /// Opens the slot page, creating it on first use. Returns the
    /// transactions that were active when the engine stopped.
    pub fn open(mtr: &mut Mtr<'_>) -> Result<(Self, Vec<Unfinished>), UndoError> {
        let mut page_no = fsp::root(mtr, SYSTEM_SPACE, RSEG_ROOT_SLOT)?;
        if page_no.is_null() {
            page_no = fsp::allocate(mtr, SYSTEM_SPACE)?;
            let id = PageId {
                space: SYSTEM_SPACE,
                page: page_no,
            };
            let handle = mtr.create_page(id, PageType::TrxSlots, 0, 0)?;
            let mut header = vec![0u8; 24 + 4 * SLOT_COUNT];
            header[8..12].copy_from_slice(&PageNo::NULL.0.to_le_bytes());
            header[12..16].copy_from_slice(&PageNo::NULL.0.to_le_bytes());
            header[16..18].copy_from_slice(&(SLOT_COUNT as u16).to_le_bytes());
            for slot in 0..SLOT_COUNT {
                header[24 + 4 * slot..28 + 4 * slot].copy_from_slice(&PageNo::NULL.0.to_le_bytes());
            }
            write(mtr, handle, HISTORY_LEN_OFFSET, &header)?;
            fsp::set_root(mtr, SYSTEM_SPACE, RSEG_ROOT_SLOT, page_no)?;
        }
        let page = PageId {
            space: SYSTEM_SPACE,
            page: page_no,
        };
        let handle = mtr.latch(page)?;
        let bytes = mtr.page(handle);
        if crate::fil::page_type(bytes) != Some(PageType::TrxSlots)
            || usize::from(read_u16(bytes, SLOT_COUNT_OFFSET)) != SLOT_COUNT
        {
            return Err(UndoError::Corrupt {
                page,
                offset: SLOT_COUNT_OFFSET,
                what: "not a transaction slot page of this build".into(),
            });
        }
        let mut free = Vec::new();
        let mut used = Vec::new();
        for slot in (0..SLOT_COUNT).rev() {
            let first = PageNo(read_u32(bytes, SLOTS_OFFSET + 4 * slot));
            if first.is_null() {
                free.push(slot as u16);
            } else {
                used.push((slot as u16, first));
            }
        }
        let mut unfinished = Vec::new();
        for (slot, first) in used {
            unfinished.push(Unfinished {
                slot,
                log: UndoLog::open(mtr.pool(), first)?,
            });
        }
        Ok((
            Self {
                page,
                free: Mutex::new(free),
            },
            unfinished,
        ))
    }

    /// Creates an undo log for `trx_id` in a free slot, in `mtr`.
    pub fn start_log(
        &self,
        mtr: &mut Mtr<'_>,
        trx_id: crate::row::TrxId,
    ) -> Result<(u16, UndoLog), UndoError> {
        let slot = self
            .free
            .lock()
            .pop()
            .ok_or(UndoError::NoSlot { slots: SLOT_COUNT })?;
        let result = (|| {
            // Latch order: this page, then undo pages, then the space
            // header (allocation) — as commit, discard and purge do.
            let handle = mtr.latch(self.page)?;
            let log = UndoLog::create(mtr, trx_id)?;
            write(
                mtr,
                handle,
                SLOTS_OFFSET + 4 * usize::from(slot),
                &log.first.0.to_le_bytes(),
            )?;
            Ok(log)
        })();
        match result {
            Ok(log) => Ok((slot, log)),
            Err(e) => {
                self.release_slot(slot);
                Err(e)
            }
        }
    }

    /// Hands a slot back after its mtr committed (or failed).
    pub fn release_slot(&self, slot: u16) {
        self.free.lock().push(slot);
    }

    /// Commit: clears the slot and appends the log to the history list.
    pub fn commit_log(&self, mtr: &mut Mtr<'_>, slot: u16, log: &UndoLog) -> Result<(), UndoError> {
        let handle = mtr.latch(self.page)?;
        write(
            mtr,
            handle,
            SLOTS_OFFSET + 4 * usize::from(slot),
            &PageNo::NULL.0.to_le_bytes(),
        )?;
        let bytes = mtr.page(handle);
        let len = read_u64(bytes, HISTORY_LEN_OFFSET);
        let head = PageNo(read_u32(bytes, HISTORY_HEAD_OFFSET));
        let tail = PageNo(read_u32(bytes, HISTORY_TAIL_OFFSET));
        let first = mtr.latch(PageId {
            space: SYSTEM_SPACE,
            page: log.first,
        })?;
        undo::set_history_next(mtr, first, PageNo::NULL)?;
        if !tail.is_null() {
            let tail_page = mtr.latch(PageId {
                space: SYSTEM_SPACE,
                page: tail,
            })?;
            undo::set_history_next(mtr, tail_page, log.first)?;
        }
        let mut fields = [0u8; 16];
        fields[0..8].copy_from_slice(&(len + 1).to_le_bytes());
        let new_head = if head.is_null() { log.first } else { head };
        fields[8..12].copy_from_slice(&new_head.0.to_le_bytes());
        fields[12..16].copy_from_slice(&log.first.0.to_le_bytes());
        write(mtr, handle, HISTORY_LEN_OFFSET, &fields)
    }

    /// Rollback finished: clears the slot and frees the log's pages.
    pub fn discard_log(
        &self,
        mtr: &mut Mtr<'_>,
        slot: u16,
        log: &UndoLog,
    ) -> Result<(), UndoError> {
        let handle = mtr.latch(self.page)?;
        write(
            mtr,
            handle,
            SLOTS_OFFSET + 4 * usize::from(slot),
            &PageNo::NULL.0.to_le_bytes(),
        )?;
        log.free(mtr)?;
        Ok(())
    }

    /// (history length, head) as the page says now.
    pub fn history(&self, pool: &crate::buf::BufferPool) -> Result<(u64, PageNo), UndoError> {
        let page = pool
            .fix(self.page)
            .map_err(|e| UndoError::from(crate::mtr::MtrError::Buf(e)))?;
        Ok((
            read_u64(page.bytes(), HISTORY_LEN_OFFSET),
            PageNo(read_u32(page.bytes(), HISTORY_HEAD_OFFSET)),
        ))
    }

    /// Purge is done with the head log: unlinks it and frees its pages.
    pub fn purge_head(&self, mtr: &mut Mtr<'_>, log: &UndoLog) -> Result<(), UndoError> {
        let handle = mtr.latch(self.page)?;
        let bytes = mtr.page(handle);
        let len = read_u64(bytes, HISTORY_LEN_OFFSET);
        let head = PageNo(read_u32(bytes, HISTORY_HEAD_OFFSET));
        if head != log.first {
            return Err(UndoError::Corrupt {
                page: self.page,
                offset: HISTORY_HEAD_OFFSET,
                what: format!(
                    "history head is page {}, purge finished page {}",
                    head.0, log.first.0
                ),
            });
        }
        let first = mtr.latch(PageId {
            space: SYSTEM_SPACE,
            page: log.first,
        })?;
        let next = undo::history_next(mtr.page(first));
        let mut fields = [0u8; 12];
        fields[0..8].copy_from_slice(&len.saturating_sub(1).to_le_bytes());
        fields[8..12].copy_from_slice(&next.0.to_le_bytes());
        write(mtr, handle, HISTORY_LEN_OFFSET, &fields)?;
        if next.is_null() {
            write(
                mtr,
                handle,
                HISTORY_TAIL_OFFSET,
                &PageNo::NULL.0.to_le_bytes(),
            )?;
        }
        log.free(mtr)?;
        Ok(())
    }

    /// The log after `first` in the history list.
    pub fn next_in_history(
        pool: &crate::buf::BufferPool,
        first: PageNo,
    ) -> Result<PageNo, UndoError> {
        let page = pool
            .fix(PageId {
                space: SYSTEM_SPACE,
                page: first,
            })
            .map_err(|e| UndoError::from(crate::mtr::MtrError::Buf(e)))?;
        Ok(undo::history_next(page.bytes()))
    }
}
