//! Floe's user-space NVMe driver: polled queue pairs on DMA memory, driven
//! over VFIO in the appliance, and over a software controller model in tests.
//! Written on SPDK's lib/nvme model (read, not copied): one I/O queue pair
//! per thread, preallocated trackers, PRP lists in per-tracker DMA memory,
//! completions by the phase bit, doorbells once per batch.

mod error;
pub mod spec;

pub use error::NvmeError;
