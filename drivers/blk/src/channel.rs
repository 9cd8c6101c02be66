//! `Channels`: how a device runs one request for whoever asks, SPDK's I/O
//! channel model. On a fiber of the per-core scheduler the request goes
//! through the calling core's own queue, made by that core on first use and
//! polled by that core only (a poller on its loop): the fiber submits,
//! parks, and the poller wakes it with the completion. No lock and no
//! kernel entry on that path; other fibers of the core run meanwhile. On any
//! other thread (tools, tests, hosted background threads) the request takes
//! a queue from a small pool, runs to completion on it, and gives it back.
//!
//! A physical device holds one `Channels` and implements
//! [`BlockDevice::run`](crate::BlockDevice::run) with it; a device that
//! wraps another (a slice of a volume, a fault injector) forwards `run`, so
//! a core has one queue per physical device however many files sit on it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use floe_rt::sched::{self, CoreLocal, Poll, Waiter};
use floe_rt::DmaBuffer;

use crate::{BlockDevice, BlockOp, BlockQueue, Completion, Error, SubmitError, Tag};

/// Completions taken per poll.
const POLL_BATCH: usize = 32;

pub struct Channels {
    inner: Arc<Inner>,
}

struct Inner {
    depth: u32,
    cores: CoreLocal<Channel>,
    core_queues: AtomicUsize,
    core_queues_opened: AtomicUsize,
    pooled_queues_opened: AtomicUsize,
    pool: Mutex<Vec<Box<dyn BlockQueue>>>,
}

/// One core's queue and the requests its fibers have in flight on it.
struct Channel {
    queue: Box<dyn BlockQueue>,
    /// Indexed by tag.
    slots: Vec<Slot>,
    free: Vec<usize>,
    completions: Vec<Completion>,
}

#[derive(Default)]
struct Slot {
    waiter: Option<Waiter>,
    done: Option<Completion>,
}

impl Channel {
    fn submit(&mut self, op: BlockOp, buffer: Option<DmaBuffer>) -> Result<usize, SubmitError> {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            self.slots.len() - 1
        });
        match self.queue.submit(op, buffer, Tag(index as u64)) {
            Ok(()) => {
                self.slots[index].waiter = Some(Waiter::current());
                Ok(index)
            }
            Err(refused) => {
                self.free.push(index);
                Err(refused)
            }
        }
    }

    fn poll(&mut self) -> Poll {
        let found = self.queue.poll(&mut self.completions, POLL_BATCH);
        for completion in self.completions.drain(..) {
            let Some(slot) = usize::try_from(completion.tag.0)
                .ok()
                .and_then(|index| self.slots.get_mut(index))
            else {
                log::error!(
                    "a completion for tag {} that was never submitted",
                    completion.tag.0
                );
                continue;
            };
            if let Some(waiter) = slot.waiter.take() {
                waiter.wake();
            }
            slot.done = Some(completion);
        }
        if found > 0 {
            Poll::Worked
        } else if self.queue.in_flight() > 0 {
            Poll::Pending
        } else {
            Poll::Idle
        }
    }

    fn take(&mut self, index: usize) -> Option<Completion> {
        let done = self.slots.get_mut(index)?.done.take()?;
        self.free.push(index);
        Some(done)
    }
}

/// Queues of a device's channels, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelCounts {
    /// Cores' own queues open now (one per core that has done I/O on the
    /// device).
    pub core_queues: usize,
    /// Cores' own queues ever opened.
    pub core_queues_opened: usize,
    /// Idle queues in the pool for plain threads, now.
    pub pooled_queues: usize,
    /// Pooled queues ever opened.
    pub pooled_queues_opened: usize,
}

impl Channels {
    /// Channels whose queues hold up to `depth` requests each.
    pub fn new(depth: u32) -> Channels {
        Channels {
            inner: Arc::new(Inner {
                depth,
                cores: CoreLocal::new(),
                core_queues: AtomicUsize::new(0),
                core_queues_opened: AtomicUsize::new(0),
                pooled_queues_opened: AtomicUsize::new(0),
                pool: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Runs one request on `device` (the device holding these channels) to
    /// completion; hands back the buffer of a read or write.
    pub fn run(
        &self,
        device: &dyn BlockDevice,
        op: BlockOp,
        buffer: Option<DmaBuffer>,
    ) -> Result<Option<DmaBuffer>, Error> {
        if sched::in_fiber() {
            self.run_on_core(device, op, buffer)
        } else {
            self.run_pooled(device, op, buffer)
        }
    }

    pub fn counts(&self) -> ChannelCounts {
        ChannelCounts {
            core_queues: self.inner.core_queues.load(Ordering::Relaxed),
            core_queues_opened: self.inner.core_queues_opened.load(Ordering::Relaxed),
            pooled_queues: self.lock_pool().len(),
            pooled_queues_opened: self.inner.pooled_queues_opened.load(Ordering::Relaxed),
        }
    }

    /// Closes the pooled queues and those of cores that have stopped; the
    /// next request opens what it needs again.
    pub fn close_idle(&self) {
        let pooled: Vec<_> = self.lock_pool().drain(..).collect();
        drop(pooled);
        let orphaned = self.inner.cores.take_orphaned();
        self.inner
            .core_queues
            .fetch_sub(orphaned.len(), Ordering::Relaxed);
        drop(orphaned);
    }

    fn lock_pool(&self) -> std::sync::MutexGuard<'_, Vec<Box<dyn BlockQueue>>> {
        self.inner
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn run_pooled(
        &self,
        device: &dyn BlockDevice,
        op: BlockOp,
        buffer: Option<DmaBuffer>,
    ) -> Result<Option<DmaBuffer>, Error> {
        let pooled = self.lock_pool().pop();
        let mut queue = match pooled {
            Some(queue) => queue,
            None => {
                let queue = device.open_queue(self.inner.depth)?;
                self.inner
                    .pooled_queues_opened
                    .fetch_add(1, Ordering::Relaxed);
                queue
            }
        };
        let result = queue.run(op, buffer);
        self.lock_pool().push(queue);
        result
    }

    /// The core's queue, made (and its poller registered) on first use.
    fn open_core_queue(&self, device: &dyn BlockDevice) -> Result<Channel, Error> {
        let queue = device.open_queue(self.inner.depth)?;
        let inner: Weak<Inner> = Arc::downgrade(&self.inner);
        let added = sched::add_poller(move || match inner.upgrade() {
            Some(inner) => inner.cores.with_made(Channel::poll).unwrap_or(Poll::Done),
            None => Poll::Done,
        });
        if !added {
            return Err(Error::Unusable {
                device: device.describe(),
                reason: "a core's queue opened off its core".to_owned(),
            });
        }
        self.inner.core_queues.fetch_add(1, Ordering::Relaxed);
        self.inner
            .core_queues_opened
            .fetch_add(1, Ordering::Relaxed);
        log::debug!(
            "{}: core slot {:?} opened its own queue",
            device.describe(),
            sched::current_core()
        );
        Ok(Channel {
            queue,
            slots: Vec::new(),
            free: Vec::new(),
            completions: Vec::with_capacity(POLL_BATCH),
        })
    }

    fn run_on_core(
        &self,
        device: &dyn BlockDevice,
        op: BlockOp,
        buffer: Option<DmaBuffer>,
    ) -> Result<Option<DmaBuffer>, Error> {
        let cores = &self.inner.cores;
        let mut request = (op, buffer);
        let index = loop {
            let (op, buffer) = request;
            let submitted = cores.with(|| self.open_core_queue(device), |ch| ch.submit(op, buffer));
            match submitted {
                Some(Ok(Ok(index))) => break index,
                Some(Ok(Err(SubmitError::Busy { op, buffer, .. }))) => {
                    // The core's queue is full: let its poller drain it.
                    request = (op, buffer);
                    sched::yield_now();
                }
                Some(Ok(Err(SubmitError::Invalid(e)))) | Some(Err(e)) => return Err(e),
                None => unreachable!("run_on_core is called on a fiber, which is on a core"),
            }
        };
        loop {
            if let Some(Some(done)) = cores.with_made(|ch| ch.take(index)) {
                return done.result.map(|()| done.buffer);
            }
            sched::park();
        }
    }
}
