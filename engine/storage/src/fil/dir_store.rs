//! `DirStore`: the engine's files as ordinary files in one directory, each
//! opened as a `FileDevice` (O_DIRECT where the file system allows it).
//! Hosted mode uses it. Creating and removing a file fsyncs the directory,
//! so the name is durable when the call returns.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use floe_blk::{BlockDevice, DirectIo, FileDevice};

use super::{FileStore, Space, StoreError};

pub struct DirStore {
    dir: PathBuf,
    direct: DirectIo,
}

impl DirStore {
    /// Uses `dir`, creating it (and its parents) if missing.
    pub fn open(dir: impl AsRef<Path>, direct: DirectIo) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            what: "creating directory",
            name: dir.display().to_string(),
            source,
        })?;
        Ok(Self { dir, direct })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            what: "syncing directory",
            name: self.dir.display().to_string(),
            source,
        };
        std::fs::File::open(&self.dir)
            .map_err(io)?
            .sync_all()
            .map_err(io)
    }

    fn check_name(&self, name: &str) -> Result<PathBuf, StoreError> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(StoreError::Io {
                what: "refusing file name",
                name: name.to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a plain file name",
                ),
            });
        }
        Ok(self.dir.join(name))
    }
}

impl FileStore for DirStore {
    fn create(
        &self,
        name: &str,
        capacity_bytes: u64,
        space: Space,
    ) -> Result<Arc<dyn BlockDevice>, StoreError> {
        let path = self.check_name(name)?;
        if path.exists() {
            return Err(StoreError::Exists {
                name: name.to_string(),
            });
        }
        let create_error = |source| StoreError::Create {
            name: name.to_string(),
            capacity_bytes,
            source,
        };
        let device =
            FileDevice::create(&path, capacity_bytes, self.direct).map_err(create_error)?;
        if matches!(space, Space::Reserved | Space::Written) {
            let prepared = device.reserve().and_then(|()| {
                if space == Space::Written {
                    super::write_zeros(&device, 0, capacity_bytes)
                } else {
                    Ok(())
                }
            });
            if let Err(e) = prepared {
                // Do not leave a file that looks whole but is not reserved.
                let _ = std::fs::remove_file(&path);
                return Err(create_error(e));
            }
        }
        self.sync_dir()?;
        Ok(Arc::new(device))
    }

    fn open(&self, name: &str) -> Result<Option<Arc<dyn BlockDevice>>, StoreError> {
        let path = self.check_name(name)?;
        if !path.exists() {
            return Ok(None);
        }
        let device = FileDevice::open(&path, self.direct).map_err(|source| StoreError::Open {
            name: name.to_string(),
            source,
        })?;
        Ok(Some(Arc::new(device)))
    }

    fn remove(&self, name: &str) -> Result<(), StoreError> {
        let path = self.check_name(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io {
                what: "removing",
                name: name.to_string(),
                source,
            }),
        }
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let io = |source| StoreError::Io {
            what: "listing",
            name: self.dir.display().to_string(),
            source,
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            if entry.file_type().map_err(io)?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn describe(&self) -> String {
        format!("directory {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// A written file is reserved whole and reads back as zeroes to its end
    /// (the zeros went through the device, not a hole).
    #[test]
    fn written_files_are_allocated_and_zero() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path(), DirectIo::Prefer).unwrap();
        let capacity_bytes = (3 << 20) + 8192;
        let device = store
            .create("redo.000001", capacity_bytes, Space::Written)
            .unwrap();
        let meta = std::fs::metadata(dir.path().join("redo.000001")).unwrap();
        assert_eq!(meta.len(), capacity_bytes);
        assert!(
            meta.blocks() * 512 >= capacity_bytes,
            "written file has holes"
        );
        let mut queue = device.open_queue(1).unwrap();
        let block_bytes = u64::from(device.geometry().block_bytes);
        let tail = queue
            .read(
                capacity_bytes / block_bytes - 2,
                floe_rt::DmaBuffer::new(2 * block_bytes as usize),
            )
            .unwrap();
        assert!(tail.as_slice().iter().all(|&b| b == 0));
    }

    /// A reserved file has its whole capacity allocated on disk; a sparse
    /// one does not; both read as zeroes and list, open and remove by name.
    #[test]
    fn reserved_files_are_allocated_sparse_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path(), DirectIo::Prefer).unwrap();
        let capacity_bytes = 8 << 20;
        store
            .create("redo.000001", capacity_bytes, Space::Reserved)
            .unwrap();
        store.create("data", capacity_bytes, Space::Sparse).unwrap();
        let allocated =
            |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().blocks() * 512;
        assert!(
            allocated("redo.000001") >= capacity_bytes,
            "reserved file has holes"
        );
        assert!(
            allocated("data") < capacity_bytes / 2,
            "sparse file was allocated"
        );
        assert_eq!(
            store.list().unwrap(),
            vec!["data".to_string(), "redo.000001".to_string()]
        );
        assert!(matches!(
            store.create("data", 4096, Space::Sparse),
            Err(StoreError::Exists { .. })
        ));
        assert!(store.open("data").unwrap().is_some());
        store.remove("data").unwrap();
        assert!(store.open("data").unwrap().is_none());
        assert!(store.create("../escape", 4096, Space::Sparse).is_err());
    }
}
