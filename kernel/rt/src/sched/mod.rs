//! The per-core scheduler (DESIGN.md, execution model): one pinned thread
//! per core runs stackful fibers and pollers, and never blocks in the kernel
//! on the data path.
//!
//! This module's waiting seam is what the rest of the engine builds on:
//! [`Waiter::current`], [`park`], [`park_until`] and [`Waiter::wake`] park
//! and wake the running fiber when called on a core's fiber, and the calling
//! thread otherwise, so the same engine code runs on fibers in the
//! appliance and on plain threads in tests and tools. `floe_rt::sync`'s
//! locks are built on it.

use std::time::Instant;

/// Something that can be woken: the fiber or thread that called
/// [`Waiter::current`]. Wakes have token semantics, as
/// `std::thread::unpark`: a wake that comes before the park makes the next
/// park return at once. Cheap to clone; may be sent to any thread.
#[derive(Clone, Debug)]
pub struct Waiter {
    thread: std::thread::Thread,
}

impl Waiter {
    /// The running fiber, or the calling thread if it runs no fiber.
    pub fn current() -> Waiter {
        Waiter {
            thread: std::thread::current(),
        }
    }

    /// Wakes it: its current or next [`park`] returns.
    pub fn wake(&self) {
        self.thread.unpark();
    }
}

/// Parks the running fiber (or the calling thread) until a [`Waiter::wake`]
/// for it. May return spuriously: callers loop on their condition.
pub fn park() {
    std::thread::park();
}

/// As [`park`], but returns by `deadline` at the latest.
pub fn park_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::park_timeout(deadline - now);
    }
}

/// Lets other fibers of this core run (or, on a plain thread, other threads),
/// then returns.
pub fn yield_now() {
    std::thread::yield_now();
}

/// True when called on a fiber of a core's scheduler.
pub fn in_fiber() -> bool {
    false
}
