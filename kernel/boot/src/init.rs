//! PID 1: bring the machine up, start the role, and bring it down in order.
//!
//! Order: mount the kernel file systems (the Debian kernel does not mount
//! devtmpfs itself), read `floe.*` from /proc/cmdline (a bad key halts with
//! the key named), install the panic action, load modules in the order the
//! image resolved, reserve huge pages, start the signal and power-button
//! watchers, configure the network, start the role, then wait for a stop.
//!
//! Shutdown: QEMU's `system_powerdown` (and a real power button) raises an
//! ACPI power-button event; the kernel's `button` driver turns it into a
//! KEY_POWER press on an input device named "Power Button", which we read
//! from /dev/input/eventN. Ctrl-Alt-Del (with CAD disabled) and SIGTERM /
//! SIGPWR sent to PID 1 stop it the same way.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::libc::SIGPWR;
use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, set_cad_enabled, RebootMode};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};

use crate::config::{Config, ConfigError, IpConfig, PanicAction};
use crate::health::Status;
use crate::logger;

/// Where the image puts the module load order (see xtask/src/image.rs):
/// one line per module: `name path...`, dependencies first, the module
/// itself last; a name alone is built into the kernel.
const MODULE_ORDER_PATH: &str = "/lib/modules/floe.order";
const NETWORK_WAIT: Duration = Duration::from_secs(20);
const DISK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
enum InitError {
    #[error("mounting {fstype} on {target}")]
    Mount {
        fstype: &'static str,
        target: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("creating {path}")]
    Mkdir {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("reading /proc/cmdline")]
    Cmdline(#[source] std::io::Error),
    #[error("boot config: {0}")]
    Config(#[from] ConfigError),
    #[error("network: {0}")]
    Iface(#[from] floe_net::IfaceError),
    #[error("network: {0}")]
    Dhcp(#[from] floe_net::DhcpError),
    #[error("network: interface {iface} did not appear within {waited_s} s")]
    NoInterface { iface: String, waited_s: u64 },
    #[error("network: reading the hardware address of {iface}")]
    Mac { iface: String },
}

/// Why the node stops.
#[derive(Debug)]
enum StopReason {
    Signal(i32),
    PowerButton(PathBuf),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Signal(signal) => write!(f, "signal {signal}"),
            StopReason::PowerButton(path) => write!(f, "power button ({})", path.display()),
        }
    }
}

/// Open files PID 1 (and so every connection it serves) may hold: the
/// kernel's default of 1024 would refuse connections well below
/// max_connections. 1 << 20 is the kernel's default fs.nr_open ceiling.
const OPEN_FILE_LIMIT: u64 = 1 << 20;

fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match setrlimit(Resource::RLIMIT_NOFILE, OPEN_FILE_LIMIT, OPEN_FILE_LIMIT) {
        Ok(()) => log::info!("open file limit {OPEN_FILE_LIMIT}"),
        Err(e) => {
            // Keep what the kernel allows: at least the hard limit.
            let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
            log::warn!(
                "raising the open file limit to {OPEN_FILE_LIMIT}: {e}; using {hard} (was {soft})"
            );
        }
    }
}

pub fn run() -> ! {
    logger::init(log::LevelFilter::Info);
    log::info!("floe {} starting as PID 1", env!("CARGO_PKG_VERSION"));
    if let Err(e) = mount_kernel_filesystems() {
        log::error!("{}", crate::logger::error_chain(&e));
        halt("cannot mount the kernel file systems");
    }
    let config = match read_config() {
        Ok(config) => config,
        Err(e) => {
            log::error!("{e}");
            halt("fix the kernel command line; `floe config-keys` lists the keys");
        }
    };
    log::set_max_level(config.log);
    install_panic_action(config.panic);
    if let Err(e) = nix::unistd::sethostname(&config.hostname) {
        log::warn!("setting host name {}: {e}", config.hostname);
    }
    raise_open_file_limit();
    let status = Arc::new(Status::new(config.role.as_str(), "appliance"));
    status.stage("config");
    load_modules(&config.modules);
    status.stage("modules");
    status.set_hugepages_2m_reserved(reserve_hugepages(config.hugepages));

    let (stop_sender, stop_receiver) = mpsc::channel();
    spawn_signal_watcher(stop_sender.clone());
    spawn_power_button_watchers(stop_sender);

    match bring_up_network(&config) {
        Ok(()) => status.stage("network"),
        Err(e) => log::error!("{}; continuing without it", crate::logger::error_chain(&e)),
    }
    if config.role == crate::config::Role::Nvmebench {
        // A run to completion, not a service: figures on the console, then
        // off (an error is on the console too, and off all the same).
        status.stage("nvmebench_start");
        crate::nvmebench::run_appliance(&config, DISK_WAIT);
        nix::unistd::sync();
        log::info!("nvmebench finished; powering off");
        power(RebootMode::RB_POWER_OFF)
    }
    // Held for as long as PID 1 runs: dropping it would stop the engine.
    let started = match crate::role::start(&config, &config.data, None, &status, DISK_WAIT) {
        Ok(started) => started,
        Err(e) => {
            log::error!("role {}: {e}", config.role.as_str());
            halt("the role could not start");
        }
    };
    status.set_state("ready");
    status.stage("ready");
    log::info!(
        "ready: role {} at {:.3} s since boot",
        config.role.as_str(),
        logger::boottime_s()
    );

    let reason = match stop_receiver.recv() {
        Ok(reason) => reason,
        Err(_) => StopReason::Signal(0), // every watcher ended: nothing can stop us cleanly later
    };
    log::info!("stopping: {reason}");
    status.set_state("stopping");
    // Orderly stop: no SQL sessions yet; the engine writes its dirty pages
    // and checkpoints, then what the kernel holds is synced, then power off.
    started.stop();
    nix::unistd::sync();
    log::info!("disks synced; powering off");
    power(RebootMode::RB_POWER_OFF)
}

fn mount_kernel_filesystems() -> Result<(), InitError> {
    let table: [(&'static str, &'static str, MsFlags, Option<&'static str>); 8] = [
        (
            "proc",
            "/proc",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        ),
        (
            "sysfs",
            "/sys",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        ),
        ("devtmpfs", "/dev", MsFlags::MS_NOSUID, Some("mode=0755")),
        (
            "devpts",
            "/dev/pts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("gid=5,mode=620,ptmxmode=666"),
        ),
        (
            "tmpfs",
            "/dev/shm",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=1777"),
        ),
        (
            "tmpfs",
            "/run",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        ),
        (
            "tmpfs",
            "/tmp",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=1777"),
        ),
        (
            "hugetlbfs",
            "/dev/hugepages",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("pagesize=2M"),
        ),
    ];
    for (fstype, target, flags, data) in table {
        std::fs::create_dir_all(target).map_err(|source| InitError::Mkdir {
            path: target,
            source,
        })?;
        match mount(Some(fstype), target, Some(fstype), flags, data) {
            Ok(()) => log::info!("mounted {fstype} on {target}"),
            // Mounted already (a kernel with DEVTMPFS_MOUNT): fine.
            Err(nix::Error::EBUSY) => log::info!("{fstype} on {target}: already mounted"),
            Err(source) => {
                return Err(InitError::Mount {
                    fstype,
                    target,
                    source,
                })
            }
        }
    }
    Ok(())
}

fn read_config() -> Result<Config, InitError> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").map_err(InitError::Cmdline)?;
    log::info!("kernel command line: {}", cmdline.trim());
    let mut config = Config::default();
    config.apply_cmdline(&cmdline)?;
    Ok(config)
}

fn install_panic_action(action: PanicAction) {
    std::panic::set_hook(Box::new(move |info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        log::error!("panic: {info}\n{backtrace}");
        nix::unistd::sync();
        match action {
            PanicAction::Reboot => power(RebootMode::RB_AUTOBOOT),
            PanicAction::Halt => halt("panicked (floe.panic=halt)"),
        }
    }));
}

/// Loads each module with its dependencies, in the order the image
/// resolved. A module that fails is logged and skipped: the node may still
/// serve without it, and the log says what is missing.
fn load_modules(modules: &[String]) {
    let order = match std::fs::read_to_string(MODULE_ORDER_PATH) {
        Ok(order) => order,
        Err(e) => {
            log::warn!("{MODULE_ORDER_PATH}: {e}; loading no modules");
            return;
        }
    };
    let mut loaded: HashSet<String> = HashSet::new();
    let started = Instant::now();
    for name in modules {
        let Some(line) = order
            .lines()
            .find(|line| line.split_whitespace().next() == Some(name.as_str()))
        else {
            log::warn!("module {name}: not in this image ({MODULE_ORDER_PATH})");
            continue;
        };
        let paths: Vec<&str> = line.split_whitespace().skip(1).collect();
        if paths.is_empty() {
            log::debug!("module {name}: built into the kernel");
        }
        for path in paths {
            if !loaded.insert(path.to_string()) {
                continue;
            }
            load_module(path);
        }
    }
    log::info!(
        "modules: {} files handled in {:.2} s",
        loaded.len(),
        started.elapsed().as_secs_f64()
    );
}

fn load_module(path: &str) {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            log::warn!("module {path}: {e}");
            return;
        }
    };
    match nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty()) {
        Ok(()) => log::info!("module {path}: loaded"),
        Err(nix::Error::EEXIST) => log::debug!("module {path}: already loaded"),
        // CPU-accelerated crypto modules refuse CPUs without the feature
        // (all of them under TCG); the generic ones cover them.
        Err(nix::Error::ENODEV) => {
            log::info!("module {path}: no device or CPU feature for it (ENODEV), skipped")
        }
        Err(e) => log::warn!("module {path}: {e}"),
    }
}

/// Returns how many 2 MiB pages the kernel reserved.
fn reserve_hugepages(count: u64) -> u64 {
    if count == 0 {
        return 0;
    }
    let path = "/proc/sys/vm/nr_hugepages";
    if let Err(e) = std::fs::write(path, count.to_string()) {
        log::warn!("huge pages: writing {count} to {path}: {e}");
        return 0;
    }
    match std::fs::read_to_string(path).map(|text| text.trim().parse::<u64>()) {
        Ok(Ok(reserved)) => {
            if reserved >= count {
                log::info!("huge pages: {reserved} x 2 MiB reserved");
            } else {
                log::warn!("huge pages: asked for {count}, got {reserved}");
            }
            reserved
        }
        _ => {
            log::warn!("huge pages: cannot read back {path}");
            0
        }
    }
}

/// Reaps every exited child (orphans are re-parented to us) and turns
/// SIGTERM, SIGINT (Ctrl-Alt-Del) and SIGPWR into a stop.
fn spawn_signal_watcher(stop: mpsc::Sender<StopReason>) {
    if let Err(e) = set_cad_enabled(false) {
        log::warn!("disabling Ctrl-Alt-Del reboot: {e}");
    }
    let mut signals = match signal_hook::iterator::Signals::new([SIGCHLD, SIGTERM, SIGINT, SIGPWR])
    {
        Ok(signals) => signals,
        Err(e) => {
            log::error!("installing signal handlers: {e}; orphans will not be reaped");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGCHLD {
                    reap_children();
                } else if stop.send(StopReason::Signal(signal)).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("starting the signal thread: {e}");
    }
}

fn reap_children() {
    // Bounded: at most this many exits per SIGCHLD; signals coalesce, so
    // the next one picks up any rest.
    for _ in 0..1024 {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => log::debug!("reaped {status:?}"),
        }
    }
}

/// One thread per input device named "Power Button" (ACPI exposes two).
fn spawn_power_button_watchers(stop: mpsc::Sender<StopReason>) {
    let entries = match std::fs::read_dir("/sys/class/input") {
        Ok(entries) => entries,
        Err(e) => {
            log::warn!("no /sys/class/input ({e}): the power button will not stop the node");
            return;
        }
    };
    let mut watched = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("event") {
            continue;
        }
        let device_name =
            std::fs::read_to_string(entry.path().join("device/name")).unwrap_or_default();
        if device_name.trim() != "Power Button" {
            continue;
        }
        let path = Path::new("/dev/input").join(&name);
        let stop = stop.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("power-{name}"))
            .spawn(move || watch_power_button(path, stop));
        match spawned {
            Ok(_) => watched += 1,
            Err(e) => log::warn!("starting a power-button thread: {e}"),
        }
    }
    if watched == 0 {
        log::warn!("no \"Power Button\" input device: ACPI power-off will not stop the node");
    } else {
        log::info!("watching {watched} power-button input devices");
    }
}

/// Reads `struct input_event` records (x86_64: 16-byte timeval, u16 type,
/// u16 code, i32 value) until KEY_POWER is pressed.
fn watch_power_button(path: PathBuf, stop: mpsc::Sender<StopReason>) {
    const EVENT_BYTES: usize = 24;
    const EV_KEY: u16 = 1;
    const KEY_POWER: u16 = 116;
    let mut device = match File::open(&path) {
        Ok(device) => device,
        Err(e) => {
            log::warn!("{}: {e}", path.display());
            return;
        }
    };
    let mut event = [0u8; EVENT_BYTES];
    loop {
        if let Err(e) = device.read_exact(&mut event) {
            log::warn!("{}: {e}", path.display());
            return;
        }
        let event_type = u16::from_le_bytes([event[16], event[17]]);
        let code = u16::from_le_bytes([event[18], event[19]]);
        let value = i32::from_le_bytes([event[20], event[21], event[22], event[23]]);
        if event_type == EV_KEY && code == KEY_POWER && value == 1 {
            log::info!("power button pressed ({})", path.display());
            let _ = stop.send(StopReason::PowerButton(path));
            return;
        }
    }
}

fn bring_up_network(config: &Config) -> Result<(), InitError> {
    let control = floe_net::iface::Control::new()?;
    control.set_up("lo")?;
    log::info!("network: lo up");
    if config.ip == IpConfig::None {
        return Ok(());
    }
    let iface = config.iface.as_str();
    let sys = Path::new("/sys/class/net").join(iface);
    let deadline = Instant::now() + NETWORK_WAIT;
    while !sys.exists() {
        if Instant::now() >= deadline {
            return Err(InitError::NoInterface {
                iface: iface.to_string(),
                waited_s: NETWORK_WAIT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    control.set_up(iface)?;
    match config.ip {
        IpConfig::Static {
            address,
            prefix_len,
        } => {
            control.set_ipv4(iface, address, prefix_len)?;
            log::info!("network: {iface} {address}/{prefix_len} (static)");
            if let Some(gateway) = config.gw {
                control.add_default_route(iface, gateway)?;
                log::info!("network: default route via {gateway}");
            }
        }
        IpConfig::Dhcp => {
            let mac_text = std::fs::read_to_string(sys.join("address")).unwrap_or_default();
            let mac = floe_net::dhcp::parse_mac(&mac_text).ok_or_else(|| InitError::Mac {
                iface: iface.to_string(),
            })?;
            let lease = floe_net::dhcp::acquire(iface, mac)?;
            control.set_ipv4(iface, lease.address, lease.prefix_len)?;
            log::info!(
                "network: {iface} {}/{} from DHCP server {} (lease {} s)",
                lease.address,
                lease.prefix_len,
                lease.server,
                lease.lease_s
            );
            // floe.gw overrides the router the server offered.
            if let Some(gateway) = config.gw.or(lease.router) {
                control.add_default_route(iface, gateway)?;
                log::info!("network: default route via {gateway}");
            }
            spawn_dhcp_renewal(iface.to_string(), mac, lease, config.gw);
        }
        IpConfig::None => {}
    }
    Ok(())
}

/// Keeps a DHCP lease: renews at T1 (half the lease) with the server that
/// granted it, rebinds with any server from T2 (7/8), and if the lease
/// runs out anyway, starts over with DISCOVER. A fleet's DHCP server may
/// hand an expired address to another machine, so this is not optional.
fn spawn_dhcp_renewal(
    iface: String,
    mac: [u8; 6],
    lease: floe_net::Lease,
    gw: Option<std::net::Ipv4Addr>,
) {
    // No lease time or "infinite" (0xffffffff): nothing to renew.
    if lease.lease_s == 0 || lease.lease_s == u32::MAX {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("dhcp-renew".to_string())
        .spawn(move || {
            let mut lease = lease;
            loop {
                let granted = Instant::now();
                let lease_length = Duration::from_secs(u64::from(lease.lease_s));
                let t1 = granted + lease_length / 2;
                let t2 = granted + lease_length * 7 / 8;
                let expiry = granted + lease_length;
                std::thread::sleep(t1.saturating_duration_since(Instant::now()));
                let renewed = loop {
                    let now = Instant::now();
                    let attempt = if now >= expiry {
                        log::error!(
                            "dhcp on {iface}: lease on {} expired; acquiring a new one",
                            lease.address
                        );
                        floe_net::dhcp::acquire(&iface, mac)
                    } else {
                        floe_net::dhcp::renew(&iface, mac, &lease, now >= t2)
                    };
                    match attempt {
                        Ok(renewed) => break renewed,
                        Err(e) => {
                            log::warn!("dhcp on {iface}: {e}; retrying");
                            // RFC 2131 4.4.5: wait half the time left, at least 60 s.
                            let left = expiry.saturating_duration_since(Instant::now());
                            std::thread::sleep((left / 2).max(Duration::from_secs(60)));
                        }
                    }
                };
                if renewed.address != lease.address || renewed.prefix_len != lease.prefix_len {
                    log::warn!(
                        "dhcp on {iface}: address moved from {}/{} to {}/{}",
                        lease.address,
                        lease.prefix_len,
                        renewed.address,
                        renewed.prefix_len
                    );
                    if let Err(e) = apply_address(&iface, &renewed, gw) {
                        log::error!("dhcp on {iface}: applying {}: {e}", renewed.address);
                    }
                } else {
                    log::debug!(
                        "dhcp on {iface}: lease on {} renewed for {} s",
                        renewed.address,
                        renewed.lease_s
                    );
                }
                lease = renewed;
            }
        });
    if let Err(e) = spawned {
        log::error!("dhcp: starting the renewal thread: {e}; the lease will lapse");
    }
}

fn apply_address(
    iface: &str,
    lease: &floe_net::Lease,
    gw: Option<std::net::Ipv4Addr>,
) -> Result<(), floe_net::IfaceError> {
    let control = floe_net::iface::Control::new()?;
    control.set_ipv4(iface, lease.address, lease.prefix_len)?;
    if let Some(gateway) = gw.or(lease.router) {
        // A new address on the same interface drops its routes; add it back.
        control.add_default_route(iface, gateway)?;
    }
    Ok(())
}

/// Halts the machine after saying why. Never loops on the error: the
/// console keeps the message for the operator.
fn halt(why: &str) -> ! {
    log::error!("halting: {why}");
    nix::unistd::sync();
    power(RebootMode::RB_HALT_SYSTEM)
}

fn power(mode: RebootMode) -> ! {
    let Err(e) = reboot(mode);
    log::error!("reboot({mode:?}): {e}");
    // reboot() only returns on error. PID 1 must not exit (the kernel
    // would panic over our message), so park for good.
    loop {
        std::thread::park();
    }
}

/// Hosted mode: blocks until SIGINT or SIGTERM; returns the signal.
pub fn wait_for_stop_signal() -> std::io::Result<i32> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    Ok(signals.forever().next().unwrap_or(SIGTERM))
}
