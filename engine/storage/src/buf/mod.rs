//! The buffer pool (`pool`) and its midpoint LRU (`lru`).

pub mod dblwr;
mod lru;
pub mod pool;

pub use dblwr::{Doublewrite, DOUBLEWRITE_FILE_NAME};
pub use pool::{BufConfig, BufError, BufStats, BufferPool, PageMut, PageRef};
