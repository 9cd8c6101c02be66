//! The SQL server of hosted mode: `Database` over the started engine, the
//! MySQL server on `floe.listen`, the root account from
//! `floe.root_password`. Accounts live in the dictionary (`mysql.user`):
//! root's password is taken from config on the first start only; with none
//! configured, one is generated then and printed once.
//!
//! Connections run as fibers on the per-core scheduler (`floe.cores`: one
//! pinned thread per CPU; DESIGN.md, execution model).
//!
//! Stop order: the server (every session dropped, so every open
//! transaction rolled back), then the transaction system and the engine
//! with a checkpoint (their services end), then the cores (no fiber left).

use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_server::{Entropy, OsEntropy, RunningServer, Server, ServerConfig};
use floe_sql::{Database, FloeBackend};
use floe_storage::srv::Engine;
use floe_storage::trx::TrxConfig;

use floe_rt::sched::{Scheduler, SchedulerConfig};
use floe_rt::CoreId;

use crate::config::{Config, CoreChoice};

#[derive(Debug, thiserror::Error)]
pub enum SqlStartError {
    #[error("opening the SQL layer: {0}")]
    Database(String),
    #[error("listening for MySQL clients on {listen}")]
    Listen {
        listen: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("generating a root password")]
    Entropy(#[source] std::io::Error),
    #[error("floe.cores: {0}")]
    Cores(String),
    #[error("starting the per-core scheduler")]
    Scheduler(#[source] floe_rt::RtError),
}

/// The scheduler's cores for `choice`: every CPU we may run on, or the
/// listed ones, each of which must be one of those.
fn scheduler_cores(choice: &CoreChoice) -> Result<Vec<CoreId>, SqlStartError> {
    let available = floe_rt::available_cores();
    match choice {
        CoreChoice::All if available.is_empty() => Err(SqlStartError::Cores(
            "the kernel does not say which CPUs this process may use".to_owned(),
        )),
        CoreChoice::All => Ok(available),
        CoreChoice::List(list) => list
            .iter()
            .map(|&cpu| {
                let core = CoreId(cpu);
                if available.contains(&core) {
                    Ok(core)
                } else {
                    let offered: Vec<String> = available.iter().map(ToString::to_string).collect();
                    Err(SqlStartError::Cores(format!(
                        "CPU {cpu} is not one this process may run on ({})",
                        offered.join(",")
                    )))
                }
            })
            .collect(),
    }
}

pub struct SqlRunning {
    server: RunningServer,
    scheduler: Scheduler,
    database: Arc<Database>,
}

/// How long sessions get to finish their statement at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn generated_password() -> Result<String, SqlStartError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    OsEntropy.fill(&mut bytes).map_err(SqlStartError::Entropy)?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// How long an idle core of the appliance polls before it sleeps: the
/// machine is Floe's, and a core that is awake answers sooner.
const APPLIANCE_IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// Starts the per-core scheduler on `floe.cores`: one pinned thread per
/// CPU. In the appliance an idle core polls briefly before it sleeps; in
/// hosted mode it sleeps at once, since the machine's other programs (the
/// clients among them) need those CPUs: spinning there doubled sysbench's
/// p95 at 4 threads on 2 CPUs.
pub fn start_cores(config: &Config, appliance: bool) -> Result<Scheduler, SqlStartError> {
    let cores = scheduler_cores(&config.cores)?;
    let core_list: Vec<String> = cores.iter().map(ToString::to_string).collect();
    let scheduler = Scheduler::start(SchedulerConfig {
        cores,
        stack_bytes: ServerConfig::default().thread_stack_bytes,
        name: "floe-core".to_owned(),
        idle_spin: if appliance {
            APPLIANCE_IDLE_SPIN
        } else {
            std::time::Duration::ZERO
        },
        ..SchedulerConfig::default()
    })
    .map_err(SqlStartError::Scheduler)?;
    log::info!(
        "scheduler: {} cores (CPUs {}), one pinned thread each",
        core_list.len(),
        core_list.join(",")
    );
    Ok(scheduler)
}

/// Serves SQL over `engine` with connections as fibers on `scheduler`.
/// `services_on_cores`: purge runs as a fiber there too (the engine's own
/// services were placed when it started); otherwise on a thread.
pub fn start(
    config: &Config,
    engine: Engine,
    scheduler: Scheduler,
    services_on_cores: bool,
) -> Result<SqlRunning, SqlStartError> {
    let trx_config = TrxConfig {
        services: services_on_cores.then(|| scheduler.handle().clone()),
        ..TrxConfig::default()
    };
    let database =
        Database::open(engine, trx_config).map_err(|e| SqlStartError::Database(e.to_string()))?;
    let generated = if database.root_password_unset() {
        // First start (or the first with accounts): root gets the
        // configured password, or a generated one printed this once.
        let (password, generated) = if config.root_password.is_empty() {
            (generated_password()?, true)
        } else {
            (config.root_password.clone(), false)
        };
        database
            .set_root_password(&password)
            .map_err(|e| SqlStartError::Database(format!("setting root's password: {e}")))?;
        generated.then_some(password)
    } else {
        if !config.root_password.is_empty() && !database.root_password_is(&config.root_password) {
            log::warn!(
                "floe.root_password is not root's password: it is read on the first start only; \
                 the dictionary keeps root's password since (change it with ALTER USER)"
            );
        }
        None
    };
    // SQL SHUTDOWN takes the path of SIGTERM: an orderly stop (and in the
    // appliance, power-off).
    database.set_shutdown_hook(Box::new(|| {
        if let Err(e) = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::SIGTERM)
        {
            log::error!("SHUTDOWN: signalling ourselves: {e}");
        }
    }));
    let backend = FloeBackend::new(Arc::clone(&database));
    let server_config = ServerConfig {
        listen: config.listen,
        ..ServerConfig::default()
    };
    let server = Server::start(
        ServerConfig {
            scheduler: Some(scheduler.handle().clone()),
            ..server_config
        },
        backend,
        Arc::new(OsEntropy),
    )
    .map_err(|source| SqlStartError::Listen {
        listen: config.listen,
        source,
    })?;
    let bound = server.local_addr();
    let host = if bound.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        bound.ip().to_string()
    };
    if let Some(password) = generated {
        log::info!(
            "SQL root password generated on this first start, shown this once \
             (floe.root_password chooses one): mysql -h {host} -P {} -u root -p{password}",
            bound.port()
        );
    } else {
        log::info!(
            "MySQL clients: mysql -h {host} -P {} -u root -p",
            bound.port()
        );
    }
    Ok(SqlRunning {
        server,
        scheduler,
        database,
    })
}

impl SqlRunning {
    /// Stops the server, then the transaction system and engine.
    pub fn stop(self) {
        let report = self.server.shutdown(SHUTDOWN_GRACE);
        log::info!(
            "SQL server stopped: {} connections closed, {} still running",
            report.connections_closed,
            report.connections_still_running
        );
        let scheduler = self.scheduler;
        let sessions_ended = report.connections_still_running == 0;
        // Connections drop their sessions (and the backend's reference) as
        // they end; wait for that, bounded.
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut database = self.database;
        loop {
            match Arc::try_unwrap(database) {
                Ok(owned) => {
                    // Stops the engine's services (fibers on the cores, or
                    // threads) before the cores stop.
                    match Arc::new(owned).shutdown() {
                        Ok(()) => log::info!("storage: shut down cleanly"),
                        Err(e) => log::error!(
                            "storage shutdown failed ({e}); the next start recovers from redo"
                        ),
                    }
                    break;
                }
                Err(shared) if Instant::now() < deadline => {
                    database = shared;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => {
                    log::error!(
                        "sessions still running {} s after shutdown; \
                         the next start recovers from redo",
                        SHUTDOWN_GRACE.as_secs()
                    );
                    // The cores stop once those fibers end; nobody waits.
                    drop(scheduler);
                    return;
                }
            }
        }
        if sessions_ended {
            scheduler.shutdown();
        } else {
            log::error!("the scheduler's cores stop once the sessions still running end");
            drop(scheduler);
        }
    }
}
