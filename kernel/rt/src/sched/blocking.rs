//! Blocking calls from fibers: `run_blocking` hands a closure that would
//! block its thread in the kernel (pwrite, fdatasync on the kernel's I/O
//! path) to a small pool of plain threads, and parks the calling fiber
//! until it returns, so the core's other fibers run meanwhile (a session's
//! commit waiting in fdatasync no longer stops every session of its core,
//! and group commit can gather them). Off a fiber the closure runs in place.
//!
//! The pool is process-wide, made on first use, `BLOCKING_THREADS` threads
//! taking jobs from one queue (a mutex and a condition variable: this is
//! the kernel path, where a system call per request is the cost anyway).

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

use super::{executor, Oneshot};

/// Threads of the pool: enough for a few fdatasyncs and reads in flight at
/// once per core of a laptop or CI machine.
const BLOCKING_THREADS: usize = 8;

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<&'static Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        }));
        for index in 0..BLOCKING_THREADS {
            let spawned = std::thread::Builder::new()
                .name(format!("floe-blocking-{index}"))
                .spawn(move || worker(pool));
            if let Err(e) = spawned {
                log::error!("blocking-call thread {index} did not start: {e}");
            }
        }
        pool
    })
}

fn worker(pool: &'static Pool) {
    loop {
        let job = {
            let mut jobs = pool.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                match jobs.pop_front() {
                    Some(job) => break job,
                    None => {
                        jobs = pool
                            .ready
                            .wait(jobs)
                            .unwrap_or_else(PoisonError::into_inner)
                    }
                }
            }
        };
        job();
    }
}

/// Runs `f`, which may block in the kernel: on a fiber with company on
/// its core, on the pool's threads while the fiber parks; elsewhere right
/// here. A panic in `f` resumes in the caller.
pub fn run_blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    // Alone on its core, the fiber has nobody to make room for: the hand-off
    // (two cross-thread wakes) would only add latency to a serial client.
    let alone = executor::core_fibers().is_none_or(|fibers| fibers <= 1);
    if !executor::on_fiber() || alone {
        return f();
    }
    let outcome = Arc::new(Oneshot::new());
    let filled = Arc::clone(&outcome);
    let job: Job = Box::new(move || filled.put(catch_unwind(AssertUnwindSafe(f))));
    let pool = pool();
    pool.jobs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push_back(job);
    pool.ready.notify_one();
    match outcome.take() {
        Ok(value) => value,
        Err(panic) => resume_unwind(panic),
    }
}
