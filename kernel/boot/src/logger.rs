//! The `log` backend: one line per record on stderr, which is the serial
//! console when we are PID 1. Each line starts with seconds since the
//! kernel booted (CLOCK_BOOTTIME), so it lines up with the kernel's own
//! timestamps on the same console.

use std::io::Write;

use nix::time::{clock_gettime, ClockId};

struct ConsoleLogger;

static LOGGER: ConsoleLogger = ConsoleLogger;

/// Seconds since the kernel booted; 0 if the clock cannot be read.
pub fn boottime_s() -> f64 {
    match clock_gettime(ClockId::CLOCK_BOOTTIME) {
        Ok(time) => time.tv_sec() as f64 + time.tv_nsec() as f64 / 1e9,
        Err(_) => 0.0,
    }
}

impl log::Log for ConsoleLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!(
            "[{:12.6}] floe {:5} {}\n",
            boottime_s(),
            record.level(),
            record.args()
        );
        // One write per line so lines from threads do not interleave. A
        // console that cannot be written has no one to report to.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

pub fn init(level: log::LevelFilter) {
    // Only fails if a logger is already set, which is then the one we want.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// An error and its sources on one line: "what failed: why: deeper cause".
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
