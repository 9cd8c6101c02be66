//! Roles. `primary` is the only one built: it opens the data disk (header
//! check, format on first boot when allowed) and serves the health
//! endpoint; hosted (`floe serve`) it also serves SQL on `floe.listen`.
//! The appliance does not serve SQL yet.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{Config, Role};
use crate::disk::{self, DiskError, OpenedDisk};
use crate::health::{self, json_string, HealthError, Status};
use crate::storage::{self, StorageError};
use floe_blk::BlockDevice;

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("role {role} is not built yet; this build runs: primary, hwtest, nvmebench")]
    NotBuilt { role: &'static str },
    #[error(
        "role {role} runs in the appliance only (it takes the machine's NVMe disk from the kernel)"
    )]
    ApplianceOnly { role: &'static str },
    #[error("data disk {path} did not appear within {waited_s} s")]
    NoDisk { path: PathBuf, waited_s: u64 },
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(transparent)]
    Health(#[from] HealthError),
    #[error("storage engine: {0}")]
    Storage(#[from] StorageError),
    #[error("user-space NVMe driver: {0}")]
    Nvme(Box<floe_nvme::NvmeError>),
    #[error("floe.nvme=auto: no NVMe function found")]
    NoNvme,
    #[error("floe.nvme: {0}")]
    BadNvmeAddress(String),
    #[error(transparent)]
    Sql(#[from] crate::sql::SqlStartError),
}

/// What a started role holds on to for as long as it runs.
pub struct Started {
    pub disk: Option<OpenedDisk>,
    pub storage: Option<storage::Running>,
    /// The user-space NVMe device the engine runs on, if it does (for its
    /// DMA counts at stop; the engine holds it too).
    pub nvme: Option<Arc<floe_nvme::NvmeDevice>>,
    /// The SQL server and the database under it (the primary role); it
    /// owns the engine then, and `storage` is None.
    pub sql: Option<crate::sql::SqlRunning>,
}

impl Started {
    /// Orderly stop: every dirty page written and a final checkpoint, so the
    /// next start has no redo to replay. A failure is logged with its cause:
    /// the next start recovers from redo instead.
    pub fn stop(self) {
        let Started {
            disk,
            storage,
            nvme,
            sql,
        } = self;
        if let Some(sql) = sql {
            sql.stop();
        }
        drop(disk);
        if let Some(storage) = storage {
            let store = storage.engine.describe();
            match storage.engine.shutdown() {
                Ok(()) => log::info!("storage on {store}: shut down cleanly"),
                Err(e) => log::error!(
                    "storage on {store}: shutdown failed ({e}); the next start recovers from redo"
                ),
            }
        }
        if let Some(device) = nvme {
            // The cores have stopped: close their queue pairs and the pooled
            // ones, so the transfer counts are whole.
            device.close_idle_queues();
            let counts = device.dma_counts();
            let queues = device.channel_counts();
            log::info!(
                "{}: {} transfers on registered DMA arenas, {} mapped for their one request; \
                 queue pairs: {} cores' own (created and polled by their core), {} pooled for \
                 threads off the cores (start, recovery, shutdown)",
                device.describe(),
                counts.premapped_ios,
                counts.mapped_ios,
                queues.core_queues_opened,
                queues.pooled_queues_opened
            );
        }
    }
}

/// Starts `config.role` with its data at `disk_path`; returns once serving.
/// The storage engine runs on that disk after its header, or, hosted, in
/// `storage_dir`.
pub fn start(
    config: &Config,
    disk_path: &Path,
    storage_dir: Option<&Path>,
    status: &Arc<Status>,
    disk_wait: Duration,
) -> Result<Started, RoleError> {
    if config.role == Role::Hwtest {
        // The checks take the machine's devices for themselves: no disk,
        // no engine. The report is served while the machine stays up.
        status.stage("hwtest_start");
        status.set_hwtest(crate::hwtest::run());
        status.stage("hwtest_done");
        let bound = health::spawn(config.metrics_listen, Arc::clone(status))?;
        log::info!("hwtest report on http://{bound}/health");
        return Ok(Started {
            disk: None,
            storage: None,
            nvme: None,
            sql: None,
        });
    }
    if config.role == Role::Nvmebench {
        // PID 1 runs it (init::run) before any role starts.
        return Err(RoleError::ApplianceOnly {
            role: config.role.as_str(),
        });
    }
    if config.role == Role::Primary && config.nvme != crate::config::NvmeChoice::Kernel {
        return start_on_user_space_nvme(config, status);
    }
    if config.role != Role::Primary {
        return Err(RoleError::NotBuilt {
            role: config.role.as_str(),
        });
    }
    let deadline = Instant::now() + disk_wait;
    // Device nodes appear when the driver has probed; a fresh boot may get
    // here first. Poll the path, bounded by the deadline.
    while !disk_path.exists() {
        if Instant::now() >= deadline {
            return Err(RoleError::NoDisk {
                path: disk_path.to_path_buf(),
                waited_s: disk_wait.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let now_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let opened = disk::open(disk_path, config.format, now_unix_s)?;
    log::info!(
        "disk {}: Floe disk {} ({} bytes), boot {} on this disk{}",
        opened.path.display(),
        opened.header.disk_id_hex(),
        opened.capacity_bytes,
        opened.header.boot_count,
        if opened.formatted_now {
            ", formatted now"
        } else {
            ""
        }
    );
    status.set_disk_json(disk_json(&opened));
    status.set_disk_boot_count(opened.header.boot_count);
    status.stage("disk_open");
    let running = match storage_dir {
        Some(dir) => storage::start_in_dir(dir)?,
        None => storage::start_on_disk(disk_path, opened.formatted_now)?,
    };
    // The kernel's I/O path blocks the caller (pwrite, fdatasync): the
    // engine's services keep threads of their own, off the cores.
    let scheduler = crate::sql::start_cores(config, status.mode == "appliance")?;
    serve(config, status, Some(opened), running, scheduler, false)
}

/// The primary role on Floe's own NVMe driver: the disk is taken from the
/// kernel (bound to vfio-pci) and the engine's volume sits on it directly.
/// There is no disk header on this path: the engine's boot log records boots.
fn start_on_user_space_nvme(config: &Config, status: &Arc<Status>) -> Result<Started, RoleError> {
    use floe_nvme::vfio::{PciAddress, Sysfs, VfioNvme};
    let sysfs = Sysfs::system();
    let nvme_error = |e: floe_nvme::NvmeError| RoleError::Nvme(Box::new(e));
    let address = match &config.nvme {
        crate::config::NvmeChoice::Address(text) => {
            PciAddress::parse(text).map_err(RoleError::BadNvmeAddress)?
        }
        _ => *sysfs
            .find_nvme_functions()
            .map_err(nvme_error)?
            .first()
            .ok_or(RoleError::NoNvme)?,
    };
    // The engine holds about six queues at once (pool, log, control,
    // doublewrite) plus short-lived ones: ask for plenty.
    let options = floe_nvme::ControllerOptions {
        io_queues: 32,
        ..floe_nvme::ControllerOptions::default()
    };
    let device = Arc::new(VfioNvme::open_device(&sysfs, address, options).map_err(nvme_error)?);
    log::info!("disk: NVMe {address} on Floe's user-space driver");
    // Every DMA arena (the buffer pool's frames among them, made when the
    // engine starts) is mapped once, whole, so page reads land in pool
    // frames with no per-I/O IOMMU work.
    device.map_dma_arenas();
    status.set_disk_json(format!(
        "{{\"path\":{},\"driver\":\"floe-nvme\"}}",
        json_string(&address.to_string())
    ));
    status.stage("disk_open");
    let format = config.format == crate::config::FormatPolicy::Auto;
    // Every steady-state I/O from the cores: sessions and the engine's
    // services are fibers, each core with its own queue pair.
    let scheduler = crate::sql::start_cores(config, status.mode == "appliance")?;
    let cores = scheduler.handle().clone();
    let running = storage::start_on_device(device.clone(), format, Some(cores))?;
    let mut started = serve(config, status, None, running, scheduler, true)?;
    started.nvme = Some(device);
    Ok(started)
}

/// The primary role's last steps, whichever driver its disk is on: publish
/// the engine's figures, serve /health and /metrics, and SQL.
fn serve(
    config: &Config,
    status: &Arc<Status>,
    disk: Option<OpenedDisk>,
    running: storage::Running,
    scheduler: floe_rt::sched::Scheduler,
    services_on_cores: bool,
) -> Result<Started, RoleError> {
    status.set_storage(running.json(), running.boots_recorded);
    status.stage("storage_open");
    let bound = health::spawn(config.metrics_listen, Arc::clone(status))?;
    log::info!("health endpoint on http://{bound}/health, metrics on /metrics");
    status.stage("health_listening");
    // The primary serves SQL, hosted and in the appliance alike.
    let sql = crate::sql::start(config, running.engine, scheduler, services_on_cores)?;
    status.stage("sql_listening");
    Ok(Started {
        disk,
        storage: None,
        nvme: None,
        sql: Some(sql),
    })
}

fn disk_json(opened: &OpenedDisk) -> String {
    // The kernel's identity of a block device, where it has one.
    let sys = opened
        .path
        .file_name()
        .map(|name| Path::new("/sys/block").join(name).join("device"));
    let read = |field: &str| {
        sys.as_ref()
            .and_then(|dir| std::fs::read_to_string(dir.join(field)).ok())
            .map(|text| text.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{{\"path\":{},\"model\":{},\"serial\":{},\"capacity_bytes\":{},\"disk_id\":{},\"boot_count\":{},\"formatted_at_unix_s\":{},\"formatted_now\":{}}}",
        json_string(&opened.path.to_string_lossy()),
        json_string(&read("model")),
        json_string(&read("serial")),
        opened.capacity_bytes,
        json_string(&opened.header.disk_id_hex()),
        opened.header.boot_count,
        opened.header.formatted_at_unix_s,
        opened.formatted_now,
    )
}
