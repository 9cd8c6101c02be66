//! Where the engine's files live. Hosted mode keeps them in a directory
//! (`FileDevice` per file); later libpfs keeps them on a shared volume;
//! tests keep them in memory (`MemDevice` per file, crashed together).
//! Creating and removing a file is durable when the call returns.

use std::sync::Arc;

use floe_blk::BlockDevice;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("file store: creating {name} ({capacity_bytes} bytes)")]
    Create {
        name: String,
        capacity_bytes: u64,
        #[source]
        source: floe_blk::Error,
    },
    #[error("file store: opening {name}")]
    Open {
        name: String,
        #[source]
        source: floe_blk::Error,
    },
    #[error("file store: {what} {name}")]
    Io {
        what: &'static str,
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("file store: {name} already exists")]
    Exists { name: String },
    #[error("file store: the store has crashed (simulated power loss)")]
    Crashed,
}

/// Whether a new file's space is reserved on the medium when it is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// All of it, now: writes to the file can never fail for lack of space.
    /// Redo, control and doublewrite files, so a full disk cannot break a
    /// commit.
    Reserved,
    /// Reserved, and on a file system also written with zeros once, so
    /// that no later write changes the file's metadata. On ext4 (and
    /// others that reserve space as unwritten extents) the first write to
    /// a reserved block converts its extent, so fdatasync after it waits
    /// for a journal commit: measured 1.4-2.2 ms per 4 KiB write + sync
    /// into reserved blocks, 0.5-1.5 ms into written ones. Redo files,
    /// where every commit's flush writes a block never written before.
    /// Stores without such metadata (a volume on a raw device, memory)
    /// treat it as `Reserved` and write nothing.
    Written,
    /// Allocated as written: a full disk shows up as a write error (for the
    /// data file, a page that stays dirty until there is room).
    Sparse,
}

/// A flat namespace of fixed-capacity files, each a block device.
pub trait FileStore: Send + Sync {
    /// Creates `name` with room for `capacity_bytes`, zero-filled.
    fn create(
        &self,
        name: &str,
        capacity_bytes: u64,
        space: Space,
    ) -> Result<Arc<dyn BlockDevice>, StoreError>;
    /// Opens an existing file; `None` when it does not exist.
    fn open(&self, name: &str) -> Result<Option<Arc<dyn BlockDevice>>, StoreError>;
    fn remove(&self, name: &str) -> Result<(), StoreError>;
    /// Every file name, sorted.
    fn list(&self) -> Result<Vec<String>, StoreError>;
    fn describe(&self) -> String;
}
