//! The control file: where recovery starts. Two 4 KiB slots, written in
//! turn (slot = sequence % 2), so a torn write of one leaves the other:
//!
//! ```text
//! offset bytes field (LE)
//!      0     4 crc32c of bytes 4..4096
//!      4     4 magic 0x4C54_4346 ("FCTL")
//!      8     2 format version (1)
//!     10     6 reserved
//!     16     8 sequence: higher is newer
//!     24     8 checkpoint LSN: every change below it is in the data files
//!     32     4 log generation of the writer that runs after this record
//!     36     4 reserved
//!     40     8 page count of space 0 known at the checkpoint (informational)
//! ```

use crate::fil::{read_u16, read_u32, read_u64, write_u16, write_u32, write_u64, Lsn};

pub const CONTROL_FILE_NAME: &str = "control";
pub const CONTROL_SLOT_BYTES: usize = 4096;
pub const CONTROL_FILE_BYTES: u64 = 2 * CONTROL_SLOT_BYTES as u64;
const CONTROL_MAGIC: u32 = 0x4C54_4346;
const CONTROL_VERSIONS_KNOWN: &[u16] = &[1];
const CONTROL_VERSION: u16 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlRecord {
    pub sequence: u64,
    pub checkpoint_lsn: Lsn,
    pub log_generation: u32,
    pub space_pages: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("control slot: crc32c {found:#010x} stored, {computed:#010x} computed")]
    Checksum { found: u32, computed: u32 },
    #[error("control slot: bad magic {found:#010x}")]
    BadMagic { found: u32 },
    #[error("control slot: format version {found}; this build reads {known:?}")]
    UnknownVersion { found: u16, known: &'static [u16] },
}

impl ControlRecord {
    pub fn slot(&self) -> u64 {
        self.sequence % 2
    }

    pub fn encode(&self, slot: &mut [u8]) {
        assert_eq!(slot.len(), CONTROL_SLOT_BYTES);
        slot.fill(0);
        write_u32(slot, 4, CONTROL_MAGIC);
        write_u16(slot, 8, CONTROL_VERSION);
        write_u64(slot, 16, self.sequence);
        write_u64(slot, 24, self.checkpoint_lsn.0);
        write_u32(slot, 32, self.log_generation);
        write_u64(slot, 40, self.space_pages);
        let crc = crc32c::crc32c(&slot[4..]);
        write_u32(slot, 0, crc);
    }

    pub fn parse(slot: &[u8]) -> Result<Self, ControlError> {
        assert_eq!(slot.len(), CONTROL_SLOT_BYTES);
        let found = read_u32(slot, 0);
        let computed = crc32c::crc32c(&slot[4..]);
        if found != computed {
            return Err(ControlError::Checksum { found, computed });
        }
        let magic = read_u32(slot, 4);
        if magic != CONTROL_MAGIC {
            return Err(ControlError::BadMagic { found: magic });
        }
        let version = read_u16(slot, 8);
        if !CONTROL_VERSIONS_KNOWN.contains(&version) {
            return Err(ControlError::UnknownVersion {
                found: version,
                known: CONTROL_VERSIONS_KNOWN,
            });
        }
        Ok(Self {
            sequence: read_u64(slot, 16),
            checkpoint_lsn: Lsn(read_u64(slot, 24)),
            log_generation: read_u32(slot, 32),
            space_pages: read_u64(slot, 40),
        })
    }

    /// The newer of two slots; an error only when neither is valid.
    pub fn newest(
        first: Result<Self, ControlError>,
        second: Result<Self, ControlError>,
    ) -> Result<Self, ControlError> {
        match (first, second) {
            (Ok(a), Ok(b)) => Ok(if a.sequence >= b.sequence { a } else { b }),
            (Ok(a), Err(_)) | (Err(_), Ok(a)) => Ok(a),
            (Err(e), Err(_)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Round trip, damage detection, and the newer valid slot winning.
    #[test]
    fn control_slots() {
        let record = ControlRecord {
            sequence: 5,
            checkpoint_lsn: Lsn(999),
            log_generation: 3,
            space_pages: 64,
        };
        let mut slot = vec![0u8; CONTROL_SLOT_BYTES];
        record.encode(&mut slot);
        assert_eq!(ControlRecord::parse(&slot), Ok(record));
        let older = ControlRecord {
            sequence: 4,
            ..record
        };
        assert_eq!(ControlRecord::newest(Ok(older), Ok(record)), Ok(record));
        slot[40] ^= 1;
        let damaged = ControlRecord::parse(&slot);
        assert!(matches!(damaged, Err(ControlError::Checksum { .. })));
        assert_eq!(ControlRecord::newest(damaged, Ok(older)), Ok(older));
        assert!(ControlRecord::newest(
            Err(ControlError::BadMagic { found: 0 }),
            Err(ControlError::BadMagic { found: 1 })
        )
        .is_err());
    }
}
