//! Floe's runtime: memory the devices can DMA into (huge pages when the host
//! has them), and later cores, pollers and the per-core scheduler.
//! The one layer below the drivers; `unsafe` is allowed here and is confined
//! to small wrappers whose safe methods keep the invariants.

pub mod dma;

pub use dma::{DmaBuffer, DMA_ALIGN_BYTES};
