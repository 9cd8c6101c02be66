//! The `floe` binary. As PID 1 it is the whole appliance (`init`); as an
//! ordinary process it is hosted mode (`floe serve`). Both read the one
//! boot-config schema (`config`) and start the same roles (`role`).
#![forbid(unsafe_code)]

mod config;
mod disk;
mod health;
mod hwtest;
mod init;
mod logger;
mod nvmebench;
mod role;
mod sql;
mod storage;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use config::Config;

const USAGE: &str = "\
usage: floe serve [--config floe.toml] [--KEY VALUE ...]   hosted mode
       floe config-keys                                   the boot-config keys (Markdown)
       floe config-default KEY                            one key's default (used by xtask image)
       floe --version

Keys come from the schema (floe config-keys): --metrics-listen 127.0.0.1:9104 is
floe.metrics_listen; FLOE_METRICS_LISTEN and metrics_listen in floe.toml too.
In hosted mode floe.data is a directory; the disk is the file DATA/floe.disk.
As PID 1, floe reads floe.* keys from the kernel command line.";

fn main() -> ExitCode {
    if std::process::id() == 1 {
        init::run(); // never returns
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("version") => {
            println_stdout(&format!("floe {}", env!("CARGO_PKG_VERSION")));
            ExitCode::SUCCESS
        }
        Some("config-keys") => {
            println_stdout(config::keys_markdown().trim_end());
            ExitCode::SUCCESS
        }
        Some("config-default") => match args
            .get(1)
            .and_then(|name| config::KEYS.iter().find(|key| key.name == name))
        {
            Some(key) => {
                println_stdout(key.default);
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("floe: config-default needs one of: floe config-keys");
                ExitCode::from(2)
            }
        },
        Some("serve") => serve(&args[1..]),
        Some("help") | Some("--help") | Some("-h") => {
            println_stdout(USAGE);
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("floe: unknown command '{other}'\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Command output (not logging): what the user asked to see.
fn println_stdout(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// Hosted mode: defaults, then floe.toml, then FLOE_* variables, then flags.
fn hosted_config(flags: &[String]) -> Result<Config, String> {
    let mut config = Config {
        data: std::path::PathBuf::from("floe-data"),
        ..Config::default()
    };
    let explicit = config::config_path(flags);
    let path = explicit.clone().unwrap_or_else(|| "floe.toml".to_string());
    match std::fs::read_to_string(&path) {
        Ok(text) => config.apply_toml(&text, &path).map_err(|e| e.to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {}
        Err(e) => return Err(format!("{path}: {e}")),
    }
    config
        .apply_env(std::env::vars())
        .map_err(|e| e.to_string())?;
    config.apply_flags(flags).map_err(|e| e.to_string())?;
    Ok(config)
}

fn serve(flags: &[String]) -> ExitCode {
    let config = match hosted_config(flags) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("floe: {message}");
            return ExitCode::from(2);
        }
    };
    logger::init(config.log);
    let status = Arc::new(health::Status::new(config.role.as_str(), "hosted"));
    status.stage("config");
    if let Err(e) = std::fs::create_dir_all(&config.data) {
        log::error!("data directory {}: {e}", config.data.display());
        return ExitCode::FAILURE;
    }
    let disk_path = config.data.join("floe.disk");
    if !disk_path.exists() {
        // A new hosted data directory is a blank 2 MiB disk; floe.format
        // still decides whether it is formatted.
        let created =
            std::fs::File::create_new(&disk_path).and_then(|file| file.set_len(2 * 1024 * 1024));
        if let Err(e) = created {
            log::error!("creating {}: {e}", disk_path.display());
            return ExitCode::FAILURE;
        }
    }
    let storage_dir = config.data.join("storage");
    let started = match role::start(
        &config,
        &disk_path,
        Some(&storage_dir),
        &status,
        Duration::ZERO,
    ) {
        Ok(started) => started,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    status.set_state("ready");
    log::info!(
        "ready: role {} (hosted); Ctrl-C stops",
        config.role.as_str()
    );
    match init::wait_for_stop_signal() {
        Ok(signal) => {
            log::info!("signal {signal}: stopping");
            started.stop();
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("waiting for signals: {e}");
            ExitCode::FAILURE
        }
    }
}
