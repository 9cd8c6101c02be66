//! `cargo xtask image`: the PXE bundle in target/image/: vmlinuz,
//! initramfs (gzip newc: floe as /init, the shared libraries it links, the
//! kernel modules the appliance loads and their dependencies), boot.ipxe,
//! and manifest.json (sha256 and size of each file, kernel version, floe
//! git revision).
//!
//! The kernel is Debian's: the version `linux-image-amd64` points to now,
//! as the `-unsigned` package (the .ko files are plain and unsigned),
//! downloaded by apt into target/kernel/ and checked against the SHA256
//! apt's signed index lists for it, every time it is used.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::newc::Newc;
use crate::util::{self, workspace_root};

/// The kernel command line the image boots with; scenarios add to it.
pub const BASE_CMDLINE: &str = "console=ttyS0,115200 intel_iommu=on panic=-1";

/// What `image` produced, for the scenarios that boot it.
pub struct Image {
    pub dir: PathBuf,
    pub vmlinuz: PathBuf,
    pub initramfs: PathBuf,
}

fn output(command: &mut Command) -> Result<String, String> {
    let result = command
        .output()
        .map_err(|e| format!("could not start {:?}: {e}", command.get_program()))?;
    if !result.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}",
            result.status,
            String::from_utf8_lossy(&result.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&result.stdout).into_owned())
}

/// The field `name` of the first record `apt-cache show` prints.
fn apt_field(package: &str, name: &str) -> Result<String, String> {
    let text = output(Command::new("apt-cache").args(["show", "--no-all-versions", package]))?;
    let prefix = format!("{name}: ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().to_string())
        .ok_or_else(|| format!("apt-cache show {package}: no {name} field"))
}

/// "6.1.0-28-amd64" from linux-image-amd64's Depends.
fn kernel_abi() -> Result<String, String> {
    let depends = apt_field("linux-image-amd64", "Depends")?;
    depends
        .split(',')
        .filter_map(|part| part.split_whitespace().next())
        .find_map(|name| {
            name.strip_prefix("linux-image-")
                .filter(|abi| abi.ends_with("-amd64"))
        })
        .map(str::to_string)
        .ok_or_else(|| format!("linux-image-amd64 depends on no linux-image-*-amd64: {depends}"))
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Downloads (once) and verifies the kernel package; returns the extracted
/// root with a generated modules.dep, and the package version.
fn kernel_root(abi: &str) -> Result<(PathBuf, String), String> {
    let package = format!("linux-image-{abi}-unsigned");
    let version = apt_field(&package, "Version")?;
    let expected_sha256 = apt_field(&package, "SHA256")?;
    let cache = workspace_root().join("target/kernel").join(abi);
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let deb_name = format!("{package}_{}_amd64.deb", version.replace(':', "%3a"));
    let deb = cache.join(&deb_name);
    if !deb.exists() {
        println!(
            "==> downloading {package} {version} (about 70 MB) into {}",
            cache.display()
        );
        let mut command = Command::new("apt-get");
        command
            .args(["download", "-q", &format!("{package}={version}")])
            .current_dir(&cache);
        util::step("apt-get download", command)?;
    }
    let found_sha256 = sha256_file(&deb)?;
    if found_sha256 != expected_sha256 {
        return Err(format!(
            "{}: sha256 {found_sha256}, apt's index says {expected_sha256}; delete it and retry",
            deb.display()
        ));
    }
    output(Command::new("dpkg-deb").arg("--info").arg(&deb))?;
    let root = cache.join("root");
    let marker = cache.join("root.extracted");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&root);
        println!("==> extracting {deb_name}");
        output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        output(Command::new("depmod").arg("-b").arg(&root).arg(abi))?;
        std::fs::write(&marker, &found_sha256).map_err(|e| format!("{}: {e}", marker.display()))?;
    }
    Ok((root, version))
}

/// `name path...` lines for the modules, dependencies first, via modprobe.
fn module_order(
    root: &Path,
    abi: &str,
    modules: &[String],
) -> Result<(String, BTreeSet<PathBuf>), String> {
    let mut order = String::new();
    let mut files = BTreeSet::new();
    let root_text = root.to_string_lossy().to_string();
    for name in modules {
        let result = Command::new("modprobe")
            .arg("-d")
            .arg(root)
            .args(["-S", abi, "--show-depends", name])
            .output()
            .map_err(|e| {
                format!("could not start modprobe (cargo xtask deps installs kmod): {e}")
            })?;
        if !result.status.success() {
            println!(
                "    module {name}: not in kernel {abi}, left out ({})",
                String::from_utf8_lossy(&result.stderr).trim()
            );
            continue;
        }
        let mut line = name.clone();
        for word_line in String::from_utf8_lossy(&result.stdout).lines() {
            let mut words = word_line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("insmod"), Some(path)) => {
                    let inside = path.strip_prefix(&root_text).unwrap_or(path).to_string();
                    line.push(' ');
                    line.push_str(&inside);
                    files.insert(PathBuf::from(inside));
                }
                (Some("builtin"), Some(_)) => {}
                _ => {
                    return Err(format!(
                        "modprobe --show-depends {name}: unexpected line '{word_line}'"
                    ))
                }
            }
        }
        order.push_str(&line);
        order.push('\n');
    }
    Ok((order, files))
}

/// The shared libraries `ldd` lists for `binary`, as (path in image, file).
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let text = output(Command::new("ldd").arg(binary))?;
    let mut libraries = Vec::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|word| word.starts_with('/')),
        };
        if let Some(path) = path.filter(|path| path.starts_with('/')) {
            libraries.push(PathBuf::from(path));
        }
    }
    if libraries.is_empty() {
        return Err(format!(
            "ldd {}: no libraries found in:\n{text}",
            binary.display()
        ));
    }
    Ok(libraries)
}

/// libibverbs loads its providers with dlopen, as the
/// /etc/libibverbs.d/*.driver files name them, so ldd cannot see them.
/// When floe links libibverbs, the image carries every provider Debian
/// installed (rxe among them, for soft-RoCE in QEMU), their .driver files,
/// and the libraries the providers link (added to `libraries`). Returns
/// the provider and .driver files. Nothing today: floe does not link
/// libibverbs until drivers/rdma lands.
fn verbs_providers(libraries: &mut Vec<PathBuf>) -> Result<Vec<PathBuf>, String> {
    let links_verbs = libraries.iter().any(|library| {
        library
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("libibverbs.so"))
    });
    if !links_verbs {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for dir in ["/etc/libibverbs.d", "/usr/lib/x86_64-linux-gnu/libibverbs"] {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("{dir}: {e} (cargo xtask deps installs ibverbs-providers)"))?;
        for entry in entries.flatten() {
            files.push(entry.path());
        }
    }
    files.sort();
    for provider in files
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "so"))
    {
        for library in shared_libraries(provider)? {
            if !libraries.contains(&library) {
                libraries.push(library);
            }
        }
    }
    println!("    libibverbs: {} provider and driver files", files.len());
    Ok(files)
}

fn git_revision() -> String {
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(workspace_root())
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{head}-dirty")
    } else {
        head
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn image(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("image takes no arguments, got {args:?}"));
    }
    build().map(|_| ())
}

/// Builds everything; returns where it is.
pub fn build() -> Result<Image, String> {
    let started = Instant::now();
    util::step(
        "cargo build --release -p floe",
        util::cargo(&["build", "--release", "-p", "floe"]),
    )?;
    let floe = workspace_root().join("target/release/floe");
    let modules_text = output(Command::new(&floe).args(["config-default", "floe.modules"]))?;
    let modules: Vec<String> = modules_text.trim().split(',').map(str::to_string).collect();

    println!("==> resolving the kernel through linux-image-amd64");
    let mut abi = kernel_abi()?;
    let (root, kernel_version) = match kernel_root(&abi) {
        Ok(found) => found,
        Err(first) => {
            // Stale package lists can name a version the mirror has
            // dropped: refresh them once and resolve again.
            println!("    {first}\n    refreshing the package lists and retrying once");
            let mut update = Command::new("apt-get");
            update.args(["update", "-q"]);
            util::step("apt-get update", update)?;
            abi = kernel_abi()?;
            kernel_root(&abi)?
        }
    };
    println!("    kernel {abi} (package {kernel_version})");
    let (order, module_files) = module_order(&root, &abi, &modules)?;
    let mut libraries = shared_libraries(&floe)?;
    let verbs_files = verbs_providers(&mut libraries)?;

    println!(
        "==> packing the initramfs: floe, {} libraries, {} modules",
        libraries.len(),
        module_files.len()
    );
    let pack_started = Instant::now();
    let mut archive = Newc::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let io = |e: std::io::Error| format!("packing the initramfs: {e}");
    let mut dirs = BTreeSet::new();
    for dir in [
        "dev",
        "proc",
        "sys",
        "run",
        "tmp",
        "etc",
        "lib",
        "lib64",
        "lib/modules",
        "usr",
        "usr/bin",
    ] {
        dirs.insert(PathBuf::from(dir));
    }
    let mut files: Vec<(PathBuf, Vec<u8>, u32)> = Vec::new();
    // Debug info is most of the release binary (debug = 1 in the profile);
    // the symbol table stays, so panic backtraces still name functions.
    let floe_stripped = workspace_root().join("target/release/floe.stripped");
    output(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg(&floe)
            .arg(&floe_stripped),
    )?;
    files.push((PathBuf::from("init"), read(&floe_stripped)?, 0o755));
    for library in &libraries {
        // ldd names the path the loader looks for; copy the file it
        // resolves to under that name.
        files.push((library.clone(), read(library)?, 0o755));
    }
    for file in &verbs_files {
        files.push((file.clone(), read(file)?, 0o644));
    }
    for module in &module_files {
        let inside = module.strip_prefix("/").unwrap_or(module);
        files.push((
            PathBuf::from("/").join(inside),
            read(&root.join(inside))?,
            0o644,
        ));
    }
    files.push((
        PathBuf::from("lib/modules/floe.order"),
        order.into_bytes(),
        0o644,
    ));
    for (path, _, _) in &files {
        let relative = path.strip_prefix("/").unwrap_or(path);
        let mut parent = relative.parent();
        while let Some(dir) = parent.filter(|dir| !dir.as_os_str().is_empty()) {
            dirs.insert(dir.to_path_buf());
            parent = dir.parent();
        }
    }
    for dir in &dirs {
        archive.dir(&dir.to_string_lossy()).map_err(io)?;
    }
    // The kernel opens /dev/console for PID 1's stdio before we can mount
    // devtmpfs, so the node must be in the archive.
    archive
        .char_device("dev/console", 0o600, 5, 1)
        .map_err(io)?;
    let mut payload_bytes = 0usize;
    for (path, data, permissions) in &files {
        payload_bytes += data.len();
        archive
            .file(&path.to_string_lossy(), *permissions, data)
            .map_err(io)?;
    }
    let initramfs_bytes = archive.finish().map_err(io)?.finish().map_err(io)?;
    println!(
        "    {:.1} MiB in, {:.1} MiB gzip, in {:.1} s",
        payload_bytes as f64 / 1048576.0,
        initramfs_bytes.len() as f64 / 1048576.0,
        pack_started.elapsed().as_secs_f64()
    );

    let dir = workspace_root().join("target/image");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, data: &[u8]| {
        let path = dir.join(name);
        std::fs::File::create(&path)
            .and_then(|mut file| file.write_all(data))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok::<PathBuf, String>(path)
    };
    let vmlinuz = write("vmlinuz", &read(&root.join(format!("boot/vmlinuz-{abi}")))?)?;
    let initramfs = write("initramfs", &initramfs_bytes)?;
    let ipxe = format!(
        "#!ipxe\n# Floe PXE boot: fetches the kernel and initramfs beside this script.\n\
         # floe.format=auto formats a data disk only if it is entirely blank.\n\
         kernel vmlinuz initrd=initramfs {BASE_CMDLINE} floe.ip=dhcp floe.format=auto\n\
         initrd initramfs\nboot\n"
    );
    write("boot.ipxe", ipxe.as_bytes())?;

    let mut entries = Vec::new();
    let mut total_bytes = 0u64;
    for name in ["vmlinuz", "initramfs", "boot.ipxe"] {
        let path = dir.join(name);
        let bytes = std::fs::metadata(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        total_bytes += bytes;
        entries.push(
            serde_json::json!({ "name": name, "bytes": bytes, "sha256": sha256_file(&path)? }),
        );
    }
    let manifest = serde_json::json!({
        "files": entries,
        "kernel": { "abi": abi, "package": format!("linux-image-{abi}-unsigned"), "version": kernel_version },
        "floe_git_revision": git_revision(),
        "modules": modules,
        "cmdline": BASE_CMDLINE,
    });
    let manifest_text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    write("manifest.json", manifest_text.as_bytes())?;
    println!(
        "==> image in {}: {:.1} MiB (vmlinuz + initramfs + boot.ipxe), built in {:.1} s",
        dir.display(),
        total_bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    println!("BENCH name=image.bytes value={total_bytes} unit=bytes");
    Ok(Image {
        dir,
        vmlinuz,
        initramfs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Anything linking libibverbs (here the rxe provider itself) brings the
    // providers, their .driver files and their libraries into the image.
    // Needs ibverbs-providers: `cargo xtask deps` (xtask test runs it first).
    #[test]
    fn verbs_users_bring_their_providers() {
        let rxe = Path::new("/usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav34.so");
        assert!(
            rxe.exists(),
            "{} missing: run cargo xtask deps",
            rxe.display()
        );
        let mut libraries = shared_libraries(rxe).expect("ldd");
        let before = libraries.len();
        let files = verbs_providers(&mut libraries).expect("providers");
        assert!(
            files.contains(&PathBuf::from("/etc/libibverbs.d/rxe.driver")),
            "{files:?}"
        );
        assert!(files.contains(&rxe.to_path_buf()), "{files:?}");
        assert!(libraries.len() >= before);
        let mut none = vec![PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6")];
        assert!(verbs_providers(&mut none).expect("no verbs").is_empty());
    }
}
