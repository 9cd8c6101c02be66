//! The cores' threads and their loop: fibers (corosensei coroutines on
//! mmap'd stacks with a guard page), timers, pollers and the epoll instance.
//!
//! A fiber's life: [`SchedulerHandle::spawn`] pushes its body onto the
//! core's inbox (a lock-free queue, the one way in from other threads); the
//! core makes a coroutine and runs it until it yields, parks or returns. A
//! park is a state machine on the task's atomic state word:
//!
//! - `RUNNING`: runnable or running. A wake sets `NOTIFIED` (the token).
//! - park on the fiber: `NOTIFIED -> RUNNING` consumes a token and returns at
//!   once; otherwise the fiber switches to the core, which moves
//!   `RUNNING -> PARKED`, or, if a wake came in between (`NOTIFIED`), makes
//!   it runnable again.
//! - wake: swaps in `NOTIFIED`; if it found `PARKED`, the waker owns the
//!   hand-off and sends the task to its core's inbox (or, on the core
//!   itself, to the run queue). Exactly one party sees `PARKED`, so a parked
//!   fiber is queued once and a wake is never lost.
//!
//! Everything else a core owns (run queue, timers, pollers, fiber slots)
//! lives on its thread and is touched by that thread only, fiber or loop,
//! never across a switch.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use crossbeam_queue::SegQueue;

use super::io::Epoll;
use crate::cores::{pin_current_thread, CoreId};
use crate::error::RtError;

/// Core slots: a process-wide numbering of live cores' threads, so
/// [`super::CoreLocal`] can index by it even with two schedulers alive (tests).
pub(crate) const CORE_SLOTS: usize = 256;
static SLOTS_USED: Mutex<[bool; CORE_SLOTS]> = Mutex::new([false; CORE_SLOTS]);

const RUNNING: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

/// Stacks a core keeps for reuse after their fibers end.
const STACKS_KEPT: usize = 32;

/// How often a busy core (fibers runnable on every turn) still asks epoll
/// for ready sockets, in turns.
const EPOLL_EVERY_TURNS: u64 = 32;

/// Why a fiber switched back to its core.
enum Switch {
    Yield,
    Park,
}

type FiberYielder = Yielder<(), Switch>;

/// The shared half of a fiber: what a [`super::Waiter`] holds.
pub(crate) struct Task {
    name: String,
    core: Arc<Shared>,
    slot: usize,
    state: AtomicU8,
    /// Set by the fiber when it starts; read on its core only.
    yielder: AtomicPtr<FiberYielder>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fiber {:?} on core slot {}", self.name, self.core.slot)
    }
}

impl Task {
    pub(crate) fn wake(self: &Arc<Task>) {
        if self.state.swap(NOTIFIED, Ordering::AcqRel) == PARKED {
            match local() {
                Some(own) if ptr::eq(&*own.shared, &*self.core) => {
                    self.state.store(RUNNING, Ordering::Release);
                    own.woken.borrow_mut().push_back(self.slot);
                }
                _ => self.core.send(Message::Wake(Arc::clone(self))),
            }
        }
    }
}

enum Message {
    Spawn {
        name: String,
        body: Box<dyn FnOnce() + Send>,
    },
    Wake(Arc<Task>),
}

/// What other threads may touch of a core.
struct Shared {
    slot: usize,
    inbox: SegQueue<Message>,
    sleeping: AtomicBool,
    stopping: AtomicBool,
    epoll: Epoll,
    fibers: AtomicUsize,
}

impl Shared {
    fn send(&self, message: Message) {
        self.inbox.push(message);
        // Pairs with the core's SeqCst store of `sleeping` before its last
        // look at the inbox: either it sees the message or we see it asleep.
        if self.sleeping.load(Ordering::SeqCst) {
            self.epoll.notify();
        }
    }
}

/// What a poller reports after one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// Nothing to do and nothing outstanding: the core may sleep.
    Idle,
    /// Nothing happened, but work is outstanding (commands in flight): the
    /// core keeps polling instead of sleeping.
    Pending,
    /// It did work this call.
    Worked,
    /// Remove this poller.
    Done,
}

type Poller = Box<dyn FnMut() -> Poll>;

/// The core's thread-local half, alive for the thread's life.
struct Local {
    shared: Arc<Shared>,
    current: Cell<*const Task>,
    timers: RefCell<BTreeMap<(Instant, u64), Arc<Task>>>,
    timer_seq: Cell<u64>,
    pollers: RefCell<Vec<Poller>>,
    /// Slots woken on this core by its own fibers or pollers.
    woken: RefCell<VecDeque<usize>>,
    /// When the running fiber was last resumed, and calls to
    /// `yield_if_due` since (the clock is read on every 256th).
    resumed_at: Cell<Instant>,
    due_checks: Cell<u32>,
}

thread_local! {
    static LOCAL: Cell<*const Local> = const { Cell::new(ptr::null()) };
}

fn local() -> Option<&'static Local> {
    let local = LOCAL.with(Cell::get);
    // SAFETY: LOCAL points at the `Local` on the core thread's stack while
    // `run` executes (it resets the pointer before returning), and only that
    // thread reads it.
    (!local.is_null()).then(|| unsafe { &*local })
}

pub(crate) fn current_task() -> Option<Arc<Task>> {
    let task = local()?.current.get();
    if task.is_null() {
        return None;
    }
    // SAFETY: `current` is set from a live Arc held by the fiber's slot
    // for exactly the time the fiber runs.
    unsafe {
        Arc::increment_strong_count(task);
        Some(Arc::from_raw(task))
    }
}

/// True when the caller is a fiber (no reference taken).
pub(crate) fn on_fiber() -> bool {
    running().is_some()
}

/// The running fiber's task (borrowed), if the caller is a fiber.
fn running() -> Option<(&'static Local, &'static Task)> {
    let local = local()?;
    let task = local.current.get();
    // SAFETY: as in current_task; the borrow does not outlive the fiber's
    // run (callers use it before they switch back to the core or right
    // after it resumes them).
    (!task.is_null()).then(|| (local, unsafe { &*task }))
}

fn switch(task: &Task, why: Switch) {
    let yielder = task.yielder.load(Ordering::Acquire);
    // SAFETY: the yielder was stored by this fiber when it started, lives on
    // its stack for its whole run, and we are that fiber.
    unsafe { (*yielder).suspend(why) };
}

/// A running fiber's time slice: CPU-bound work (a long scan) that calls
/// [`yield_if_due`] lets its core's other fibers run at least this often.
pub const TIME_SLICE: Duration = Duration::from_millis(2);

/// Yields the running fiber if it has run for a [`TIME_SLICE`] since it was
/// last resumed; cheap enough to call per row (the clock is read on every
/// 256th call). Does nothing off a fiber: threads are preempted.
pub fn yield_if_due() {
    let Some((local, task)) = running() else {
        return;
    };
    let checks = local.due_checks.get().wrapping_add(1);
    local.due_checks.set(checks);
    if checks % 256 == 0 && local.resumed_at.get().elapsed() >= TIME_SLICE {
        switch(task, Switch::Yield);
    }
}

/// Fibers alive on the calling thread's core (None off a core).
pub(crate) fn core_fibers() -> Option<usize> {
    local().map(|l| l.shared.fibers.load(Ordering::Relaxed))
}

/// The calling core's epoll instance.
pub(crate) fn current_epoll() -> Option<&'static Epoll> {
    local().map(|l| &l.shared.epoll)
}

/// Parks the running fiber; false if the caller is not a fiber.
pub(crate) fn park_fiber(deadline: Option<Instant>) -> bool {
    let Some((local, task)) = running() else {
        return false;
    };
    if task
        .state
        .compare_exchange(NOTIFIED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        return true;
    }
    let key = match deadline {
        Some(deadline) if deadline <= Instant::now() => return true,
        Some(deadline) => {
            let seq = local.timer_seq.get();
            local.timer_seq.set(seq + 1);
            let me = current_task().expect("running fiber has a task");
            local.timers.borrow_mut().insert((deadline, seq), me);
            Some((deadline, seq))
        }
        None => None,
    };
    switch(task, Switch::Park);
    if let Some(key) = key {
        local.timers.borrow_mut().remove(&key);
    }
    true
}

/// Yields the running fiber; false if the caller is not a fiber.
pub(crate) fn yield_fiber() -> bool {
    let Some((_, task)) = running() else {
        return false;
    };
    switch(task, Switch::Yield);
    true
}

/// The calling thread's core slot, if it is a core's thread (fiber or
/// poller). Slots are unique among live cores of the process.
pub fn current_core() -> Option<usize> {
    local().map(|l| l.shared.slot)
}

/// Registers `poller` on the calling core; it runs on every turn of the
/// core's loop, on the core's own stack: it must not park. False (and
/// `poller` dropped) if the caller is not on a core.
#[must_use]
pub fn add_poller(poller: impl FnMut() -> Poll + 'static) -> bool {
    local()
        .map(|l| l.pollers.borrow_mut().push(Box::new(poller)))
        .is_some()
}

/// How to run the cores.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// One core thread per entry, pinned to it when `pin` is set.
    pub cores: Vec<CoreId>,
    pub pin: bool,
    /// Stack of each fiber (mmap'd, with a guard page; only the pages a
    /// fiber touches become resident).
    pub stack_bytes: usize,
    /// How long an idle core keeps polling before it sleeps in epoll.
    pub idle_spin: Duration,
    /// Prefix of the threads' names.
    pub name: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            cores: crate::available_cores(),
            pin: true,
            stack_bytes: 256 << 10,
            idle_spin: Duration::from_micros(50),
            name: "floe-core".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpawnError {
    #[error("no core {core}: the scheduler runs {cores}")]
    NoSuchCore { core: usize, cores: usize },
    #[error("the scheduler is stopping")]
    Stopping,
}

/// A handle to the cores, for spawning fibers; cheap to clone.
#[derive(Clone)]
pub struct SchedulerHandle {
    cores: Arc<[Arc<Shared>]>,
    next: Arc<AtomicUsize>,
}

impl std::fmt::Debug for SchedulerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SchedulerHandle({} cores)", self.cores.len())
    }
}

impl SchedulerHandle {
    pub fn cores(&self) -> usize {
        self.cores.len()
    }

    /// Runs `body` as a fiber on core `core` (an index below `cores()`).
    /// A panic in `body` is logged and ends only that fiber.
    pub fn spawn(
        &self,
        core: usize,
        name: impl Into<String>,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<(), SpawnError> {
        let shared = self.cores.get(core).ok_or(SpawnError::NoSuchCore {
            core,
            cores: self.cores.len(),
        })?;
        if shared.stopping.load(Ordering::Acquire) {
            return Err(SpawnError::Stopping);
        }
        shared.fibers.fetch_add(1, Ordering::Relaxed);
        shared.send(Message::Spawn {
            name: name.into(),
            body: Box::new(body),
        });
        Ok(())
    }

    /// Runs `body` as a fiber on the core with the fewest fibers (ties go
    /// round-robin). Returns the core's index.
    pub fn spawn_any(
        &self,
        name: impl Into<String>,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<usize, SpawnError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.cores.len();
        let core = (0..n)
            .map(|i| (start + i) % n)
            .min_by_key(|&i| self.cores[i].fibers.load(Ordering::Relaxed))
            .ok_or(SpawnError::NoSuchCore { core: 0, cores: 0 })?;
        self.spawn(core, name, body).map(|()| core)
    }

    /// Fibers alive (spawned and not yet returned) on core `core`.
    pub fn fibers(&self, core: usize) -> usize {
        self.cores
            .get(core)
            .map_or(0, |c| c.fibers.load(Ordering::Relaxed))
    }
}

/// The running cores. [`Scheduler::shutdown`] stops them once every fiber
/// has returned and waits for that (whoever spawned fibers must end them
/// first); dropping asks the same without waiting.
pub struct Scheduler {
    handle: SchedulerHandle,
    threads: Vec<JoinHandle<()>>,
}

impl Scheduler {
    pub fn start(config: SchedulerConfig) -> Result<Scheduler, RtError> {
        if config.cores.is_empty() {
            return Err(RtError::NoCores);
        }
        let slots = {
            let mut used = SLOTS_USED.lock().unwrap_or_else(PoisonError::into_inner);
            let free: Vec<usize> = (0..CORE_SLOTS)
                .filter(|&i| !used[i])
                .take(config.cores.len())
                .collect();
            if free.len() < config.cores.len() {
                return Err(RtError::TooManyCores {
                    wanted: config.cores.len(),
                    slots: CORE_SLOTS,
                });
            }
            for &i in &free {
                used[i] = true;
            }
            free
        };
        let mut cores = Vec::with_capacity(slots.len());
        for &slot in &slots {
            match Epoll::new() {
                Ok(epoll) => cores.push(Arc::new(Shared {
                    slot,
                    inbox: SegQueue::new(),
                    sleeping: AtomicBool::new(false),
                    stopping: AtomicBool::new(false),
                    epoll,
                    fibers: AtomicUsize::new(0),
                })),
                Err(source) => {
                    release_slots(&slots);
                    return Err(RtError::Epoll { source });
                }
            }
        }
        let handle = SchedulerHandle {
            cores: cores.into(),
            next: Arc::new(AtomicUsize::new(0)),
        };
        let mut scheduler = Scheduler {
            handle: handle.clone(),
            threads: Vec::new(),
        };
        for (index, (shared, &core)) in handle.cores.iter().zip(&config.cores).enumerate() {
            let shared = Arc::clone(shared);
            let config = config.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{index}", config.name))
                .spawn(move || run(&shared, core, &config));
            match spawned {
                Ok(thread) => scheduler.threads.push(thread),
                Err(source) => {
                    // Slots of the threads that never started.
                    let started = scheduler.threads.len();
                    release_slots(&slots[started..]);
                    scheduler.stop();
                    return Err(RtError::Thread { source });
                }
            }
        }
        Ok(scheduler)
    }

    pub fn handle(&self) -> &SchedulerHandle {
        &self.handle
    }

    /// Stops the cores after their fibers have all returned, and joins them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for core in self.handle.cores.iter() {
            core.stopping.store(true, Ordering::Release);
            core.epoll.notify();
        }
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                log::error!("a core's thread panicked outside its fibers");
            }
        }
    }
}

impl Drop for Scheduler {
    /// Tells the cores to stop once their fibers have returned, without
    /// waiting for that (a fiber that never returns must not hang the
    /// dropper, on an error path say): `shutdown` waits.
    fn drop(&mut self) {
        for core in self.handle.cores.iter() {
            core.stopping.store(true, Ordering::Release);
            core.epoll.notify();
        }
    }
}

/// Runs `f` with the core-slot registry locked and a test for "this slot's
/// core is not running": no core can take a slot while `f` runs.
pub(crate) fn with_stopped_slots<R>(f: impl FnOnce(&dyn Fn(usize) -> bool) -> R) -> R {
    let used = SLOTS_USED.lock().unwrap_or_else(PoisonError::into_inner);
    f(&|slot| !used.get(slot).copied().unwrap_or(true))
}

fn release_slots(slots: &[usize]) {
    let mut used = SLOTS_USED.lock().unwrap_or_else(PoisonError::into_inner);
    for &slot in slots {
        used[slot] = false;
    }
}

struct Fiber {
    task: Arc<Task>,
    coroutine: Coroutine<(), Switch, (), DefaultStack>,
}

/// A core's thread: its loop until stopped with no fibers left.
fn run(shared: &Arc<Shared>, core: CoreId, config: &SchedulerConfig) {
    if config.pin {
        if let Err(e) = pin_current_thread(core) {
            log::warn!("{e}; core slot {} runs unpinned", shared.slot);
        }
    }
    let local = Local {
        shared: Arc::clone(shared),
        current: Cell::new(ptr::null()),
        timers: RefCell::new(BTreeMap::new()),
        timer_seq: Cell::new(0),
        pollers: RefCell::new(Vec::new()),
        woken: RefCell::new(VecDeque::new()),
        resumed_at: Cell::new(Instant::now()),
        due_checks: Cell::new(0),
    };
    LOCAL.with(|l| l.set(&local));
    let mut core_loop = CoreLoop {
        local: &local,
        fibers: Vec::new(),
        free: Vec::new(),
        runnable: VecDeque::new(),
        stacks: Vec::new(),
        stack_bytes: config.stack_bytes,
    };
    core_loop.run(config.idle_spin);
    // Pollers may hold core-owned resources (queue pairs); end them here,
    // while the thread is still the core.
    local.pollers.borrow_mut().clear();
    let leaked = core_loop.fibers.iter().flatten().count();
    if leaked > 0 {
        log::error!(
            "core slot {}: stopped with {leaked} fibers still parked; their stacks are leaked",
            shared.slot
        );
        for fiber in core_loop.fibers.drain(..).flatten() {
            std::mem::forget(fiber);
        }
    }
    LOCAL.with(|l| l.set(ptr::null()));
    drop(core_loop);
    release_slots(&[shared.slot]);
}

struct CoreLoop<'a> {
    local: &'a Local,
    fibers: Vec<Option<Fiber>>,
    free: Vec<usize>,
    runnable: VecDeque<usize>,
    stacks: Vec<DefaultStack>,
    stack_bytes: usize,
}

impl CoreLoop<'_> {
    fn run(&mut self, idle_spin: Duration) {
        let shared = Arc::clone(&self.local.shared);
        let mut idle_since: Option<Instant> = None;
        let mut turn: u64 = 0;
        loop {
            turn = turn.wrapping_add(1);
            let mut worked = false;
            while let Some(message) = shared.inbox.pop() {
                worked = true;
                match message {
                    Message::Spawn { name, body } => self.start_fiber(name, body),
                    Message::Wake(task) => self.requeue(&task),
                }
            }
            let now = Instant::now();
            worked |= self.fire_timers(now);
            let mut pending = false;
            worked |= self.run_pollers(&mut pending);
            if self.runnable.is_empty() || turn.is_multiple_of(EPOLL_EVERY_TURNS) {
                worked |= self.poll_epoll(0) > 0;
            }
            self.take_woken();
            for _ in 0..self.runnable.len() {
                let Some(slot) = self.runnable.pop_front() else {
                    break;
                };
                self.resume(slot);
                worked = true;
            }
            self.take_woken();
            let live = self.fibers.len() - self.free.len();
            if shared.stopping.load(Ordering::Acquire) && live == 0 && shared.inbox.is_empty() {
                return;
            }
            if worked || !self.runnable.is_empty() || pending {
                idle_since = None;
                continue;
            }
            let since = *idle_since.get_or_insert(now);
            if now.duration_since(since) < idle_spin {
                std::hint::spin_loop();
                continue;
            }
            self.sleep(&shared);
            idle_since = None;
        }
    }

    fn sleep(&mut self, shared: &Shared) {
        shared.sleeping.store(true, Ordering::SeqCst);
        if shared.inbox.is_empty() {
            let timeout_ms = if shared.stopping.load(Ordering::Acquire) {
                10
            } else {
                let next = self.local.timers.borrow().keys().next().map(|&(at, _)| at);
                next.map_or(-1, |at| {
                    let wait = at.saturating_duration_since(Instant::now());
                    // Round up: waking before the deadline only spins again.
                    i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
                })
            };
            self.poll_epoll(timeout_ms);
        }
        shared.sleeping.store(false, Ordering::SeqCst);
    }

    fn poll_epoll(&mut self, timeout_ms: i32) -> usize {
        let mut woken = 0;
        let epoll = &self.local.shared.epoll;
        epoll.wait(timeout_ms, |task| {
            woken += 1;
            wake_here(task, &mut self.runnable);
        });
        woken
    }

    fn fire_timers(&mut self, now: Instant) -> bool {
        let mut fired = false;
        loop {
            let due = {
                let mut timers = self.local.timers.borrow_mut();
                match timers.first_key_value() {
                    Some((&(at, _), _)) if at <= now => timers.pop_first(),
                    _ => None,
                }
            };
            let Some((_, task)) = due else {
                return fired;
            };
            fired = true;
            wake_here(&task, &mut self.runnable);
        }
    }

    fn run_pollers(&mut self, pending: &mut bool) -> bool {
        let mut pollers = std::mem::take(&mut *self.local.pollers.borrow_mut());
        let mut worked = false;
        pollers.retain_mut(|poller| match poller() {
            Poll::Idle => true,
            Poll::Pending => {
                *pending = true;
                true
            }
            Poll::Worked => {
                worked = true;
                true
            }
            Poll::Done => false,
        });
        let mut registered = self.local.pollers.borrow_mut();
        // Pollers added while these ran (by a poller) go after them.
        pollers.append(&mut registered);
        *registered = pollers;
        worked
    }

    fn take_woken(&mut self) {
        let mut woken = self.local.woken.borrow_mut();
        self.runnable.extend(woken.drain(..));
    }

    fn requeue(&mut self, task: &Arc<Task>) {
        let live =
            matches!(self.fibers.get(task.slot), Some(Some(f)) if Arc::ptr_eq(&f.task, task));
        if live {
            task.state.store(RUNNING, Ordering::Release);
            self.runnable.push_back(task.slot);
        }
    }

    fn start_fiber(&mut self, name: String, body: Box<dyn FnOnce() + Send>) {
        let stack = match self.stacks.pop() {
            Some(stack) => stack,
            None => match DefaultStack::new(self.stack_bytes) {
                Ok(stack) => stack,
                Err(e) => {
                    log::error!(
                        "core slot {}: no stack of {} bytes for fiber {name:?}: {e}; not run",
                        self.local.shared.slot,
                        self.stack_bytes
                    );
                    self.local.shared.fibers.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
            },
        };
        let slot = self.free.pop().unwrap_or_else(|| {
            self.fibers.push(None);
            self.fibers.len() - 1
        });
        let task = Arc::new(Task {
            name,
            core: Arc::clone(&self.local.shared),
            slot,
            state: AtomicU8::new(RUNNING),
            yielder: AtomicPtr::new(ptr::null_mut()),
        });
        let me = Arc::clone(&task);
        let coroutine = Coroutine::with_stack(stack, move |yielder: &FiberYielder, ()| {
            me.yielder
                .store(ptr::from_ref(yielder).cast_mut(), Ordering::Release);
            if let Err(panic) = catch_unwind(AssertUnwindSafe(body)) {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-text panic".to_owned());
                log::error!("{me:?} panicked: {message}");
            }
        });
        self.fibers[slot] = Some(Fiber { task, coroutine });
        self.runnable.push_back(slot);
    }

    fn resume(&mut self, slot: usize) {
        let Some(fiber) = self.fibers.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        self.local.current.set(Arc::as_ptr(&fiber.task));
        self.local.resumed_at.set(Instant::now());
        let result = fiber.coroutine.resume(());
        self.local.current.set(ptr::null());
        match result {
            CoroutineResult::Yield(Switch::Yield) => self.runnable.push_back(slot),
            CoroutineResult::Yield(Switch::Park) => {
                let parked = fiber
                    .task
                    .state
                    .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                if !parked {
                    // Woken between its park and now: run it again.
                    fiber.task.state.store(RUNNING, Ordering::Release);
                    self.runnable.push_back(slot);
                }
            }
            CoroutineResult::Return(()) => {
                let Some(fiber) = self.fibers[slot].take() else {
                    return;
                };
                self.free.push(slot);
                self.local.shared.fibers.fetch_sub(1, Ordering::Relaxed);
                if self.stacks.len() < STACKS_KEPT {
                    self.stacks.push(fiber.coroutine.into_stack());
                }
            }
        }
    }
}

/// Wakes `task`, which belongs to the calling core, straight onto its run
/// queue.
fn wake_here(task: &Task, runnable: &mut VecDeque<usize>) {
    if task.state.swap(NOTIFIED, Ordering::AcqRel) == PARKED {
        task.state.store(RUNNING, Ordering::Release);
        runnable.push_back(task.slot);
    }
}
