//! The buffer pool (`pool`) and its midpoint LRU (`lru`).

mod lru;
pub mod pool;

pub use pool::{BufConfig, BufError, BufStats, BufferPool, PageMut, PageRef};
