//! Pages as they sit on the device: the 16 KiB page, its header and
//! trailer, the CRC32C that covers it, and the identifiers (`SpaceId`,
//! `PageNo`, `Lsn`) that name pages and log positions; and the `FileStore`
//! the engine's files live in. InnoDB calls this layer `fil`.

mod dir_store;
mod mem_store;
mod page;
mod store;
mod volume_store;

pub use dir_store::DirStore;
pub use mem_store::MemStore;
pub use page::*;
pub use store::{FileStore, Space, StoreError};
pub use volume_store::VolumeStore;

use floe_blk::BlockDevice;

/// Writes zeros over `len_bytes` of `device` from `start_bytes` in 1 MiB
/// requests and makes them durable: a new file's space before anything
/// names it. Through `BlockDevice::run`, so on a fiber the writes leave the
/// core free.
pub(crate) fn write_zeros(
    device: &dyn BlockDevice,
    start_bytes: u64,
    len_bytes: u64,
) -> Result<(), floe_blk::Error> {
    const CHUNK_BYTES: u64 = 1 << 20;
    let block_bytes = u64::from(device.geometry().block_bytes);
    if len_bytes == 0 {
        return device.flush();
    }
    let mut zeros = floe_rt::DmaBuffer::new(CHUNK_BYTES.min(len_bytes) as usize);
    let mut done = 0;
    while done < len_bytes {
        let bytes = CHUNK_BYTES.min(len_bytes - done);
        zeros.set_len(bytes as usize);
        zeros = device.write((start_bytes + done) / block_bytes, zeros)?;
        done += bytes;
    }
    device.flush()
}
