//! Space management: which pages of a space are in use. Page 0 of each space
//! is its header; every change to it goes through a mini-transaction.
//!
//! ```text
//! space header body (page type SpaceHeader), all LE
//!     24  4  free limit: pages at or above it were never used
//!     28  4  head of the free list (PageNo::NULL when empty)
//!     32  4  pages on the free list
//!     36  8  next index id to hand out
//!     44 32  root page slots 0..8 (u32 each; 0 is the dictionary's)
//!     76  8  transaction id limit: no id at or above it was ever handed out
//!     84 ...  reserved
//! free page body (page type Free)
//!     24  4  next page on the free list
//! ```
//!
//! The header is latched last in any mtr (after tree pages), so allocation
//! during a split cannot deadlock with a descent.

use crate::fil::{read_u32, read_u64, PageId, PageNo, PageType, SpaceId, PAGE_BODY_OFFSET};
use crate::mtr::{Mtr, MtrError, PageHandle};

pub const HEADER_PAGE: PageNo = PageNo(0);
/// The first page a space hands out.
pub const FIRST_FREE_PAGE: u32 = 1;

const FREE_LIMIT_OFFSET: usize = PAGE_BODY_OFFSET;
const FREE_HEAD_OFFSET: usize = PAGE_BODY_OFFSET + 4;
const FREE_COUNT_OFFSET: usize = PAGE_BODY_OFFSET + 8;
const NEXT_INDEX_ID_OFFSET: usize = PAGE_BODY_OFFSET + 12;
/// Slots for well-known root pages (the dictionary's).
const ROOT_SLOTS_OFFSET: usize = PAGE_BODY_OFFSET + 20;
pub const ROOT_SLOT_COUNT: usize = 8;
const FREE_NEXT_OFFSET: usize = PAGE_BODY_OFFSET;
const TRX_ID_LIMIT_OFFSET: usize = ROOT_SLOTS_OFFSET + 4 * ROOT_SLOT_COUNT;

#[derive(Debug, thiserror::Error)]
pub enum FspError {
    #[error(transparent)]
    Mtr(#[from] MtrError),
    #[error("space {space} is full: all {capacity_pages} pages of {page_bytes} bytes are in use")]
    Full {
        space: u32,
        capacity_pages: u64,
        page_bytes: usize,
    },
    #[error("{page}: header says {what}, which cannot be")]
    Corrupt { page: PageId, what: String },
}

fn header_id(space: SpaceId) -> PageId {
    PageId {
        space,
        page: HEADER_PAGE,
    }
}

/// Writes a fresh space header (a new, empty space).
pub fn create_space(mtr: &mut Mtr<'_>, space: SpaceId) -> Result<(), FspError> {
    let id = header_id(space);
    let handle = mtr.create_page(id, PageType::SpaceHeader, 0, 0)?;
    let mut fields = [0u8; 20 + 4 * ROOT_SLOT_COUNT];
    fields[0..4].copy_from_slice(&FIRST_FREE_PAGE.to_le_bytes());
    fields[4..8].copy_from_slice(&PageNo::NULL.0.to_le_bytes());
    fields[8..12].copy_from_slice(&0u32.to_le_bytes());
    fields[12..20].copy_from_slice(&1u64.to_le_bytes());
    for slot in 0..ROOT_SLOT_COUNT {
        fields[20 + 4 * slot..24 + 4 * slot].copy_from_slice(&PageNo::NULL.0.to_le_bytes());
    }
    write(mtr, handle, FREE_LIMIT_OFFSET, &fields)
}

fn write(
    mtr: &mut Mtr<'_>,
    handle: PageHandle,
    offset: usize,
    bytes: &[u8],
) -> Result<(), FspError> {
    Ok(mtr.write_bytes(handle, offset, bytes)?)
}

/// Hands out a page of `space` for the caller to initialise in the same mtr
/// (with `Mtr::create_page`). Reuses freed pages first.
pub fn allocate(mtr: &mut Mtr<'_>, space: SpaceId) -> Result<PageNo, FspError> {
    let id = header_id(space);
    let header = mtr.latch(id)?;
    let head = PageNo(read_u32(mtr.page(header), FREE_HEAD_OFFSET));
    if !head.is_null() {
        let free_id = PageId { space, page: head };
        let free = mtr.latch(free_id)?;
        if crate::fil::page_type(mtr.page(free)) != Some(PageType::Free) {
            return Err(FspError::Corrupt {
                page: id,
                what: format!("free list head {free_id} is not a free page"),
            });
        }
        let next = read_u32(mtr.page(free), FREE_NEXT_OFFSET);
        let count = read_u32(mtr.page(header), FREE_COUNT_OFFSET);
        let Some(count) = count.checked_sub(1) else {
            return Err(FspError::Corrupt {
                page: id,
                what: "a free list head with a count of zero".into(),
            });
        };
        let mut fields = [0u8; 8];
        fields[0..4].copy_from_slice(&next.to_le_bytes());
        fields[4..8].copy_from_slice(&count.to_le_bytes());
        write(mtr, header, FREE_HEAD_OFFSET, &fields)?;
        return Ok(head);
    }
    let limit = read_u32(mtr.page(header), FREE_LIMIT_OFFSET);
    let capacity_pages = mtr.pool().space_capacity_pages(space).unwrap_or(0);
    if u64::from(limit) >= capacity_pages || limit == PageNo::NULL.0 {
        return Err(FspError::Full {
            space: space.0,
            capacity_pages,
            page_bytes: crate::fil::PAGE_BYTES,
        });
    }
    write(mtr, header, FREE_LIMIT_OFFSET, &(limit + 1).to_le_bytes())?;
    Ok(PageNo(limit))
}

/// Puts a page the caller holds no references to back on the free list.
pub fn free(mtr: &mut Mtr<'_>, page: PageId) -> Result<(), FspError> {
    assert_ne!(page.page, HEADER_PAGE, "freeing a space header");
    let freed = mtr.create_page(page, PageType::Free, 0, 0)?;
    let header = mtr.latch(header_id(page.space))?;
    let head = read_u32(mtr.page(header), FREE_HEAD_OFFSET);
    let count = read_u32(mtr.page(header), FREE_COUNT_OFFSET);
    write(mtr, freed, FREE_NEXT_OFFSET, &head.to_le_bytes())?;
    let mut fields = [0u8; 8];
    fields[0..4].copy_from_slice(&page.page.0.to_le_bytes());
    fields[4..8].copy_from_slice(&(count + 1).to_le_bytes());
    write(mtr, header, FREE_HEAD_OFFSET, &fields)
}

/// A new, never used index id.
pub fn allocate_index_id(mtr: &mut Mtr<'_>, space: SpaceId) -> Result<u64, FspError> {
    let header = mtr.latch(header_id(space))?;
    let next = read_u64(mtr.page(header), NEXT_INDEX_ID_OFFSET);
    write(mtr, header, NEXT_INDEX_ID_OFFSET, &(next + 1).to_le_bytes())?;
    Ok(next)
}

/// A well-known root page recorded in the header (the dictionary's).
pub fn root(mtr: &mut Mtr<'_>, space: SpaceId, slot: usize) -> Result<PageNo, FspError> {
    assert!(slot < ROOT_SLOT_COUNT);
    let header = mtr.latch(header_id(space))?;
    Ok(PageNo(read_u32(
        mtr.page(header),
        ROOT_SLOTS_OFFSET + 4 * slot,
    )))
}

pub fn set_root(
    mtr: &mut Mtr<'_>,
    space: SpaceId,
    slot: usize,
    page: PageNo,
) -> Result<(), FspError> {
    assert!(slot < ROOT_SLOT_COUNT);
    let header = mtr.latch(header_id(space))?;
    write(
        mtr,
        header,
        ROOT_SLOTS_OFFSET + 4 * slot,
        &page.0.to_le_bytes(),
    )
}

/// The persisted transaction id limit (0 in a space that never had one).
pub fn trx_id_limit(mtr: &mut Mtr<'_>, space: SpaceId) -> Result<u64, FspError> {
    let header = mtr.latch(header_id(space))?;
    Ok(read_u64(mtr.page(header), TRX_ID_LIMIT_OFFSET))
}

pub fn set_trx_id_limit(mtr: &mut Mtr<'_>, space: SpaceId, limit: u64) -> Result<(), FspError> {
    let header = mtr.latch(header_id(space))?;
    write(mtr, header, TRX_ID_LIMIT_OFFSET, &limit.to_le_bytes())
}

/// Pages in use and on the free list, read from a header page's bytes.
pub fn usage(header_page: &[u8]) -> (u32, u32) {
    (
        read_u32(header_page, FREE_LIMIT_OFFSET),
        read_u32(header_page, FREE_COUNT_OFFSET),
    )
}
