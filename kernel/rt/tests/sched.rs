//! The per-core scheduler: fibers run, park, wake across cores and threads,
//! wait for sockets and timers, own per-core values, and contain panics.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use floe_rt::sched::{self, CoreLocal, Interest, Poll, Scheduler, SchedulerConfig, Waiter};

fn scheduler(cores: usize) -> Scheduler {
    let available = floe_rt::available_cores();
    let config = SchedulerConfig {
        // Unpinned: tests share the machine; core ids only name threads here.
        cores: (0..cores).map(|i| available[i % available.len()]).collect(),
        pin: false,
        idle_spin: Duration::from_micros(20),
        name: "test-core".to_owned(),
        ..SchedulerConfig::default()
    };
    Scheduler::start(config).expect("scheduler starts")
}

#[test]
fn many_fibers_yield_and_all_finish() {
    let sched = scheduler(2);
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    const FIBERS: usize = 1000;
    for i in 0..FIBERS {
        let done = Arc::clone(&done);
        let tx = tx.clone();
        sched
            .handle()
            .spawn(i % 2, format!("f{i}"), move || {
                assert!(sched::in_fiber());
                for _ in 0..10 {
                    sched::yield_now();
                }
                if done.fetch_add(1, Ordering::AcqRel) + 1 == FIBERS {
                    tx.send(()).expect("main waits");
                }
            })
            .expect("spawn");
    }
    rx.recv().expect("all fibers finished");
    assert_eq!(done.load(Ordering::Acquire), FIBERS);
    assert!(!sched::in_fiber());
    sched.shutdown();
}

/// Two fibers (on the same core, then on different cores) take turns
/// through park/wake; the turn counter proves every wake arrived.
fn ping_pong(same_core: bool) {
    let sched = scheduler(2);
    const ROUNDS: usize = 5000;
    let turn = Arc::new(AtomicUsize::new(0));
    let waiters: Arc<Mutex<[Option<Waiter>; 2]>> = Arc::new(Mutex::new([None, None]));
    let (tx, rx) = mpsc::channel();
    for me in 0..2usize {
        let turn = Arc::clone(&turn);
        let waiters = Arc::clone(&waiters);
        let tx = tx.clone();
        let core = if same_core { 0 } else { me };
        sched
            .handle()
            .spawn(core, format!("player{me}"), move || {
                waiters.lock().unwrap()[me] = Some(Waiter::current());
                loop {
                    let t = turn.load(Ordering::Acquire);
                    if t >= 2 * ROUNDS {
                        break;
                    }
                    if t % 2 != me {
                        sched::park();
                        continue;
                    }
                    turn.store(t + 1, Ordering::Release);
                    let other = waiters.lock().unwrap()[1 - me].clone();
                    if let Some(other) = other {
                        other.wake();
                    }
                }
                // Let the other one see the end.
                let other = waiters.lock().unwrap()[1 - me].clone();
                if let Some(other) = other {
                    other.wake();
                }
                tx.send(()).expect("main waits");
            })
            .expect("spawn");
    }
    rx.recv().expect("first player ends");
    rx.recv().expect("second player ends");
    assert_eq!(turn.load(Ordering::Acquire), 2 * ROUNDS);
    sched.shutdown();
}

#[test]
fn park_and_wake_on_one_core() {
    ping_pong(true);
}

#[test]
fn park_and_wake_across_cores() {
    ping_pong(false);
}

#[test]
fn a_thread_wakes_a_parked_fiber_and_timers_end_parks() {
    let sched = scheduler(1);
    let (tx, rx) = mpsc::channel();
    let flag = Arc::new(AtomicBool::new(false));
    let fiber_flag = Arc::clone(&flag);
    sched
        .handle()
        .spawn(0, "sleeper", move || {
            // A timed park returns by its deadline with nobody waking it.
            let deadline = Instant::now() + Duration::from_millis(5);
            while Instant::now() < deadline {
                sched::park_until(deadline);
            }
            tx.send(Waiter::current()).expect("main waits");
            while !fiber_flag.load(Ordering::Acquire) {
                sched::park();
            }
            tx.send(Waiter::current()).expect("main waits");
        })
        .expect("spawn");
    let waiter = rx.recv().expect("the timed park ended");
    flag.store(true, Ordering::Release);
    waiter.wake();
    rx.recv().expect("the woken fiber ended");
    sched.shutdown();
}

#[test]
fn fibers_wait_for_sockets_without_blocking_their_core() {
    let sched = scheduler(1);
    let (tx, rx) = mpsc::channel();
    let (mut ours, theirs) = UnixStream::pair().expect("socket pair");
    theirs.set_nonblocking(true).expect("nonblocking");
    let ticks = Arc::new(AtomicUsize::new(0));
    let reader_tx = tx.clone();
    sched
        .handle()
        .spawn(0, "reader", move || {
            let mut theirs = theirs;
            // Nothing arrives before this deadline: the wait says so.
            let soon = Instant::now() + Duration::from_millis(2);
            assert!(!sched::wait_fd(theirs.as_raw_fd(), Interest::Readable, Some(soon)).unwrap());
            reader_tx.send("timed out").unwrap();
            let mut buf = [0u8; 5];
            let mut got = 0;
            while got < buf.len() {
                match theirs.read(&mut buf[got..]) {
                    Ok(0) => panic!("closed early"),
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        assert!(
                            sched::wait_fd(theirs.as_raw_fd(), Interest::Readable, None).unwrap()
                        );
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(&buf, b"hello");
            reader_tx.send("read").unwrap();
        })
        .expect("spawn");
    // A second fiber on the same core keeps running while the reader waits.
    let ticker_ticks = Arc::clone(&ticks);
    sched
        .handle()
        .spawn(0, "ticker", move || {
            for _ in 0..100 {
                ticker_ticks.fetch_add(1, Ordering::AcqRel);
                sched::yield_now();
            }
            tx.send("ticked").unwrap();
        })
        .expect("spawn");
    let mut seen = vec![rx.recv().unwrap(), rx.recv().unwrap()];
    seen.sort_unstable();
    assert_eq!(seen, ["ticked", "timed out"]);
    ours.write_all(b"hel").unwrap();
    ours.write_all(b"lo").unwrap();
    assert_eq!(rx.recv().unwrap(), "read");
    assert_eq!(ticks.load(Ordering::Acquire), 100);
    sched.shutdown();
}

#[test]
fn core_local_values_are_per_core_and_absent_off_core() {
    let sched = scheduler(2);
    let counters: Arc<CoreLocal<u64>> = Arc::new(CoreLocal::new());
    assert!(counters.with(|| Ok::<_, ()>(0), |c| *c).is_none());
    let (tx, rx) = mpsc::channel();
    const FIBERS: usize = 200;
    for i in 0..FIBERS {
        let counters = Arc::clone(&counters);
        let tx = tx.clone();
        sched
            .handle()
            .spawn(i % 2, "counter", move || {
                for _ in 0..100 {
                    counters
                        .with(|| Ok::<_, ()>(0), |c| *c += 1)
                        .expect("on a core")
                        .expect("made");
                    sched::yield_now();
                }
                tx.send(()).unwrap();
            })
            .expect("spawn");
    }
    for _ in 0..FIBERS {
        rx.recv().unwrap();
    }
    sched.shutdown();
    let mut counters = Arc::try_unwrap(counters).ok().expect("fibers are gone");
    let values: Vec<u64> = counters.drain().collect();
    assert_eq!(values.len(), 2, "one value per core: {values:?}");
    assert_eq!(values.iter().sum::<u64>(), (FIBERS * 100) as u64);
}

#[test]
fn a_panicking_fiber_ends_alone() {
    let sched = scheduler(1);
    let (tx, rx) = mpsc::channel();
    sched
        .handle()
        .spawn(0, "doomed", || panic!("on purpose"))
        .expect("spawn");
    sched
        .handle()
        .spawn(0, "survivor", move || {
            sched::yield_now();
            tx.send(()).unwrap();
        })
        .expect("spawn");
    rx.recv().expect("the survivor ran after the panic");
    sched.shutdown();
}

#[test]
fn pollers_run_until_done_and_wake_fibers() {
    let sched = scheduler(1);
    let (tx, rx) = mpsc::channel();
    sched
        .handle()
        .spawn(0, "owner", move || {
            let ready = Arc::new(AtomicBool::new(false));
            let calls = Arc::new(AtomicUsize::new(0));
            let waiter = Waiter::current();
            let (poller_ready, poller_calls) = (Arc::clone(&ready), Arc::clone(&calls));
            let added = sched::add_poller(move || {
                // A device whose command completes on the tenth poll.
                if poller_calls.fetch_add(1, Ordering::AcqRel) + 1 < 10 {
                    return Poll::Pending;
                }
                poller_ready.store(true, Ordering::Release);
                waiter.wake();
                Poll::Done
            });
            assert!(added);
            while !ready.load(Ordering::Acquire) {
                sched::park();
            }
            tx.send(calls.load(Ordering::Acquire)).unwrap();
        })
        .expect("spawn");
    assert_eq!(rx.recv().unwrap(), 10);
    assert!(!sched::add_poller(|| Poll::Done), "no poller off a core");
    sched.shutdown();
}

#[test]
fn spawning_names_bad_cores_and_balances() {
    let sched = scheduler(2);
    let err = sched.handle().spawn(5, "nowhere", || {}).unwrap_err();
    assert_eq!(err.to_string(), "no core 5: the scheduler runs 2");
    let (tx, rx) = mpsc::channel::<()>();
    let gate = Arc::new(AtomicBool::new(false));
    let mut cores = Vec::new();
    for _ in 0..4 {
        let gate = Arc::clone(&gate);
        let tx = tx.clone();
        let core = sched
            .handle()
            .spawn_any("balanced", move || {
                while !gate.load(Ordering::Acquire) {
                    sched::yield_now();
                }
                tx.send(()).unwrap();
            })
            .unwrap();
        cores.push(core);
    }
    cores.sort_unstable();
    assert_eq!(cores, [0, 0, 1, 1]);
    gate.store(true, Ordering::Release);
    for _ in 0..4 {
        rx.recv().unwrap();
    }
    sched.shutdown();
}

/// floe_rt::sync's locks park the waiting fiber, not its core: a fiber that
/// sleeps holding a mutex is resumed while another fiber of the same core
/// waits for that mutex (with a thread-parking mutex this deadlocks), and a
/// condition variable hands turns between two fibers of one core.
#[test]
fn locks_park_fibers_not_their_core() {
    use floe_rt::sync::{Condvar, Mutex};
    let sched = scheduler(1);
    let (tx, rx) = mpsc::channel();
    let shared = Arc::new((Mutex::new(0u64), Condvar::new()));
    for fiber in 0..8u64 {
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        sched
            .handle()
            .spawn(0, format!("locker{fiber}"), move || {
                let (count, turn) = &*shared;
                for _ in 0..20 {
                    let mut held = count.lock();
                    // Park while holding it: the others must queue as fibers.
                    sched::sleep(Duration::from_micros(200));
                    *held += 1;
                    drop(held);
                    turn.notify_all();
                }
                // Wait (as a fiber) until every fiber has done its share.
                let mut held = count.lock();
                while *held < 8 * 20 {
                    held = turn.wait(held);
                }
                tx.send(*held).unwrap();
            })
            .expect("spawn");
    }
    for _ in 0..8 {
        assert_eq!(rx.recv().expect("fiber finished"), 160);
    }
    sched.shutdown();
}

/// A fiber that computes without waiting still lets the other fibers of
/// its core run, when it calls yield_if_due (as the SQL layer does between
/// rows): here it spins until the other fiber has run, which without the
/// time slice would be never.
#[test]
fn busy_fibers_share_their_core_through_time_slices() {
    let sched = scheduler(1);
    let (tx, rx) = mpsc::channel();
    let other_ran = Arc::new(AtomicBool::new(false));
    let spinner_sees = Arc::clone(&other_ran);
    let spinner_tx = tx.clone();
    sched
        .handle()
        .spawn(0, "spinner", move || {
            let give_up = Instant::now() + Duration::from_secs(20);
            let mut calls: u64 = 0;
            while !spinner_sees.load(Ordering::Acquire) && Instant::now() < give_up {
                calls += 1;
                sched::yield_if_due();
            }
            spinner_tx
                .send(spinner_sees.load(Ordering::Acquire) && calls > 0)
                .unwrap();
        })
        .expect("spawn");
    sched
        .handle()
        .spawn(0, "other", move || {
            other_ran.store(true, Ordering::Release);
            tx.send(true).unwrap();
        })
        .expect("spawn");
    assert!(rx.recv().unwrap());
    assert!(rx.recv().unwrap(), "the spinner saw the other fiber run");
    sched.shutdown();
}

/// A call that blocks in the kernel runs on the blocking-call threads while
/// its fiber parks: the core's other fibers run meanwhile, the result comes
/// back, and a panic in the call resumes in the fiber.
#[test]
fn blocking_calls_leave_the_core_free() {
    let sched = scheduler(1);
    let (tx, rx) = mpsc::channel();
    let released = Arc::new(AtomicBool::new(false));
    let gate = Arc::clone(&released);
    let blocker_tx = tx.clone();
    sched
        .handle()
        .spawn(0, "blocker", move || {
            // Blocks its (pool) thread until the other fiber has run.
            let value = sched::run_blocking(move || {
                let give_up = Instant::now() + Duration::from_secs(20);
                while !gate.load(Ordering::Acquire) && Instant::now() < give_up {
                    std::thread::sleep(Duration::from_millis(1));
                }
                gate.load(Ordering::Acquire)
            });
            blocker_tx.send(("blocker", value)).unwrap();
            let panicked = std::panic::catch_unwind(|| {
                sched::run_blocking(|| panic!("inside the blocking call"));
            });
            blocker_tx
                .send(("panic reached the fiber", panicked.is_err()))
                .unwrap();
        })
        .expect("spawn");
    sched
        .handle()
        .spawn(0, "other", move || {
            released.store(true, Ordering::Release);
            tx.send(("other", true)).unwrap();
        })
        .expect("spawn");
    let mut seen: Vec<_> = (0..3).map(|_| rx.recv().unwrap()).collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            ("blocker", true),
            ("other", true),
            ("panic reached the fiber", true)
        ]
    );
    assert_eq!(sched::run_blocking(|| 7), 7, "off a fiber it runs in place");
    // A fiber alone on its core runs the call in place (on the core's
    // thread): nobody else would use the time.
    while sched.handle().fibers(0) > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (tx, rx) = mpsc::channel();
    sched
        .handle()
        .spawn(0, "alone", move || {
            let thread = sched::run_blocking(|| std::thread::current().name().map(str::to_owned));
            tx.send(thread).unwrap();
        })
        .expect("spawn");
    let thread = rx.recv().unwrap().unwrap_or_default();
    assert!(thread.starts_with("test-core"), "ran on {thread}");
    sched.shutdown();
}
