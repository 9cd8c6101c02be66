//! Floe's runtime: memory the devices can DMA into (huge pages when the host
//! has them), cores and thread pinning, the per-core scheduler (`sched`:
//! fibers, pollers, timers) and fiber-aware locks (`sync`). The one layer
//! below the drivers; `unsafe` is allowed here and is confined to small
//! wrappers whose safe methods keep the invariants.

pub mod cores;
pub mod dma;
mod error;
pub mod sched;
pub mod sync;

pub use cores::{available_cores, current_core, pin_current_thread, CoreId};
pub use dma::{
    add_registrar, DmaArena, DmaBuffer, DmaRegistrar, HugePages, DMA_ALIGN_BYTES, HUGE_FRAME_BYTES,
};
pub use error::RtError;
