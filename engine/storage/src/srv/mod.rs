//! Start-up, recovery, checkpoints and shutdown of the storage engine (as
//! InnoDB's `srv0start`), plus the page cleaner thread (`cleaner`).
//!
//! Files in the store: `control` (where recovery starts), `data` (space 0),
//! `doublewrite` (only where the device cannot write a page atomically) and
//! `redo.NNNNNN`.
//!
//! Opening runs recovery: repair torn pages from the doublewrite area, replay
//! redo from the checkpoint, then take a checkpoint at once. That checkpoint
//! also persists the new log generation before the first new log block is
//! written, which is what lets a later scan tell this writer's blocks from
//! stale ones of the writer that crashed.

mod cleaner;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use floe_blk::BlockDevice;
use floe_rt::sched::{spawn_service, SchedulerHandle, Service};
use floe_rt::sync::{Condvar, Mutex};
use floe_rt::DmaBuffer;

use crate::btr::tree::TreeEnv;
use crate::buf::{BufConfig, BufError, BufferPool, Doublewrite, DOUBLEWRITE_FILE_NAME};
use crate::fil::{self, FileStore, Lsn, Space, SpaceId, StoreError, PAGE_BYTES};
use crate::fsp::{self, FspError};
use crate::log::block::{block_start_lsn, lsn_position};
use crate::log::control::{
    ControlError, ControlRecord, CONTROL_FILE_BYTES, CONTROL_FILE_NAME, CONTROL_SLOT_BYTES,
};
use crate::log::reader::open_files;
use crate::log::recovery::{apply_redo, RecoveryError};
use crate::log::writer::{FlushPolicy, LogConfig, LogStart, LogWriter};
use crate::log::RedoError;
use crate::mtr::{Mtr, MtrError};
use crate::util::clock::Clock;

pub use cleaner::CleanerConfig;

pub const DATA_FILE_NAME: &str = "data";
pub const SYSTEM_SPACE: SpaceId = SpaceId(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoublewriteMode {
    /// On exactly when the data file's device cannot write a page atomically.
    Auto,
    On,
    Off,
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub buf: BufConfig,
    pub log: LogConfig,
    pub data_file_bytes: u64,
    pub doublewrite: DoublewriteMode,
    /// `None`: no page cleaner thread (tests that drive flushing themselves).
    pub cleaner: Option<CleanerConfig>,
    /// Where the page cleaner and the log flusher run: fibers on these
    /// cores (their I/O then goes through the cores' own queues), or
    /// threads of their own (None).
    pub services: Option<SchedulerHandle>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            buf: BufConfig::default(),
            log: LogConfig::default(),
            data_file_bytes: 1 << 30,
            doublewrite: DoublewriteMode::Auto,
            cleaner: Some(CleanerConfig::default()),
            services: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Buf(#[from] BufError),
    #[error(transparent)]
    Redo(#[from] RedoError),
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    #[error(transparent)]
    Mtr(#[from] MtrError),
    #[error(transparent)]
    Fsp(#[from] FspError),
    #[error("control file: {what}")]
    ControlIo {
        what: &'static str,
        #[source]
        source: floe_blk::Error,
    },
    #[error("control file: neither slot is valid")]
    Control(#[source] ControlError),
    #[error("{store}: no database here (no control file); create one first")]
    NotCreated { store: String },
    #[error("{store}: a database already exists here")]
    AlreadyExists { store: String },
    #[error("{store}: {file} is missing")]
    Missing { store: String, file: &'static str },
    #[error(transparent)]
    Dict(#[from] crate::dict::DictError),
    #[error("doublewrite area: {what}")]
    Doublewrite {
        what: &'static str,
        #[source]
        source: floe_blk::Error,
    },
}

/// Figures from opening a database (recovery's, when it ran).
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenReport {
    pub checkpoint_lsn: Lsn,
    pub end_lsn: Lsn,
    pub redo_bytes_scanned: u64,
    pub mtrs_applied: u64,
    pub pages_repaired_from_doublewrite: u64,
    pub recovery_ms: u64,
}

struct ControlState {
    sequence: u64,
    generation: u32,
    /// Written through `BlockDevice::run`: a checkpoint on a core's fiber
    /// uses that core's queue.
    device: Arc<dyn BlockDevice>,
    block_bytes: u64,
}

impl ControlState {
    /// Writes the next control record and makes it durable.
    fn write(
        &mut self,
        checkpoint_lsn: Lsn,
        generation: u32,
        space_pages: u64,
    ) -> Result<(), EngineError> {
        let record = ControlRecord {
            sequence: self.sequence + 1,
            checkpoint_lsn,
            log_generation: generation,
            space_pages,
        };
        let io = |source| EngineError::ControlIo {
            what: "writing",
            source,
        };
        let mut slot = DmaBuffer::new(CONTROL_SLOT_BYTES);
        record.encode(slot.as_mut_slice());
        let lba = record.slot() * CONTROL_SLOT_BYTES as u64 / self.block_bytes;
        self.device.write(lba, slot).map_err(io)?;
        self.device.flush().map_err(io)?;
        self.sequence = record.sequence;
        self.generation = generation;
        Ok(())
    }
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn FileStore>,
    pub(crate) pool: BufferPool,
    pub(crate) log: Arc<LogWriter>,
    control: Mutex<ControlState>,
    checkpoint_lock: Mutex<()>,
    pub(crate) stop: AtomicBool,
    pub(crate) wake: (Mutex<bool>, Condvar),
    pub(crate) clock: Arc<dyn Clock>,
    /// The page cleaner's last error, for status output (None when healthy).
    pub(crate) cleaner_error: Mutex<Option<String>>,
}

/// An open storage engine. Dropping it without `shutdown` is a crash: the
/// page cleaner stops and nothing more is written.
pub struct Engine {
    inner: Arc<Inner>,
    cleaner: Option<Service>,
    /// Under `FlushPolicy::Interval`: makes the log durable every interval.
    log_flusher: Option<Service>,
    report: OpenReport,
}

fn control_read(
    store: &dyn FileStore,
) -> Result<Option<(ControlRecord, ControlState)>, EngineError> {
    let Some(device) = store.open(CONTROL_FILE_NAME)? else {
        return Ok(None);
    };
    let io = |source| EngineError::ControlIo {
        what: "reading",
        source,
    };
    let block_bytes = u64::from(device.geometry().block_bytes);
    let both = device
        .read(0, DmaBuffer::new(2 * CONTROL_SLOT_BYTES))
        .map_err(io)?;
    let (first, second) = both.as_slice().split_at(CONTROL_SLOT_BYTES);
    let record = ControlRecord::newest(ControlRecord::parse(first), ControlRecord::parse(second))
        .map_err(EngineError::Control)?;
    let state = ControlState {
        sequence: record.sequence,
        generation: record.log_generation,
        device,
        block_bytes,
    };
    Ok(Some((record, state)))
}

fn open_doublewrite(
    store: &dyn FileStore,
    pool: &BufferPool,
    mode: DoublewriteMode,
    create: bool,
) -> Result<Option<Arc<Doublewrite>>, EngineError> {
    let wanted = match mode {
        DoublewriteMode::On => true,
        DoublewriteMode::Off => false,
        DoublewriteMode::Auto => (pool.atomic_write_bytes() as usize) < PAGE_BYTES,
    };
    let device = match store.open(DOUBLEWRITE_FILE_NAME)? {
        Some(device) => device,
        None if wanted && create => store.create(
            DOUBLEWRITE_FILE_NAME,
            Doublewrite::file_bytes(),
            Space::Reserved,
        )?,
        None if wanted => store.create(
            DOUBLEWRITE_FILE_NAME,
            Doublewrite::file_bytes(),
            Space::Reserved,
        )?,
        None => return Ok(None),
    };
    let doublewrite = Doublewrite::new(device).map_err(|source| EngineError::Doublewrite {
        what: "opening",
        source,
    })?;
    Ok(Some(Arc::new(doublewrite)))
}

impl Engine {
    /// Creates a new, empty database in `store`.
    pub fn create(
        store: Arc<dyn FileStore>,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, EngineError> {
        if store.open(CONTROL_FILE_NAME)?.is_some() {
            return Err(EngineError::AlreadyExists {
                store: store.describe(),
            });
        }
        let data = store.create(DATA_FILE_NAME, config.data_file_bytes, Space::Sparse)?;
        let pool = BufferPool::new(config.buf, clock.clone())?;
        pool.open_space(SYSTEM_SPACE, data);
        let doublewrite = open_doublewrite(store.as_ref(), &pool, config.doublewrite, true)?;
        let start = LogStart {
            block_no: 1,
            generation: 1,
        };
        let log = Arc::new(LogWriter::start(
            store.clone(),
            config.log,
            start,
            Vec::new(),
        )?);
        pool.set_wal(log.clone());
        if let Some(doublewrite) = doublewrite {
            pool.set_doublewrite(doublewrite);
        }
        let mut mtr = Mtr::start(&pool, &log);
        fsp::create_space(&mut mtr, SYSTEM_SPACE)?;
        crate::dict::Dictionary::bootstrap(&mut mtr)?;
        mtr.commit()?;
        // The control file last: until it exists there is no database here.
        pool.flush_all()?;
        pool.sync_spaces()?;
        let control_device =
            store.create(CONTROL_FILE_NAME, CONTROL_FILE_BYTES, Space::Reserved)?;
        let block_bytes = u64::from(control_device.geometry().block_bytes);
        let mut control = ControlState {
            sequence: 0,
            generation: 1,
            device: control_device,
            block_bytes,
        };
        let checkpoint_lsn = log.appended_lsn();
        log.write_up_to(checkpoint_lsn)?;
        control.write(checkpoint_lsn, 1, 0)?;
        log::info!("storage: created a database in {}", store.describe());
        let report = OpenReport {
            checkpoint_lsn,
            end_lsn: checkpoint_lsn,
            ..OpenReport::default()
        };
        Ok(Self::assemble(
            store, pool, log, control, clock, config, report,
        ))
    }

    /// Opens the database in `store`, recovering it after a crash.
    pub fn open(
        store: Arc<dyn FileStore>,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, EngineError> {
        let started = Instant::now();
        let Some((record, mut control)) = control_read(store.as_ref())? else {
            return Err(EngineError::NotCreated {
                store: store.describe(),
            });
        };
        let data = store.open(DATA_FILE_NAME)?.ok_or(EngineError::Missing {
            store: store.describe(),
            file: DATA_FILE_NAME,
        })?;
        let pool = BufferPool::new(config.buf, clock.clone())?;
        pool.open_space(SYSTEM_SPACE, data);
        log::info!(
            "storage: recovery starts at checkpoint {}",
            record.checkpoint_lsn
        );
        let doublewrite = open_doublewrite(store.as_ref(), &pool, config.doublewrite, false)?;
        let mut repaired = 0;
        if let Some(doublewrite) = &doublewrite {
            repaired = repair_from_doublewrite(&pool, doublewrite)?;
        }
        let files = open_files(store.as_ref())?;
        let (end, stats) = apply_redo(&pool, &files, record.checkpoint_lsn)?;
        let generation = record.log_generation.max(end.generation) + 1;
        let existing = files.into_iter().map(|f| (f.header, f.device)).collect();
        let start = LogStart {
            block_no: end.next_block_no.max(lsn_position(record.checkpoint_lsn).0),
            generation,
        };
        let log = Arc::new(LogWriter::start(
            store.clone(),
            config.log,
            start,
            existing,
        )?);
        pool.set_wal(log.clone());
        if let Some(doublewrite) = doublewrite {
            pool.set_doublewrite(doublewrite);
        }
        // Recovery's checkpoint: everything replayed goes to the data file,
        // and the new generation is durable before any block carries it.
        pool.flush_all()?;
        pool.sync_spaces()?;
        let checkpoint_lsn = block_start_lsn(start.block_no);
        control.write(checkpoint_lsn, generation, 0)?;
        log.remove_files_before(checkpoint_lsn)?;
        let recovery_ms = started.elapsed().as_millis() as u64;
        log::info!(
            "storage: recovery done: {} mtrs ({} bytes of redo) from {} to {}, {repaired} pages repaired from doublewrite, {recovery_ms} ms",
            stats.mtrs_applied, end.scanned_bytes, record.checkpoint_lsn, end.end_lsn
        );
        let report = OpenReport {
            checkpoint_lsn: record.checkpoint_lsn,
            end_lsn: end.end_lsn,
            redo_bytes_scanned: end.scanned_bytes,
            mtrs_applied: stats.mtrs_applied,
            pages_repaired_from_doublewrite: repaired,
            recovery_ms,
        };
        Ok(Self::assemble(
            store, pool, log, control, clock, config, report,
        ))
    }

    fn assemble(
        store: Arc<dyn FileStore>,
        pool: BufferPool,
        log: Arc<LogWriter>,
        control: ControlState,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
        report: OpenReport,
    ) -> Engine {
        let inner = Arc::new(Inner {
            store,
            pool,
            log,
            control: Mutex::new(control),
            checkpoint_lock: Mutex::new(()),
            stop: AtomicBool::new(false),
            wake: (Mutex::new(false), Condvar::new()),
            clock,
            cleaner_error: Mutex::new(None),
        });
        let services = config.services.as_ref();
        let cleaner = config.cleaner.map(|cleaner_config| {
            let inner = inner.clone();
            spawn_service(services, "floe-page-cleaner", move || {
                cleaner::run(&inner, cleaner_config)
            })
            .expect("spawning the page cleaner")
        });
        let log_flusher = match config.log.flush_policy {
            FlushPolicy::EveryCommit => None,
            FlushPolicy::Interval { interval_ms } => {
                let inner = inner.clone();
                Some(
                    spawn_service(services, "floe-log-flusher", move || {
                        run_log_flusher(&inner, interval_ms)
                    })
                    .expect("spawning the log flusher"),
                )
            }
        };
        Engine {
            inner,
            cleaner,
            log_flusher,
            report,
        }
    }

    pub fn env(&self) -> TreeEnv<'_> {
        TreeEnv {
            pool: &self.inner.pool,
            log: &self.inner.log,
        }
    }

    pub fn describe(&self) -> String {
        self.inner.store.describe()
    }

    pub fn pool(&self) -> &BufferPool {
        &self.inner.pool
    }

    pub fn log(&self) -> &LogWriter {
        &self.inner.log
    }

    pub fn open_report(&self) -> OpenReport {
        self.report
    }

    /// The page cleaner's last error, if its last round failed.
    pub fn cleaner_error(&self) -> Option<String> {
        self.inner.cleaner_error.lock().clone()
    }

    /// Makes everything committed up to `lsn` durable, per the flush policy.
    pub fn commit_wait(&self, lsn: Lsn) -> Result<(), EngineError> {
        Ok(self.inner.log.commit_wait(lsn)?)
    }

    /// A fuzzy checkpoint; returns its LSN.
    pub fn checkpoint(&self) -> Result<Lsn, EngineError> {
        self.inner.checkpoint()
    }

    /// Orderly stop: every dirty page written, a final checkpoint.
    pub fn shutdown(mut self) -> Result<(), EngineError> {
        self.stop_cleaner();
        self.inner.log.write_up_to(self.inner.log.appended_lsn())?;
        self.inner.pool.flush_all()?;
        let lsn = self.inner.checkpoint()?;
        log::info!("storage: shut down cleanly at checkpoint {lsn}");
        Ok(())
    }

    fn stop_cleaner(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        {
            let (lock, condvar) = &self.inner.wake;
            *lock.lock() = true;
            condvar.notify_all();
        }
        for (name, handle) in [
            ("page cleaner", self.cleaner.take()),
            ("log flusher", self.log_flusher.take()),
        ] {
            if let Some(handle) = handle {
                if handle.join().is_err() {
                    log::error!("storage: the {name} panicked");
                }
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_cleaner();
    }
}

/// `FlushPolicy::Interval`: commits return at once and this thread makes
/// them durable every `interval_ms` (a crash loses at most about that much
/// acknowledged work, which is what the policy's name promises).
fn run_log_flusher(inner: &Inner, interval_ms: u32) {
    let interval = std::time::Duration::from_millis(u64::from(interval_ms.max(1)));
    let mut failing = false;
    while !inner.stop.load(Ordering::SeqCst) {
        {
            let (lock, condvar) = &inner.wake;
            let woken = lock.lock();
            drop(condvar.wait_timeout(woken, interval).0);
        }
        match inner.log.write_up_to(inner.log.appended_lsn()) {
            Ok(()) => failing = false,
            Err(e) => {
                if !failing {
                    log::error!("log flusher: {e}; commits are not becoming durable");
                }
                failing = true;
            }
        }
    }
}

impl Inner {
    /// Fuzzy checkpoint: the oldest modification among dirty pages (or the
    /// log end when none) bounds what recovery needs; the data files are
    /// synced, the control record written, older redo files removed.
    pub(crate) fn checkpoint(&self) -> Result<Lsn, EngineError> {
        let _serial = self.checkpoint_lock.lock();
        // Read the log end first: a page dirtied after it has an oldest
        // modification at or past it.
        let appended = self.log.appended_lsn();
        let checkpoint_lsn = match self.pool.oldest_modification() {
            Some(oldest) => oldest.min(appended),
            None => appended,
        };
        self.log
            .write_up_to(checkpoint_lsn.min(self.log.appended_lsn()))?;
        self.pool.sync_spaces()?;
        let mut control = self.control.lock();
        let generation = control.generation;
        control.write(checkpoint_lsn, generation, 0)?;
        drop(control);
        self.log.remove_files_before(checkpoint_lsn)?;
        Ok(checkpoint_lsn)
    }
}

/// Restores from the doublewrite area every home page that does not verify.
fn repair_from_doublewrite(
    pool: &BufferPool,
    doublewrite: &Doublewrite,
) -> Result<u64, EngineError> {
    let images = doublewrite
        .images()
        .map_err(|source| EngineError::Doublewrite {
            what: "reading",
            source,
        })?;
    let mut repaired = 0;
    for (id, image) in images {
        if pool
            .space_capacity_pages(id.space)
            .is_none_or(|pages| u64::from(id.page.0) >= pages)
        {
            continue;
        }
        match pool.read_home_page(id) {
            Ok(home) if fil::verify(&home, id).is_ok() => continue,
            Ok(_) | Err(_) => {}
        }
        log::warn!("storage: {id} torn or unreadable on disk; restoring it from the doublewrite area (lsn {})", fil::page_lsn(&image).0);
        pool.write_home_page(id, &image)?;
        repaired += 1;
    }
    if repaired > 0 {
        pool.sync_spaces()?;
    }
    Ok(repaired)
}

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;
