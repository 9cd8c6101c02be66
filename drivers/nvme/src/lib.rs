//! Floe's user-space NVMe driver: polled queue pairs on DMA memory, driven
//! over VFIO in the appliance, and over a software controller model in tests.
//! Written on SPDK's lib/nvme model (read, not copied): one I/O queue pair
//! per thread, preallocated trackers, PRP lists in per-tracker DMA memory,
//! completions by the phase bit, doorbells once per batch.
//!
//! Layers, bottom up: `spec` (formats), `memory` (the Registers and
//! DmaMapper seams, DeviceMemory), `qpair` (rings and trackers), `controller`
//! (bring-up, admin queue, reset), `device` (BlockDevice/BlockQueue),
//! `model` (a software controller for tests), `vfio` (Linux, the real bus).

mod controller;
mod device;
mod error;
pub mod memory;
pub mod model;
pub mod qpair;
pub mod selftest;
pub mod spec;
#[cfg(target_os = "linux")]
pub mod vfio;

pub use controller::{Clock, Controller, ControllerOptions, Identity, MonotonicClock, TestClock};
pub use device::{DmaCounts, NvmeDevice, NvmeQueue};
pub use error::NvmeError;
pub use memory::{DeviceMemory, DmaMapper, Registers};
