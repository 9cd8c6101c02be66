//! The per-core scheduler (DESIGN.md, execution model): one pinned thread
//! per core runs stackful fibers and pollers, and never blocks in the kernel
//! while it has work; idle, it sleeps in `epoll_wait` until a wake, a timer
//! or a socket needs it.
//!
//! - [`Scheduler`] starts the cores' threads; [`Scheduler::spawn`] puts a
//!   fiber on a core. A fiber stays on its core for its whole life, so a
//!   fiber may use what belongs to its core ([`CoreLocal`], a device queue
//!   pair) between two waits without a lock.
//! - The waiting seam, [`Waiter::current`], [`park`], [`park_until`],
//!   [`yield_now`] and [`Waiter::wake`], parks and wakes the running fiber
//!   when called on a fiber and the calling thread otherwise, so the same
//!   engine code runs on fibers in the appliance and on plain threads in
//!   tests and tools. `floe_rt::sync`'s locks are built on it.
//! - [`add_poller`] registers a poller (an NVMe completion queue, say) on the
//!   calling fiber's core; the core runs it on every turn of its loop.
//! - [`spawn_service`] runs a background loop (page cleaner, purge) as a
//!   fiber on a core, or as a thread where no scheduler runs.
//! - [`run_blocking`] runs a call that blocks in the kernel (file I/O on
//!   the kernel's path) on a pool thread while the fiber parks.
//! - [`wait_fd`] waits for a socket to become readable or writable: the
//!   core's epoll instance reports it, the fiber parks meanwhile.
//!
//! Knowingly different from SPDK's reactor: waits inside fibers (stackful,
//! corosensei) instead of callbacks, and an idle core sleeps instead of
//! spinning forever (after `idle_spin`), because the same binary serves on
//! laptops and 2-core CI machines; an appliance sets `idle_spin` high.

mod blocking;
mod executor;
mod io;
mod local;
mod service;

use std::sync::Arc;
use std::time::Instant;

pub use blocking::run_blocking;
pub use executor::{
    add_poller, current_core, yield_if_due, Poll, Scheduler, SchedulerConfig, SchedulerHandle,
    SpawnError,
};
pub use io::{wait_fd, Interest};
pub use local::CoreLocal;
pub use service::{spawn_service, Service, ServicePanicked};

/// Something that can be woken: the fiber or thread that called
/// [`Waiter::current`]. Wakes have token semantics, as
/// `std::thread::unpark`: a wake that comes before the park makes the next
/// park return at once. Cheap to clone; may be sent to any thread.
#[derive(Clone, Debug)]
pub struct Waiter(Kind);

#[derive(Clone, Debug)]
enum Kind {
    Thread(std::thread::Thread),
    Fiber(Arc<executor::Task>),
}

impl Waiter {
    /// The running fiber, or the calling thread if it runs no fiber.
    pub fn current() -> Waiter {
        match executor::current_task() {
            Some(task) => Waiter(Kind::Fiber(task)),
            None => Waiter(Kind::Thread(std::thread::current())),
        }
    }

    /// Wakes it: its current or next [`park`] returns.
    pub fn wake(&self) {
        match &self.0 {
            Kind::Thread(thread) => thread.unpark(),
            Kind::Fiber(task) => task.wake(),
        }
    }
}

/// Parks the running fiber (or the calling thread) until a [`Waiter::wake`]
/// for it. May return spuriously: callers loop on their condition.
pub fn park() {
    if !executor::park_fiber(None) {
        std::thread::park();
    }
}

/// As [`park`], but returns by `deadline` at the latest.
pub fn park_until(deadline: Instant) {
    if !executor::park_fiber(Some(deadline)) {
        let now = Instant::now();
        if deadline > now {
            std::thread::park_timeout(deadline - now);
        }
    }
}

/// Lets other fibers of this core run (or, on a plain thread, other threads),
/// then returns.
pub fn yield_now() {
    if !executor::yield_fiber() {
        std::thread::yield_now();
    }
}

/// Sleeps for `duration`: parks the fiber (its core runs others), or the
/// thread.
pub fn sleep(duration: std::time::Duration) {
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        park_until(deadline);
    }
}

/// A value handed once from one thread or fiber to another that waits for
/// it (a blocking call's outcome, a service's end).
pub(crate) struct Oneshot<T> {
    value: crate::sync::Mutex<Option<T>>,
    arrived: crate::sync::Condvar,
}

impl<T> Oneshot<T> {
    pub(crate) fn new() -> Oneshot<T> {
        Oneshot {
            value: crate::sync::Mutex::new(None),
            arrived: crate::sync::Condvar::new(),
        }
    }

    pub(crate) fn put(&self, value: T) {
        *self.value.lock() = Some(value);
        self.arrived.notify_all();
    }

    /// Waits (parking the fiber or the thread) until the value is put.
    pub(crate) fn take(&self) -> T {
        let mut value = self.value.lock();
        loop {
            match value.take() {
                Some(arrived) => return arrived,
                None => value = self.arrived.wait(value),
            }
        }
    }
}

/// True when called on a fiber of a core's scheduler.
pub fn in_fiber() -> bool {
    executor::on_fiber()
}
