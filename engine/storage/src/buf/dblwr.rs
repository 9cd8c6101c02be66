//! The doublewrite area: torn-page protection where the device cannot write
//! a 16 KiB page atomically (`atomic_write_bytes < PAGE_BYTES`), as InnoDB's
//! `buf0dblwr`. A batch of pages is first written to this area and made
//! durable, then to the pages' homes, and the homes are made durable before
//! the area is reused. After a crash, any home page that does not verify is
//! restored from the newest valid copy here; redo then carries it forward.
//!
//! The area is a file of `slot_count` page-sized slots holding sealed page
//! images; each image names its page in its own header, so the area needs
//! no header of its own. Where the device writes pages atomically the area
//! is not created and pages go straight home.

use std::collections::HashMap;
use std::sync::Arc;

use floe_blk::BlockDevice;
use floe_rt::sync::Mutex;
use floe_rt::DmaBuffer;

use crate::fil::{self, PageId, PAGE_BYTES};

pub const DOUBLEWRITE_FILE_NAME: &str = "doublewrite";
/// Slots in the area: also the largest flush batch.
pub const DOUBLEWRITE_SLOTS: usize = 64;

pub struct Doublewrite {
    device: Arc<dyn BlockDevice>,
    block_bytes: u64,
    /// Held for a whole batch: the area is reused only after the previous
    /// batch's home writes are durable.
    batch: Mutex<()>,
}

impl Doublewrite {
    pub fn new(device: Arc<dyn BlockDevice>) -> Result<Self, floe_blk::Error> {
        let geometry = device.geometry();
        assert!(
            geometry.capacity_bytes() >= (DOUBLEWRITE_SLOTS * PAGE_BYTES) as u64,
            "doublewrite file smaller than its slots"
        );
        Ok(Self {
            block_bytes: u64::from(geometry.block_bytes),
            device,
            batch: Mutex::new(()),
        })
    }

    pub fn file_bytes() -> u64 {
        (DOUBLEWRITE_SLOTS * PAGE_BYTES) as u64
    }

    /// Runs `write_homes` with the area holding `batch` (sealed pages, at
    /// most `DOUBLEWRITE_SLOTS`) durably; `write_homes` must make the home
    /// writes durable before it returns.
    pub fn protect<E>(
        &self,
        batch: DmaBuffer,
        write_homes: impl FnOnce(&DmaBuffer) -> Result<(), E>,
        device_error: impl Fn(floe_blk::Error) -> E,
    ) -> Result<DmaBuffer, E> {
        assert!(batch.len_bytes() <= DOUBLEWRITE_SLOTS * PAGE_BYTES);
        let _area = self.batch.lock();
        let batch = self.device.write(0, batch).map_err(&device_error)?;
        self.device.flush().map_err(&device_error)?;
        write_homes(&batch)?;
        Ok(batch)
    }

    /// The newest valid image of each page in the area.
    pub fn images(&self) -> Result<HashMap<PageId, Vec<u8>>, floe_blk::Error> {
        let area = self
            .device
            .read(0, DmaBuffer::new(DOUBLEWRITE_SLOTS * PAGE_BYTES))?;
        let mut newest: HashMap<PageId, Vec<u8>> = HashMap::new();
        for slot in area.as_slice().chunks_exact(PAGE_BYTES) {
            let id = fil::page_id_of(slot);
            if fil::verify(slot, id).is_err() {
                continue;
            }
            let keep = newest
                .get(&id)
                .is_none_or(|old| fil::page_lsn(old) < fil::page_lsn(slot));
            if keep {
                newest.insert(id, slot.to_vec());
            }
        }
        let _ = self.block_bytes;
        Ok(newest)
    }
}
