//! Log blocks and redo file headers.
//!
//! The redo stream is cut into 4 KiB blocks, each sealed with CRC32C:
//!
//! ```text
//! offset bytes field (LE)
//!      0     4 crc32c of bytes 4..4096
//!      4     4 magic 0x474F_4C46 ("FLOG")
//!      8     1 format version (1)
//!      9     3 reserved (zero)
//!     12     4 generation: the writer's start-up count (see below)
//!     16     8 block number in the whole stream
//!     24     2 data bytes: payload bytes used (at most LOG_BLOCK_PAYLOAD_BYTES)
//!     26     2 first mtr offset: payload offset of the first mtr that starts
//!              here, NO_MTR_START when none does (a replica joins there)
//!     28  4068 payload
//! ```
//!
//! An LSN is `block number * LOG_BLOCK_PAYLOAD_BYTES + payload offset`. A
//! block that was made durable is never rewritten: when a flush leaves a
//! block partly filled, the stream jumps to the next block, so a crash can
//! never tear an acknowledged commit. A block whose generation is lower than
//! its predecessor's is stale (left by a writer that crashed before
//! recovery truncated its tail) and ends the log, as does any bad CRC,
//! magic, version or block number.
//!
//! A redo file `redo.NNNNNN` starts with one 4 KiB header block:
//!
//! ```text
//!      0     4 crc32c of bytes 4..4096
//!      4     4 magic 0x4F44_5246 ("FRDO")
//!      8     2 format version (1)
//!     10     6 reserved
//!     16     8 file number
//!     24     8 block number of the file's first log block
//!     32     8 capacity in log blocks
//! ```
//! followed by `capacity` log blocks. Files are numbered upward and never
//! reused; the log is never circular.

use crate::fil::{read_u16, read_u32, read_u64, write_u16, write_u32, write_u64, Lsn};

pub const LOG_BLOCK_BYTES: usize = 4096;
pub const LOG_BLOCK_HEADER_BYTES: usize = 28;
pub const LOG_BLOCK_PAYLOAD_BYTES: usize = LOG_BLOCK_BYTES - LOG_BLOCK_HEADER_BYTES;
pub const LOG_BLOCK_MAGIC: u32 = 0x474F_4C46;
pub const REDO_FILE_MAGIC: u32 = 0x4F44_5246;
pub const LOG_VERSIONS_KNOWN: &[u16] = &[1];
pub const LOG_VERSION: u16 = 1;
pub const NO_MTR_START: u16 = u16::MAX;

const _: () = assert!(LOG_BLOCK_PAYLOAD_BYTES < NO_MTR_START as usize);

/// The block that holds `lsn`, and the payload offset in it.
pub fn lsn_position(lsn: Lsn) -> (u64, usize) {
    let payload = LOG_BLOCK_PAYLOAD_BYTES as u64;
    (lsn.0 / payload, (lsn.0 % payload) as usize)
}

pub fn block_start_lsn(block_no: u64) -> Lsn {
    Lsn(block_no * LOG_BLOCK_PAYLOAD_BYTES as u64)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    #[error("log block {expected}: crc32c {found:#010x} stored, {computed:#010x} computed")]
    Checksum {
        expected: u64,
        found: u32,
        computed: u32,
    },
    #[error("log block {expected}: bad magic {found:#010x}")]
    BadMagic { expected: u64, found: u32 },
    #[error("log block {expected}: format version {found}; this build reads {known:?}")]
    UnknownVersion {
        expected: u64,
        found: u16,
        known: &'static [u16],
    },
    #[error("log block {expected}: holds block {found} (stale or misplaced)")]
    WrongBlock { expected: u64, found: u64 },
    #[error("log block {expected}: {data_bytes} data bytes or mtr start {first_mtr_offset} out of range")]
    BadLength {
        expected: u64,
        data_bytes: usize,
        first_mtr_offset: u16,
    },
    #[error("redo file: crc32c {found:#010x} stored, {computed:#010x} computed")]
    FileChecksum { found: u32, computed: u32 },
    #[error("redo file: bad magic {found:#010x}")]
    FileBadMagic { found: u32 },
    #[error("redo file: format version {found}; this build reads {known:?}")]
    FileUnknownVersion { found: u16, known: &'static [u16] },
}

/// A validated log block header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub generation: u32,
    pub block_no: u64,
    pub data_bytes: usize,
    pub first_mtr_offset: u16,
}

/// Seals `block` (exactly `LOG_BLOCK_BYTES`): writes its header and CRC.
pub fn seal_block(block: &mut [u8], header: BlockHeader) {
    assert_eq!(block.len(), LOG_BLOCK_BYTES);
    assert!(header.data_bytes <= LOG_BLOCK_PAYLOAD_BYTES);
    assert!(
        header.first_mtr_offset == NO_MTR_START
            || usize::from(header.first_mtr_offset) < header.data_bytes
    );
    write_u32(block, 4, LOG_BLOCK_MAGIC);
    write_u16(block, 8, LOG_VERSION);
    block[10..12].fill(0);
    write_u32(block, 12, header.generation);
    write_u64(block, 16, header.block_no);
    write_u16(block, 24, header.data_bytes as u16);
    write_u16(block, 26, header.first_mtr_offset);
    let crc = crc32c::crc32c(&block[4..]);
    write_u32(block, 0, crc);
}

/// Checks a block read from where block `expected` belongs.
pub fn parse_block(block: &[u8], expected: u64) -> Result<BlockHeader, BlockError> {
    assert_eq!(block.len(), LOG_BLOCK_BYTES);
    let found = read_u32(block, 0);
    let computed = crc32c::crc32c(&block[4..]);
    if found != computed {
        return Err(BlockError::Checksum {
            expected,
            found,
            computed,
        });
    }
    let magic = read_u32(block, 4);
    if magic != LOG_BLOCK_MAGIC {
        return Err(BlockError::BadMagic {
            expected,
            found: magic,
        });
    }
    let version = read_u16(block, 8);
    if !LOG_VERSIONS_KNOWN.contains(&version) {
        return Err(BlockError::UnknownVersion {
            expected,
            found: version,
            known: LOG_VERSIONS_KNOWN,
        });
    }
    let block_no = read_u64(block, 16);
    if block_no != expected {
        return Err(BlockError::WrongBlock {
            expected,
            found: block_no,
        });
    }
    let data_bytes = usize::from(read_u16(block, 24));
    let first_mtr_offset = read_u16(block, 26);
    if data_bytes > LOG_BLOCK_PAYLOAD_BYTES
        || (first_mtr_offset != NO_MTR_START && usize::from(first_mtr_offset) >= data_bytes)
    {
        return Err(BlockError::BadLength {
            expected,
            data_bytes,
            first_mtr_offset,
        });
    }
    Ok(BlockHeader {
        generation: read_u32(block, 12),
        block_no,
        data_bytes,
        first_mtr_offset,
    })
}

pub fn payload(block: &[u8]) -> &[u8] {
    &block[LOG_BLOCK_HEADER_BYTES..]
}

pub fn payload_mut(block: &mut [u8]) -> &mut [u8] {
    &mut block[LOG_BLOCK_HEADER_BYTES..]
}

/// A redo file's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub file_no: u64,
    pub first_block_no: u64,
    pub capacity_blocks: u64,
}

impl FileHeader {
    pub fn encode(&self, block: &mut [u8]) {
        assert_eq!(block.len(), LOG_BLOCK_BYTES);
        block.fill(0);
        write_u32(block, 4, REDO_FILE_MAGIC);
        write_u16(block, 8, LOG_VERSION);
        write_u64(block, 16, self.file_no);
        write_u64(block, 24, self.first_block_no);
        write_u64(block, 32, self.capacity_blocks);
        let crc = crc32c::crc32c(&block[4..]);
        write_u32(block, 0, crc);
    }

    pub fn parse(block: &[u8]) -> Result<Self, BlockError> {
        assert_eq!(block.len(), LOG_BLOCK_BYTES);
        let found = read_u32(block, 0);
        let computed = crc32c::crc32c(&block[4..]);
        if found != computed {
            return Err(BlockError::FileChecksum { found, computed });
        }
        let magic = read_u32(block, 4);
        if magic != REDO_FILE_MAGIC {
            return Err(BlockError::FileBadMagic { found: magic });
        }
        let version = read_u16(block, 8);
        if !LOG_VERSIONS_KNOWN.contains(&version) {
            return Err(BlockError::FileUnknownVersion {
                found: version,
                known: LOG_VERSIONS_KNOWN,
            });
        }
        Ok(Self {
            file_no: read_u64(block, 16),
            first_block_no: read_u64(block, 24),
            capacity_blocks: read_u64(block, 32),
        })
    }

    /// Bytes the file needs on its device.
    pub fn file_bytes(capacity_blocks: u64) -> u64 {
        (capacity_blocks + 1) * LOG_BLOCK_BYTES as u64
    }

    pub fn contains(&self, block_no: u64) -> bool {
        block_no >= self.first_block_no && block_no < self.first_block_no + self.capacity_blocks
    }

    /// Byte offset of a block within this file.
    pub fn offset_bytes(&self, block_no: u64) -> u64 {
        assert!(self.contains(block_no));
        (block_no - self.first_block_no + 1) * LOG_BLOCK_BYTES as u64
    }
}

pub fn redo_file_name(file_no: u64) -> String {
    format!("redo.{file_no:06}")
}

/// The number in a redo file's name, if it is one.
pub fn parse_redo_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("redo.")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut block = vec![0u8; LOG_BLOCK_BYTES];
        payload_mut(&mut block)[..3].copy_from_slice(b"abc");
        seal_block(
            &mut block,
            BlockHeader {
                generation: 2,
                block_no: 41,
                data_bytes: 3,
                first_mtr_offset: 0,
            },
        );
        block
    }

    /// A sealed block parses back to its header; damage is reported precisely.
    #[test]
    fn blocks_seal_and_verify() {
        let block = sample();
        let header = parse_block(&block, 41).unwrap();
        assert_eq!(header.data_bytes, 3);
        assert_eq!(header.generation, 2);
        assert_eq!(&payload(&block)[..3], b"abc");
        assert_eq!(
            parse_block(&block, 42),
            Err(BlockError::WrongBlock {
                expected: 42,
                found: 41
            })
        );
        let mut flipped = block.clone();
        flipped[100] ^= 4;
        assert!(matches!(
            parse_block(&flipped, 41),
            Err(BlockError::Checksum { .. })
        ));
        let zero = vec![0u8; LOG_BLOCK_BYTES];
        assert!(parse_block(&zero, 41).is_err());
    }

    /// Header and file-name codecs round-trip; foreign names are refused.
    #[test]
    fn file_header_and_names() {
        let header = FileHeader {
            file_no: 3,
            first_block_no: 1000,
            capacity_blocks: 256,
        };
        let mut block = vec![0u8; LOG_BLOCK_BYTES];
        header.encode(&mut block);
        assert_eq!(FileHeader::parse(&block), Ok(header));
        assert_eq!(header.offset_bytes(1000), 4096);
        assert!(!header.contains(1256));
        block[8] = 7;
        assert!(FileHeader::parse(&block).is_err());
        assert_eq!(redo_file_name(12), "redo.000012");
        assert_eq!(parse_redo_file_name("redo.000012"), Some(12));
        assert_eq!(parse_redo_file_name("redo.12"), None);
        assert_eq!(parse_redo_file_name("data"), None);
    }

    /// LSN arithmetic agrees with block starts.
    #[test]
    fn lsn_positions() {
        let lsn = Lsn(3 * LOG_BLOCK_PAYLOAD_BYTES as u64 + 17);
        assert_eq!(lsn_position(lsn), (3, 17));
        assert_eq!(block_start_lsn(3), Lsn(3 * LOG_BLOCK_PAYLOAD_BYTES as u64));
    }
}
