//! Reads the redo stream back for recovery: from the block holding the
//! checkpoint LSN, block by block across files, until the first block that
//! is torn, corrupt, stale (older generation than its predecessor) or
//! missing. Only whole mini-transactions (ending in `MtrEnd`) are handed
//! out; a partial one at the end never reached durability and is dropped.

use std::sync::Arc;

use floe_blk::{BlockDevice, BlockQueue};
use floe_rt::DmaBuffer;

use super::block::{
    block_start_lsn, lsn_position, parse_block, parse_redo_file_name, redo_file_name, FileHeader,
    LOG_BLOCK_BYTES, LOG_BLOCK_HEADER_BYTES, LOG_BLOCK_PAYLOAD_BYTES,
};
use super::record::Record;
use super::RedoError;
use crate::fil::{FileStore, Lsn};

/// Blocks read per device request during the scan (1 MiB).
const READ_BATCH_BLOCKS: u64 = 256;

pub struct RedoFile {
    pub header: FileHeader,
    pub device: Arc<dyn BlockDevice>,
}

/// Opens every redo file in the store, oldest first. A file whose header
/// does not verify is corruption, except for the newest file: the writer
/// flushes a new file's header before it writes any block there, so a bad
/// header on the newest file means power was lost while it was being
/// created and it holds nothing. That file is removed.
pub fn open_files(store: &dyn FileStore) -> Result<Vec<RedoFile>, RedoError> {
    let names = store.list().map_err(|source| RedoError::Store {
        file: "(list)".into(),
        source,
    })?;
    let mut numbered: Vec<(u64, String)> = names
        .into_iter()
        .filter_map(|name| Some((parse_redo_file_name(&name)?, name)))
        .collect();
    numbered.sort();
    let newest = numbered.last().map(|(file_no, _)| *file_no);
    let mut files = Vec::new();
    for (file_no, name) in numbered {
        let Some(device) = store.open(&name).map_err(|source| RedoError::Store {
            file: name.clone(),
            source,
        })?
        else {
            continue;
        };
        let mut queue = device.open_queue(1).map_err(|source| RedoError::Device {
            file: name.clone(),
            source,
        })?;
        let block = queue
            .read(0, DmaBuffer::new(LOG_BLOCK_BYTES))
            .map_err(|source| RedoError::Device {
                file: name.clone(),
                source,
            })?;
        let header = match FileHeader::parse(block.as_slice()) {
            Ok(header) => header,
            Err(e) if Some(file_no) == newest => {
                log::warn!("{name}: header unreadable ({e}); it was being created at the crash and holds no redo; removing it");
                drop(queue);
                store.remove(&name).map_err(|source| RedoError::Store {
                    file: name.clone(),
                    source,
                })?;
                continue;
            }
            Err(source) => return Err(RedoError::Block { file: name, source }),
        };
        if header.file_no != file_no {
            return Err(RedoError::Misnamed {
                file: name,
                found: header.file_no,
            });
        }
        files.push(RedoFile { header, device });
    }
    Ok(files)
}

/// Where the valid log ended: the writer resumes at `next_block_no`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanEnd {
    /// LSN just past the last whole mtr.
    pub end_lsn: Lsn,
    /// The first block after the last valid one.
    pub next_block_no: u64,
    /// The highest generation seen in a valid block (0 if none).
    pub generation: u32,
    /// Bytes of redo payload scanned (for the recovery speed figure).
    pub scanned_bytes: u64,
    pub mtr_count: u64,
}

/// Scans from `start` (an mtr boundary: a checkpoint LSN) and calls `apply`
/// with each whole mtr's records and its end LSN, in log order.
pub fn scan(
    files: &[RedoFile],
    start: Lsn,
    mut apply: impl FnMut(&[Record<'_>], Lsn) -> Result<(), RedoError>,
) -> Result<ScanEnd, RedoError> {
    let (mut block_no, start_offset) = lsn_position(start);
    let mut end = ScanEnd {
        end_lsn: start,
        next_block_no: block_no,
        generation: 0,
        scanned_bytes: 0,
        mtr_count: 0,
    };
    // Bytes of the mtr being assembled, and the LSN of its first byte.
    let mut pending: Vec<u8> = Vec::new();
    let mut skip = start_offset;
    let mut queues: Vec<Option<Box<dyn BlockQueue>>> = files.iter().map(|_| None).collect();
    let mut last_generation = 0u32;
    let mut batch: Option<(u64, DmaBuffer)> = None;
    while let Some(index) = files.iter().position(|f| f.header.contains(block_no)) {
        let file = &files[index];
        // Refill the batch when `block_no` is outside it.
        let in_batch = matches!(&batch, Some((first, buffer))
            if block_no >= *first && block_no < *first + (buffer.len_bytes() / LOG_BLOCK_BYTES) as u64);
        if !in_batch {
            let file_end = file.header.first_block_no + file.header.capacity_blocks;
            let count = READ_BATCH_BLOCKS.min(file_end - block_no);
            let name = redo_file_name(file.header.file_no);
            let queue =
                match &mut queues[index] {
                    Some(queue) => queue,
                    slot => slot.insert(file.device.open_queue(1).map_err(|source| {
                        RedoError::Device {
                            file: name.clone(),
                            source,
                        }
                    })?),
                };
            let block_bytes = u64::from(file.device.geometry().block_bytes);
            let buffer = match batch.take() {
                Some((_, buffer)) if buffer.len_bytes() == count as usize * LOG_BLOCK_BYTES => {
                    buffer
                }
                _ => DmaBuffer::new(count as usize * LOG_BLOCK_BYTES),
            };
            let lba = file.header.offset_bytes(block_no) / block_bytes;
            let buffer = queue
                .read(lba, buffer)
                .map_err(|source| RedoError::Device { file: name, source })?;
            batch = Some((block_no, buffer));
        }
        let Some((first, buffer)) = &batch else {
            unreachable!("batch filled above")
        };
        let at = (block_no - first) as usize * LOG_BLOCK_BYTES;
        let block = &buffer.as_slice()[at..at + LOG_BLOCK_BYTES];
        let header = match parse_block(block, block_no) {
            Ok(header) => header,
            Err(e) => {
                log::debug!("redo scan ends at block {block_no}: {e}");
                break;
            }
        };
        if header.generation < last_generation {
            log::debug!(
                "redo scan ends at block {block_no}: generation {} after {last_generation} (stale)",
                header.generation
            );
            break;
        }
        if header.generation > last_generation && !pending.is_empty() {
            // A restarted writer begins with a fresh mtr at a block start;
            // the partial mtr before it never completed and is dropped.
            log::debug!(
                "redo block {block_no}: writer restarted (generation {}); dropping {} bytes of an unfinished mtr",
                header.generation,
                pending.len()
            );
            pending.clear();
        }
        last_generation = header.generation;
        end.generation = end.generation.max(header.generation);
        let data = &block[LOG_BLOCK_HEADER_BYTES..LOG_BLOCK_HEADER_BYTES + header.data_bytes];
        let data = data.get(skip..).unwrap_or(&[]);
        skip = 0;
        end.scanned_bytes += data.len() as u64;
        pending.extend_from_slice(data);
        let data_end_lsn = Lsn(block_start_lsn(block_no).0 + header.data_bytes as u64);
        // Hand out every whole mtr in `pending`.
        let mut consumed = 0;
        loop {
            let mut rest = &pending[consumed..];
            let mut whole = None;
            let mut local: Vec<Record<'_>> = Vec::new();
            while !rest.is_empty() {
                match Record::parse(rest) {
                    Ok((Record::MtrEnd, tail)) => {
                        whole = Some(pending.len() - tail.len());
                        break;
                    }
                    Ok((record, tail)) => {
                        local.push(record);
                        rest = tail;
                    }
                    Err(super::record::RecordError::Truncated { .. }) => break,
                    Err(source) => {
                        let lsn = Lsn(data_end_lsn.0 - (pending.len() - consumed) as u64);
                        return Err(RedoError::Corrupt { lsn, source });
                    }
                }
            }
            let Some(mtr_end) = whole else { break };
            let mtr_end_lsn = Lsn(data_end_lsn.0 - (pending.len() - mtr_end) as u64);
            apply(&local, mtr_end_lsn)?;
            end.end_lsn = mtr_end_lsn;
            end.mtr_count += 1;
            consumed = mtr_end;
        }
        pending.drain(..consumed);
        end.next_block_no = block_no + 1;
        if header.data_bytes < LOG_BLOCK_PAYLOAD_BYTES {
            // A flush closed this block: the stream resumes at the next
            // block, and an mtr never spans such a jump.
            if !pending.is_empty() {
                log::warn!(
                    "redo block {block_no}: {} bytes of an mtr cut by a flush boundary; ignored",
                    pending.len()
                );
                break;
            }
        }
        block_no += 1;
    }
    Ok(end)
}
