//! `cargo xtask`: the one entry point for building, testing and benchmarking
//! Floe. Every step a developer or CI needs is a subcommand here, so that a
//! fresh Debian machine needs nothing but `cargo xtask run` / `cargo xtask test`.
//! `println!` is allowed here and nowhere in the server (STYLE 3.8).

mod deps;
mod image;
mod newc;
mod nvmebench;
mod qemu;
mod slt;
mod sysbench;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  deps      install the Debian packages the project needs (only those missing)
  image     build the PXE bundle in target/image (kernel, initramfs, boot.ipxe, manifest)
  qemu S    build the image and run scenario S from qemu/ (boot, pxe, badconfig, nvme, nvme_primary, nvmebench, run)
  run       deps + image + boot interactively; Ctrl-C powers the VM off
  test      everything CI checks: fmt, clippy, the workspace's tests, the
            sqllogictest corpus and sysbench against the release server, QEMU scenarios
  sysbench  only the sysbench step of test (release server, five OLTP workloads)
  slt [F]   the sqllogictest corpus (../shared/slt) against floe serve, over the wire
            (--update-known-failures rewrites engine/sql/slt/known-failures.txt)
  bench B   run benchmark B side by side with its peer (storage: vs BTreeMap;
            nvme: Floe's NVMe driver vs the kernel's, in QEMU; sysbench: OLTP
            workloads vs a private MariaDB [--time S] [--table-size N])
  help      this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match command.as_str() {
        "deps" => deps::deps(rest),
        "image" => image::image(rest),
        "qemu" => qemu::qemu(rest),
        "run" => run(rest),
        "test" => test(rest),
        "sysbench" if rest.is_empty() => sysbench::test_step(),
        "bench" => bench(rest),
        "slt" => slt::slt(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command '{other}'\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// deps + image + the `run` scenario, until Ctrl-C.
fn run(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("run takes no arguments, got {args:?}"));
    }
    deps::deps(&[])?;
    let scenario = qemu::load("run")?;
    let image = image::build()?;
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(
        signal_hook::consts::SIGINT,
        std::sync::Arc::clone(&interrupted),
    )
    .map_err(|e| format!("installing the Ctrl-C handler: {e}"))?;
    qemu::run_scenario("run", &scenario, &image, Some(&interrupted)).map(|_| ())
}

/// Everything CI checks: the Debian packages, then in order of cost
/// formatting, lints, unit tests, the image and the QEMU scenarios.
fn test(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("test takes no arguments, got {args:?}"));
    }
    let started = std::time::Instant::now();
    // First: crates that build against system libraries (bindgen needs
    // libclang and the verbs headers) need the packages before clippy.
    deps::deps(&[])?;
    util::step(
        "cargo fmt --check",
        util::cargo(&["fmt", "--all", "--check"]),
    )?;
    util::step(
        "cargo clippy",
        util::cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    util::step(
        "cargo test",
        util::cargo(&["test", "--workspace", "--release"]),
    )?;
    println!("==> sqllogictest corpus");
    let slt_started = std::time::Instant::now();
    slt::slt(&[])?;
    println!(
        "==> sqllogictest corpus: ok in {:.1} s",
        slt_started.elapsed().as_secs_f64()
    );
    sysbench::test_step()?;
    let image = image::build()?;
    for name in QEMU_TEST_SCENARIOS {
        let scenario = qemu::load(name)?;
        qemu::run_scenario(name, &scenario, &image, None)?;
    }
    println!(
        "==> xtask test: all passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Benchmarks: each prints a table and one `BENCH` line per figure.
fn bench(args: &[String]) -> Result<(), String> {
    match args.split_first() {
        Some((name, rest)) if name == "storage" => {
            let mut command_args = vec![
                "run",
                "--release",
                "-p",
                "floe-storage",
                "--example",
                "storage_bench",
                "--",
            ];
            command_args.extend(rest.iter().map(String::as_str));
            util::step(
                "storage bench (floe vs BTreeMap behind a RwLock)",
                util::cargo(&command_args),
            )?;
            util::step(
                "MVCC bench (consistent reads beside a long writer; read views)",
                util::cargo(&[
                    "run",
                    "--release",
                    "-p",
                    "floe-storage",
                    "--example",
                    "mvcc_bench",
                ]),
            )
        }
        Some((name, rest)) if name == "nvme" => nvmebench::bench_nvme(rest),
        Some((name, rest)) if name == "sysbench" => sysbench::bench(rest),
        Some((name, _)) => Err(format!(
            "unknown benchmark '{name}'; known: storage, nvme, sysbench"
        )),
        None => Err("bench needs a name; known: storage, nvme, sysbench".to_string()),
    }
}

/// The scenarios `cargo xtask test` runs (run.toml is interactive).
const QEMU_TEST_SCENARIOS: &[&str] = &[
    "boot",
    "pxe",
    "badconfig",
    "nvme",
    "nvme_primary",
    "powercut",
];
