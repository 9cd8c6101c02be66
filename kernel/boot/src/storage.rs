//! The storage engine under a role: on the appliance's data disk (files on
//! a `VolumeStore` after the disk header) or, hosted, in the data
//! directory. Each start records itself as a committed row in a boot log,
//! so `/health` shows that commits survive power cycles (the second boot
//! after a power-off recovers from redo).

use std::path::Path;
use std::sync::Arc;

use floe_blk::{BlockDevice, DirectIo, FileDevice};
use floe_rt::sched::SchedulerHandle;
use floe_storage::btr::tree::{Direction, Tree, TreeError};
use floe_storage::fil::{DirStore, FileStore, PageId, StoreError, VolumeStore};
use floe_storage::fsp::{self, FspError};
use floe_storage::log::writer::LogConfig;
use floe_storage::mtr::{Mtr, MtrError};
use floe_storage::srv::{Engine, EngineConfig, EngineError, OpenReport, SYSTEM_SPACE};
use floe_storage::util::clock::SystemClock;

/// The space header's root slot of the boot log tree.
const BOOT_LOG_ROOT_SLOT: usize = 1;
const BOOT_LOG_INDEX_ID: u64 = u64::MAX - 1;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("opening the data disk {path} for the storage engine")]
    Device {
        path: String,
        #[source]
        source: Box<floe_blk::Error>,
    },
    // Boxed: the engine's errors are large and start-up errors rare.
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Engine(Box<EngineError>),
    #[error("boot log: {0}")]
    Tree(Box<TreeError>),
    #[error("boot log: {0}")]
    Mtr(Box<MtrError>),
    #[error("boot log: {0}")]
    Fsp(Box<FspError>),
}

macro_rules! boxed_from {
    ($($source:ty => $variant:ident),*) => {
        $(impl From<$source> for StorageError {
            fn from(e: $source) -> Self {
                StorageError::$variant(Box::new(e))
            }
        })*
    };
}

boxed_from!(StoreError => Store, EngineError => Engine, TreeError => Tree, MtrError => Mtr, FspError => Fsp);

/// A running engine and what its start found.
pub struct Running {
    pub engine: Engine,
    pub boots_recorded: u64,
    pub created: bool,
    pub report: OpenReport,
}

impl Running {
    /// `/health`'s "storage" object.
    pub fn json(&self) -> String {
        let stats = self.engine.pool().stats();
        format!(
            "{{\"store\":{},\"created\":{},\"boots_recorded\":{},\"checkpoint_lsn\":{},\"recovered_mtrs\":{},\"recovered_redo_bytes\":{},\"recovery_ms\":{},\"pool_pages\":{},\"pool_on_huge_pages\":{}}}",
            crate::health::json_string(&self.engine.describe()),
            self.created,
            self.boots_recorded,
            self.report.checkpoint_lsn.0,
            self.report.mtrs_applied,
            self.report.redo_bytes_scanned,
            self.report.recovery_ms,
            stats.pool_pages,
            stats.huge_pages,
        )
    }
}

/// The engine on the appliance's data disk; `format` on a disk formatted
/// this boot.
pub fn start_on_disk(path: &Path, format: bool) -> Result<Running, StorageError> {
    let device =
        FileDevice::open(path, DirectIo::Prefer).map_err(|source| StorageError::Device {
            path: path.display().to_string(),
            source: Box::new(source),
        })?;
    start_on_device(Arc::new(device), format, None)
}

/// The engine on any block device (the kernel's, or Floe's own NVMe
/// driver); `format` lets a blank device become a volume.
/// `services`: the cores the page cleaner (and log flusher) run on as
/// fibers, so their I/O goes through the cores' own queues.
pub fn start_on_device(
    device: Arc<dyn BlockDevice>,
    format: bool,
    services: Option<SchedulerHandle>,
) -> Result<Running, StorageError> {
    let capacity_bytes = device.geometry().capacity_bytes();
    let store = Arc::new(VolumeStore::open(device, format)?);
    let create = store
        .open(floe_storage::log::control::CONTROL_FILE_NAME)?
        .is_none();
    // Sized from the disk: half for data, an eighth per redo file.
    let defaults = EngineConfig::default();
    let config = EngineConfig {
        data_file_bytes: capacity_bytes / 2,
        log: LogConfig {
            file_capacity_blocks: (capacity_bytes / 8 / 4096).clamp(64, 16 * 1024),
            ..LogConfig::default()
        },
        buf: floe_storage::buf::BufConfig {
            pool_pages: 1024,
            ..defaults.buf
        },
        services,
        ..defaults
    };
    start(store, config, create)
}

/// The engine in a hosted data directory.
pub fn start_in_dir(dir: &Path) -> Result<Running, StorageError> {
    let store = Arc::new(DirStore::open(dir, DirectIo::Prefer)?);
    let create = store
        .open(floe_storage::log::control::CONTROL_FILE_NAME)?
        .is_none();
    start(store, EngineConfig::default(), create)
}

fn start(
    store: Arc<dyn FileStore>,
    config: EngineConfig,
    create: bool,
) -> Result<Running, StorageError> {
    let clock = Arc::new(SystemClock::new());
    let engine = if create {
        Engine::create(store, config, clock)?
    } else {
        Engine::open(store, config, clock)?
    };
    let report = engine.open_report();
    let boots_recorded = record_boot(&engine)?;
    log::info!(
        "storage: {} ({}), boot {boots_recorded} recorded; recovery replayed {} mtrs ({} bytes) in {} ms",
        engine.describe(),
        if create { "created" } else { "opened" },
        report.mtrs_applied,
        report.redo_bytes_scanned,
        report.recovery_ms
    );
    Ok(Running {
        engine,
        boots_recorded,
        created: create,
        report,
    })
}

/// Appends this boot to the boot log and makes it durable; returns how
/// many boots the log now holds.
fn record_boot(engine: &Engine) -> Result<u64, StorageError> {
    let mut mtr = Mtr::start(engine.pool(), engine.log());
    let mut root = fsp::root(&mut mtr, SYSTEM_SPACE, BOOT_LOG_ROOT_SLOT)?;
    let tree = if root.is_null() {
        let tree = Tree::create(&mut mtr, SYSTEM_SPACE, BOOT_LOG_INDEX_ID)?;
        fsp::set_root(&mut mtr, SYSTEM_SPACE, BOOT_LOG_ROOT_SLOT, tree.root.page)?;
        root = tree.root.page;
        tree
    } else {
        Tree {
            index_id: BOOT_LOG_INDEX_ID,
            root: PageId {
                space: SYSTEM_SPACE,
                page: root,
            },
        }
    };
    mtr.commit()?;
    let _ = root;
    let mut cursor = tree.scan(
        engine.env(),
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        Direction::Backward,
    );
    let last = match cursor.next()? {
        Some((key, _)) => u64::from_be_bytes(key.try_into().unwrap_or([0; 8])),
        None => 0,
    };
    let this_boot = last + 1;
    let unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let lsn = tree.insert(
        engine.env(),
        &this_boot.to_be_bytes(),
        &unix_s.to_le_bytes(),
    )?;
    engine
        .log()
        .write_up_to(lsn)
        .map_err(|e| StorageError::from(EngineError::Redo(e)))?;
    Ok(this_boot)
}
