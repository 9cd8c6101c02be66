//! Small helpers shared by the xtask subcommands: running commands with
//! clear errors and timing each step.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// A `cargo` command run from the workspace root with the cargo that runs us.
pub fn cargo(args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command.args(args).current_dir(workspace_root());
    command
}

/// Runs `command` to completion, printing the step name and its duration.
pub fn step(name: &str, mut command: Command) -> Result<(), String> {
    println!("==> {name}");
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("{name}: could not start {:?}: {e}", command.get_program()))?;
    let elapsed_s = started.elapsed().as_secs_f64();
    if status.success() {
        println!("==> {name}: ok in {elapsed_s:.1} s");
        Ok(())
    } else {
        Err(format!("{name}: failed ({status}) after {elapsed_s:.1} s"))
    }
}
