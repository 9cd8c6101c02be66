//! `floe_rt::sync` on plain threads (the scheduler's waiting seam parks
//! threads until fibers land, and the protocol is the same for both): exact
//! counts under contention, consistency and writer progress of `RwLock`, no
//! lost `Condvar` notifies, also against racing timeouts. No test asserts a
//! time: every wait has a generous deadline, and reaching it fails the test
//! naming the condition (a lost wake or a starved thread).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use floe_rt::sync::{Condvar, Mutex, RwLock, RwLockWriteGuard};

/// Bound on any wait here: reaching it means a lost wake or a starved
/// thread, not a slow machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// xorshift64*: enough randomness to vary interleavings, seeded for replay.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

/// The run's seed: `FLOE_SEED` if set, else the clock; printed first.
fn seed() -> u64 {
    let seed = match std::env::var("FLOE_SEED") {
        Ok(text) => text.parse().expect("FLOE_SEED is a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    println!("FLOE_SEED={seed}");
    seed
}

fn join_all(threads: Vec<thread::JoinHandle<()>>) {
    for t in threads {
        t.join().expect("test thread panicked");
    }
}

/// 8 threads x 20k non-atomic read-modify-writes under the mutex add up
/// exactly: no two holders at once, and each sees the last one's write.
#[test]
fn mutex_counter_is_exact() {
    let counter = Arc::new(Mutex::new(0u64));
    let threads = (0..8)
        .map(|_| {
            let counter = Arc::clone(&counter);
            thread::spawn(move || {
                for _ in 0..20_000 {
                    let mut guard = counter.lock();
                    let seen = std::hint::black_box(*guard);
                    *guard = seen + 1;
                }
            })
        })
        .collect();
    join_all(threads);
    assert_eq!(*counter.lock(), 160_000);
}

/// try_lock fails while anyone (this thread or another) holds the mutex and
/// succeeds once it is free; the plumbing std users expect is there.
#[test]
fn mutex_try_lock_and_plumbing() {
    static GLOBAL: Mutex<u32> = Mutex::new(7);
    assert_eq!(*GLOBAL.lock(), 7);

    let mutex = Arc::new(Mutex::new(1u32));
    let guard = mutex.lock();
    assert!(mutex.try_lock().is_none());
    assert!(mutex.is_locked());
    let other = Arc::clone(&mutex);
    assert!(thread::spawn(move || other.try_lock().is_none())
        .join()
        .expect("try_lock thread"));
    drop(guard);
    assert!(!mutex.is_locked());
    assert_eq!(mutex.try_lock().map(|g| *g), Some(1));

    let mut owned = Mutex::new(5u32);
    *owned.get_mut() += 1;
    assert_eq!(owned.into_inner(), 6);
    assert_eq!(*Mutex::<u32>::default().lock(), 0);
    assert!(format!("{:?}", Mutex::new(42u32)).contains("42"));
}

/// No poisoning: a thread that panics holding the mutex unlocks it, and the
/// next holder sees what it left.
#[test]
fn mutex_panic_unlocks_without_poisoning() {
    let mutex = Arc::new(Mutex::new(0u32));
    let other = Arc::clone(&mutex);
    let result = thread::spawn(move || {
        let mut guard = other.lock();
        *guard = 9;
        panic!("deliberate panic while holding the mutex");
    })
    .join();
    assert!(result.is_err());
    assert!(!mutex.is_locked());
    assert_eq!(*mutex.lock(), 9);
}

/// A thread that re-locks the mutex as soon as it unlocks (holding it a
/// while each time) cannot starve a waiter: the waiter gets the lock while
/// the holder keeps looping. The holder gives up at the deadline, so
/// starvation fails the test instead of hanging it.
#[test]
fn mutex_waiter_not_starved_by_relocking_holder() {
    let mutex = Arc::new(Mutex::new(0u64));
    let waiter_got_in = Arc::new(AtomicBool::new(false));
    let holder = {
        let mutex = Arc::clone(&mutex);
        let waiter_got_in = Arc::clone(&waiter_got_in);
        thread::spawn(move || {
            let deadline = Instant::now() + PATIENCE;
            let mut rounds = 0u64;
            while !waiter_got_in.load(Ordering::SeqCst) {
                if Instant::now() > deadline {
                    return false;
                }
                let mut guard = mutex.lock();
                *guard += 1;
                for _ in 0..2_000 {
                    std::hint::spin_loop();
                }
                drop(guard);
                rounds += 1;
            }
            rounds > 0
        })
    };
    // Let the holder get going, then contend.
    while *mutex.lock() == 0 {
        thread::yield_now();
    }
    for _ in 0..100 {
        drop(mutex.lock());
    }
    waiter_got_in.store(true, Ordering::SeqCst);
    assert!(
        holder.join().expect("holder thread"),
        "waiter starved: the holder hit the deadline"
    );
}

/// Readers never see a half-done write: two writers bump both halves of a
/// pair with a pause in between, four readers check the halves agree.
#[test]
fn rwlock_readers_see_whole_writes() {
    const WRITES: u64 = 5_000;
    let lock = Arc::new(RwLock::new((0u64, 0u64)));
    let writers_done = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let lock = Arc::clone(&lock);
        let writers_done = Arc::clone(&writers_done);
        threads.push(thread::spawn(move || {
            for _ in 0..WRITES {
                let mut pair = lock.write();
                pair.0 += 1;
                for _ in 0..20 {
                    std::hint::spin_loop();
                }
                pair.1 += 1;
            }
            writers_done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    for _ in 0..4 {
        let lock = Arc::clone(&lock);
        let writers_done = Arc::clone(&writers_done);
        threads.push(thread::spawn(move || {
            let mut reads = 0u64;
            while writers_done.load(Ordering::SeqCst) < 2 || reads == 0 {
                let pair = lock.read();
                assert_eq!(pair.0, pair.1, "reader saw half a write");
                reads += 1;
            }
        }));
    }
    join_all(threads);
    assert_eq!(*lock.read(), (2 * WRITES, 2 * WRITES));
}

/// A stream of overlapping readers (each re-reads at once, holding the lock
/// while the others take theirs) cannot starve a writer: the writer gets
/// its N writes done while readers keep arriving. Readers give up at the
/// deadline, so a starved writer fails the test instead of hanging it.
#[test]
fn rwlock_writer_gets_in_while_readers_keep_arriving() {
    const WRITES: u64 = 1_000;
    let lock = Arc::new(RwLock::new(0u64));
    let written = Arc::new(AtomicU64::new(0));
    let starved = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + PATIENCE;
    let started = Arc::new(std::sync::Barrier::new(5));
    let mut threads = Vec::new();
    for _ in 0..4 {
        let lock = Arc::clone(&lock);
        let written = Arc::clone(&written);
        let starved = Arc::clone(&starved);
        let started = Arc::clone(&started);
        threads.push(thread::spawn(move || {
            drop(lock.read());
            started.wait();
            while written.load(Ordering::SeqCst) < WRITES {
                if Instant::now() > deadline {
                    starved.store(true, Ordering::SeqCst);
                    return;
                }
                let value = lock.read();
                for _ in 0..200 {
                    std::hint::spin_loop();
                }
                assert!(*value <= WRITES);
            }
        }));
    }
    // Every reader is in its loop before the first write.
    started.wait();
    for n in 1..=WRITES {
        *lock.write() += 1;
        written.store(n, Ordering::SeqCst);
    }
    join_all(threads);
    assert!(
        !starved.load(Ordering::SeqCst),
        "writer starved: readers hit the deadline before {WRITES} writes"
    );
    assert_eq!(*lock.read(), WRITES);
}

/// try_read/try_write follow the holds; downgrade keeps writers out (no
/// writer slips in between the write and the read hold) and lets the
/// waiting writer in once the read hold goes.
#[test]
fn rwlock_try_and_downgrade() {
    let lock = Arc::new(RwLock::new(0u32));
    {
        let read = lock.read();
        assert!(lock.try_read().is_some());
        assert!(lock.try_write().is_none());
        drop(read);
    }
    let mut write = lock.write();
    assert!(lock.try_read().is_none());
    assert!(lock.try_write().is_none());
    assert!(lock.is_locked_exclusive());
    *write = 1;

    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.write() = 2)
    };
    let read = RwLockWriteGuard::downgrade(write);
    assert!(!lock.is_locked_exclusive());
    assert!(lock.try_write().is_none());
    assert_eq!(*read, 1, "a writer got in during the downgrade");
    drop(read);
    writer.join().expect("writer thread");
    assert_eq!(*lock.read(), 2);

    let mut owned = RwLock::new(5u32);
    *owned.get_mut() += 1;
    assert_eq!(owned.into_inner(), 6);
    assert_eq!(*RwLock::<u32>::default().read(), 0);
    assert!(format!("{:?}", RwLock::new(42u32)).contains("42"));
}

/// Two threads take turns 10k times each through one condvar: every
/// notify reaches the partner (a lost one would stall a turn until the
/// deadline), and the mutex is held when a wait returns.
#[test]
fn condvar_ping_pong() {
    const ROUNDS: u64 = 10_000;
    let shared = Arc::new((Mutex::new(0u64), Condvar::new()));
    let threads = (0..2u64)
        .map(|parity| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let (turn, condvar) = &*shared;
                for round in 0..ROUNDS {
                    let guard = turn.lock();
                    let (mut guard, result) =
                        condvar.wait_timeout_while(guard, PATIENCE, |t| *t % 2 != parity);
                    assert!(
                        !result.timed_out(),
                        "ping-pong side {parity} round {round}: partner's notify lost"
                    );
                    *guard += 1;
                    condvar.notify_one();
                }
            })
        })
        .collect();
    join_all(threads);
    assert_eq!(*shared.0.lock(), 2 * ROUNDS);
}

/// Plain `wait` and `wait_while` return once notified, with the mutex held
/// again: a waiter acknowledges each of 1000 tokens. The notifier repeats
/// its notify until acknowledged (a wait may begin after a notify), and
/// gives up at the deadline, so a lost wake fails instead of hanging.
#[test]
fn condvar_wait_and_wait_while_return_when_notified() {
    const TOKENS: u64 = 1_000;
    // (tokens offered, tokens acknowledged)
    let shared = Arc::new((Mutex::new((0u64, 0u64)), Condvar::new()));
    let waiter = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            let (tokens, condvar) = &*shared;
            let mut guard = tokens.lock();
            while guard.1 < TOKENS {
                if guard.1 & 1 == 0 {
                    guard = condvar.wait_while(guard, |t| t.0 == t.1);
                } else {
                    while guard.0 == guard.1 {
                        guard = condvar.wait(guard);
                    }
                }
                assert!(guard.0 > guard.1, "woken without a token");
                guard.1 += 1;
            }
        })
    };
    let (tokens, condvar) = &*shared;
    let deadline = Instant::now() + PATIENCE;
    for token in 1..=TOKENS {
        tokens.lock().0 = token;
        while tokens.lock().1 < token {
            assert!(Instant::now() < deadline, "token {token} never taken");
            condvar.notify_one();
            thread::yield_now();
        }
    }
    waiter.join().expect("waiter thread");
    assert_eq!(*tokens.lock(), (TOKENS, TOKENS));
}

struct Work {
    queue: VecDeque<usize>,
    consumed: usize,
    done: bool,
}

/// 100k items, pushed one at a time with one notify_one each, are taken by
/// 4 consumers exactly once; the producer waits for the queue to drain
/// before it says done, so a lost notify (items left, consumers asleep)
/// shows as a wait that hits the deadline.
#[test]
fn condvar_producer_consumers_take_each_item_once() {
    const ITEMS: usize = 100_000;
    let shared = Arc::new((
        Mutex::new(Work {
            queue: VecDeque::new(),
            consumed: 0,
            done: false,
        }),
        Condvar::new(),
        Condvar::new(),
    ));
    let taken: Arc<Vec<AtomicU8>> = Arc::new((0..ITEMS).map(|_| AtomicU8::new(0)).collect());
    let consumers = (0..4)
        .map(|_| {
            let shared = Arc::clone(&shared);
            let taken = Arc::clone(&taken);
            thread::spawn(move || {
                let (work, not_empty, drained) = &*shared;
                loop {
                    let guard = work.lock();
                    let (mut guard, result) = not_empty
                        .wait_timeout_while(guard, PATIENCE, |w| w.queue.is_empty() && !w.done);
                    assert!(!result.timed_out(), "consumer: notify for an item lost");
                    let Some(item) = guard.queue.pop_front() else {
                        return;
                    };
                    guard.consumed += 1;
                    if guard.consumed == ITEMS {
                        drained.notify_one();
                    }
                    drop(guard);
                    taken[item].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let (work, not_empty, drained) = &*shared;
    for item in 0..ITEMS {
        work.lock().queue.push_back(item);
        not_empty.notify_one();
    }
    let (mut guard, result) =
        drained.wait_timeout_while(work.lock(), PATIENCE, |w| w.consumed < ITEMS);
    assert!(
        !result.timed_out(),
        "queue not drained: {} of {ITEMS} consumed",
        guard.consumed
    );
    guard.done = true;
    drop(guard);
    not_empty.notify_all();
    join_all(consumers);
    for (item, count) in taken.iter().enumerate() {
        assert_eq!(count.load(Ordering::Relaxed), 1, "item {item}");
    }
}

/// Without a notify, timed waits report timed out (zero and short
/// timeouts, with and without a condition); a satisfied condition returns
/// at once, not timed out; notifies with no waiter wake nobody.
#[test]
fn condvar_wait_timeout_without_notify() {
    let mutex = Mutex::new(());
    let condvar = Condvar::new();
    assert!(!condvar.notify_one());
    assert_eq!(condvar.notify_all(), 0);
    let (guard, result) = condvar.wait_timeout(mutex.lock(), Duration::ZERO);
    assert!(result.timed_out());
    let (guard, result) = condvar.wait_timeout(guard, Duration::from_millis(5));
    assert!(result.timed_out());
    let (guard, result) = condvar.wait_timeout_while(guard, Duration::from_millis(5), |_| true);
    assert!(result.timed_out());
    let (guard, result) = condvar.wait_timeout_while(guard, Duration::MAX, |_| false);
    assert!(!result.timed_out());
    drop(guard);
    assert!(!mutex.is_locked());
    assert!(format!("{:?}", Condvar::default()).contains("Condvar"));
}

/// A huge timeout does not overflow: the wait still ends by a notify.
#[test]
fn condvar_wait_timeout_max_ends_by_notify() {
    let shared = Arc::new((Mutex::new(false), Condvar::new()));
    let notifier = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            let (flag, condvar) = &*shared;
            *flag.lock() = true;
            condvar.notify_all();
        })
    };
    let (flag, condvar) = &*shared;
    let (guard, result) = condvar.wait_timeout_while(flag.lock(), Duration::MAX, |set| !*set);
    assert!(*guard);
    assert!(!result.timed_out());
    drop(guard);
    notifier.join().expect("notifier");
}

struct Slot {
    item: Option<u32>,
    done: bool,
    woken: u64,
}

/// notify_one racing with timeouts is never lost: three waiters wait with
/// tiny random timeouts and take an item only when a wait says it was
/// notified; the notifier offers items one at a time until 1000 offers met
/// a waiter, and whenever notify_one says it woke someone it must see that
/// item taken. At the end, the waits that reported "notified" equal the
/// wakes notify_one and notify_all reported.
#[test]
fn condvar_notify_one_is_never_lost_to_a_timeout() {
    const WAKES: u64 = 1_000;
    let seed = seed();
    let shared = Arc::new((
        Mutex::new(Slot {
            item: None,
            done: false,
            woken: 0,
        }),
        Condvar::new(),
        Condvar::new(),
    ));
    let waiters = (0..3u64)
        .map(|index| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let (slot, offered, taken) = &*shared;
                let mut rng = Rng::new(seed ^ index);
                let mut guard = slot.lock();
                while !guard.done {
                    let timeout = Duration::from_micros(rng.below(60));
                    let (again, result) = offered.wait_timeout(guard, timeout);
                    guard = again;
                    if !result.timed_out() {
                        guard.woken += 1;
                        if !guard.done {
                            assert!(guard.item.is_some(), "woken without an item");
                            guard.item = None;
                            taken.notify_all();
                        }
                    }
                }
            })
        })
        .collect();
    let (slot, offered, taken) = &*shared;
    let deadline = Instant::now() + PATIENCE;
    let mut wakes = 0u64;
    let mut offers = 0u32;
    while wakes < WAKES {
        assert!(
            Instant::now() < deadline,
            "only {wakes} of {offers} offers met a waiter before the deadline"
        );
        offers += 1;
        let mut guard = slot.lock();
        guard.item = Some(offers);
        // Half the offers notify holding the mutex, half after releasing it.
        let woke = if offers & 1 == 0 {
            offered.notify_one()
        } else {
            drop(guard);
            let woke = offered.notify_one();
            guard = slot.lock();
            woke
        };
        if woke {
            wakes += 1;
            let (again, result) = taken.wait_timeout_while(guard, PATIENCE, |s| s.item.is_some());
            assert!(
                !result.timed_out(),
                "offer {offers}: notify_one woke a waiter that never took it"
            );
            guard = again;
        } else {
            guard.item = None;
            drop(guard);
            // Nobody was queued: let the waiters get back to waiting.
            thread::yield_now();
        }
    }
    slot.lock().done = true;
    wakes += offered.notify_all() as u64;
    join_all(waiters);
    println!("notify_one woke a waiter for {WAKES} of {offers} offers");
    assert_eq!(slot.lock().woken, wakes);
}

/// Seeded stress: eight threads (four times the cores) mix reads, writes,
/// try_read/try_write, write-then-downgrade, mutex increments and condvar
/// notifies on shared state whose invariants (the sum of the slots, the
/// write count) are checked under every read. Runs well under 5 s in
/// release.
#[test]
fn stress_mixed_locks() {
    const THREADS: u64 = 8;
    const OPS: u64 = 20_000;
    const HOLD_SPINS_MAX: u64 = 400;
    const SLOTS: usize = 8;
    const TOTAL: i64 = 1_000;
    let seed = seed();
    struct State {
        slots: [i64; SLOTS],
        writes: u64,
    }
    let mut slots = [0i64; SLOTS];
    slots[0] = TOTAL;
    let lock = Arc::new(RwLock::new(State { slots, writes: 0 }));
    // (increments, finished workers)
    let counter = Arc::new((Mutex::new((0u64, 0u64)), Condvar::new()));
    let writes_done = Arc::new(AtomicU64::new(0));
    let threads = (0..THREADS)
        .map(|index| {
            let lock = Arc::clone(&lock);
            let counter = Arc::clone(&counter);
            let writes_done = Arc::clone(&writes_done);
            thread::spawn(move || {
                let mut rng = Rng::new(seed.wrapping_add(index));
                let check = |state: &State| {
                    assert_eq!(state.slots.iter().sum::<i64>(), TOTAL, "sum of slots");
                };
                for _ in 0..OPS {
                    let from = rng.below(SLOTS as u64) as usize;
                    let to = rng.below(SLOTS as u64) as usize;
                    // Hold each lock a little, so that threads queue.
                    let hold = rng.below(HOLD_SPINS_MAX);
                    let pause = || {
                        for _ in 0..hold {
                            std::hint::spin_loop();
                        }
                    };
                    match rng.below(10) {
                        0..=3 => {
                            let state = lock.read();
                            pause();
                            check(&state);
                        }
                        4 | 5 => {
                            let mut state = lock.write();
                            state.slots[from] -= 1;
                            pause();
                            state.slots[to] += 1;
                            state.writes += 1;
                            writes_done.fetch_add(1, Ordering::Relaxed);
                        }
                        6 => {
                            if let Some(state) = lock.try_read() {
                                check(&state);
                            }
                        }
                        7 => {
                            if let Some(mut state) = lock.try_write() {
                                state.slots[from] += 1;
                                state.slots[to] -= 1;
                                state.writes += 1;
                                writes_done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        8 => {
                            let mut state = lock.write();
                            state.slots.swap(from, to);
                            state.writes += 1;
                            writes_done.fetch_add(1, Ordering::Relaxed);
                            let state = RwLockWriteGuard::downgrade(state);
                            pause();
                            check(&state);
                        }
                        _ => {
                            let (tally, condvar) = &*counter;
                            let mut guard = tally.lock();
                            pause();
                            guard.0 += 1;
                            drop(guard);
                            condvar.notify_all();
                        }
                    }
                }
                let (tally, condvar) = &*counter;
                tally.lock().1 += 1;
                condvar.notify_one();
            })
        })
        .collect();
    // A watcher waits on the condvar with short timeouts (racing the
    // workers' notifies) until every worker has said it is finished.
    let watcher = {
        let counter = Arc::clone(&counter);
        thread::spawn(move || {
            let (tally, condvar) = &*counter;
            let deadline = Instant::now() + PATIENCE;
            let mut guard = tally.lock();
            let mut seen = guard.0;
            while guard.1 < THREADS {
                assert!(Instant::now() < deadline, "watcher: workers never finished");
                let (again, _) = condvar.wait_timeout(guard, Duration::from_millis(1));
                guard = again;
                assert!(guard.0 >= seen, "counter went backwards");
                seen = guard.0;
            }
            seen
        })
    };
    join_all(threads);
    let seen = watcher.join().expect("watcher");
    assert_eq!(seen, counter.0.lock().0);
    let state = lock.read();
    assert_eq!(state.slots.iter().sum::<i64>(), TOTAL);
    assert_eq!(state.writes, writes_done.load(Ordering::Relaxed));
}
