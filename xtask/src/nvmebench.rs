//! `cargo xtask bench nvme`: boots the image as the `nvmebench` scenario
//! (q35 + intel-iommu under TCG, an emulated NVMe disk on a file under
//! target/qemu), where `floe.role=nvmebench` measures 4 KiB random reads
//! and writes at depth 1 and 32, first on the kernel's driver, then on
//! Floe's user-space driver, and powers off. Here the console's result
//! lines become a table and one `BENCH` line per figure, Floe against the
//! kernel. Emulation sets the absolute figures; the ratios, CPU per I/O
//! above all, are what carries to hardware.

use std::collections::BTreeMap;

/// The cases the guest runs, in table order (kernel/boot/src/nvmebench.rs).
const CASES: [&str; 4] = [
    "randread.qd1",
    "randwrite.qd1",
    "randread.qd32",
    "randwrite.qd32",
];

/// The marker of a result line, and of the end of a run.
const RESULT_MARK: &str = "nvmebench: result ";
const DONE_MARK: &str = "nvmebench: done";
const FAILED_MARK: &str = "nvmebench: failed: ";

/// One case on one driver, as the guest measured it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measured {
    pub driver: String,
    pub method: String,
    pub case: String,
    pub ios: u64,
    pub elapsed_ns: u64,
    pub thread_cpu_ns: u64,
}

impl Measured {
    fn iops(&self) -> f64 {
        self.ios as f64 / (self.elapsed_ns as f64 / 1e9)
    }

    fn cpu_ns_per_io(&self) -> f64 {
        self.thread_cpu_ns as f64 / self.ios as f64
    }
}

/// Parses one result line's `key=value` words (after the marker).
fn parse_result(words: &str) -> Result<Measured, String> {
    let mut fields = BTreeMap::new();
    for word in words.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!("'{word}' is not key=value"));
        };
        if fields.insert(key, value).is_some() {
            return Err(format!("{key} given twice"));
        }
    }
    let text = |key: &str| {
        fields
            .get(key)
            .map(|value| value.to_string())
            .ok_or_else(|| format!("no {key}="))
    };
    let number = |key: &str| -> Result<u64, String> {
        let value = text(key)?;
        value
            .parse()
            .map_err(|_| format!("{key}={value}: expected a whole number"))
    };
    let measured = Measured {
        driver: text("driver")?,
        method: text("method")?,
        case: text("case")?,
        ios: number("ios")?,
        elapsed_ns: number("elapsed_ns")?,
        thread_cpu_ns: number("thread_cpu_ns")?,
    };
    if measured.ios == 0 || measured.elapsed_ns == 0 {
        return Err("no I/O or no time measured".into());
    }
    Ok(measured)
}

/// Every result line of a finished run, keyed by (driver, case). A run
/// that failed or did not finish is an error naming why.
pub fn parse_console(console: &str) -> Result<BTreeMap<(String, String), Measured>, String> {
    let mut results = BTreeMap::new();
    let mut done = false;
    for line in console.lines() {
        if let Some((_, reason)) = line.split_once(FAILED_MARK) {
            return Err(format!("the guest's bench failed: {}", reason.trim()));
        }
        if line.contains(DONE_MARK) {
            done = true;
        }
        let Some((_, words)) = line.split_once(RESULT_MARK) else {
            continue;
        };
        let measured =
            parse_result(words).map_err(|e| format!("result line '{}': {e}", line.trim()))?;
        let key = (measured.driver.clone(), measured.case.clone());
        if results.insert(key, measured).is_some() {
            return Err(format!("result line '{}' repeats a case", line.trim()));
        }
    }
    if !done {
        return Err(format!(
            "no '{DONE_MARK}' line: the run did not finish ({} results seen)",
            results.len()
        ));
    }
    Ok(results)
}

/// One figure, Floe's beside the kernel's.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub name: String,
    pub unit: &'static str,
    pub floe: f64,
    pub kernel: f64,
}

impl Figure {
    fn ratio(&self) -> f64 {
        self.floe / self.kernel
    }

    /// The machine-readable line.
    pub fn bench_line(&self) -> String {
        format!(
            "BENCH name={} value={:.0} unit={} peer=kernel peer_value={:.0} ratio={:.3}",
            self.name,
            self.floe,
            self.unit,
            self.kernel,
            self.ratio()
        )
    }
}

/// The figures of every case: IOPS and the bench thread's CPU ns per I/O.
pub fn figures(results: &BTreeMap<(String, String), Measured>) -> Result<Vec<Figure>, String> {
    let mut figures = Vec::new();
    for case in CASES {
        let get = |driver: &str| {
            results
                .get(&(driver.to_string(), case.to_string()))
                .ok_or_else(|| format!("no result for {driver} {case}"))
        };
        let (floe, kernel) = (get("floe")?, get("kernel")?);
        let mut add = |figure: &str, unit, floe: f64, kernel: f64| {
            if kernel > 0.0 {
                figures.push(Figure {
                    name: format!("nvme.{case}.{figure}"),
                    unit,
                    floe,
                    kernel,
                });
                Ok(())
            } else {
                Err(format!("kernel {case} {figure} is 0: no ratio"))
            }
        };
        add("iops", "iops", floe.iops(), kernel.iops())?;
        add(
            "cpu_ns_per_io",
            "ns",
            floe.cpu_ns_per_io(),
            kernel.cpu_ns_per_io(),
        )?;
    }
    Ok(figures)
}

/// The readable table: one row per figure.
pub fn table(results: &BTreeMap<(String, String), Measured>, figures: &[Figure]) -> String {
    let method = |driver: &str, case: &str| {
        results
            .get(&(driver.to_string(), case.to_string()))
            .map_or("?", |m| m.method.as_str())
            .to_string()
    };
    let mut text = format!(
        "{:<38} {:>12} {:>12} {:>8}\n",
        "figure", "floe", "kernel", "ratio"
    );
    for figure in figures {
        text.push_str(&format!(
            "{:<38} {:>12.0} {:>12.0} {:>8.3}\n",
            format!("{} ({})", figure.name, figure.unit),
            figure.floe,
            figure.kernel,
            figure.ratio()
        ));
    }
    text.push_str(&format!(
        "floe: user-space driver over VFIO, polled ({}); kernel: {} at qd1, {} at qd32; \
         O_DIRECT, 4 KiB, one pinned core\n",
        method("floe", "randread.qd1"),
        method("kernel", "randread.qd1"),
        method("kernel", "randread.qd32"),
    ));
    text.push_str(
        "cpu_ns_per_io: the bench thread's CPU time per I/O; a polled driver spends its core \
         by design, and the kernel's interrupt work on other CPUs is not counted\n",
    );
    text
}

/// `cargo xtask bench nvme`.
pub fn bench_nvme(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("bench nvme takes no arguments, got {args:?}"));
    }
    let scenario = crate::qemu::load("nvmebench")?;
    let image = crate::image::build()?;
    let logs = crate::qemu::run_scenario("nvmebench", &scenario, &image, None)?;
    let Some(log_path) = logs.last() else {
        return Err("the nvmebench scenario ran no boot".into());
    };
    let console = std::fs::read(log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let console = String::from_utf8_lossy(&console);
    let results =
        parse_console(&console).map_err(|e| format!("{e}; see {}", log_path.display()))?;
    let figures = figures(&results)?;
    println!();
    println!("nvme bench: Floe's driver vs the kernel's, same emulated disk, same run");
    print!("{}", table(&results, &figures));
    for figure in &figures {
        println!("{}", figure.bench_line());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A console as the guest writes it: kernel lines, log prefixes, a
    /// stray line, and the eight results (driver, method, case, ios,
    /// elapsed ns, thread CPU ns).
    fn console() -> String {
        let mut text = String::from(
            "[    1.234567] nvme nvme0: pci function 0000:00:02.0\n\
             [    6.000001] floe INFO  nvmebench: 4 KiB random read and write ...\n\
             garbage without a marker\n",
        );
        let lines: [(&str, &str, &str, u64, u64, u64); 8] = [
            (
                "kernel",
                "pread",
                "randread.qd1",
                20_000,
                10_000_000_000,
                4_000_000_000,
            ),
            (
                "kernel",
                "pread",
                "randwrite.qd1",
                10_000,
                10_000_000_000,
                3_000_000_000,
            ),
            (
                "kernel",
                "io_uring",
                "randread.qd32",
                50_000,
                10_000_000_000,
                5_000_000_000,
            ),
            (
                "kernel",
                "io_uring",
                "randwrite.qd32",
                40_000,
                10_000_000_000,
                6_000_000_000,
            ),
            (
                "floe",
                "vfio",
                "randread.qd1",
                40_000,
                10_000_000_000,
                10_000_000_000,
            ),
            (
                "floe",
                "vfio",
                "randwrite.qd1",
                30_000,
                10_000_000_000,
                10_000_000_000,
            ),
            (
                "floe",
                "vfio",
                "randread.qd32",
                100_000,
                10_000_000_000,
                10_000_000_000,
            ),
            (
                "floe",
                "vfio",
                "randwrite.qd32",
                80_000,
                5_000_000_000,
                5_000_000_000,
            ),
        ];
        for (driver, method, case, ios, elapsed, cpu) in lines {
            text.push_str(&format!(
                "[   10.000000] floe INFO  nvmebench: result driver={driver} method={method} \
                 case={case} ios={ios} elapsed_ns={elapsed} thread_cpu_ns={cpu}\n"
            ));
        }
        text.push_str("[   90.000000] floe INFO  nvmebench: done\n[   90.1] reboot: Power down\n");
        text
    }

    /// Result lines become figures: IOPS from ios and wall time, CPU per
    /// I/O from thread CPU time, each with the kernel's beside it and the
    /// ratio floe/kernel, in the exact BENCH form, and a table row each.
    #[test]
    fn console_becomes_bench_lines() {
        let results = parse_console(&console()).expect("parse");
        assert_eq!(results.len(), 8);
        let figures = figures(&results).expect("figures");
        let lines: Vec<String> = figures.iter().map(Figure::bench_line).collect();
        assert_eq!(
            lines,
            [
                "BENCH name=nvme.randread.qd1.iops value=4000 unit=iops peer=kernel peer_value=2000 ratio=2.000",
                "BENCH name=nvme.randread.qd1.cpu_ns_per_io value=250000 unit=ns peer=kernel peer_value=200000 ratio=1.250",
                "BENCH name=nvme.randwrite.qd1.iops value=3000 unit=iops peer=kernel peer_value=1000 ratio=3.000",
                "BENCH name=nvme.randwrite.qd1.cpu_ns_per_io value=333333 unit=ns peer=kernel peer_value=300000 ratio=1.111",
                "BENCH name=nvme.randread.qd32.iops value=10000 unit=iops peer=kernel peer_value=5000 ratio=2.000",
                "BENCH name=nvme.randread.qd32.cpu_ns_per_io value=100000 unit=ns peer=kernel peer_value=100000 ratio=1.000",
                "BENCH name=nvme.randwrite.qd32.iops value=16000 unit=iops peer=kernel peer_value=4000 ratio=4.000",
                "BENCH name=nvme.randwrite.qd32.cpu_ns_per_io value=62500 unit=ns peer=kernel peer_value=150000 ratio=0.417",
            ]
        );
        let table = table(&results, &figures);
        assert!(
            table.contains("kernel: pread at qd1, io_uring at qd32"),
            "{table}"
        );
        assert_eq!(table.lines().count(), 1 + 8 + 2);
    }

    /// A failed run, an unfinished run, a malformed or repeated line and a
    /// missing case are errors that say which.
    #[test]
    fn bad_consoles_are_refused_with_the_reason() {
        let failed = "x\n[ 5.0] floe ERROR nvmebench: failed: /dev/nvme0n1: the first MiB is not all zeros\n";
        let error = parse_console(failed).expect_err("failed");
        assert!(error.contains("first MiB is not all zeros"), "{error}");

        let unfinished = console().replace("nvmebench: done", "");
        let error = parse_console(&unfinished).expect_err("unfinished");
        assert!(error.contains("did not finish (8 results seen)"), "{error}");

        for (from, to, expected) in [
            ("ios=20000 ", "ios=2e4 ", "ios=2e4: expected a whole number"),
            ("ios=20000 ", "ios=0 ", "no I/O or no time"),
            ("ios=20000 ", "", "no ios="),
            ("ios=20000 ", "ios=20000 ios=1 ", "ios given twice"),
            ("ios=20000 ", "ios ", "'ios' is not key=value"),
            (
                "thread_cpu_ns=4000000000",
                "thread_cpu_ns=-1",
                "thread_cpu_ns=-1: expected a whole number",
            ),
        ] {
            let broken = console().replacen(from, to, 1);
            let error = parse_console(&broken).expect_err(expected);
            assert!(error.contains(expected), "{expected}: {error}");
        }

        let repeated = console().replacen("case=randwrite.qd1", "case=randread.qd1", 1);
        let error = parse_console(&repeated).expect_err("repeated");
        assert!(error.contains("repeats a case"), "{error}");

        let missing = console().replacen(
            "driver=floe method=vfio case=randread.qd32",
            "driver=floe method=vfio case=other",
            1,
        );
        let results = parse_console(&missing).expect("parses");
        let error = figures(&results).expect_err("missing");
        assert_eq!(error, "no result for floe randread.qd32");

        let idle = console().replacen("thread_cpu_ns=4000000000", "thread_cpu_ns=0", 1);
        let results = parse_console(&idle).expect("parses");
        let error = figures(&results).expect_err("zero peer");
        assert_eq!(error, "kernel randread.qd1 cpu_ns_per_io is 0: no ratio");
    }
}
