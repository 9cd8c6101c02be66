//! A B+tree node laid out in one page: a record heap growing up from the
//! header and a slot directory growing down from the end of the body, sorted
//! by key. Every mutation here is a deterministic function of (page bytes,
//! arguments): the tree calls it to make a change and redo recovery calls it
//! again to replay the same change, so both always produce the same bytes.
//!
//! ```text
//! body offset  bytes  field (all LE)
//!          24      8  index id
//!          32      2  level (0 = leaf)
//!          34      2  record count
//!          36      2  heap top: first free byte after the heap
//!          38      2  garbage bytes: deleted records still in the heap
//!          40      4  previous sibling page number (NULL = u32::MAX)
//!          44      4  next sibling page number
//!          48      8  reserved
//!          56         record heap ...
//!    ... 16368        ... slot directory: slot i is a u16 record offset at
//!                     PAGE_BODY_END - 2 * (i + 1)
//! record: total_bytes u16 | key_bytes u16 | key | payload
//! ```
//!
//! Records are opaque (key, payload) byte strings compared bytewise; the
//! tree decides what a payload holds. Inputs that could come from a damaged
//! page are checked and reported as `NodeError`, never indexed blindly.

use crate::fil::{
    read_u16, read_u32, read_u64, write_u16, write_u32, write_u64, PageNo, PAGE_BODY_END,
    PAGE_BODY_OFFSET, PAGE_BYTES,
};

const INDEX_ID_OFFSET: usize = PAGE_BODY_OFFSET;
const LEVEL_OFFSET: usize = PAGE_BODY_OFFSET + 8;
const COUNT_OFFSET: usize = PAGE_BODY_OFFSET + 10;
const HEAP_TOP_OFFSET: usize = PAGE_BODY_OFFSET + 12;
const GARBAGE_OFFSET: usize = PAGE_BODY_OFFSET + 14;
const PREV_OFFSET: usize = PAGE_BODY_OFFSET + 16;
const NEXT_OFFSET: usize = PAGE_BODY_OFFSET + 20;
/// First byte of the record heap.
pub const HEAP_START: usize = PAGE_BODY_OFFSET + 32;
const RECORD_HEADER_BYTES: usize = 4;
const SLOT_BYTES: usize = 2;

/// Room for records and slots in an empty node.
pub const NODE_CAPACITY_BYTES: usize = PAGE_BODY_END - HEAP_START;
/// The largest key + payload a node accepts. Four of them (with headers and
/// slots) always fit in one node, so a split of a full node always leaves
/// room for the record that caused it, on either side.
pub const MAX_RECORD_BYTES: usize = NODE_CAPACITY_BYTES / 4 - RECORD_HEADER_BYTES - SLOT_BYTES;

const _: () = assert!(PAGE_BYTES <= u16::MAX as usize + 1);
const _: () =
    assert!(4 * (MAX_RECORD_BYTES + RECORD_HEADER_BYTES + SLOT_BYTES) <= NODE_CAPACITY_BYTES);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodeError {
    #[error("node: slot {slot} out of range (record count {count})")]
    SlotOutOfRange { slot: usize, count: usize },
    #[error("node: record at offset {offset} with {total_bytes} bytes lies outside the heap (top {heap_top})")]
    BadRecord {
        offset: usize,
        total_bytes: usize,
        heap_top: usize,
    },
    #[error("node: header claims {count} slots and heap top {heap_top}, which overlap")]
    BadHeader { count: usize, heap_top: usize },
    #[error("node: record of {record_bytes} bytes exceeds the limit of {MAX_RECORD_BYTES}")]
    RecordTooLarge { record_bytes: usize },
    #[error("node: no room for {needed_bytes} bytes (free {free_bytes})")]
    NoSpace {
        needed_bytes: usize,
        free_bytes: usize,
    },
    #[error("node: keys out of order at slot {slot}")]
    Unordered { slot: usize },
    #[error("node: garbage counter {recorded} but heap holds {actual} unreferenced bytes")]
    GarbageMismatch { recorded: usize, actual: usize },
}

/// Initialises the body of an index page (the page header is the caller's).
pub fn init(page: &mut [u8], index_id: u64, level: u16) {
    page[PAGE_BODY_OFFSET..PAGE_BODY_END].fill(0);
    write_u64(page, INDEX_ID_OFFSET, index_id);
    write_u16(page, LEVEL_OFFSET, level);
    write_u16(page, COUNT_OFFSET, 0);
    write_u16(page, HEAP_TOP_OFFSET, HEAP_START as u16);
    write_u16(page, GARBAGE_OFFSET, 0);
    write_u32(page, PREV_OFFSET, PageNo::NULL.0);
    write_u32(page, NEXT_OFFSET, PageNo::NULL.0);
}

pub fn index_id(page: &[u8]) -> u64 {
    read_u64(page, INDEX_ID_OFFSET)
}

pub fn level(page: &[u8]) -> u16 {
    read_u16(page, LEVEL_OFFSET)
}

pub fn is_leaf(page: &[u8]) -> bool {
    level(page) == 0
}

pub fn count(page: &[u8]) -> usize {
    usize::from(read_u16(page, COUNT_OFFSET))
}

fn heap_top(page: &[u8]) -> usize {
    usize::from(read_u16(page, HEAP_TOP_OFFSET))
}

fn garbage_bytes(page: &[u8]) -> usize {
    usize::from(read_u16(page, GARBAGE_OFFSET))
}

pub fn prev(page: &[u8]) -> PageNo {
    PageNo(read_u32(page, PREV_OFFSET))
}

pub fn next(page: &[u8]) -> PageNo {
    PageNo(read_u32(page, NEXT_OFFSET))
}

pub fn set_links(page: &mut [u8], prev: PageNo, next: PageNo) {
    write_u32(page, PREV_OFFSET, prev.0);
    write_u32(page, NEXT_OFFSET, next.0);
}

fn slot_position(slot: usize) -> usize {
    PAGE_BODY_END - SLOT_BYTES * (slot + 1)
}

fn slots_start(count: usize) -> usize {
    PAGE_BODY_END - SLOT_BYTES * count
}

fn check_header(page: &[u8]) -> Result<(usize, usize), NodeError> {
    let count = count(page);
    let heap_top = heap_top(page);
    if heap_top < HEAP_START
        || count > NODE_CAPACITY_BYTES / SLOT_BYTES
        || heap_top > slots_start(count)
    {
        return Err(NodeError::BadHeader { count, heap_top });
    }
    Ok((count, heap_top))
}

/// Bytes free between the heap and the slots, not counting garbage.
pub fn contiguous_free_bytes(page: &[u8]) -> usize {
    match check_header(page) {
        Ok((count, heap_top)) => slots_start(count) - heap_top,
        Err(_) => 0,
    }
}

/// Bytes a record of this key and payload takes, slot included.
pub fn record_footprint(key_bytes: usize, payload_bytes: usize) -> usize {
    RECORD_HEADER_BYTES + key_bytes + payload_bytes + SLOT_BYTES
}

/// Bytes usable for new records after a compaction.
pub fn free_bytes(page: &[u8]) -> usize {
    contiguous_free_bytes(page) + garbage_bytes(page)
}

/// Bytes occupied by live records and their slots.
pub fn used_bytes(page: &[u8]) -> usize {
    NODE_CAPACITY_BYTES - free_bytes(page)
}

fn record_offset(page: &[u8], slot: usize) -> Result<(usize, usize), NodeError> {
    let (count, heap_top) = check_header(page)?;
    if slot >= count {
        return Err(NodeError::SlotOutOfRange { slot, count });
    }
    let offset = usize::from(read_u16(page, slot_position(slot)));
    if offset < HEAP_START || offset + RECORD_HEADER_BYTES > heap_top {
        return Err(NodeError::BadRecord {
            offset,
            total_bytes: 0,
            heap_top,
        });
    }
    let total_bytes = usize::from(read_u16(page, offset));
    let key_bytes = usize::from(read_u16(page, offset + 2));
    if total_bytes < RECORD_HEADER_BYTES + key_bytes || offset + total_bytes > heap_top {
        return Err(NodeError::BadRecord {
            offset,
            total_bytes,
            heap_top,
        });
    }
    Ok((offset, total_bytes))
}

/// The (key, payload) of the record in `slot`.
pub fn record(page: &[u8], slot: usize) -> Result<(&[u8], &[u8]), NodeError> {
    let (offset, total_bytes) = record_offset(page, slot)?;
    let key_bytes = usize::from(read_u16(page, offset + 2));
    let key_start = offset + RECORD_HEADER_BYTES;
    let payload_start = key_start + key_bytes;
    Ok((
        &page[key_start..payload_start],
        &page[payload_start..offset + total_bytes],
    ))
}

pub fn key(page: &[u8], slot: usize) -> Result<&[u8], NodeError> {
    record(page, slot).map(|(key, _)| key)
}

/// Binary search: `Ok(slot)` of an equal key, or `Err(slot)` where it would
/// be inserted. Slot 0 of an internal node is compared like any other; the
/// tree treats it as minus infinity by never asking for it.
///
/// The hot path of every lookup: the header is checked once, and each probe
/// checks only what it reads (the slot's offset and the key's bytes lie in
/// the heap), so a damaged page is still an error, never a wild read.
pub fn search(page: &[u8], key: &[u8]) -> Result<Result<usize, usize>, NodeError> {
    let (count, heap_top) = check_header(page)?;
    let heap = &page[..heap_top];
    let mut low = 0;
    let mut high = count;
    while low < high {
        let middle = low + (high - low) / 2;
        let position = slot_position(middle);
        let offset = usize::from(u16::from_le_bytes([page[position], page[position + 1]]));
        let Some(header) = heap.get(offset..offset + RECORD_HEADER_BYTES) else {
            return Err(NodeError::BadRecord {
                offset,
                total_bytes: 0,
                heap_top,
            });
        };
        let key_bytes = usize::from(u16::from_le_bytes([header[2], header[3]]));
        let key_start = offset + RECORD_HEADER_BYTES;
        let Some(probe) = heap.get(key_start..key_start + key_bytes) else {
            return Err(NodeError::BadRecord {
                offset,
                total_bytes: key_bytes,
                heap_top,
            });
        };
        match probe.cmp(key) {
            std::cmp::Ordering::Less => low = middle + 1,
            std::cmp::Ordering::Greater => high = middle,
            std::cmp::Ordering::Equal => return Ok(Ok(middle)),
        }
    }
    Ok(Err(low))
}

/// Would a record of this size fit (after compaction if needed)?
pub fn fits(page: &[u8], key_bytes: usize, payload_bytes: usize) -> bool {
    record_footprint(key_bytes, payload_bytes) <= free_bytes(page)
}

/// Inserts a record at `slot`, shifting later slots up. Compacts the heap
/// first when the contiguous gap is too small but garbage would cover it.
pub fn insert_at(
    page: &mut [u8],
    slot: usize,
    key: &[u8],
    payload: &[u8],
) -> Result<(), NodeError> {
    let record_bytes = key.len() + payload.len();
    if record_bytes > MAX_RECORD_BYTES {
        return Err(NodeError::RecordTooLarge { record_bytes });
    }
    let (count, _) = check_header(page)?;
    if slot > count {
        return Err(NodeError::SlotOutOfRange { slot, count });
    }
    let needed_bytes = record_footprint(key.len(), payload.len());
    if needed_bytes > free_bytes(page) {
        return Err(NodeError::NoSpace {
            needed_bytes,
            free_bytes: free_bytes(page),
        });
    }
    if needed_bytes > contiguous_free_bytes(page) {
        compact(page)?;
    }
    let heap_top = heap_top(page);
    let total_bytes = RECORD_HEADER_BYTES + record_bytes;
    write_u16(page, heap_top, total_bytes as u16);
    write_u16(page, heap_top + 2, key.len() as u16);
    let key_start = heap_top + RECORD_HEADER_BYTES;
    page[key_start..key_start + key.len()].copy_from_slice(key);
    page[key_start + key.len()..heap_top + total_bytes].copy_from_slice(payload);
    // Slots live below PAGE_BODY_END in reverse: slot i at end - 2(i+1).
    // Inserting at `slot` moves slots slot..count one position down.
    let old_start = slots_start(count);
    let moved_end = slot_position(slot) + SLOT_BYTES;
    page.copy_within(old_start..moved_end, old_start - SLOT_BYTES);
    write_u16(page, slot_position(slot), heap_top as u16);
    write_u16(page, COUNT_OFFSET, (count + 1) as u16);
    write_u16(page, HEAP_TOP_OFFSET, (heap_top + total_bytes) as u16);
    Ok(())
}

/// Removes the record in `slot`; its bytes become garbage.
pub fn delete_at(page: &mut [u8], slot: usize) -> Result<(), NodeError> {
    let (_, total_bytes) = record_offset(page, slot)?;
    let count = count(page);
    let old_start = slots_start(count);
    page.copy_within(old_start..slot_position(slot), old_start + SLOT_BYTES);
    write_u16(page, COUNT_OFFSET, (count - 1) as u16);
    let garbage = garbage_bytes(page) + total_bytes;
    write_u16(page, GARBAGE_OFFSET, garbage as u16);
    if count == 1 {
        // Empty: reset the heap outright.
        write_u16(page, HEAP_TOP_OFFSET, HEAP_START as u16);
        write_u16(page, GARBAGE_OFFSET, 0);
    }
    Ok(())
}

/// Removes the records in slots `from..count` (the upper half after a split).
pub fn truncate(page: &mut [u8], from: usize) -> Result<(), NodeError> {
    let count = count(page);
    if from > count {
        return Err(NodeError::SlotOutOfRange { slot: from, count });
    }
    for slot in (from..count).rev() {
        delete_at(page, slot)?;
    }
    Ok(())
}

/// Replaces the payload of the record in `slot`, keeping its key. In place
/// when the length is unchanged; otherwise the record is rewritten.
pub fn update_payload(page: &mut [u8], slot: usize, payload: &[u8]) -> Result<(), NodeError> {
    let (offset, total_bytes) = record_offset(page, slot)?;
    let key_bytes = usize::from(read_u16(page, offset + 2));
    let old_payload_bytes = total_bytes - RECORD_HEADER_BYTES - key_bytes;
    if old_payload_bytes == payload.len() {
        let start = offset + RECORD_HEADER_BYTES + key_bytes;
        page[start..start + payload.len()].copy_from_slice(payload);
        return Ok(());
    }
    if key_bytes + payload.len() > MAX_RECORD_BYTES {
        return Err(NodeError::RecordTooLarge {
            record_bytes: key_bytes + payload.len(),
        });
    }
    // The old record's space counts as free for the new one.
    let needed_bytes = record_footprint(key_bytes, payload.len());
    let available = free_bytes(page) + total_bytes + SLOT_BYTES;
    if needed_bytes > available {
        return Err(NodeError::NoSpace {
            needed_bytes,
            free_bytes: available,
        });
    }
    let key: Vec<u8> =
        page[offset + RECORD_HEADER_BYTES..offset + RECORD_HEADER_BYTES + key_bytes].to_vec();
    delete_at(page, slot)?;
    insert_at(page, slot, &key, payload)
}

/// Rewrites the heap so that live records are contiguous and garbage is zero.
/// Record order in the heap follows slot order, which keeps it deterministic.
pub fn compact(page: &mut [u8]) -> Result<(), NodeError> {
    let (count, _) = check_header(page)?;
    let mut scratch = [0u8; PAGE_BYTES];
    let mut top = HEAP_START;
    for slot in 0..count {
        let (offset, total_bytes) = record_offset(page, slot)?;
        scratch[top..top + total_bytes].copy_from_slice(&page[offset..offset + total_bytes]);
        write_u16(page, slot_position(slot), top as u16);
        top += total_bytes;
    }
    page[HEAP_START..top].copy_from_slice(&scratch[HEAP_START..top]);
    page[top..slots_start(count)].fill(0);
    write_u16(page, HEAP_TOP_OFFSET, top as u16);
    write_u16(page, GARBAGE_OFFSET, 0);
    Ok(())
}

/// Checks the node's own invariants: header sane, every record inside the
/// heap, keys strictly ascending (from `first_ordered_slot`), and the
/// garbage counter equal to the heap bytes no slot references.
pub fn check(page: &[u8], first_ordered_slot: usize) -> Result<(), NodeError> {
    let (count, heap_top) = check_header(page)?;
    let mut live_bytes = 0;
    for slot in 0..count {
        let (_, total_bytes) = record_offset(page, slot)?;
        live_bytes += total_bytes;
        if slot > first_ordered_slot && key(page, slot - 1)? >= key(page, slot)? {
            return Err(NodeError::Unordered { slot });
        }
    }
    let actual = heap_top - HEAP_START - live_bytes;
    if actual != garbage_bytes(page) {
        return Err(NodeError::GarbageMismatch {
            recorded: garbage_bytes(page),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn empty_node() -> Vec<u8> {
        let mut page = vec![0u8; PAGE_BYTES];
        init(&mut page, 7, 0);
        page
    }

    fn contents(page: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..count(page))
            .map(|slot| {
                let (key, payload) = record(page, slot).unwrap();
                (key.to_vec(), payload.to_vec())
            })
            .collect()
    }

    /// Random inserts, deletes and updates against a BTreeMap: the node
    /// always holds exactly the model's records in order, and passes check.
    #[test]
    fn node_matches_model_under_random_operations() {
        let mut state = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut page = empty_node();
        let mut model = BTreeMap::new();
        for step in 0..20_000 {
            let key = format!("k{:05}", next() % 500).into_bytes();
            let payload = vec![(step % 251) as u8; (next() % 200) as usize];
            match next() % 3 {
                0 => match search(&page, &key).unwrap() {
                    Ok(slot) => {
                        delete_at(&mut page, slot).unwrap();
                        model.remove(&key);
                    }
                    Err(_) => assert!(!model.contains_key(&key)),
                },
                1 => match search(&page, &key).unwrap() {
                    Ok(slot) => match update_payload(&mut page, slot, &payload) {
                        Ok(()) => {
                            model.insert(key, payload);
                        }
                        Err(NodeError::NoSpace { .. }) => {}
                        Err(e) => panic!("step {step}: {e}"),
                    },
                    Err(_) => assert!(!model.contains_key(&key)),
                },
                _ => match search(&page, &key).unwrap() {
                    Ok(_) => assert!(model.contains_key(&key)),
                    Err(slot) => match insert_at(&mut page, slot, &key, &payload) {
                        Ok(()) => {
                            model.insert(key, payload);
                        }
                        Err(NodeError::NoSpace { .. }) => {
                            assert!(!fits(&page, key.len(), payload.len()))
                        }
                        Err(e) => panic!("step {step}: {e}"),
                    },
                },
            }
            check(&page, 0).unwrap_or_else(|e| panic!("step {step}: {e}"));
            if step % 1000 == 0 {
                let expected: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                assert_eq!(contents(&page), expected, "step {step}");
            }
        }
    }

    /// Replaying the same operations on a copy of the page gives the same bytes
    /// (the property redo recovery relies on).
    #[test]
    fn operations_are_deterministic() {
        let mut a = empty_node();
        for i in 0..100u32 {
            insert_at(&mut a, i as usize, &i.to_be_bytes(), &[1; 50]).unwrap();
        }
        let mut b = a.clone();
        for page in [&mut a, &mut b] {
            delete_at(page, 10).unwrap();
            update_payload(page, 20, &[2; 90]).unwrap();
            compact(page).unwrap();
            insert_at(page, 5, b"\x00\x00\x00\x04x", &[3; 7]).unwrap();
        }
        assert_eq!(a, b);
    }

    /// A corrupted slot or header is an error, never a panic or a wild read.
    #[test]
    fn damaged_nodes_are_reported() {
        let mut page = empty_node();
        insert_at(&mut page, 0, b"a", b"1").unwrap();
        let mut bad_slot = page.clone();
        write_u16(&mut bad_slot, slot_position(0), 60_000);
        assert!(matches!(
            record(&bad_slot, 0),
            Err(NodeError::BadRecord { .. })
        ));
        let mut bad_count = page.clone();
        write_u16(&mut bad_count, COUNT_OFFSET, 9000);
        assert!(matches!(
            record(&bad_count, 0),
            Err(NodeError::BadHeader { .. })
        ));
        assert!(matches!(
            record(&page, 1),
            Err(NodeError::SlotOutOfRange { .. })
        ));
        let mut bad_length = page.clone();
        let offset = usize::from(read_u16(&page, slot_position(0)));
        write_u16(&mut bad_length, offset, 50_000);
        assert!(matches!(
            record(&bad_length, 0),
            Err(NodeError::BadRecord { .. })
        ));
    }

    /// Oversized records are refused with the limit in the error.
    #[test]
    fn oversized_record_is_refused() {
        let mut page = empty_node();
        let big = vec![0u8; MAX_RECORD_BYTES + 1];
        assert_eq!(
            insert_at(&mut page, 0, b"k", &big),
            Err(NodeError::RecordTooLarge {
                record_bytes: MAX_RECORD_BYTES + 2
            })
        );
    }
}
