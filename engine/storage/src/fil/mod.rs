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
