//! The `hwtest` role: certification checks for the machine it boots on,
//! published on `/health` (and the console). The first check drives every
//! NVMe function with Floe's user-space driver: bind it to vfio-pci,
//! identify it, and run the driver's self-test (patterns with CRC32C
//! checks across sizes and depths, flush, deallocate, a reset mid-run).

use std::io::Write;

use floe_nvme::selftest;
use floe_nvme::vfio::{Sysfs, VfioNvme};
use floe_nvme::ControllerOptions;

use crate::health::json_string;
use crate::logger::error_chain;

/// Console lines the self-test writes, relayed to the log as they come.
struct LogLines(Vec<u8>);

impl Write for LogLines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        while let Some(end) = self.0.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.0.drain(..=end).collect();
            log::info!("hwtest nvme: {}", String::from_utf8_lossy(&line).trim_end());
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the NVMe check on every NVMe function; returns `/health`'s
/// "hwtest" object. Never panics: a failure is reported, with its cause.
pub fn run() -> String {
    let sysfs = Sysfs::system();
    let addresses = match sysfs.find_nvme_functions() {
        Ok(addresses) => addresses,
        Err(e) => {
            return format!(
                "{{\"nvme\":{{\"passed\":false,\"error\":{}}}}}",
                json_string(&e.to_string())
            )
        }
    };
    if addresses.is_empty() {
        return "{\"nvme\":{\"passed\":false,\"error\":\"no NVMe function found\"}}".to_string();
    }
    let mut results = Vec::new();
    let mut all_passed = true;
    for address in addresses {
        let outcome = (|| -> Result<String, String> {
            let device = VfioNvme::open_device(&sysfs, address, ControllerOptions::default())
                .map_err(|e| error_chain(&e))?;
            let mut out = LogLines(Vec::new());
            let report = selftest::run(&device, 0xF10E, &mut out).map_err(|e| error_chain(&e))?;
            Ok(format!(
                "{{\"phases\":{},\"failed_by_reset\":{}}}",
                report.phases.len(),
                report.failed_by_reset
            ))
        })();
        match outcome {
            Ok(summary) => {
                log::info!("hwtest nvme {address}: passed {summary}");
                results.push(format!(
                    "{{\"address\":{},\"passed\":true,\"report\":{summary}}}",
                    json_string(&address.to_string())
                ));
            }
            Err(error) => {
                all_passed = false;
                log::error!("hwtest nvme {address}: failed: {error}");
                results.push(format!(
                    "{{\"address\":{},\"passed\":false,\"error\":{}}}",
                    json_string(&address.to_string()),
                    json_string(&error)
                ));
            }
        }
    }
    format!(
        "{{\"nvme\":{{\"passed\":{all_passed},\"devices\":[{}]}}}}",
        results.join(",")
    )
}
