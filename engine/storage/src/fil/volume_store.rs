//! `VolumeStore`: the engine's files laid out on one block device (an NVMe
//! namespace in the appliance) — the degenerate single-device volume until
//! engine/pfs exists. Each file is an extent of the device, seen through a
//! `SliceDevice` that checks every request against the extent's bounds.
//!
//! On-device layout (all LE):
//! ```text
//! bytes 0..64 KiB    not touched (the appliance keeps its disk header there)
//! 64 KiB + 0..4096   file table slot 0 } written in turn (slot = sequence % 2),
//! 64 KiB + 4096..    file table slot 1 } so a torn write leaves the other
//! bytes 1 MiB..      file extents, 1 MiB aligned
//! table slot: crc32c of bytes 4..4096 u32 | magic "FVOL" u32 | version u16
//!   | reserved u16 | sequence u64 | entry count u16 | reserved 6 |
//!   entries: name [u8; 40] (NUL padded) | start_bytes u64 | capacity_bytes u64
//! ```
//! Files are zero-filled when created (the `FileStore` contract), so an
//! extent reused after a remove never shows an old file's bytes.

use std::sync::Arc;

use floe_blk::{BlockDevice, BlockOp, BlockQueue, Completion, Geometry, SubmitError, Tag};
use floe_rt::sync::Mutex;
use floe_rt::DmaBuffer;

use super::{
    read_u16, read_u32, read_u64, write_u16, write_u32, write_u64, FileStore, Space, StoreError,
};

const SLOT_BYTES: usize = 4096;
/// Where the file table starts: the first 64 KiB belong to whoever owns the disk.
const TABLE_OFFSET_BYTES: u64 = 64 << 10;
const TABLE_MAGIC: u32 = 0x4C4F_5646; // "FVOL"
const TABLE_VERSION: u16 = 1;
const NAME_BYTES: usize = 40;
const ENTRY_BYTES: usize = NAME_BYTES + 16;
const ENTRIES_OFFSET: usize = 32;
/// Files a volume holds at most.
pub const MAX_FILES: usize = (SLOT_BYTES - ENTRIES_OFFSET) / ENTRY_BYTES;
const EXTENT_ALIGN_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    name: String,
    start_bytes: u64,
    capacity_bytes: u64,
}

struct Table {
    sequence: u64,
    entries: Vec<Entry>,
}

pub struct VolumeStore {
    device: Arc<dyn BlockDevice>,
    block_bytes: u64,
    table: Mutex<Table>,
}

fn io_error(what: &'static str, name: &str, source: floe_blk::Error) -> StoreError {
    StoreError::Io {
        what,
        name: name.to_string(),
        source: std::io::Error::other(source.to_string()),
    }
}

fn parse_slot(slot: &[u8]) -> Option<Table> {
    if read_u32(slot, 0) != crc32c::crc32c(&slot[4..])
        || read_u32(slot, 4) != TABLE_MAGIC
        || read_u16(slot, 8) != TABLE_VERSION
    {
        return None;
    }
    let count = usize::from(read_u16(slot, 20));
    if count > MAX_FILES {
        return None;
    }
    let mut entries = Vec::with_capacity(count);
    for i in 0..count {
        let at = ENTRIES_OFFSET + i * ENTRY_BYTES;
        let raw = &slot[at..at + NAME_BYTES];
        let name_len = raw.iter().position(|&b| b == 0).unwrap_or(NAME_BYTES);
        let name = std::str::from_utf8(&raw[..name_len]).ok()?.to_string();
        entries.push(Entry {
            name,
            start_bytes: read_u64(slot, at + NAME_BYTES),
            capacity_bytes: read_u64(slot, at + NAME_BYTES + 8),
        });
    }
    Some(Table {
        sequence: read_u64(slot, 12),
        entries,
    })
}

impl VolumeStore {
    /// Opens the volume on `device`; `format` writes an empty table when the
    /// device holds none (a blank device). A device with something else on
    /// it and no table is refused, never overwritten.
    pub fn open(device: Arc<dyn BlockDevice>, format: bool) -> Result<Self, StoreError> {
        let name = device.describe();
        let block_bytes = u64::from(device.geometry().block_bytes);
        if device.geometry().capacity_bytes() < 2 * EXTENT_ALIGN_BYTES {
            return Err(StoreError::Io {
                what: "opening volume",
                name,
                source: std::io::Error::other("device smaller than 2 MiB"),
            });
        }
        let slots = device
            .read(
                TABLE_OFFSET_BYTES / block_bytes,
                DmaBuffer::new(2 * SLOT_BYTES),
            )
            .map_err(|e| io_error("reading the file table of", &name, e))?;
        let (a, b) = slots.as_slice().split_at(SLOT_BYTES);
        let table = match (parse_slot(a), parse_slot(b)) {
            (Some(x), Some(y)) => Some(if x.sequence >= y.sequence { x } else { y }),
            (Some(x), None) | (None, Some(x)) => Some(x),
            (None, None) => None,
        };
        let store = Self {
            device,
            block_bytes,
            table: Mutex::new(Table {
                sequence: 0,
                entries: Vec::new(),
            }),
        };
        match table {
            Some(table) => *store.lock() = table,
            None if !format => {
                return Err(StoreError::Io {
                    what: "opening volume",
                    name,
                    source: std::io::Error::other(
                        "no Floe file table on this device (format it first)",
                    ),
                })
            }
            None => {
                let blank = slots.as_slice().iter().all(|&byte| byte == 0);
                if !blank {
                    return Err(StoreError::Io {
                        what: "formatting volume",
                        name,
                        source: std::io::Error::other("the device holds data that is not a Floe volume; refusing to overwrite it"),
                    });
                }
                store.write_table(&mut store.lock(), "(format)")?;
            }
        }
        Ok(store)
    }

    fn lock(&self) -> floe_rt::sync::MutexGuard<'_, Table> {
        self.table.lock()
    }

    fn write_table(&self, table: &mut Table, name: &str) -> Result<(), StoreError> {
        let sequence = table.sequence + 1;
        let mut slot = DmaBuffer::new(SLOT_BYTES);
        let bytes = slot.as_mut_slice();
        write_u32(bytes, 4, TABLE_MAGIC);
        write_u16(bytes, 8, TABLE_VERSION);
        write_u64(bytes, 12, sequence);
        write_u16(bytes, 20, table.entries.len() as u16);
        for (i, entry) in table.entries.iter().enumerate() {
            let at = ENTRIES_OFFSET + i * ENTRY_BYTES;
            bytes[at..at + entry.name.len()].copy_from_slice(entry.name.as_bytes());
            write_u64(bytes, at + NAME_BYTES, entry.start_bytes);
            write_u64(bytes, at + NAME_BYTES + 8, entry.capacity_bytes);
        }
        let crc = crc32c::crc32c(&bytes[4..]);
        write_u32(bytes, 0, crc);
        let lba = (TABLE_OFFSET_BYTES + (sequence % 2) * SLOT_BYTES as u64) / self.block_bytes;
        self.device
            .write(lba, slot)
            .map_err(|e| io_error("writing the file table for", name, e))?;
        self.device
            .flush()
            .map_err(|e| io_error("writing the file table for", name, e))?;
        table.sequence = sequence;
        Ok(())
    }

    fn slice(&self, entry: &Entry) -> Arc<dyn BlockDevice> {
        Arc::new(SliceDevice {
            device: self.device.clone(),
            first_lba: entry.start_bytes / self.block_bytes,
            capacity_blocks: entry.capacity_bytes / self.block_bytes,
            name: format!("{}:{}", self.device.describe(), entry.name),
        })
    }
}

impl FileStore for VolumeStore {
    fn create(
        &self,
        name: &str,
        capacity_bytes: u64,
        _space: Space,
    ) -> Result<Arc<dyn BlockDevice>, StoreError> {
        if name.is_empty() || name.len() > NAME_BYTES || name.as_bytes().contains(&0) {
            return Err(StoreError::Io {
                what: "refusing file name",
                name: name.to_string(),
                source: std::io::Error::other("1 to 40 bytes, no NUL"),
            });
        }
        let mut table = self.lock();
        if table.entries.iter().any(|e| e.name == name) {
            return Err(StoreError::Exists {
                name: name.to_string(),
            });
        }
        if table.entries.len() >= MAX_FILES {
            return Err(StoreError::Io {
                what: "creating",
                name: name.to_string(),
                source: std::io::Error::other(format!(
                    "the volume holds {MAX_FILES} files at most"
                )),
            });
        }
        // Extents on the volume: whole 1 MiB units (a multiple of any block size).
        let capacity_bytes =
            capacity_bytes.div_ceil(EXTENT_ALIGN_BYTES).max(1) * EXTENT_ALIGN_BYTES;
        let mut taken: Vec<(u64, u64)> = table
            .entries
            .iter()
            .map(|e| (e.start_bytes, e.start_bytes + e.capacity_bytes))
            .collect();
        taken.sort_unstable();
        let volume_end =
            self.device.geometry().capacity_bytes() / EXTENT_ALIGN_BYTES * EXTENT_ALIGN_BYTES;
        let mut start = EXTENT_ALIGN_BYTES;
        for (taken_start, taken_end) in taken {
            if start + capacity_bytes <= taken_start {
                break;
            }
            start = start.max(taken_end);
        }
        if start + capacity_bytes > volume_end {
            return Err(StoreError::Io {
                what: "creating",
                name: name.to_string(),
                source: std::io::Error::other(format!(
                    "no free extent of {capacity_bytes} bytes on a volume of {volume_end} bytes"
                )),
            });
        }
        let entry = Entry {
            name: name.to_string(),
            start_bytes: start,
            capacity_bytes,
        };
        // Zero the extent before the table names it: a crash in between
        // leaves free space, never a file showing another's bytes.
        super::write_zeros(self.device.as_ref(), start, capacity_bytes)
            .map_err(|e| io_error("zeroing", name, e))?;
        table.entries.push(entry.clone());
        if let Err(e) = self.write_table(&mut table, name) {
            table.entries.pop();
            return Err(e);
        }
        Ok(self.slice(&entry))
    }

    fn open(&self, name: &str) -> Result<Option<Arc<dyn BlockDevice>>, StoreError> {
        Ok(self
            .lock()
            .entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| self.slice(e)))
    }

    fn remove(&self, name: &str) -> Result<(), StoreError> {
        let mut table = self.lock();
        let Some(index) = table.entries.iter().position(|e| e.name == name) else {
            return Ok(());
        };
        let entry = table.entries.remove(index);
        if let Err(e) = self.write_table(&mut table, name) {
            table.entries.insert(index, entry);
            return Err(e);
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self.lock().entries.iter().map(|e| e.name.clone()).collect();
        names.sort();
        Ok(names)
    }

    fn describe(&self) -> String {
        format!("volume on {}", self.device.describe())
    }
}

/// A window `[first_lba, first_lba + capacity_blocks)` of a device.
struct SliceDevice {
    device: Arc<dyn BlockDevice>,
    first_lba: u64,
    capacity_blocks: u64,
    name: String,
}

impl BlockDevice for SliceDevice {
    fn geometry(&self) -> Geometry {
        Geometry {
            capacity_blocks: self.capacity_blocks,
            ..self.device.geometry()
        }
    }

    fn open_queue(&self, depth: u32) -> Result<Box<dyn BlockQueue>, floe_blk::Error> {
        Ok(Box::new(SliceQueue {
            inner: self.device.open_queue(depth)?,
            first_lba: self.first_lba,
            geometry: self.geometry(),
        }))
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn run(
        &self,
        op: BlockOp,
        buffer: Option<DmaBuffer>,
    ) -> Result<Option<DmaBuffer>, floe_blk::Error> {
        // Through the volume device's own channels: one queue per core for
        // the whole device, however many files it holds.
        self.geometry().check_request(op, buffer.as_ref())?;
        self.device.run(shift(op, self.first_lba), buffer)
    }
}

/// `op` moved `first_lba` blocks up the device.
fn shift(op: BlockOp, first_lba: u64) -> BlockOp {
    match op {
        BlockOp::Read { lba } => BlockOp::Read {
            lba: lba + first_lba,
        },
        BlockOp::Write { lba } => BlockOp::Write {
            lba: lba + first_lba,
        },
        BlockOp::Deallocate { lba, block_count } => BlockOp::Deallocate {
            lba: lba + first_lba,
            block_count,
        },
        BlockOp::Flush => BlockOp::Flush,
    }
}

struct SliceQueue {
    inner: Box<dyn BlockQueue>,
    first_lba: u64,
    geometry: Geometry,
}

impl BlockQueue for SliceQueue {
    fn submit(
        &mut self,
        op: BlockOp,
        buffer: Option<DmaBuffer>,
        tag: Tag,
    ) -> Result<(), SubmitError> {
        // Bounds are checked against the slice, then shifted onto the device.
        if let Err(e) = self.geometry.check_request(op, buffer.as_ref()) {
            return Err(SubmitError::Invalid(e));
        }
        match self.inner.submit(shift(op, self.first_lba), buffer, tag) {
            Err(SubmitError::Busy { buffer, tag, .. }) => {
                Err(SubmitError::Busy { op, buffer, tag })
            }
            other => other,
        }
    }

    fn poll(&mut self, completions: &mut Vec<Completion>, max: usize) -> usize {
        self.inner.poll(completions, max)
    }

    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }
}

#[cfg(test)]
mod tests;
