//! Fiber-aware locks: [`Mutex`], [`RwLock`] and [`Condvar`], drop-in
//! replacements for the `std::sync` (and `parking_lot`) types the engine
//! uses, built on the scheduler's waiting seam ([`crate::sched`]).
//!
//! Why our own: on a core's thread, sessions are fibers. A fiber that waits
//! for a lock must park the *fiber*, not the thread, because the holder may
//! be another fiber of the same core, which would then never run again.
//! `std::sync` and `parking_lot` park threads (futex, `parking_lot_core`),
//! so every lock that may be held across a wait (I/O, another lock, a
//! condition) comes from here. The guard types are `lock_api`'s; the raw
//! locks ([`RawMutex`], [`RawRwLock`]) are ours.
//!
//! Knowingly different from `std::sync`:
//! - No poisoning: `lock`, `read`, `write` and the `Condvar` waits return
//!   guards, not `LockResult`s. A panic while holding a lock unlocks it
//!   (the guard's drop runs during unwinding) and the next holder sees the
//!   data as the panicking code left it.
//! - `RwLock` prefers writers: once a writer waits, new readers queue behind
//!   it, so a thread that takes `read` twice while a writer waits deadlocks
//!   (std leaves this unspecified; parking_lot behaves the same).
//! - Woken waiters compete with newcomers (as in std, for throughput), but a
//!   waiter that has waited 0.5 ms gets the lock handed to it at the next
//!   release (as parking_lot's eventual fairness does), so neither a thread
//!   that re-locks at once nor a stream of readers starves anyone.
//! - `Condvar` waits never return spuriously, and one `Condvar` may be used
//!   with several mutexes (std panics on that). `notify_one` returns whether
//!   it woke a waiter and `notify_all` how many, as parking_lot's do.
//! - Sizes (64-bit): `Mutex<()>` and `RwLock<()>` are 16 bytes (a `u32`
//!   state and a tagged queue pointer), `Condvar` 8; std's are 8, 12 and 4,
//!   parking_lot's 1, 8 and 8. Page latches exist once per 16 KiB buffer
//!   frame, so the 8 bytes more than parking_lot's are 0.05 % of the pool.
//!
//! # Protocol
//!
//! Each lock has an atomic `state` word and a `WaitQueue`: one word holding
//! a pointer to the first waiter of a circular doubly linked list of
//! `Node`s, with bit 0 as a spin lock guarding the list. Nodes live on the
//! waiting fiber's (or thread's) stack; the spin lock is held only to link,
//! unlink and mark nodes, never across a park. A node's `done` flag is set,
//! under the spin lock, by whoever takes it out of the list; its owner parks
//! in a loop until it sees `done` (parks may return spuriously), and never
//! leaves while the node is linked. The remover clones the node's `Waiter`
//! before setting `done` (after that the node may be gone) and wakes it after
//! releasing the spin lock; wakes have token semantics, so a wake that lands
//! before the park is not lost.
//!
//! `Mutex` state: `LOCKED` (set by the acquirer's CAS, cleared by unlock) and
//! `PARKED` (set by a waiter, under the queue lock, in the same CAS that
//! checks `LOCKED` is still set; cleared by unlock, under the queue lock,
//! when it takes the last waiter). Invariant under the queue lock: `PARKED`
//! iff the queue is non-empty. Lock: one CAS `0 -> LOCKED`; else spin while
//! nobody is parked, then queue and park; when woken, compete again, and if
//! that fails re-queue at the front. Unlock: one CAS `LOCKED -> 0`; it fails
//! only when `PARKED` is set, and then unlock takes the queue lock, takes the
//! first waiter, stores the new state and wakes it. If that waiter first
//! parked at least `FAIR_AFTER` ago, the new state keeps `LOCKED` and the
//! waiter is told (`handed`) that it holds the lock. No wake is lost: a
//! waiter only parks after setting `PARKED` while `LOCKED` was set, and the
//! holder's unlock then must see `PARKED` (same word, one modification
//! order) and take the queue lock, which it can only get after the waiter
//! linked its node.
//!
//! `RwLock` state: `WRITER`, `PARKED` (the queue is non-empty),
//! `WRITER_PARKED` (a writer is queued, or woken and on its way) and a reader
//! count (bits 3..32). Readers enter with a CAS when neither `WRITER` nor
//! `WRITER_PARKED` is set, so a waiting writer stops new readers: that is the
//! writer preference. Writers enter with a CAS when there is no `WRITER` and
//! no reader. A blocked thread sets `PARKED` (and `WRITER_PARKED` if it is a
//! writer) under the queue lock in a CAS that checks it is still blocked,
//! then queues. Releasing with waiter bits set takes the slow path (the last
//! reader first turns its read hold into the write hold with one CAS, being
//! the only holder, so nobody else changes `state` meanwhile: the lock is
//! held and waiter bits change only under the queue lock). Under the queue
//! lock it wakes the first queued writer, or every reader if no writer
//! waits, and stores the state with the waiter bits recomputed from the
//! queue (`WRITER_PARKED` stays while a woken writer is on its way). No wake
//! is lost: whoever a waiter is blocked by (a holder, or a writer queued or
//! on its way, which will hold the lock) reaches a release that sees the
//! waiter bits. Eventual fairness as for `Mutex`: when the first waiter has
//! waited `FAIR_AFTER`, the release hands the lock to it (or to the run of
//! readers at the front) instead of waking. Downgrade, with waiters, keeps a
//! read hold and wakes the queued readers if no writer waits.
//!
//! `Condvar`: a wait links its node while the mutex is held, unlocks the
//! mutex, parks until `done`, and relocks; notify takes the first (or every)
//! node out under the queue lock. A timed-out waiter takes the queue lock and
//! unlinks itself only if its node is not `done`; otherwise a notify took it
//! first and the wait counts as woken, so a `notify_one` is never spent on a
//! waiter that timed out.

use std::cell::Cell;
use std::fmt;
use std::hint::spin_loop;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sched::{self, Waiter};

/// A mutual exclusion lock that parks the waiting fiber (or thread).
pub type Mutex<T> = lock_api::Mutex<RawMutex, T>;
/// Holds a [`Mutex`] until dropped; not `Send`.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;
/// A reader-writer lock that parks the waiting fiber (or thread) and
/// prefers writers.
pub type RwLock<T> = lock_api::RwLock<RawRwLock, T>;
/// A shared hold of an [`RwLock`].
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;
/// The exclusive hold of an [`RwLock`]; `RwLockWriteGuard::downgrade`
/// turns it into a read hold without letting a writer in between.
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;

/// Spin rounds before queueing (round r spins 2^r times): a holder on
/// another core often releases within this (about a microsecond), and
/// parking costs a context switch on threads.
const SPIN_ROUNDS: u32 = 4;
/// Rounds of `sched::yield_now` after spinning: lets the holder run when it
/// shares our core (a fiber of it, or a thread the OS put beside us).
const YIELD_ROUNDS: u32 = 2;
/// Spins on a busy queue lock before yielding instead: its holder only links
/// or unlinks a few nodes, unless the OS preempted it.
const QUEUE_SPINS: u32 = 64;
/// Waiters woken per batch after the queue lock is released; more than this
/// at once (a `notify_all` on many) wakes the overflow under the queue lock.
const WAKE_BATCH: usize = 8;

/// Bit 0 of a [`WaitQueue`] word: its spin lock.
const QUEUE_LOCKED: usize = 1;
const _: () = assert!(std::mem::align_of::<Node>() > QUEUE_LOCKED);
// The sizes the module comment promises (16 and 8 bytes on 64-bit).
const _: () = assert!(std::mem::size_of::<RawMutex>() <= 2 * std::mem::size_of::<usize>());
const _: () = assert!(std::mem::size_of::<RawRwLock>() <= 2 * std::mem::size_of::<usize>());
const _: () = assert!(std::mem::size_of::<Condvar>() == std::mem::size_of::<usize>());

/// One waiter, on its own stack, linked into a [`WaitQueue`]. `next` and
/// `prev` are read and written only under the queue's spin lock.
struct Node {
    waiter: Waiter,
    next: Cell<*const Node>,
    prev: Cell<*const Node>,
    /// Set (Release) once the node is out of the queue, by whoever took it
    /// out; read (Acquire) by the owner, after which it may drop the node.
    done: AtomicBool,
    /// Set (before `done`) when the remover handed its lock to the owner
    /// instead of just waking it.
    handed: AtomicBool,
    /// A reader of an `RwLock` (false for writers and everything else).
    shared: bool,
    /// When a `Mutex` waiter first parked (for its eventual fairness).
    parked_at: Option<Instant>,
}

impl Node {
    fn new(shared: bool) -> Node {
        Node {
            waiter: Waiter::current(),
            next: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
            done: AtomicBool::new(false),
            handed: AtomicBool::new(false),
            shared,
            parked_at: None,
        }
    }

    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Parks until taken out of the queue.
    fn wait(&self) {
        while !self.is_done() {
            sched::park();
        }
    }
}

/// A list of waiting [`Node`]s behind a spin lock, in one word.
struct WaitQueue {
    /// The first node, tagged with [`QUEUE_LOCKED`] while the list is locked.
    word: AtomicPtr<Node>,
}

impl WaitQueue {
    const fn new() -> WaitQueue {
        WaitQueue {
            word: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// True when nobody waits and nobody is changing the list. Callers must
    /// have ordered themselves after any waiter they need to see (through
    /// the mutex of a condition, say).
    fn is_idle(&self) -> bool {
        self.word.load(Ordering::Acquire).is_null()
    }

    fn lock(&self) -> QueueGuard<'_> {
        let mut spins = 0u32;
        loop {
            let word = self.word.load(Ordering::Relaxed);
            if word.addr() & QUEUE_LOCKED == 0 {
                let locked = word.map_addr(|a| a | QUEUE_LOCKED);
                if self
                    .word
                    .compare_exchange_weak(word, locked, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return QueueGuard {
                        queue: self,
                        head: word,
                    };
                }
                continue;
            }
            if spins < QUEUE_SPINS {
                spins += 1;
                spin_loop();
            } else {
                sched::yield_now();
            }
        }
    }
}

/// The locked list; dropping it publishes the new head and unlocks.
///
/// Invariant: every node reachable from `head` is alive and does not move,
/// because its owner does not return before the node is out of the list
/// (its `done` set, or unlinked by the owner itself under this lock).
struct QueueGuard<'a> {
    queue: &'a WaitQueue,
    head: *mut Node,
}

impl QueueGuard<'_> {
    fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Links `node` at the tail.
    ///
    /// # Safety
    /// `node` must not be in a list, and must stay alive and in place until
    /// it is out of this list again (its `done` set by a remover, or
    /// unlinked by the caller under the lock).
    unsafe fn push_back(&mut self, node: &Node) {
        let ptr = ptr::from_ref(node);
        if self.head.is_null() {
            node.next.set(ptr);
            node.prev.set(ptr);
        } else {
            // SAFETY: `head` is a linked node, alive by the guard's invariant;
            // we hold the lock, so nobody else touches its links.
            let head = unsafe { &*self.head };
            // SAFETY: the tail (head.prev) is linked too, by the same argument.
            let tail = unsafe { &*head.prev.get() };
            node.prev.set(ptr::from_ref(tail));
            node.next.set(self.head);
            tail.next.set(ptr);
            head.prev.set(ptr);
        }
        if self.head.is_null() {
            self.head = ptr.cast_mut();
        }
    }

    /// Links `node` at the head.
    ///
    /// # Safety
    /// As [`QueueGuard::push_back`].
    unsafe fn push_front(&mut self, node: &Node) {
        // SAFETY: the caller keeps push_back's contract.
        unsafe { self.push_back(node) };
        // The list is circular: the new tail becomes the head.
        self.head = ptr::from_ref(node).cast_mut();
    }

    /// Unlinks `node`, which must be in this list.
    fn unlink(&mut self, node: &Node) {
        let ptr = ptr::from_ref(node);
        let next = node.next.get();
        if ptr::eq(next, ptr) {
            assert!(ptr::eq(self.head, ptr), "a lone node is the list's head");
            self.head = ptr::null_mut();
        } else {
            // SAFETY: `node` is linked, so its neighbours are linked and alive
            // (the guard's invariant) and only we, holding the lock, touch
            // their links.
            let (next_node, prev_node) = unsafe { (&*next, &*node.prev.get()) };
            prev_node.next.set(next);
            next_node.prev.set(ptr::from_ref(prev_node));
            if ptr::eq(self.head, ptr) {
                self.head = next.cast_mut();
            }
        }
        node.next.set(ptr::null());
        node.prev.set(ptr::null());
    }

    /// Unlinks the first node. It stays valid and its owner stays parked
    /// until [`Popped::grant`], which must happen before this guard drops
    /// (a timed-out owner takes "not done" to mean "still linked").
    fn pop_front(&mut self) -> Option<Popped> {
        if self.head.is_null() {
            return None;
        }
        let node = self.head;
        // SAFETY: the head is linked, so alive (the guard's invariant).
        self.unlink(unsafe { &*node });
        Some(Popped { node })
    }

    /// What an `RwLock` release needs to know of its waiters, in one walk.
    fn census(&self) -> Census {
        let mut census = Census {
            waiters: 0,
            writers: 0,
            first_writer: ptr::null_mut(),
            front_readers: 0,
            front_parked_at: None,
        };
        if self.head.is_null() {
            return census;
        }
        let mut next = self.head.cast_const();
        let mut front_run = true;
        loop {
            // SAFETY: linked, so alive (the guard's invariant).
            let node = unsafe { &*next };
            if census.waiters == 0 {
                census.front_parked_at = node.parked_at;
            }
            census.waiters += 1;
            if node.shared {
                if front_run {
                    census.front_readers += 1;
                }
            } else {
                front_run = false;
                if census.writers == 0 {
                    census.first_writer = next.cast_mut();
                }
                census.writers += 1;
            }
            next = node.next.get();
            if ptr::eq(next, self.head) {
                return census;
            }
        }
    }

    /// Unlinks `node`, which must be in this list; as [`Self::pop_front`].
    fn take(&mut self, node: *mut Node) -> Popped {
        assert!(!node.is_null(), "take: no node");
        // SAFETY: the caller names a linked node, alive by the invariant.
        self.unlink(unsafe { &*node });
        Popped { node }
    }
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        self.queue.word.store(self.head, Ordering::Release);
    }
}

struct Census {
    waiters: usize,
    writers: usize,
    /// Null when `writers` is 0.
    first_writer: *mut Node,
    /// Readers queued before the first writer.
    front_readers: usize,
    front_parked_at: Option<Instant>,
}

/// A node just unlinked by [`QueueGuard::pop_front`]; its owner still waits.
#[must_use = "a popped waiter parks until granted"]
struct Popped {
    node: *mut Node,
}

impl Popped {
    fn node(&self) -> &Node {
        // SAFETY: the owner does not leave before `done` is set, which only
        // `grant` (consuming self) does.
        unsafe { &*self.node }
    }

    /// As `grant`, telling the owner it now holds the lock.
    fn hand(self, wakes: &mut WakeList) {
        self.node().handed.store(true, Ordering::Relaxed);
        self.grant(wakes);
    }

    /// Lets the owner go: queues a wake for it, then sets `done`. The node
    /// must not be touched after that.
    fn grant(self, wakes: &mut WakeList) {
        // SAFETY: the owner does not leave before `done` is set, below, so
        // the node is alive here.
        let node = unsafe { &*self.node };
        wakes.push(node.waiter.clone());
        node.done.store(true, Ordering::Release);
    }
}

/// Waiters to wake once the queue lock is released, without allocating.
struct WakeList {
    waiters: [Option<Waiter>; WAKE_BATCH],
    count: usize,
}

impl WakeList {
    fn new() -> WakeList {
        WakeList {
            waiters: [const { None }; WAKE_BATCH],
            count: 0,
        }
    }

    fn push(&mut self, waiter: Waiter) {
        if self.count == WAKE_BATCH {
            self.wake_all();
        }
        if let Some(slot) = self.waiters.get_mut(self.count) {
            *slot = Some(waiter);
            self.count += 1;
        }
    }

    fn wake_all(&mut self) {
        for slot in &mut self.waiters[..self.count] {
            if let Some(waiter) = slot.take() {
                waiter.wake();
            }
        }
        self.count = 0;
    }
}

/// Spinning, then yielding, before a thread queues itself.
struct Backoff {
    round: u32,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { round: 0 }
    }

    /// Spins or yields once; false when it is time to park.
    fn snooze(&mut self) -> bool {
        if self.round < SPIN_ROUNDS {
            for _ in 0..(2u32 << self.round) {
                spin_loop();
            }
        } else if self.round < SPIN_ROUNDS + YIELD_ROUNDS {
            sched::yield_now();
        } else {
            return false;
        }
        self.round += 1;
        true
    }
}

/// Under the queue lock: sets `bits` in `state` unless `blocked(state)` is
/// false. Returns whether the caller is still blocked (and must queue).
fn mark_parked(state: &AtomicU32, bits: u32, blocked: impl Fn(u32) -> bool) -> bool {
    let mut current = state.load(Ordering::Relaxed);
    loop {
        if !blocked(current) {
            return false;
        }
        if current & bits == bits {
            return true;
        }
        match state.compare_exchange_weak(
            current,
            current | bits,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(now) => current = now,
        }
    }
}

const LOCKED: u32 = 1;
const MUTEX_PARKED: u32 = 2;
/// A lock waiter (`Mutex` or `RwLock`) parked this long is handed the lock at
/// the next release instead of racing for it, so threads that re-lock at
/// once cannot starve it; rare enough (at most about once per this interval
/// per lock) that the hand-off's cost (the lock idle until the waiter runs)
/// does not matter. parking_lot uses the same order of magnitude.
const FAIR_AFTER: Duration = Duration::from_micros(500);

/// The raw lock under [`Mutex`]; see the module comment for its protocol.
pub struct RawMutex {
    state: AtomicU32,
    queue: WaitQueue,
}

// SAFETY: `lock` and `try_lock` return only after setting LOCKED with a CAS
// from a state without it, and only `unlock` (by the holder) clears it, so
// one holder at a time; Acquire on taking and Release on dropping order the
// critical sections.
unsafe impl lock_api::RawMutex for RawMutex {
    // An initializer by design: each use is a fresh unlocked mutex.
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawMutex = RawMutex {
        state: AtomicU32::new(0),
        queue: WaitQueue::new(),
    };
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    fn try_lock(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    unsafe fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }
}

/// The slow path of every acquire: take the lock (`take` makes the new
/// state) whenever `blocked` says it is free; spin while no waiter bit of
/// `quiet` is set; otherwise queue with `bits` set and park (`shared`: as a
/// reader). Returns holding the lock.
fn acquire_slow(
    state: &AtomicU32,
    queue: &WaitQueue,
    shared: bool,
    quiet: u32,
    bits: u32,
    blocked: impl Fn(u32) -> bool,
    take: impl Fn(u32) -> u32,
) {
    let mut waiting = Waiting::new();
    loop {
        let current = state.load(Ordering::Relaxed);
        if !blocked(current) {
            if state
                .compare_exchange_weak(current, take(current), Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            continue;
        }
        if current & quiet == 0 && waiting.backoff.snooze() {
            continue;
        }
        if waiting.park(state, queue, shared, bits, &blocked) {
            return;
        }
    }
}

impl RawMutex {
    #[cold]
    fn lock_slow(&self) {
        acquire_slow(
            &self.state,
            &self.queue,
            false,
            MUTEX_PARKED,
            MUTEX_PARKED,
            |s| s & LOCKED != 0,
            |s| s | LOCKED,
        );
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut wakes = WakeList::new();
        {
            let mut queue = self.queue.lock();
            let Some(first) = queue.pop_front() else {
                panic!("mutex unlock: PARKED set with nobody queued");
            };
            let hand_over = first
                .node()
                .parked_at
                .is_some_and(|at| at.elapsed() >= FAIR_AFTER);
            let mut state = if hand_over { LOCKED } else { 0 };
            if !queue.is_empty() {
                state |= MUTEX_PARKED;
            }
            let old = self.state.swap(state, Ordering::Release);
            assert_eq!(old, LOCKED | MUTEX_PARKED, "mutex unlock: state");
            if hand_over {
                first.hand(&mut wakes);
            } else {
                first.grant(&mut wakes);
            }
        }
        wakes.wake_all();
    }
}

const WRITER: u32 = 1;
const RW_PARKED: u32 = 2;
const WRITER_PARKED: u32 = 4;
const READER: u32 = 8;
const WAITERS: u32 = RW_PARKED | WRITER_PARKED;
const READERS_MASK: u32 = !(WRITER | WAITERS);

/// The raw lock under [`RwLock`]; see the module comment for its protocol.
pub struct RawRwLock {
    state: AtomicU32,
    queue: WaitQueue,
}

// SAFETY: a read hold is a reader count in `state`, taken by a CAS from a
// state without WRITER; the write hold is WRITER, taken by a CAS from a
// state without WRITER or readers. Hand-overs set the new holders' hold in
// `state` while the releaser still holds WRITER, so a writer excludes
// everyone. Holds are taken with Acquire and dropped with Release (or handed
// over through the Release store of `done`, read with Acquire).
unsafe impl lock_api::RawRwLock for RawRwLock {
    // An initializer by design: each use is a fresh unlocked lock.
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawRwLock = RawRwLock {
        state: AtomicU32::new(0),
        queue: WaitQueue::new(),
    };
    type GuardMarker = lock_api::GuardNoSend;

    fn lock_shared(&self) {
        let state = self.state.load(Ordering::Relaxed);
        if state & (WRITER | WRITER_PARKED) != 0
            || self
                .state
                .compare_exchange_weak(
                    state,
                    add_reader(state),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            self.lock_shared_slow();
        }
    }

    fn try_lock_shared(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & (WRITER | WRITER_PARKED) != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                add_reader(state),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    unsafe fn unlock_shared(&self) {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            assert!(state & READERS_MASK != 0, "rwlock read unlock: no readers");
            assert!(state & WRITER == 0, "rwlock read unlock: write-locked");
            if state & WAITERS != 0 && state & READERS_MASK == READER {
                // The last reader with waiters: take the write hold (we are
                // the only holder), then release that with the wakes due.
                match self.state.compare_exchange_weak(
                    state,
                    state - READER + WRITER,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return self.release_slow(false),
                    Err(now) => state = now,
                }
            } else {
                match self.state.compare_exchange_weak(
                    state,
                    state - READER,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now) => state = now,
                }
            }
        }
    }

    fn lock_exclusive(&self) {
        if self
            .state
            .compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_exclusive_slow();
        }
    }

    fn try_lock_exclusive(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & (WRITER | READERS_MASK) != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state | WRITER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    unsafe fn unlock_exclusive(&self) {
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.release_slow(false);
        }
    }

    fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (WRITER | READERS_MASK) != 0
    }

    fn is_locked_exclusive(&self) -> bool {
        self.state.load(Ordering::Relaxed) & WRITER != 0
    }
}

// SAFETY: `downgrade` turns the caller's write hold into a read hold in one
// step (a CAS, or a store under the queue lock while nobody else can change
// `state`), so no writer gets in between.
unsafe impl lock_api::RawRwLockDowngrade for RawRwLock {
    unsafe fn downgrade(&self) {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            assert!(state & WRITER != 0, "rwlock downgrade: not write-locked");
            if state & WAITERS != 0 {
                return self.release_slow(true);
            }
            match self.state.compare_exchange_weak(
                state,
                state - WRITER + READER,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
    }
}

/// One more reader; the count has 29 bits, and running out is a bug.
fn add_reader(state: u32) -> u32 {
    assert!(
        state & READERS_MASK != READERS_MASK,
        "rwlock: reader count overflow"
    );
    state + READER
}

/// How a queued waiter got out of the queue.
enum Parked {
    /// The lock was free again by the time we held the queue: retry.
    NotBlocked,
    /// Woken to compete for the lock again.
    Woken,
    /// Handed the lock: we hold it.
    Handed,
}

impl RawRwLock {
    #[cold]
    fn lock_shared_slow(&self) {
        acquire_slow(
            &self.state,
            &self.queue,
            true,
            WAITERS,
            RW_PARKED,
            |s| s & (WRITER | WRITER_PARKED) != 0,
            add_reader,
        );
    }

    #[cold]
    fn lock_exclusive_slow(&self) {
        acquire_slow(
            &self.state,
            &self.queue,
            false,
            WAITERS,
            RW_PARKED | WRITER_PARKED,
            |s| s & (WRITER | READERS_MASK) != 0,
            |s| s | WRITER,
        );
    }

    /// Called holding the write hold with waiter bits set: releases it (or,
    /// when `downgrading`, keeps a read hold), waking or handing over to
    /// waiters as the module comment says.
    #[cold]
    fn release_slow(&self, downgrading: bool) {
        let mut wakes = WakeList::new();
        {
            let mut queue = self.queue.lock();
            let census = queue.census();
            let fair_due = census
                .front_parked_at
                .is_some_and(|at| at.elapsed() >= FAIR_AFTER);
            let mut state = if downgrading { READER } else { 0 };
            // Waiters that leave the queue, and writers still in it (or woken
            // and on their way, which keeps new readers out as well).
            let (hand_readers, hand_writer, wake_writer, wake_readers);
            let mut writers_left = census.writers;
            if fair_due && census.front_readers > 0 {
                (hand_readers, hand_writer) = (census.front_readers, false);
                (wake_writer, wake_readers) = (false, false);
                let count = u32::try_from(census.front_readers).unwrap_or(u32::MAX);
                assert!(
                    count <= READERS_MASK / READER - state / READER,
                    "rwlock hand-off: reader count overflow"
                );
                state += count * READER;
            } else if fair_due && !downgrading {
                (hand_readers, hand_writer) = (0, true);
                (wake_writer, wake_readers) = (false, false);
                writers_left -= 1;
                state = WRITER;
            } else {
                (hand_readers, hand_writer) = (0, false);
                wake_writer = census.writers > 0 && !downgrading;
                wake_readers = census.writers == 0;
            }
            let leaving = hand_readers
                + usize::from(hand_writer || wake_writer)
                + if wake_readers { census.waiters } else { 0 };
            if census.waiters > leaving {
                state |= RW_PARKED;
            }
            if writers_left > 0 {
                state |= WRITER_PARKED;
            }
            let old = self.state.swap(state, Ordering::Release);
            assert_eq!(
                old & (WRITER | READERS_MASK),
                WRITER,
                "rwlock release: state"
            );
            for _ in 0..hand_readers {
                match queue.pop_front() {
                    Some(reader) => reader.hand(&mut wakes),
                    None => panic!("rwlock hand-off: queue shorter than counted"),
                }
            }
            if hand_writer {
                queue.take(census.first_writer).hand(&mut wakes);
            }
            if wake_writer {
                queue.take(census.first_writer).grant(&mut wakes);
            }
            if wake_readers {
                while let Some(reader) = queue.pop_front() {
                    reader.grant(&mut wakes);
                }
            }
        }
        wakes.wake_all();
    }
}

/// A lock waiter's progress across parks: backoff, when it first parked
/// (for eventual fairness), and whether it was woken before.
struct Waiting {
    backoff: Backoff,
    parked_at: Option<Instant>,
    woken: bool,
}

impl Waiting {
    fn new() -> Waiting {
        Waiting {
            backoff: Backoff::new(),
            parked_at: None,
            woken: false,
        }
    }

    /// Queues (in front if woken before) and parks, unless `blocked` no
    /// longer holds once the queue is locked; `bits` are the waiter bits to
    /// set. True when the lock was handed to us.
    fn park(
        &mut self,
        state: &AtomicU32,
        queue: &WaitQueue,
        shared: bool,
        bits: u32,
        blocked: impl Fn(u32) -> bool,
    ) -> bool {
        match park_on(
            state,
            queue,
            shared,
            bits,
            blocked,
            self.woken,
            &mut self.parked_at,
        ) {
            Parked::NotBlocked => false,
            Parked::Handed => true,
            Parked::Woken => {
                self.woken = true;
                self.backoff = Backoff::new();
                false
            }
        }
    }
}

/// The queueing half of every lock's slow path: under the queue lock, sets
/// `bits` in `state` if `blocked(state)` still holds, links a node (at the
/// front for a waiter woken before, which lost the race), parks until taken
/// out, and says how it got out.
fn park_on(
    state: &AtomicU32,
    queue: &WaitQueue,
    shared: bool,
    bits: u32,
    blocked: impl Fn(u32) -> bool,
    woken_before: bool,
    parked_at: &mut Option<Instant>,
) -> Parked {
    let mut node = Node::new(shared);
    node.parked_at = Some(*parked_at.get_or_insert_with(Instant::now));
    {
        let mut queue = queue.lock();
        if !mark_parked(state, bits, blocked) {
            return Parked::NotBlocked;
        }
        // SAFETY: `node` stays on this frame until `node.wait()` returns,
        // which is after a remover set `done`.
        unsafe {
            if woken_before {
                queue.push_front(&node);
            } else {
                queue.push_back(&node);
            }
        }
    }
    node.wait();
    if node.handed.load(Ordering::Relaxed) {
        Parked::Handed
    } else {
        Parked::Woken
    }
}

/// Whether a timed [`Condvar`] wait ended by its timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because its time ran out.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable that parks the waiting fiber (or thread); used with
/// this module's [`Mutex`].
pub struct Condvar {
    queue: WaitQueue,
}

impl Condvar {
    pub const fn new() -> Condvar {
        Condvar {
            queue: WaitQueue::new(),
        }
    }

    /// Unlocks, waits for a notify, relocks. Never returns spuriously.
    pub fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.block(&mut guard, None);
        guard
    }

    /// Waits while `condition` holds (checked first, with the lock held).
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            self.block(&mut guard, None);
        }
        guard
    }

    /// As [`Condvar::wait`], for at most `timeout`.
    pub fn wait_timeout<'a, T>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let deadline = Instant::now().checked_add(timeout);
        let timed_out = self.block(&mut guard, deadline);
        (guard, WaitTimeoutResult(timed_out))
    }

    /// Waits while `condition` holds, for at most `timeout`; timed out means
    /// the condition still held when the time ran out.
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult)
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if !condition(&mut *guard) {
                return (guard, WaitTimeoutResult(false));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return (guard, WaitTimeoutResult(true));
            }
            self.block(&mut guard, deadline);
        }
    }

    /// Wakes one waiter, if any; true if it woke one (that waiter's wait
    /// then reports it was not timed out), as parking_lot's.
    pub fn notify_one(&self) -> bool {
        if self.queue.is_idle() {
            return false;
        }
        let mut wakes = WakeList::new();
        let woke = {
            let mut queue = self.queue.lock();
            match queue.pop_front() {
                Some(first) => {
                    first.grant(&mut wakes);
                    true
                }
                None => false,
            }
        };
        wakes.wake_all();
        woke
    }

    /// Wakes every waiter; returns how many, as parking_lot's.
    pub fn notify_all(&self) -> usize {
        if self.queue.is_idle() {
            return 0;
        }
        let mut wakes = WakeList::new();
        let mut woken = 0;
        {
            let mut queue = self.queue.lock();
            while let Some(first) = queue.pop_front() {
                first.grant(&mut wakes);
                woken += 1;
            }
        }
        wakes.wake_all();
        woken
    }

    /// Queues, unlocks `guard`'s mutex, parks until notified or `deadline`,
    /// relocks. True if it timed out (and was not notified).
    fn block<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Option<Instant>) -> bool {
        let node = Node::new(false);
        {
            let mut queue = self.queue.lock();
            // SAFETY: `node` stays on this frame; `queued`, dropped before it,
            // takes it out of the list if no notify did.
            unsafe { queue.push_back(&node) };
        }
        let queued = Queued {
            queue: &self.queue,
            node: &node,
        };
        MutexGuard::unlocked(guard, || queued.wait(deadline))
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

/// A condition wait's node while it may be linked; dropping it (also while
/// unwinding) takes the node out of the list.
struct Queued<'a> {
    queue: &'a WaitQueue,
    node: &'a Node,
}

impl Queued<'_> {
    /// Parks until notified (false) or past `deadline` (true).
    fn wait(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.node.is_done() {
                return false;
            }
            match deadline {
                None => sched::park(),
                Some(deadline) if Instant::now() >= deadline => return self.leave(),
                Some(deadline) => sched::park_until(deadline),
            }
        }
    }

    /// Leaves the list unless a notify took the node first; true if it left.
    fn leave(&self) -> bool {
        let mut queue = self.queue.lock();
        // Under the queue lock `done` is final: notifies set it under it.
        if self.node.done.load(Ordering::Acquire) {
            return false;
        }
        queue.unlink(self.node);
        self.node.done.store(true, Ordering::Relaxed);
        true
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if !self.node.is_done() {
            self.leave();
        }
    }
}
