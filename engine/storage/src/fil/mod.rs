//! Pages as they sit on the device: the 16 KiB page, its header and
//! trailer, the CRC32C that covers it, and the identifiers (`SpaceId`,
//! `PageNo`, `Lsn`) that name pages and log positions. InnoDB calls this
//! layer `fil`; every other subsystem reads and writes page bytes through it.

mod page;

pub use page::*;
