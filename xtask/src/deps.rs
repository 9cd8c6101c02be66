//! `cargo xtask deps`: installs the Debian packages the project needs, only
//! those missing, so a second run does nothing. Without root it prints the
//! exact command instead of failing halfway.

use std::process::Command;

/// Packages and why we need them. QEMU is special: the machines carry a
/// newer `qemu-utils` backport that blocks Debian's QEMU, so the qemu group
/// pins its helpers to bookworm and allows the downgrade (MACHINE-NOTES).
const QEMU_PACKAGES: &[(&str, &str)] = &[
    ("qemu-system-x86", "qemu-system-x86"),
    ("ipxe-qemu", "ipxe-qemu"),
    ("qemu-utils", "qemu-utils/bookworm"),
    ("qemu-block-extra", "qemu-block-extra/bookworm"),
];

/// (package, why). Each is installed only when `dpkg-query` says it is absent.
const PACKAGES: &[(&str, &str)] = &[
    (
        "kmod",
        "depmod and modprobe resolve kernel module load order for the image",
    ),
    (
        "mariadb-client",
        "the mysql client the QEMU scenarios connect with",
    ),
    ("sysbench", "benchmarks against the appliance"),
    ("rdma-core", "RDMA user space (rdma tool, providers)"),
    ("ibverbs-providers", "libibverbs providers, rxe among them"),
    ("libibverbs-dev", "headers for bindgen in drivers/rdma"),
    ("libclang-dev", "bindgen needs libclang"),
];

fn installed(package: &str) -> bool {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}", package])
        .output();
    match output {
        Ok(output) => output.status.success() && output.stdout.starts_with(b"ii"),
        Err(_) => false,
    }
}

/// The `apt-get install` arguments for everything missing (empty when all
/// is present).
fn missing_install_arguments() -> Vec<String> {
    let mut arguments = Vec::new();
    // Debian's QEMU is the one we checked; it needs the whole group at once.
    let qemu_missing =
        QEMU_PACKAGES.iter().any(|(package, _)| !installed(package)) || !qemu_is_debian_bookworm();
    if qemu_missing {
        arguments.extend(QEMU_PACKAGES.iter().map(|(_, spec)| spec.to_string()));
    }
    for (package, _why) in PACKAGES {
        if !installed(package) {
            arguments.push(package.to_string());
        }
    }
    arguments
}

/// True when qemu-system-x86 and qemu-utils come from the same (bookworm)
/// source version, as MACHINE-NOTES requires.
fn qemu_is_debian_bookworm() -> bool {
    let version = |package: &str| {
        Command::new("dpkg-query")
            .args(["-W", "-f=${Version}", package])
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    match (version("qemu-system-x86"), version("qemu-utils")) {
        (Some(system), Some(utils)) => !system.is_empty() && system == utils,
        _ => false,
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| output.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

pub fn deps(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("deps takes no arguments, got {args:?}"));
    }
    let missing = missing_install_arguments();
    let total = QEMU_PACKAGES.len() + PACKAGES.len();
    if missing.is_empty() {
        println!("==> deps: all {total} Debian packages present");
        return Ok(());
    }
    let install = format!(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends --allow-downgrades {}",
        missing.join(" ")
    );
    if !is_root() {
        return Err(format!(
            "missing Debian packages; run as root:\n  sudo apt-get update && sudo env {install}"
        ));
    }
    println!("==> deps: installing {}", missing.join(" "));
    crate::util::step("apt-get update", {
        let mut command = Command::new("apt-get");
        command.args(["update", "-q"]);
        command
    })?;
    crate::util::step("apt-get install", {
        let mut command = Command::new("apt-get");
        command
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args([
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "--allow-downgrades",
            ])
            .args(&missing);
        command
    })?;
    let still_missing = missing_install_arguments();
    if !still_missing.is_empty() {
        return Err(format!(
            "apt-get finished but these are still missing: {}",
            still_missing.join(" ")
        ));
    }
    Ok(())
}
