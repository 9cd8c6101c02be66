//! Redo records: the physiological changes a mini-transaction makes to pages.
//!
//! Every record is `type u8 | body_bytes u16 LE | body`, so a reader can skip
//! a record without understanding it. Page records' bodies start with
//! `space u32 LE | page u32 LE`. Type codes are persistent: never reuse or
//! renumber one. Codes 0x80 and up are *skippable*: a build that does not
//! know one passes over it; an unknown code below 0x80 is corruption.
//!
//! ```text
//! code  record          body after space | page (all LE)
//! 0x01  PageInit        page_type u8 | index_id u64 | level u16
//! 0x02  NodeInsert      slot u16 | key_bytes u16 | key | payload
//! 0x03  NodeDelete      slot u16
//! 0x04  NodeTruncate    from_slot u16
//! 0x05  NodeUpdate      slot u16 | payload
//! 0x06  NodeLinks       prev u32 | next u32
//! 0x07  WriteBytes      offset u16 | bytes
//! 0x08  PageImage       PAGE_BYTES bytes: the whole page before the mtr's changes
//! 0x0F  MtrEnd          (no space/page; empty body) ends a mini-transaction
//! ```
//!
//! `apply` replays a record onto a page by calling the same `node`
//! functions the tree called, so replay reproduces the original bytes.

use crate::btr::node::{self, NodeError};
use crate::fil::{self, PageId, PageType, PAGE_BODY_OFFSET, PAGE_BYTES};

pub const RECORD_HEADER_BYTES: usize = 3;
const PAGE_ID_BYTES: usize = 8;
const FIRST_SKIPPABLE_CODE: u8 = 0x80;

const CODE_PAGE_INIT: u8 = 0x01;
const CODE_NODE_INSERT: u8 = 0x02;
const CODE_NODE_DELETE: u8 = 0x03;
const CODE_NODE_TRUNCATE: u8 = 0x04;
const CODE_NODE_UPDATE: u8 = 0x05;
const CODE_NODE_LINKS: u8 = 0x06;
const CODE_WRITE_BYTES: u8 = 0x07;
const CODE_PAGE_IMAGE: u8 = 0x08;
const CODE_MTR_END: u8 = 0x0F;

/// A validated redo record, borrowing its variable parts from the log bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    PageInit {
        page: PageId,
        page_type: PageType,
        index_id: u64,
        level: u16,
    },
    NodeInsert {
        page: PageId,
        slot: u16,
        key: &'a [u8],
        payload: &'a [u8],
    },
    NodeDelete {
        page: PageId,
        slot: u16,
    },
    NodeTruncate {
        page: PageId,
        from_slot: u16,
    },
    NodeUpdate {
        page: PageId,
        slot: u16,
        payload: &'a [u8],
    },
    NodeLinks {
        page: PageId,
        prev: u32,
        next: u32,
    },
    WriteBytes {
        page: PageId,
        offset: u16,
        bytes: &'a [u8],
    },
    PageImage {
        page: PageId,
        image: &'a [u8],
    },
    MtrEnd,
    /// A skippable record of a type this build does not know.
    Skipped {
        code: u8,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("redo record truncated: {have_bytes} bytes left, record needs {need_bytes}")]
    Truncated {
        have_bytes: usize,
        need_bytes: usize,
    },
    #[error("redo record type {code:#04x} unknown and not skippable")]
    UnknownType { code: u8 },
    #[error("redo record type {code:#04x}: body of {body_bytes} bytes does not add up")]
    BadLength { code: u8, body_bytes: usize },
    #[error("redo record type {code:#04x}: bad field: {what}")]
    BadField { code: u8, what: &'static str },
    #[error("redo record too large to encode: {body_bytes} body bytes")]
    TooLarge { body_bytes: usize },
    #[error("applying redo to {page}: {source}")]
    Apply {
        page: PageId,
        #[source]
        source: NodeError,
    },
}

impl Record<'_> {
    pub fn page(&self) -> Option<PageId> {
        match *self {
            Record::PageInit { page, .. }
            | Record::NodeInsert { page, .. }
            | Record::NodeDelete { page, .. }
            | Record::NodeTruncate { page, .. }
            | Record::NodeUpdate { page, .. }
            | Record::NodeLinks { page, .. }
            | Record::WriteBytes { page, .. }
            | Record::PageImage { page, .. } => Some(page),
            Record::MtrEnd | Record::Skipped { .. } => None,
        }
    }

    fn code(&self) -> u8 {
        match self {
            Record::PageInit { .. } => CODE_PAGE_INIT,
            Record::NodeInsert { .. } => CODE_NODE_INSERT,
            Record::NodeDelete { .. } => CODE_NODE_DELETE,
            Record::NodeTruncate { .. } => CODE_NODE_TRUNCATE,
            Record::NodeUpdate { .. } => CODE_NODE_UPDATE,
            Record::NodeLinks { .. } => CODE_NODE_LINKS,
            Record::WriteBytes { .. } => CODE_WRITE_BYTES,
            Record::PageImage { .. } => CODE_PAGE_IMAGE,
            Record::MtrEnd => CODE_MTR_END,
            Record::Skipped { code } => *code,
        }
    }

    /// Bytes `encode` appends.
    pub fn encoded_bytes(&self) -> usize {
        RECORD_HEADER_BYTES
            + match self {
                Record::PageInit { .. } => PAGE_ID_BYTES + 1 + 8 + 2,
                Record::NodeInsert { key, payload, .. } => {
                    PAGE_ID_BYTES + 4 + key.len() + payload.len()
                }
                Record::NodeDelete { .. } | Record::NodeTruncate { .. } => PAGE_ID_BYTES + 2,
                Record::NodeUpdate { payload, .. } => PAGE_ID_BYTES + 2 + payload.len(),
                Record::NodeLinks { .. } => PAGE_ID_BYTES + 8,
                Record::WriteBytes { bytes, .. } => PAGE_ID_BYTES + 2 + bytes.len(),
                Record::PageImage { .. } => PAGE_ID_BYTES + PAGE_BYTES,
                Record::MtrEnd | Record::Skipped { .. } => 0,
            }
    }

    /// Appends the encoded record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), RecordError> {
        let body_bytes = self.encoded_bytes() - RECORD_HEADER_BYTES;
        let Ok(body_len) = u16::try_from(body_bytes) else {
            return Err(RecordError::TooLarge { body_bytes });
        };
        out.push(self.code());
        out.extend_from_slice(&body_len.to_le_bytes());
        if let Some(page) = self.page() {
            out.extend_from_slice(&page.space.0.to_le_bytes());
            out.extend_from_slice(&page.page.0.to_le_bytes());
        }
        match self {
            Record::PageInit {
                page_type,
                index_id,
                level,
                ..
            } => {
                out.push(*page_type as u8);
                out.extend_from_slice(&index_id.to_le_bytes());
                out.extend_from_slice(&level.to_le_bytes());
            }
            Record::NodeInsert {
                slot, key, payload, ..
            } => {
                out.extend_from_slice(&slot.to_le_bytes());
                out.extend_from_slice(&(key.len() as u16).to_le_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(payload);
            }
            Record::NodeDelete { slot, .. } => out.extend_from_slice(&slot.to_le_bytes()),
            Record::NodeTruncate { from_slot, .. } => {
                out.extend_from_slice(&from_slot.to_le_bytes())
            }
            Record::NodeUpdate { slot, payload, .. } => {
                out.extend_from_slice(&slot.to_le_bytes());
                out.extend_from_slice(payload);
            }
            Record::NodeLinks { prev, next, .. } => {
                out.extend_from_slice(&prev.to_le_bytes());
                out.extend_from_slice(&next.to_le_bytes());
            }
            Record::WriteBytes { offset, bytes, .. } => {
                out.extend_from_slice(&offset.to_le_bytes());
                out.extend_from_slice(bytes);
            }
            Record::PageImage { image, .. } => {
                assert_eq!(image.len(), PAGE_BYTES, "page image of the wrong size");
                out.extend_from_slice(image);
            }
            Record::MtrEnd | Record::Skipped { .. } => {}
        }
        Ok(())
    }

    /// Parses the record at the start of `bytes`; returns it and the rest.
    pub fn parse(bytes: &[u8]) -> Result<(Record<'_>, &[u8]), RecordError> {
        let [code, length_low, length_high, rest @ ..] = bytes else {
            return Err(RecordError::Truncated {
                have_bytes: bytes.len(),
                need_bytes: RECORD_HEADER_BYTES,
            });
        };
        let code = *code;
        let body_bytes = usize::from(u16::from_le_bytes([*length_low, *length_high]));
        let Some((body, tail)) = rest.split_at_checked(body_bytes) else {
            return Err(RecordError::Truncated {
                have_bytes: bytes.len(),
                need_bytes: RECORD_HEADER_BYTES + body_bytes,
            });
        };
        let bad_length = RecordError::BadLength { code, body_bytes };
        if code == CODE_MTR_END {
            return if body.is_empty() {
                Ok((Record::MtrEnd, tail))
            } else {
                Err(bad_length)
            };
        }
        if code >= FIRST_SKIPPABLE_CODE {
            return Ok((Record::Skipped { code }, tail));
        }
        if !(CODE_PAGE_INIT..=CODE_PAGE_IMAGE).contains(&code) {
            return Err(RecordError::UnknownType { code });
        }
        let Some((page_bytes, fields)) = body.split_at_checked(PAGE_ID_BYTES) else {
            return Err(bad_length);
        };
        let page = PageId::new(le_u32(&page_bytes[0..4]), le_u32(&page_bytes[4..8]));
        let record = match code {
            CODE_PAGE_INIT => {
                let [type_code, index_id @ .., level_low, level_high] = fields else {
                    return Err(bad_length);
                };
                if index_id.len() != 8 {
                    return Err(bad_length);
                }
                let Some(page_type) = PageType::from_code(*type_code) else {
                    return Err(RecordError::BadField {
                        code,
                        what: "page type",
                    });
                };
                Record::PageInit {
                    page,
                    page_type,
                    index_id: le_u64(index_id),
                    level: u16::from_le_bytes([*level_low, *level_high]),
                }
            }
            CODE_NODE_INSERT => {
                let [slot_low, slot_high, key_low, key_high, rest @ ..] = fields else {
                    return Err(bad_length);
                };
                let key_bytes = usize::from(u16::from_le_bytes([*key_low, *key_high]));
                let Some((key, payload)) = rest.split_at_checked(key_bytes) else {
                    return Err(bad_length);
                };
                Record::NodeInsert {
                    page,
                    slot: u16::from_le_bytes([*slot_low, *slot_high]),
                    key,
                    payload,
                }
            }
            CODE_NODE_DELETE | CODE_NODE_TRUNCATE => {
                let [low, high] = fields else {
                    return Err(bad_length);
                };
                let slot = u16::from_le_bytes([*low, *high]);
                if code == CODE_NODE_DELETE {
                    Record::NodeDelete { page, slot }
                } else {
                    Record::NodeTruncate {
                        page,
                        from_slot: slot,
                    }
                }
            }
            CODE_NODE_UPDATE => {
                let [low, high, payload @ ..] = fields else {
                    return Err(bad_length);
                };
                Record::NodeUpdate {
                    page,
                    slot: u16::from_le_bytes([*low, *high]),
                    payload,
                }
            }
            CODE_NODE_LINKS => {
                if fields.len() != 8 {
                    return Err(bad_length);
                }
                Record::NodeLinks {
                    page,
                    prev: le_u32(&fields[0..4]),
                    next: le_u32(&fields[4..8]),
                }
            }
            CODE_WRITE_BYTES => {
                let [low, high, bytes @ ..] = fields else {
                    return Err(bad_length);
                };
                let offset = u16::from_le_bytes([*low, *high]);
                let end = usize::from(offset) + bytes.len();
                if usize::from(offset) < PAGE_BODY_OFFSET || end > fil::PAGE_BODY_END {
                    return Err(RecordError::BadField {
                        code,
                        what: "write outside the page body",
                    });
                }
                Record::WriteBytes {
                    page,
                    offset,
                    bytes,
                }
            }
            CODE_PAGE_IMAGE => {
                if fields.len() != PAGE_BYTES {
                    return Err(bad_length);
                }
                Record::PageImage {
                    page,
                    image: fields,
                }
            }
            _ => return Err(RecordError::UnknownType { code }),
        };
        Ok((record, tail))
    }

    /// Replays this record onto `page` (a `PAGE_BYTES` buffer holding the
    /// page the record names). The caller sets the page LSN afterwards.
    pub fn apply(&self, page: &mut [u8]) -> Result<(), RecordError> {
        let page_id = self.page().unwrap_or(PageId::new(u32::MAX, u32::MAX));
        let wrap = |source| RecordError::Apply {
            page: page_id,
            source,
        };
        match *self {
            Record::PageInit {
                page: id,
                page_type,
                index_id,
                level,
            } => {
                fil::init_page(page, id, page_type);
                if page_type == PageType::Index {
                    node::init(page, index_id, level);
                }
            }
            Record::NodeInsert {
                slot, key, payload, ..
            } => node::insert_at(page, usize::from(slot), key, payload).map_err(wrap)?,
            Record::NodeDelete { slot, .. } => {
                node::delete_at(page, usize::from(slot)).map_err(wrap)?
            }
            Record::NodeTruncate { from_slot, .. } => {
                node::truncate(page, usize::from(from_slot)).map_err(wrap)?
            }
            Record::NodeUpdate { slot, payload, .. } => {
                node::update_payload(page, usize::from(slot), payload).map_err(wrap)?
            }
            Record::NodeLinks { prev, next, .. } => {
                node::set_links(page, fil::PageNo(prev), fil::PageNo(next))
            }
            Record::WriteBytes { offset, bytes, .. } => {
                let start = usize::from(offset);
                page[start..start + bytes.len()].copy_from_slice(bytes);
            }
            Record::PageImage { image, .. } => page.copy_from_slice(image),
            Record::MtrEnd | Record::Skipped { .. } => {}
        }
        Ok(())
    }
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut array = [0u8; 4];
    array.copy_from_slice(bytes);
    u32::from_le_bytes(array)
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    array.copy_from_slice(bytes);
    u64::from_le_bytes(array)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(image: &[u8]) -> Vec<Record<'_>> {
        let page = PageId::new(2, 77);
        vec![
            Record::PageInit {
                page,
                page_type: PageType::Index,
                index_id: 9,
                level: 1,
            },
            Record::NodeInsert {
                page,
                slot: 3,
                key: b"key",
                payload: b"payload",
            },
            Record::NodeInsert {
                page,
                slot: 0,
                key: b"",
                payload: b"",
            },
            Record::NodeDelete { page, slot: 4 },
            Record::NodeTruncate { page, from_slot: 5 },
            Record::NodeUpdate {
                page,
                slot: 1,
                payload: b"new",
            },
            Record::NodeLinks {
                page,
                prev: 1,
                next: u32::MAX,
            },
            Record::WriteBytes {
                page,
                offset: 100,
                bytes: b"abc",
            },
            Record::PageImage { page, image },
            Record::MtrEnd,
        ]
    }

    /// Every record type round-trips through encode and parse.
    #[test]
    fn records_round_trip() {
        let image = vec![5u8; PAGE_BYTES];
        let records = samples(&image);
        let mut bytes = Vec::new();
        for record in &records {
            let before = bytes.len();
            record.encode(&mut bytes).unwrap();
            assert_eq!(bytes.len() - before, record.encoded_bytes());
        }
        let mut rest = &bytes[..];
        for expected in &records {
            let (record, tail) = Record::parse(rest).unwrap();
            assert_eq!(&record, expected);
            rest = tail;
        }
        assert!(rest.is_empty());
    }

    /// The encoding of one record matches fixed bytes (the format is persistent).
    #[test]
    fn encoding_matches_fixed_bytes() {
        let mut bytes = Vec::new();
        Record::NodeDelete {
            page: PageId::new(1, 2),
            slot: 3,
        }
        .encode(&mut bytes)
        .unwrap();
        assert_eq!(bytes, [0x03, 10, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0]);
        bytes.clear();
        Record::MtrEnd.encode(&mut bytes).unwrap();
        assert_eq!(bytes, [0x0F, 0, 0]);
    }

    /// Every truncation of a valid stream is an error, never a panic, and a
    /// skippable unknown record is passed over while an unknown one is not.
    #[test]
    fn malformed_input_is_refused() {
        let image = vec![5u8; PAGE_BYTES];
        let mut bytes = Vec::new();
        for record in samples(&image) {
            record.encode(&mut bytes).unwrap();
        }
        for cut in 0..bytes.len().min(200) {
            let mut rest = &bytes[..cut];
            while !rest.is_empty() {
                match Record::parse(rest) {
                    Ok((_, tail)) => rest = tail,
                    Err(_) => break,
                }
            }
        }
        assert_eq!(
            Record::parse(&[0x90, 2, 0, 7, 7, 0x0F, 0, 0]).unwrap(),
            (Record::Skipped { code: 0x90 }, &[0x0F, 0, 0][..])
        );
        assert_eq!(
            Record::parse(&[0x40, 0, 0]),
            Err(RecordError::UnknownType { code: 0x40 })
        );
        assert!(matches!(
            Record::parse(&[0x03, 3, 0, 1, 2, 3]),
            Err(RecordError::BadLength { .. })
        ));
        assert!(matches!(
            Record::parse(&[0x0F, 1, 0, 0]),
            Err(RecordError::BadLength { .. })
        ));
        // WriteBytes outside the body is refused at parse time.
        let mut header_write = vec![0x07, 11, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0xAA];
        assert!(matches!(
            Record::parse(&header_write),
            Err(RecordError::BadField { .. })
        ));
        header_write[11] = 24;
        assert!(Record::parse(&header_write).is_ok());
    }

    /// Applying records reproduces the page the operations built directly.
    #[test]
    fn apply_reproduces_direct_operations() {
        let id = PageId::new(0, 5);
        let mut direct = vec![0u8; PAGE_BYTES];
        fil::init_page(&mut direct, id, PageType::Index);
        node::init(&mut direct, 4, 0);
        node::insert_at(&mut direct, 0, b"b", b"2").unwrap();
        node::insert_at(&mut direct, 0, b"a", b"1").unwrap();
        node::update_payload(&mut direct, 1, b"22").unwrap();
        node::delete_at(&mut direct, 0).unwrap();

        let mut replayed = vec![0xEEu8; PAGE_BYTES];
        for record in [
            Record::PageInit {
                page: id,
                page_type: PageType::Index,
                index_id: 4,
                level: 0,
            },
            Record::NodeInsert {
                page: id,
                slot: 0,
                key: b"b",
                payload: b"2",
            },
            Record::NodeInsert {
                page: id,
                slot: 0,
                key: b"a",
                payload: b"1",
            },
            Record::NodeUpdate {
                page: id,
                slot: 1,
                payload: b"22",
            },
            Record::NodeDelete { page: id, slot: 0 },
        ] {
            record.apply(&mut replayed).unwrap();
        }
        assert_eq!(direct, replayed);
        let bad = Record::NodeDelete { page: id, slot: 9 };
        assert!(matches!(
            bad.apply(&mut replayed),
            Err(RecordError::Apply { .. })
        ));
    }
}
