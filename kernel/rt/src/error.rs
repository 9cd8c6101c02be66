//! The runtime's one error type.

use crate::cores::CoreId;

#[derive(Debug, thiserror::Error)]
pub enum RtError {
    #[error(
        "DMA arena: {len_bytes} bytes is not a non-zero multiple of the {align_bytes}-byte frame"
    )]
    BadLength {
        len_bytes: usize,
        align_bytes: usize,
    },
    #[error("DMA arena of {arena_bytes} bytes: {requested_bytes} bytes requested, {remaining_bytes} left")]
    ArenaExhausted {
        arena_bytes: usize,
        requested_bytes: usize,
        remaining_bytes: usize,
    },
    #[error("mapping a DMA arena of {len_bytes} bytes on {frames}")]
    Map {
        len_bytes: usize,
        frames: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no huge pages for a DMA arena of {len_bytes} bytes; reserve 2 MiB pages with \
         `echo 1024 > /proc/sys/vm/nr_hugepages` or the boot key floe.hugepages=1024"
    )]
    HugePagesUnavailable {
        len_bytes: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("the scheduler needs at least one core (floe.cores is empty)")]
    NoCores,
    #[error("{wanted} cores asked of the scheduler; a process runs at most {slots}")]
    TooManyCores { wanted: usize, slots: usize },
    #[error("creating a core's epoll instance")]
    Epoll {
        #[source]
        source: std::io::Error,
    },
    #[error("starting a core's thread")]
    Thread {
        #[source]
        source: std::io::Error,
    },
    #[error("pinning the current thread to core {core}: refused; it may run on {available:?}")]
    Pin {
        core: CoreId,
        available: Vec<CoreId>,
    },
}
