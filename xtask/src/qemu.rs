//! `cargo xtask qemu SCENARIO`: boots the image as a scenario in qemu/
//! describes (machine, disk, network, boots and what each must show), under
//! a time limit. Every QEMU is started in its own process group and killed
//! by PID when its guard drops, so no VM outlives the command. The serial
//! console goes to target/qemu/SCENARIO.N.serial.log and is echoed here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::image::{Image, BASE_CMDLINE};
use crate::util::workspace_root;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    /// Whole-scenario limit; 0 means none (interactive).
    pub time_limit_s: u64,
    pub machine: Machine,
    pub disk: Disk,
    pub net: Net,
    pub boots: Vec<Boot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    #[serde(rename = "type")]
    pub machine_type: String,
    pub accel: String,
    pub memory_mib: u32,
    pub cpus: u32,
    pub iommu: bool,
    /// The IOMMU's address width (QEMU's default is 39 bits; a user-space
    /// driver that maps its virtual addresses as IOVAs needs 48).
    #[serde(default)]
    pub iommu_address_bits: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    pub file: String,
    pub size_mib: u64,
    pub serial: String,
    pub fresh: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Net {
    pub nic: String,
    pub mac: String,
    pub guest_metrics_port: u16,
    pub guest_sql_port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    /// "kernel" (QEMU loads vmlinuz + initramfs) or "pxe" (iPXE over TFTP).
    pub source: String,
    pub cmdline: String,
    /// Values /health must report once ready, by JSON pointer
    /// (`"/disk/boot_count" = 2`).
    #[serde(default)]
    pub expect_health: std::collections::BTreeMap<String, toml::Value>,
    /// How xtask stops the VM: "powerdown" (QMP system_powerdown, the ACPI
    /// power button), "ctrl-alt-del" (QMP send-key), "sql" (the host's
    /// mysql client sends SHUTDOWN) or "powercut" (SIGKILL, see below).
    #[serde(default = "default_stop")]
    pub stop: String,
    /// Lines GET /metrics must contain once ready.
    #[serde(default)]
    pub expect_metrics: Vec<String>,
    /// Text the serial console must show once the guest has stopped
    /// (orderly stops only): what it logs on the way down.
    #[serde(default)]
    pub expect_console_at_stop: Vec<String>,
    pub bench: String,
    pub ready_timeout_s: u64,
    /// If set, this boot must refuse: the console shows this text, then the
    /// kernel's "System halted", and QEMU is still running (halted, not
    /// rebooting or panicking).
    pub expect_console: Option<String>,
    /// The guest runs to completion and powers itself off (a benchmark
    /// role): xtask waits up to `ready_timeout_s` for QEMU to exit and
    /// hands the serial log to the caller; no /health, no stop.
    #[serde(default)]
    pub powers_off: bool,
    /// Statements the host's `mysql` client runs through the SQL forward
    /// once /health is ready, in order, each with its expected output
    /// (batch mode, no column names; tabs between columns, rows joined by
    /// newlines). Needs `sql_password`: the boot's floe.root_password, or
    /// "console" for the one a first start generates and prints on the
    /// serial console.
    #[serde(default)]
    pub sql: Vec<SqlCheck>,
    pub sql_password: Option<String>,
    /// BENCH name for boot-to-first-SQL-answer time, when `sql` is set.
    pub sql_bench: Option<String>,
    /// With `stop = "powercut"`: after the checks, xtask runs this
    /// statement with `{n}` = 1, 2, 3, ... (each autocommitted, one mysql
    /// client per statement) and SIGKILLs QEMU at a random moment while
    /// they run. Later boots' `sql` checks may use `{acked}`: the highest
    /// `n` whose statement was acknowledged before the cut.
    pub powercut_insert: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlCheck {
    pub query: String,
    #[serde(default)]
    pub expect: String,
}

/// Runs one statement with the host's mysql client; its stdout, trimmed.
fn mysql(port: u16, password: &str, query: &str) -> Result<String, String> {
    let output = std::process::Command::new("mysql")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-u",
            "root",
            &format!("-p{password}"),
            "--batch",
            "--skip-column-names",
            "--connect-timeout=10",
            "-e",
            query,
        ])
        .output()
        .map_err(|e| format!("cannot run the mysql client: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "mysql -e {query:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs a boot's SQL checks; the first one is retried until `deadline`
/// (the SQL listener comes up right after /health).
/// The boot's SQL password: as configured, or with `sql_password =
/// "console"` the one the first start generated and printed on the console.
fn sql_password(boot: &Boot, serial_log: &Path) -> Result<String, String> {
    match boot.sql_password.as_deref() {
        None => Err("a boot with sql checks needs sql_password".to_string()),
        Some("console") => {
            let log = std::fs::read_to_string(serial_log)
                .map_err(|e| format!("reading {}: {e}", serial_log.display()))?;
            log.lines()
                .filter(|l| l.contains("generated"))
                .find_map(|l| l.rsplit(" -p").next().filter(|_| l.contains(" -p")))
                .map(|p| p.trim().to_string())
                .ok_or_else(|| {
                    format!(
                        "no generated root password on the console ({})",
                        serial_log.display()
                    )
                })
        }
        Some(password) => Ok(password.to_string()),
    }
}

fn check_sql(
    port: u16,
    boot: &Boot,
    password: &str,
    deadline: Instant,
    acked: u64,
) -> Result<(), String> {
    let fill = |text: &str| text.replace("{acked}", &acked.to_string());
    for (n, check) in boot.sql.iter().enumerate() {
        let query = fill(&check.query);
        let expect = fill(&check.expect);
        let found = loop {
            match mysql(port, password, &query) {
                Ok(found) => break found,
                Err(e) if n == 0 && Instant::now() < deadline && e.contains("2002") => {
                    std::thread::sleep(Duration::from_millis(500))
                }
                Err(e) => return Err(e),
            }
        };
        if found != expect.trim() {
            return Err(format!(
                "mysql -e {query:?} printed {found:?}, expected {:?}",
                expect.trim()
            ));
        }
        println!("==> sql ok: {query}");
    }
    Ok(())
}

/// Runs `insert` with n = 1, 2, ... until `cut` is set or a statement
/// fails; returns the highest n acknowledged.
fn insert_until_cut(port: u16, password: &str, insert: &str, cut: &AtomicBool) -> u64 {
    let mut acked = 0;
    while !cut.load(Ordering::Relaxed) {
        let n = acked + 1;
        if mysql(port, password, &insert.replace("{n}", &n.to_string())).is_err() {
            break;
        }
        acked = n;
    }
    acked
}

fn default_stop() -> String {
    "powerdown".to_string()
}

pub fn load(name: &str) -> Result<Scenario, String> {
    let path = workspace_root().join("qemu").join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (scenarios: {})",
            path.display(),
            scenario_names().join(", ")
        )
    })?;
    let scenario: Scenario =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for boot in &scenario.boots {
        if !["powerdown", "ctrl-alt-del", "powercut", "sql"].contains(&boot.stop.as_str()) {
            return Err(format!(
                "{}: stop '{}': expected powerdown, ctrl-alt-del or powercut",
                path.display(),
                boot.stop
            ));
        }
        if (boot.stop == "powercut") != boot.powercut_insert.is_some() {
            return Err(format!(
                "{}: stop = \"powercut\" and powercut_insert go together",
                path.display()
            ));
        }
        if boot.source != "kernel" && boot.source != "pxe" {
            return Err(format!(
                "{}: boot source '{}': expected kernel or pxe",
                path.display(),
                boot.source
            ));
        }
    }
    for boot in &scenario.boots {
        let waits_for_health = !boot.expect_health.is_empty() || !boot.expect_metrics.is_empty();
        if boot.powers_off && (boot.expect_console.is_some() || waits_for_health) {
            return Err(format!(
                "{}: boot {}: powers_off runs to power-off; it takes no expect_console, \
                 expect_health or expect_metrics",
                path.display(),
                boot.bench
            ));
        }
    }
    if scenario.boots.is_empty() {
        return Err(format!("{}: no [[boots]]", path.display()));
    }
    Ok(scenario)
}

pub fn scenario_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("qemu"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| {
                    entry
                        .file_name()
                        .to_str()?
                        .strip_suffix(".toml")
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A port on 127.0.0.1 free right now (MACHINE-NOTES: never a fixed one).
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// QEMU, killed by PID (and reaped) when dropped if still running.
struct Vm {
    child: Child,
    qmp_path: PathBuf,
    serial_log: PathBuf,
    qemu_log: PathBuf,
    echo_stop: Arc<AtomicBool>,
    echo: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            println!("==> killing QEMU pid {}", self.child.id());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.echo_stop.store(true, Ordering::Relaxed);
        if let Some(echo) = self.echo.take() {
            let _ = echo.join();
        }
    }
}

/// Copies what the guest writes to the serial log onto our stdout until
/// told to stop (then once more, to catch the tail).
fn echo_serial(path: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut position = 0u64;
        let mut buffer = Vec::new();
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            if let Ok(mut file) = std::fs::File::open(&path) {
                use std::io::Seek;
                if file.seek(std::io::SeekFrom::Start(position)).is_ok() {
                    buffer.clear();
                    if let Ok(read) = file.read_to_end(&mut buffer) {
                        position += read as u64;
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&buffer);
                        let _ = out.flush();
                    }
                }
            }
            if stopping {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

struct Ports {
    metrics: u16,
    sql: u16,
}

fn start_vm(
    scenario: &Scenario,
    name: &str,
    index: usize,
    boot: &Boot,
    image: &Image,
    ports: &Ports,
) -> Result<Vm, String> {
    let dir = workspace_root().join("target/qemu");
    let qmp_path = dir.join(format!("{name}.{index}.qmp"));
    let serial_log = dir.join(format!("{name}.{index}.serial.log"));
    let _ = std::fs::remove_file(&qmp_path);
    let _ = std::fs::remove_file(&serial_log);
    let qemu_log = dir.join(format!("{name}.{index}.qemu.log"));
    let qemu_log_file =
        std::fs::File::create(&qemu_log).map_err(|e| format!("{}: {e}", qemu_log.display()))?;
    let machine = &scenario.machine;
    let accel = if std::env::var("FLOE_KVM").as_deref() == Ok("1") {
        "kvm"
    } else {
        machine.accel.as_str()
    };
    let mut command = Command::new("qemu-system-x86_64");
    command
        .args(["-machine", &machine.machine_type, "-accel", accel])
        .args([
            "-m",
            &machine.memory_mib.to_string(),
            "-smp",
            &machine.cpus.to_string(),
        ])
        .args(["-display", "none", "-no-reboot"]);
    if machine.iommu {
        // Before the PCI devices it translates for.
        match machine.iommu_address_bits {
            Some(bits) => command.args(["-device", &format!("intel-iommu,aw-bits={bits}")]),
            None => command.args(["-device", "intel-iommu"]),
        };
    }
    let disk_path = dir.join(&scenario.disk.file);
    command
        .args([
            "-drive",
            &format!("file={},if=none,id=disk0,format=raw", disk_path.display()),
        ])
        .args([
            "-device",
            &format!("nvme,serial={},drive=disk0", scenario.disk.serial),
        ]);
    let forwards = format!(
        "hostfwd=tcp:127.0.0.1:{}-:{},hostfwd=tcp:127.0.0.1:{}-:{}",
        ports.metrics, scenario.net.guest_metrics_port, ports.sql, scenario.net.guest_sql_port
    );
    let netdev = match boot.source.as_str() {
        "pxe" => format!(
            "user,id=net0,tftp={},bootfile=boot.ipxe,{forwards}",
            image.dir.display()
        ),
        _ => format!("user,id=net0,{forwards}"),
    };
    command.args(["-netdev", &netdev]).args([
        "-device",
        &format!("{},netdev=net0,mac={}", scenario.net.nic, scenario.net.mac),
    ]);
    if boot.source == "pxe" {
        command.args(["-boot", "n"]);
    } else {
        command
            .arg("-kernel")
            .arg(&image.vmlinuz)
            .arg("-initrd")
            .arg(&image.initramfs)
            .args(["-append", &format!("{BASE_CMDLINE} {}", boot.cmdline)]);
    }
    command
        .args([
            "-chardev",
            &format!("file,id=serial0,path={}", serial_log.display()),
        ])
        .args(["-serial", "chardev:serial0"])
        .args([
            "-qmp",
            &format!("unix:{},server=on,wait=off", qmp_path.display()),
        ])
        .stdin(Stdio::null())
        .stderr(qemu_log_file)
        // Its own process group: the terminal's Ctrl-C reaches only us, and
        // we power the VM off in order.
        .process_group(0);
    println!("==> {name} boot {}: {command:?}", index + 1);
    let child = command
        .spawn()
        .map_err(|e| format!("starting qemu-system-x86_64 (cargo xtask deps installs it): {e}"))?;
    let echo_stop = Arc::new(AtomicBool::new(false));
    let echo = Some(echo_serial(serial_log.clone(), Arc::clone(&echo_stop)));
    Ok(Vm {
        child,
        qmp_path,
        serial_log,
        qemu_log,
        echo_stop,
        echo,
    })
}

/// GET `path` through the forward; Some(body) on a 200 answer.
fn get_text(port: u16, path: &str) -> Option<String> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: floe\r\n\r\n").as_bytes())
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200").then(|| body.to_string())
}

/// GET /health through the forward; Some(JSON) once the guest answers.
fn get_health(port: u16) -> Option<serde_json::Value> {
    serde_json::from_str(get_text(port, "/health")?.trim()).ok()
}

/// Sends one QMP command (a JSON object) after the capabilities handshake.
fn qmp(path: &Path, command: &str, deadline: Instant) -> Result<(), String> {
    let stream = loop {
        match UnixStream::connect(path) {
            Ok(stream) => break stream,
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("QMP {}: {e}", path.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut writer = stream;
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("QMP greeting: {e}"))?;
    for request in [r#"{"execute":"qmp_capabilities"}"#, command] {
        writeln!(writer, "{request}").map_err(|e| format!("QMP {request}: {e}"))?;
        // Events may come before the answer; read a bounded number of lines.
        let mut answered = false;
        for _ in 0..32 {
            line.clear();
            if reader
                .read_line(&mut line)
                .map_err(|e| format!("QMP {request}: {e}"))?
                == 0
            {
                break;
            }
            if line.contains("\"error\"") {
                return Err(format!("QMP {request}: {}", line.trim()));
            }
            if line.contains("\"return\"") {
                answered = true;
                break;
            }
        }
        if !answered {
            return Err(format!("QMP {request}: no answer"));
        }
    }
    Ok(())
}

/// Waits until `vm` exits or `deadline`; true if it exited.
fn wait_exit(vm: &mut Vm, deadline: Instant) -> bool {
    loop {
        if let Ok(Some(_)) = vm.child.try_wait() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the serial log holds every one of `texts`, in any order.
fn wait_console(vm: &mut Vm, texts: &[&str], boot: &Boot, deadline: Instant) -> Result<(), String> {
    loop {
        let log = std::fs::read(&vm.serial_log).unwrap_or_default();
        let log = String::from_utf8_lossy(&log);
        let missing: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|text| !log.contains(text))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        keep_waiting(
            vm,
            boot,
            deadline,
            &format!("the console showed {missing:?}"),
            &format!("console did not show {missing:?}"),
        )?;
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Waits for /health to say ready, then checks the boot's expectations;
/// returns the JSON. Fails early if QEMU exits.
fn wait_ready(
    vm: &mut Vm,
    port: u16,
    boot: &Boot,
    deadline: Instant,
) -> Result<serde_json::Value, String> {
    loop {
        if let Some(health) = get_health(port) {
            let ready = health["state"] == "ready";
            if ready {
                for (pointer, expected) in &boot.expect_health {
                    let expected = serde_json::to_value(expected).map_err(|e| e.to_string())?;
                    let found = health.pointer(pointer);
                    if found != Some(&expected) {
                        return Err(format!(
                            "/health {pointer} is {found:?}, expected {expected}: {health}"
                        ));
                    }
                }
                if !boot.expect_metrics.is_empty() {
                    let metrics = get_text(port, "/metrics").unwrap_or_default();
                    for line in &boot.expect_metrics {
                        if !metrics.lines().any(|found| found == line) {
                            return Err(format!("/metrics has no line '{line}':\n{metrics}"));
                        }
                    }
                }
                return Ok(health);
            }
        }
        keep_waiting(vm, boot, deadline, "/health was ready", "/health not ready")?;
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Whether a wait for `awaited` may go on: an error if QEMU exited or the
/// boot's deadline passed (`timed_out` then leads the message).
fn keep_waiting(
    vm: &mut Vm,
    boot: &Boot,
    deadline: Instant,
    awaited: &str,
    timed_out: &str,
) -> Result<(), String> {
    if let Ok(Some(status)) = vm.child.try_wait() {
        return Err(format!(
            "QEMU exited ({status}) before {awaited}: {}; see {}",
            std::fs::read_to_string(&vm.qemu_log)
                .unwrap_or_default()
                .trim(),
            vm.serial_log.display()
        ));
    }
    if Instant::now() >= deadline {
        return Err(format!(
            "{timed_out} within {} s; see {}",
            boot.ready_timeout_s,
            vm.serial_log.display()
        ));
    }
    Ok(())
}

/// Starts QEMU on ports free a moment ago. Another process can take one
/// in between; QEMU then exits at once naming the forward, and we retry
/// with new ports (bounded), rather than fail the scenario on a race.
fn start_with_free_ports(
    scenario: &Scenario,
    name: &str,
    index: usize,
    boot: &Boot,
    image: &Image,
) -> Result<(Vm, Ports, Instant), String> {
    const ATTEMPTS_MAX: u32 = 3;
    for attempt in 1..=ATTEMPTS_MAX {
        let ports = Ports {
            metrics: free_port()?,
            sql: free_port()?,
        };
        let started = Instant::now();
        let mut vm = start_vm(scenario, name, index, boot, image, &ports)?;
        // QMP answers only once QEMU's main loop runs, after every
        // backend (the port forwards among them) is set up.
        let answered = qmp(
            &vm.qmp_path,
            r#"{"execute":"query-status"}"#,
            Instant::now() + Duration::from_secs(60),
        );
        let Err(qmp_error) = answered else {
            return Ok((vm, ports, started));
        };
        let exited = wait_exit(&mut vm, Instant::now() + Duration::from_secs(10));
        let log = std::fs::read_to_string(&vm.qemu_log).unwrap_or_default();
        if exited && log.contains("forward") && attempt < ATTEMPTS_MAX {
            println!(
                "==> QEMU could not forward a port ({}); retrying with new ports",
                log.trim()
            );
            continue;
        }
        return Err(format!("QEMU did not start: {qmp_error}: {}", log.trim()));
    }
    Err(format!(
        "{name}: no free ports after {ATTEMPTS_MAX} attempts"
    ))
}

fn prepare_disk(scenario: &Scenario) -> Result<PathBuf, String> {
    let dir = workspace_root().join("target/qemu");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(&scenario.disk.file);
    if scenario.disk.fresh || !path.exists() {
        let _ = std::fs::remove_file(&path);
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        file.set_len(scenario.disk.size_mib * 1024 * 1024)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(path)
}

pub fn qemu(args: &[String]) -> Result<(), String> {
    let [name] = args else {
        return Err(format!(
            "usage: cargo xtask qemu SCENARIO (one of: {})",
            scenario_names().join(", ")
        ));
    };
    let scenario = load(name)?;
    let image = crate::image::build()?;
    run_scenario(name, &scenario, &image, None).map(|_| ())
}

/// Runs every boot of the scenario. With `interrupt`, the (single) boot
/// stays up until the flag is raised, then powers off in order. Returns
/// the serial log of each boot.
pub fn run_scenario(
    name: &str,
    scenario: &Scenario,
    image: &Image,
    interrupt: Option<&AtomicBool>,
) -> Result<Vec<PathBuf>, String> {
    println!("==> scenario {name}: {}", scenario.description);
    let started = Instant::now();
    let deadline = if scenario.time_limit_s == 0 {
        None
    } else {
        Some(started + Duration::from_secs(scenario.time_limit_s))
    };
    let limit = |wanted: Duration| {
        let wanted = Instant::now() + wanted;
        match deadline {
            Some(deadline) => wanted.min(deadline),
            None => wanted,
        }
    };
    prepare_disk(scenario)?;
    let mut disk_id: Option<String> = None;
    // Statements acknowledged before the last power cut (`{acked}`).
    let mut acked = 0u64;
    let mut serial_logs = Vec::new();
    for (index, boot) in scenario.boots.iter().enumerate() {
        let (mut vm, ports, boot_started) =
            start_with_free_ports(scenario, name, index, boot, image)?;
        serial_logs.push(vm.serial_log.clone());
        if boot.powers_off {
            let deadline = limit(Duration::from_secs(boot.ready_timeout_s));
            if !wait_exit(&mut vm, deadline) {
                return Err(format!(
                    "scenario {name} boot {}: the guest did not power off within {} s; see {}",
                    index + 1,
                    boot.ready_timeout_s,
                    vm.serial_log.display()
                ));
            }
            let ran_s = boot_started.elapsed().as_secs_f64();
            println!(
                "==> {name} boot {}: powered itself off after {ran_s:.1} s",
                index + 1
            );
            println!("BENCH name={} value={ran_s:.2} unit=s", boot.bench);
            continue;
        }
        if let Some(expected) = &boot.expect_console {
            wait_console(
                &mut vm,
                &[expected.as_str(), "reboot: System halted"],
                boot,
                limit(Duration::from_secs(boot.ready_timeout_s)),
            )
            .map_err(|e| format!("scenario {name} boot {}: {e}", index + 1))?;
            let halted_s = boot_started.elapsed().as_secs_f64();
            println!(
                "==> {name} boot {}: refused and halted after {halted_s:.1} s",
                index + 1
            );
            println!("BENCH name={} value={halted_s:.2} unit=s", boot.bench);
            // Halted, not gone: a reboot or a panic would have ended QEMU
            // (-no-reboot). The guard kills it.
            continue;
        }
        let health = wait_ready(
            &mut vm,
            ports.metrics,
            boot,
            limit(Duration::from_secs(boot.ready_timeout_s)),
        )
        .map_err(|e| format!("scenario {name} boot {}: {e}", index + 1))?;
        let ready_s = boot_started.elapsed().as_secs_f64();
        println!(
            "==> {name} boot {}: /health ready after {ready_s:.1} s: {health}",
            index + 1
        );
        println!("BENCH name={} value={ready_s:.2} unit=s", boot.bench);
        let this_id = health["disk"]["disk_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(previous) = &disk_id {
            if *previous != this_id {
                return Err(format!(
                    "scenario {name}: disk id changed across boots: {previous} then {this_id}"
                ));
            }
        }
        disk_id = Some(this_id);
        if !boot.sql.is_empty() {
            let password = sql_password(boot, &vm.serial_log)
                .map_err(|e| format!("scenario {name} boot {}: {e}", index + 1))?;
            check_sql(
                ports.sql,
                boot,
                &password,
                limit(Duration::from_secs(boot.ready_timeout_s)),
                acked,
            )
            .map_err(|e| format!("scenario {name} boot {}: {e}", index + 1))?;
            let sql_s = boot_started.elapsed().as_secs_f64();
            println!(
                "==> {name} boot {}: SQL checks passed {sql_s:.1} s after start",
                index + 1
            );
            if let Some(bench) = &boot.sql_bench {
                println!("BENCH name={bench} value={sql_s:.2} unit=s");
            }
        }
        if let Some(interrupt) = interrupt {
            println!();
            println!("Floe is up. From this machine:");
            println!("  curl http://127.0.0.1:{}/health", ports.metrics);
            match &boot.sql_password {
                Some(password) => {
                    println!("  mysql -h 127.0.0.1 -P {} -u root -p{password}", ports.sql)
                }
                None => println!(
                    "  mysql -h 127.0.0.1 -P {} -u root -p   (the password is on the console)",
                    ports.sql
                ),
            }
            println!(
                "Serial log: {}. Ctrl-C powers the VM off.",
                vm.serial_log.display()
            );
            while !interrupt.load(Ordering::Relaxed) {
                if let Ok(Some(status)) = vm.child.try_wait() {
                    return Err(format!("QEMU exited on its own ({status})"));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            println!("==> Ctrl-C: powering off through QMP");
        }
        if let Some(insert) = &boot.powercut_insert {
            let password = boot.sql_password.as_deref().unwrap_or_default();
            // A cut 3 to 8 s into the writes, from the clock: each run cuts
            // somewhere else; the figure is printed to replay by hand.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let after = Duration::from_millis(3000 + u64::from(nanos % 5000));
            let cut = AtomicBool::new(false);
            acked = std::thread::scope(|scope| {
                let writer = scope.spawn(|| insert_until_cut(ports.sql, password, insert, &cut));
                std::thread::sleep(after);
                // SIGKILL: no shutdown, no flush; whatever the disk image
                // holds now is what the next boot finds.
                let _ = vm.child.kill();
                let _ = vm.child.wait();
                cut.store(true, Ordering::Relaxed);
                writer.join().unwrap_or(0)
            });
            println!(
                "==> {name} boot {}: power cut (SIGKILL) {:.1} s into the writes; {acked} statements acknowledged",
                index + 1,
                after.as_secs_f64()
            );
            continue;
        }
        let power_off_started = Instant::now();
        if boot.stop == "sql" {
            // SQL SHUTDOWN: an orderly stop and power-off from a client.
            let password = sql_password(boot, &vm.serial_log)
                .map_err(|e| format!("scenario {name} boot {}: {e}", index + 1))?;
            mysql(ports.sql, &password, "SHUTDOWN")
                .map_err(|e| format!("scenario {name} boot {}: SHUTDOWN: {e}", index + 1))?;
        }
        let stop_command = match boot.stop.as_str() {
            "sql" => "",
            // The PS/2 keyboard's Ctrl-Alt-Del: with CAD disabled the kernel
            // sends SIGINT to PID 1.
            "ctrl-alt-del" => {
                r#"{"execute":"send-key","arguments":{"keys":[{"type":"qcode","data":"ctrl"},{"type":"qcode","data":"alt"},{"type":"qcode","data":"delete"}]}}"#
            }
            _ => r#"{"execute":"system_powerdown"}"#,
        };
        if !stop_command.is_empty() {
            qmp(&vm.qmp_path, stop_command, limit(Duration::from_secs(30)))
                .map_err(|e| format!("scenario {name} boot {}: {e}", index + 1))?;
        }
        if !wait_exit(&mut vm, limit(Duration::from_secs(120))) {
            return Err(format!(
                "scenario {name} boot {}: VM did not power off within 120 s of {}; see {}",
                index + 1,
                boot.stop,
                vm.serial_log.display()
            ));
        }
        println!(
            "==> {name} boot {}: powered off {:.1} s after {}",
            index + 1,
            power_off_started.elapsed().as_secs_f64(),
            boot.stop
        );
        if !boot.expect_console_at_stop.is_empty() {
            let log = std::fs::read(&vm.serial_log).unwrap_or_default();
            let log = String::from_utf8_lossy(&log);
            for expected in &boot.expect_console_at_stop {
                if !log.contains(expected.as_str()) {
                    return Err(format!(
                        "scenario {name} boot {}: the console did not show {expected:?} by the \
                         time the guest stopped; see {}",
                        index + 1,
                        vm.serial_log.display()
                    ));
                }
            }
            println!(
                "==> {name} boot {}: console showed {:?} at stop",
                index + 1,
                boot.expect_console_at_stop
            );
        }
    }
    println!(
        "==> scenario {name}: passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(serial_logs)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every scenario file in qemu/ parses against the schema above.
    #[test]
    fn scenario_files_parse() {
        let names = scenario_names();
        assert!(names.contains(&"boot".to_string()), "{names:?}");
        for name in names {
            load(&name).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
