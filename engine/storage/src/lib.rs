//! Floe's storage engine, InnoDB-style: 16 KiB pages in a buffer pool of our
//! own, clustered and secondary B+trees, mini-transactions that emit
//! physiological redo, and crash recovery. Reaches the device only through
//! `floe_blk::BlockDevice`.
#![forbid(unsafe_code)]

pub mod btr;
pub mod buf;
pub mod dict;
pub mod fil;
pub mod fsp;
pub mod log;
pub mod mtr;
pub mod row;
pub mod srv;
pub mod trx;
pub mod util;
