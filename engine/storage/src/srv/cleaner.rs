//! The page cleaner: a background thread that keeps the checkpoint moving
//! and the cold end of the LRU clean (InnoDB's `buf0flu` page cleaner).
//!
//! Adaptive flushing. Each round (every `interval_ms`) it measures the
//! checkpoint age (log end minus the oldest dirty page's modification) and
//! the redo rate, and flushes, oldest modification first:
//! - pressure = age / max_checkpoint_age, capped at 1;
//! - pages/s = max(io_capacity * pressure^2 scaled up to io_capacity_max,
//!   dirty_pages * redo_rate / max_checkpoint_age) — the second term keeps
//!   pace with redo so the age stops growing;
//! - at least io_capacity when the log is idle (background cleaning).
//!
//! It also flushes the LRU's cold end when fewer than half of the
//! `lru_scan_frames` coldest frames are clean (so reads rarely have to
//! write a page to get a frame), and takes a checkpoint every round in
//! which the oldest modification moved.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Inner;
use crate::fil::Lsn;

#[derive(Clone, Copy, Debug)]
pub struct CleanerConfig {
    pub interval_ms: u64,
    /// Pages per second flushed in the background (innodb_io_capacity).
    pub io_capacity_pages_per_s: u64,
    /// Ceiling under pressure (innodb_io_capacity_max).
    pub io_capacity_max_pages_per_s: u64,
    /// The checkpoint age at which flushing runs at the ceiling.
    pub max_checkpoint_age_bytes: u64,
    /// Frames examined at the LRU's cold end (innodb_lru_scan_depth).
    pub lru_scan_frames: usize,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        Self {
            interval_ms: 100,
            io_capacity_pages_per_s: 2000,
            io_capacity_max_pages_per_s: 20_000,
            max_checkpoint_age_bytes: 512 << 20,
            lru_scan_frames: 256,
        }
    }
}

/// Pages to flush this round.
pub(crate) fn pages_to_flush(
    config: &CleanerConfig,
    age_bytes: u64,
    redo_bytes_per_s: f64,
    dirty_pages: usize,
    elapsed_s: f64,
) -> usize {
    let pressure = (age_bytes as f64 / config.max_checkpoint_age_bytes.max(1) as f64).min(1.0);
    let from_age = config.io_capacity_pages_per_s as f64
        + pressure
            * pressure
            * (config
                .io_capacity_max_pages_per_s
                .saturating_sub(config.io_capacity_pages_per_s)) as f64;
    let from_redo =
        dirty_pages as f64 * redo_bytes_per_s / config.max_checkpoint_age_bytes.max(1) as f64;
    let per_s = from_age
        .max(from_redo)
        .min(config.io_capacity_max_pages_per_s as f64);
    (per_s * elapsed_s).ceil() as usize
}

pub(crate) fn run(inner: &Inner, config: CleanerConfig) {
    let mut last_lsn = inner.log.appended_lsn();
    let mut last_ms = inner.clock.now_ms();
    let mut last_checkpoint: Option<Lsn> = None;
    while !inner.stop.load(Ordering::SeqCst) {
        {
            let (lock, condvar) = &inner.wake;
            let woken = lock.lock();
            let (mut woken, _) = condvar.wait_timeout_while(
                woken,
                Duration::from_millis(config.interval_ms),
                |woken| !*woken,
            );
            *woken = false;
        }
        if inner.stop.load(Ordering::SeqCst) {
            break;
        }
        let now_ms = inner.clock.now_ms();
        let elapsed_s = (now_ms.saturating_sub(last_ms) as f64 / 1000.0)
            .max(config.interval_ms as f64 / 1000.0);
        let appended = inner.log.appended_lsn();
        let redo_bytes_per_s = appended.0.saturating_sub(last_lsn.0) as f64 / elapsed_s;
        last_lsn = appended;
        last_ms = now_ms;
        let result = (|| -> Result<(), super::EngineError> {
            let dirty_pages = inner.pool.dirty_pages();
            if dirty_pages > 0 {
                let age_bytes = inner
                    .pool
                    .oldest_modification()
                    .map_or(0, |oldest| appended.0.saturating_sub(oldest.0));
                let n =
                    pages_to_flush(&config, age_bytes, redo_bytes_per_s, dirty_pages, elapsed_s);
                inner.pool.flush_oldest(n, appended)?;
            }
            if inner.pool.clean_cold_frames(config.lru_scan_frames) < config.lru_scan_frames / 2 {
                inner.pool.flush_lru_tail(config.lru_scan_frames)?;
            }
            let oldest = inner.pool.oldest_modification();
            if oldest != last_checkpoint {
                inner.checkpoint()?;
                last_checkpoint = oldest;
            }
            Ok(())
        })();
        let mut error = inner.cleaner_error.lock();
        match result {
            Ok(()) => *error = None,
            Err(e) => {
                if error.is_none() {
                    log::error!("page cleaner: {e}; retrying each round");
                }
                *error = Some(e.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flushing grows with checkpoint age and redo rate, within the bounds.
    #[test]
    fn adaptive_flushing_responds_to_age_and_redo() {
        let config = CleanerConfig::default();
        let idle = pages_to_flush(&config, 0, 0.0, 1000, 1.0);
        let aged = pages_to_flush(&config, config.max_checkpoint_age_bytes / 2, 0.0, 1000, 1.0);
        let full = pages_to_flush(&config, config.max_checkpoint_age_bytes * 2, 0.0, 1000, 1.0);
        assert_eq!(idle, config.io_capacity_pages_per_s as usize);
        assert!(idle < aged && aged < full, "{idle} {aged} {full}");
        assert_eq!(full, config.io_capacity_max_pages_per_s as usize);
        let busy = pages_to_flush(&config, 0, 100.0 * (1 << 20) as f64, 100_000, 1.0);
        assert!(busy > idle, "redo rate should raise flushing: {busy}");
        assert!(busy <= config.io_capacity_max_pages_per_s as usize);
    }
}
