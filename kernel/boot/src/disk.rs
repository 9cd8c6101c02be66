//! The data disk's header: proves that the appliance reaches its disk and
//! that what it writes survives a power cycle, until the storage engine owns
//! the disk. Formats only a blank disk and only when asked
//! (`floe.format=auto`); anything else on the disk is refused, untouched.
//!
//! Header, block 0 of the disk (4096 bytes, little-endian):
//!
//! | offset | bytes | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `FLOEDISK` |
//! | 8 | 2 | format version (1) |
//! | 10 | 2 | reserved, zero |
//! | 12 | 4 | header bytes covered by the CRC (64) |
//! | 16 | 16 | disk id, random at format |
//! | 32 | 8 | formatted at, Unix seconds |
//! | 40 | 8 | boot count: bumped on every open, synced before serving |
//! | 48 | 12 | reserved, zero |
//! | 60 | 4 | CRC32C of bytes 0..60 |
//!
//! The rest of the block is zero. Written with one 4 KiB write and fsync.
//! Device assumption: writes are atomic per sector (NVMe guarantees at
//! least one LBA). The 64 header bytes sit in sector 0, so a power cut
//! during the boot-count update leaves the old or the new header, never a
//! mix that would fail its CRC.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::config::FormatPolicy;

pub const HEADER_BLOCK_BYTES: usize = 4096;
const HEADER_BYTES: usize = 64;
const MAGIC: &[u8; 8] = b"FLOEDISK";
const VERSION: u16 = 1;
const KNOWN_VERSIONS: &[u16] = &[1];
/// How much of a disk must be zero for us to call it blank: enough to cover
/// partition tables (GPT ends at 17 KiB) and file-system superblocks.
const BLANK_CHECK_BYTES: usize = 1024 * 1024;
const _: () = assert!(HEADER_BYTES <= HEADER_BLOCK_BYTES);
const _: () = assert!(BLANK_CHECK_BYTES.is_multiple_of(HEADER_BLOCK_BYTES));

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{path}: {action}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: holds data that is not a Floe disk (first bytes {first_bytes}); refusing to touch it. Wipe it yourself if it is meant for Floe")]
    Foreign { path: PathBuf, first_bytes: String },
    #[error("{path}: blank disk and floe.format=never; boot with floe.format=auto to format it")]
    BlankNotFormatting { path: PathBuf },
    #[error("{path}: Floe disk format version {found}; this build reads {known:?}")]
    UnknownVersion {
        path: PathBuf,
        found: u16,
        known: &'static [u16],
    },
    #[error("{path}: header crc32c {found:#010x}, computed {computed:#010x}: header is corrupt")]
    Checksum {
        path: PathBuf,
        found: u32,
        computed: u32,
    },
    #[error("{path}: header is malformed: {reason}")]
    Malformed { path: PathBuf, reason: &'static str },
    #[error("{path}: smaller ({capacity_bytes} bytes) than one header block")]
    TooSmall { path: PathBuf, capacity_bytes: u64 },
}

/// The validated header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub disk_id: [u8; 16],
    pub formatted_at_unix_s: u64,
    pub boot_count: u64,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut block = vec![0u8; HEADER_BLOCK_BYTES];
        block[0..8].copy_from_slice(MAGIC);
        block[8..10].copy_from_slice(&VERSION.to_le_bytes());
        block[12..16].copy_from_slice(&(HEADER_BYTES as u32).to_le_bytes());
        block[16..32].copy_from_slice(&self.disk_id);
        block[32..40].copy_from_slice(&self.formatted_at_unix_s.to_le_bytes());
        block[40..48].copy_from_slice(&self.boot_count.to_le_bytes());
        let crc = crc32c::crc32c(&block[..60]);
        block[60..64].copy_from_slice(&crc.to_le_bytes());
        block
    }

    /// Parses block 0. `Ok(None)`: the block is not a Floe header at all.
    pub fn decode(path: &Path, block: &[u8]) -> Result<Option<Header>, DiskError> {
        let malformed = |reason| DiskError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let Some(header) = block.get(..HEADER_BYTES) else {
            return Err(malformed("shorter than 64 bytes"));
        };
        if &header[0..8] != MAGIC {
            return Ok(None);
        }
        let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let u32_at = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let u64_at = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&header[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        let version = u16_at(8);
        if !KNOWN_VERSIONS.contains(&version) {
            return Err(DiskError::UnknownVersion {
                path: path.to_path_buf(),
                found: version,
                known: KNOWN_VERSIONS,
            });
        }
        let found = u32_at(60);
        let computed = crc32c::crc32c(&header[..60]);
        if found != computed {
            return Err(DiskError::Checksum {
                path: path.to_path_buf(),
                found,
                computed,
            });
        }
        if u32_at(12) as usize != HEADER_BYTES {
            return Err(malformed("header length is not 64"));
        }
        let mut disk_id = [0u8; 16];
        disk_id.copy_from_slice(&header[16..32]);
        Ok(Some(Header {
            disk_id,
            formatted_at_unix_s: u64_at(32),
            boot_count: u64_at(40),
        }))
    }

    pub fn disk_id_hex(&self) -> String {
        self.disk_id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What opening the disk found and did.
#[derive(Debug, Clone)]
pub struct OpenedDisk {
    pub path: PathBuf,
    pub header: Header,
    pub formatted_now: bool,
    pub capacity_bytes: u64,
}

/// Opens the disk at `path`: validates its header, formats it if blank and
/// allowed, bumps the boot count and syncs it.
pub fn open(path: &Path, policy: FormatPolicy, now_unix_s: u64) -> Result<OpenedDisk, DiskError> {
    let io = |action| {
        move |source| DiskError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io("opening read-write"))?;
    let capacity_bytes = capacity_bytes(&file).map_err(io("reading its size"))?;
    if capacity_bytes < HEADER_BLOCK_BYTES as u64 {
        return Err(DiskError::TooSmall {
            path: path.to_path_buf(),
            capacity_bytes,
        });
    }
    let mut block = vec![0u8; HEADER_BLOCK_BYTES];
    file.read_exact_at(&mut block, 0)
        .map_err(io("reading block 0"))?;
    let (header, formatted_now) = match Header::decode(path, &block)? {
        Some(header) => (header, false),
        None => {
            let check_bytes =
                BLANK_CHECK_BYTES.min(usize::try_from(capacity_bytes).unwrap_or(BLANK_CHECK_BYTES));
            let mut prefix = vec![0u8; check_bytes];
            file.read_exact_at(&mut prefix, 0)
                .map_err(io("reading its first MiB"))?;
            if prefix.iter().any(|&b| b != 0) {
                let first_bytes = block.iter().take(16).map(|b| format!("{b:02x}")).collect();
                return Err(DiskError::Foreign {
                    path: path.to_path_buf(),
                    first_bytes,
                });
            }
            if policy != FormatPolicy::Auto {
                return Err(DiskError::BlankNotFormatting {
                    path: path.to_path_buf(),
                });
            }
            let header = Header {
                disk_id: random_id().map_err(io("reading /dev/urandom"))?,
                formatted_at_unix_s: now_unix_s,
                boot_count: 0,
            };
            log::info!(
                "disk {}: blank, formatting (floe.format=auto), disk id {}",
                path.display(),
                header.disk_id_hex()
            );
            (header, true)
        }
    };
    let header = Header {
        boot_count: header.boot_count.saturating_add(1),
        ..header
    };
    file.write_all_at(&header.encode(), 0)
        .map_err(io("writing the header"))?;
    file.sync_all().map_err(io("syncing the header"))?;
    // Read back what we wrote: the check after the read (STYLE 3.6).
    file.read_exact_at(&mut block, 0)
        .map_err(io("reading the header back"))?;
    match Header::decode(path, &block)? {
        Some(read_back) if read_back == header => {}
        _ => {
            return Err(DiskError::Malformed {
                path: path.to_path_buf(),
                reason: "header read back differs from the one written",
            })
        }
    }
    Ok(OpenedDisk {
        path: path.to_path_buf(),
        header,
        formatted_now,
        capacity_bytes,
    })
}

fn capacity_bytes(file: &File) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    // Block devices report length 0 in metadata; seeking to the end works
    // for both files and block devices.
    let mut handle = file;
    let end = handle.seek(SeekFrom::End(0))?;
    handle.seek(SeekFrom::Start(0))?;
    Ok(end)
}

fn random_id() -> std::io::Result<[u8; 16]> {
    let mut id = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut id)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("floe-disk-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("disk");
        std::fs::write(&path, bytes).expect("write scratch disk");
        path
    }

    // Encode/decode round-trips and the encoding is pinned to fixed bytes.
    #[test]
    fn header_round_trips_and_matches_fixed_bytes() {
        let header = Header {
            disk_id: [7; 16],
            formatted_at_unix_s: 1_700_000_000,
            boot_count: 3,
        };
        let block = header.encode();
        assert_eq!(&block[0..16], b"FLOEDISK\x01\x00\x00\x00\x40\x00\x00\x00");
        assert_eq!(&block[40..48], &3u64.to_le_bytes());
        assert!(block[64..].iter().all(|&b| b == 0));
        assert_eq!(
            Header::decode(Path::new("d"), &block).expect("valid"),
            Some(header)
        );
    }

    // Corrupted, truncated and future headers are refused with the reason.
    #[test]
    fn corrupt_headers_are_refused() {
        let header = Header {
            disk_id: [1; 16],
            formatted_at_unix_s: 1,
            boot_count: 1,
        };
        let mut flipped = header.encode();
        flipped[41] ^= 0x10;
        assert!(matches!(
            Header::decode(Path::new("d"), &flipped),
            Err(DiskError::Checksum { .. })
        ));
        let mut future = header.encode();
        future[8] = 9;
        let error = Header::decode(Path::new("d"), &future).expect_err("version 9");
        assert!(
            error
                .to_string()
                .contains("version 9; this build reads [1]"),
            "{error}"
        );
        assert!(matches!(
            Header::decode(Path::new("d"), b"FLOEDISK"),
            Err(DiskError::Malformed { .. })
        ));
    }

    // Blank disk: formatted only with auto; the boot count persists and grows.
    #[test]
    fn blank_disk_formats_only_when_asked_and_counts_boots() {
        let path = scratch("blank", &vec![0u8; 2 * 1024 * 1024]);
        let error = open(&path, FormatPolicy::Never, 5).expect_err("never formats");
        assert!(matches!(error, DiskError::BlankNotFormatting { .. }));
        let first = open(&path, FormatPolicy::Auto, 5).expect("formats");
        assert!(first.formatted_now);
        assert_eq!(first.header.boot_count, 1);
        let second = open(&path, FormatPolicy::Never, 6).expect("reopens");
        assert!(!second.formatted_now);
        assert_eq!(second.header.boot_count, 2);
        assert_eq!(second.header.disk_id, first.header.disk_id);
    }

    // A disk holding anything else is refused and left byte-for-byte as it was.
    #[test]
    fn foreign_disk_is_refused_untouched() {
        let mut bytes = vec![0u8; 2 * 1024 * 1024];
        bytes[512..520].copy_from_slice(b"EFI PART");
        let path = scratch("foreign", &bytes);
        let error = open(&path, FormatPolicy::Auto, 5).expect_err("foreign");
        assert!(matches!(error, DiskError::Foreign { .. }), "{error}");
        assert_eq!(std::fs::read(&path).expect("read back"), bytes);
    }
}
