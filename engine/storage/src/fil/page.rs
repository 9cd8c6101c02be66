//! The page format. Every page, whatever its type, is:
//!
//! ```text
//! offset  bytes  field                                   byte order
//!      0      4  crc32c of bytes 4..PAGE_BYTES           LE
//!      4      2  magic 0xF10E                            LE
//!      6      1  format version (1)
//!      7      1  page type (PageType code, persistent)
//!      8      4  space id                                LE
//!     12      4  page number                             LE
//!     16      8  page LSN: end LSN of the last mtr that changed it  LE
//!     24  16344  type-specific body
//! 16368      8  reserved (zero)
//! 16376      8  trailer: page LSN again                  LE
//! ```
//!
//! The checksum is computed when a page is written and verified on every
//! read from the device (STYLE 3.6); the trailer LSN must equal the header
//! LSN, a second check against a write torn between the two ends. A page of
//! all zero bytes was never written: it is reported as such, never parsed.

use std::fmt;

pub const PAGE_BYTES: usize = 16 * 1024;
pub const PAGE_MAGIC: u16 = 0xF10E;
pub const PAGE_VERSIONS_KNOWN: &[u8] = &[1];
pub const PAGE_VERSION: u8 = 1;

const CRC_OFFSET: usize = 0;
const MAGIC_OFFSET: usize = 4;
const VERSION_OFFSET: usize = 6;
const TYPE_OFFSET: usize = 7;
const SPACE_OFFSET: usize = 8;
const PAGE_NO_OFFSET: usize = 12;
const LSN_OFFSET: usize = 16;
/// First byte of the type-specific body.
pub const PAGE_BODY_OFFSET: usize = 24;
const TRAILER_OFFSET: usize = PAGE_BYTES - 8;
/// One past the last byte of the type-specific body.
pub const PAGE_BODY_END: usize = PAGE_BYTES - 16;

const _: () = assert!(PAGE_BYTES.is_power_of_two());
const _: () = assert!(PAGE_BODY_OFFSET < PAGE_BODY_END);
const _: () = assert!(PAGE_BYTES.is_multiple_of(4096));

/// A tablespace: a set of pages numbered from zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpaceId(pub u32);

/// A page's number within its space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageNo(pub u32);

impl PageNo {
    /// "No page": the end of a sibling chain, an empty list.
    pub const NULL: PageNo = PageNo(u32::MAX);
    pub fn is_null(self) -> bool {
        self == Self::NULL
    }
}

/// A log sequence number: a position in the redo stream, counted in bytes of
/// record payload. Page LSNs and checkpoints are LSNs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lsn {}", self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageId {
    pub space: SpaceId,
    pub page: PageNo,
}

impl PageId {
    pub const fn new(space: u32, page: u32) -> Self {
        Self {
            space: SpaceId(space),
            page: PageNo(page),
        }
    }
}

impl fmt::Display for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "space {} page {}", self.space.0, self.page.0)
    }
}

/// Page types. Codes are persistent: never reuse or renumber one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageType {
    /// Allocated, initialised, holds nothing yet (or freed).
    Free = 1,
    /// Space header: allocation state of the space.
    SpaceHeader = 2,
    /// B+tree node (leaf or internal).
    Index = 3,
    /// Checkpoint / control record.
    Control = 4,
    /// Undo log page.
    Undo = 5,
    /// Transaction slots and the history list (`trx::rseg`).
    TrxSlots = 6,
}

impl PageType {
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Free,
            2 => Self::SpaceHeader,
            3 => Self::Index,
            4 => Self::Control,
            5 => Self::Undo,
            6 => Self::TrxSlots,
            _ => return None,
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    #[error(
        "{expected}: crc32c {found:#010x} stored, {computed:#010x} computed (corrupt or torn page)"
    )]
    Checksum {
        expected: PageId,
        found: u32,
        computed: u32,
    },
    #[error("{expected}: page was never written (all zero bytes)")]
    Empty { expected: PageId },
    #[error("{expected}: bad magic {found:#06x}, expected {PAGE_MAGIC:#06x}")]
    BadMagic { expected: PageId, found: u16 },
    #[error("{expected}: page format version {found}; this build reads {known:?}")]
    UnknownVersion {
        expected: PageId,
        found: u8,
        known: &'static [u8],
    },
    #[error("{expected}: header names {found} (misdirected write or read)")]
    WrongPage { expected: PageId, found: PageId },
    #[error("{expected}: unknown page type code {code}")]
    UnknownType { expected: PageId, code: u8 },
    #[error("{expected}: header {header} differs from trailer {trailer} (torn page)")]
    TrailerMismatch {
        expected: PageId,
        header: Lsn,
        trailer: Lsn,
    },
}

pub fn read_u16(page: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes([page[offset], page[offset + 1]])
}

pub fn read_u32(page: &[u8], offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&page[offset..offset + 4]);
    u32::from_le_bytes(bytes)
}

pub fn read_u64(page: &[u8], offset: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&page[offset..offset + 8]);
    u64::from_le_bytes(bytes)
}

pub fn write_u16(page: &mut [u8], offset: usize, value: u16) {
    page[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
}

pub fn write_u32(page: &mut [u8], offset: usize, value: u32) {
    page[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

pub fn write_u64(page: &mut [u8], offset: usize, value: u64) {
    page[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}

/// Header accessors over a whole page buffer (exactly `PAGE_BYTES` long).
pub fn page_lsn(page: &[u8]) -> Lsn {
    Lsn(read_u64(page, LSN_OFFSET))
}

pub fn set_page_lsn(page: &mut [u8], lsn: Lsn) {
    write_u64(page, LSN_OFFSET, lsn.0);
    write_u64(page, TRAILER_OFFSET, lsn.0);
}

pub fn page_type_code(page: &[u8]) -> u8 {
    page[TYPE_OFFSET]
}

pub fn page_type(page: &[u8]) -> Option<PageType> {
    PageType::from_code(page_type_code(page))
}

pub fn page_id_of(page: &[u8]) -> PageId {
    PageId::new(read_u32(page, SPACE_OFFSET), read_u32(page, PAGE_NO_OFFSET))
}

/// Writes a fresh header for `id` of type `page_type` and zeroes the body.
/// The LSN is left at zero: the mtr that initialises the page sets it.
pub fn init_page(page: &mut [u8], id: PageId, page_type: PageType) {
    assert_eq!(page.len(), PAGE_BYTES);
    page.fill(0);
    write_u16(page, MAGIC_OFFSET, PAGE_MAGIC);
    page[VERSION_OFFSET] = PAGE_VERSION;
    page[TYPE_OFFSET] = page_type as u8;
    write_u32(page, SPACE_OFFSET, id.space.0);
    write_u32(page, PAGE_NO_OFFSET, id.page.0);
}

/// Changes the page type code, keeping everything else.
pub fn set_page_type(page: &mut [u8], page_type: PageType) {
    page[TYPE_OFFSET] = page_type as u8;
}

pub fn compute_checksum(page: &[u8]) -> u32 {
    crc32c::crc32c(&page[CRC_OFFSET + 4..])
}

/// Seals a page for writing: asserts the header is ours, stores the CRC.
pub fn seal(page: &mut [u8]) {
    assert_eq!(page.len(), PAGE_BYTES);
    assert_eq!(
        read_u16(page, MAGIC_OFFSET),
        PAGE_MAGIC,
        "sealing a page without our magic"
    );
    assert_eq!(
        read_u64(page, LSN_OFFSET),
        read_u64(page, TRAILER_OFFSET),
        "sealing {} with header and trailer LSN apart",
        page_id_of(page)
    );
    let crc = compute_checksum(page);
    write_u32(page, CRC_OFFSET, crc);
}

/// Verifies a page just read from the device as `expected`.
pub fn verify(page: &[u8], expected: PageId) -> Result<(), PageError> {
    assert_eq!(page.len(), PAGE_BYTES);
    let found_crc = read_u32(page, CRC_OFFSET);
    let computed = compute_checksum(page);
    if found_crc != computed {
        if page.iter().all(|&b| b == 0) {
            return Err(PageError::Empty { expected });
        }
        return Err(PageError::Checksum {
            expected,
            found: found_crc,
            computed,
        });
    }
    let magic = read_u16(page, MAGIC_OFFSET);
    if magic != PAGE_MAGIC {
        return Err(PageError::BadMagic {
            expected,
            found: magic,
        });
    }
    let version = page[VERSION_OFFSET];
    if !PAGE_VERSIONS_KNOWN.contains(&version) {
        return Err(PageError::UnknownVersion {
            expected,
            found: version,
            known: PAGE_VERSIONS_KNOWN,
        });
    }
    let found = page_id_of(page);
    if found != expected {
        return Err(PageError::WrongPage { expected, found });
    }
    let code = page_type_code(page);
    if PageType::from_code(code).is_none() {
        return Err(PageError::UnknownType { expected, code });
    }
    let header = page_lsn(page);
    let trailer = Lsn(read_u64(page, TRAILER_OFFSET));
    if header != trailer {
        return Err(PageError::TrailerMismatch {
            expected,
            header,
            trailer,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_page(id: PageId) -> Vec<u8> {
        let mut page = vec![0u8; PAGE_BYTES];
        init_page(&mut page, id, PageType::Index);
        set_page_lsn(&mut page, Lsn(77));
        page[1000] = 42;
        seal(&mut page);
        page
    }

    /// A sealed page verifies; its header fields read back as written.
    #[test]
    fn sealed_page_verifies() {
        let id = PageId::new(3, 9);
        let page = sealed_page(id);
        assert_eq!(verify(&page, id), Ok(()));
        assert_eq!(page_lsn(&page), Lsn(77));
        assert_eq!(page_type(&page), Some(PageType::Index));
        assert_eq!(page_id_of(&page), id);
    }

    /// Each kind of damage is reported as its own error, never accepted.
    #[test]
    fn damage_is_reported_precisely() {
        let id = PageId::new(3, 9);
        let mut flipped = sealed_page(id);
        flipped[5000] ^= 1;
        assert!(matches!(
            verify(&flipped, id),
            Err(PageError::Checksum { .. })
        ));

        let zero = vec![0u8; PAGE_BYTES];
        assert_eq!(verify(&zero, id), Err(PageError::Empty { expected: id }));

        let page = sealed_page(id);
        let other = PageId::new(3, 10);
        assert_eq!(
            verify(&page, other),
            Err(PageError::WrongPage {
                expected: other,
                found: id
            })
        );

        let mut old_version = sealed_page(id);
        old_version[VERSION_OFFSET] = 9;
        seal_raw(&mut old_version);
        assert!(matches!(
            verify(&old_version, id),
            Err(PageError::UnknownVersion { found: 9, .. })
        ));

        let mut torn = sealed_page(id);
        write_u64(&mut torn, TRAILER_OFFSET, 5);
        seal_raw(&mut torn);
        assert!(matches!(
            verify(&torn, id),
            Err(PageError::TrailerMismatch { .. })
        ));

        let mut bad_type = sealed_page(id);
        bad_type[TYPE_OFFSET] = 200;
        seal_raw(&mut bad_type);
        assert_eq!(
            verify(&bad_type, id),
            Err(PageError::UnknownType {
                expected: id,
                code: 200
            })
        );
    }

    /// The checksum message names the page and both checksums.
    #[test]
    fn checksum_error_names_page_and_both_values() {
        let id = PageId::new(1, 2);
        let mut page = sealed_page(id);
        page[100] ^= 0xff;
        let message = verify(&page, id).unwrap_err().to_string();
        assert!(message.contains("space 1 page 2"), "{message}");
        assert!(
            message.contains("stored") && message.contains("computed"),
            "{message}"
        );
    }

    fn seal_raw(page: &mut [u8]) {
        let crc = compute_checksum(page);
        write_u32(page, CRC_OFFSET, crc);
    }
}
