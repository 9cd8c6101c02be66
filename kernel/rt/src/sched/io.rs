//! Waiting for file descriptors: each core owns one epoll instance, with an
//! eventfd in it that other threads write to wake a sleeping core. A fiber
//! that waits for a socket registers it (one-shot) with its core's epoll,
//! its task pointer as the event's data, parks, and deregisters when it
//! resumes; the core turns reported events into wakes. On a plain thread
//! the wait is `poll(2)`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use super::executor::{self, Task};

/// What to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Readable,
    Writable,
}

/// Event data of the core's own eventfd (a task pointer is never null).
const WAKE_DATA: u64 = 0;

/// Events fetched per `epoll_wait`.
const EVENTS_PER_WAIT: usize = 64;

pub(crate) struct Epoll {
    epoll: OwnedFd,
    eventfd: OwnedFd,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscalls; each returned descriptor is owned at once.
        let epoll =
            unsafe { OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        // SAFETY: as above.
        let eventfd = unsafe {
            OwnedFd::from_raw_fd(check(libc::eventfd(
                0,
                libc::EFD_CLOEXEC | libc::EFD_NONBLOCK,
            ))?)
        };
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE_DATA,
        };
        // SAFETY: both descriptors are open; `event` outlives the call.
        check(unsafe {
            libc::epoll_ctl(
                epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                eventfd.as_raw_fd(),
                &mut event,
            )
        })?;
        Ok(Epoll { epoll, eventfd })
    }

    /// Wakes the core if it sleeps in `wait`.
    pub(crate) fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. A full
        // counter (EAGAIN) still leaves the eventfd readable: nothing lost.
        unsafe { libc::write(self.eventfd.as_raw_fd(), (&raw const one).cast(), 8) };
    }

    /// Waits up to `timeout_ms` (-1: forever, 0: just look) and calls
    /// `woken` for each task whose descriptor is ready.
    pub(crate) fn wait(&self, timeout_ms: i32, mut woken: impl FnMut(&Task)) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_WAIT];
        // SAFETY: `events` has room for the count we pass.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                EVENTS_PER_WAIT as i32,
                timeout_ms,
            )
        };
        let Ok(n) = usize::try_from(n) else {
            // EINTR: the loop comes back.
            return;
        };
        for event in &events[..n] {
            let data = event.u64;
            if data == WAKE_DATA {
                let mut count: u64 = 0;
                // SAFETY: reads 8 bytes into a live u64; nonblocking.
                unsafe { libc::read(self.eventfd.as_raw_fd(), (&raw mut count).cast(), 8) };
            } else {
                // SAFETY: a registration's data is the pointer of a task that
                // stays alive (its fiber holds an Arc) until the fiber has
                // deregistered the descriptor, which it does on this thread,
                // so never between this epoll_wait and this call.
                woken(unsafe { &*(data as *const Task) });
            }
        }
    }

    fn control(&self, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: data };
        // SAFETY: `event` outlives the call; a bad `fd` is an error return.
        check(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) }).map(|_| ())
    }
}

/// Waits until `fd` is ready for `interest` (or has an error or hang-up,
/// which the next read or write reports), or until `deadline`. True if
/// ready, false if the deadline passed. On a fiber, the fiber parks and its
/// core keeps running others; elsewhere the thread blocks in `poll(2)`.
pub fn wait_fd(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<bool> {
    let events = match interest {
        Interest::Readable => libc::EPOLLIN | libc::EPOLLRDHUP,
        Interest::Writable => libc::EPOLLOUT,
    };
    let Some(task) = executor::current_task() else {
        return poll_thread(fd, events, deadline);
    };
    let epoll = executor::current_epoll().expect("a fiber runs on a core");
    let data = std::sync::Arc::as_ptr(&task) as u64;
    let oneshot = (events | libc::EPOLLONESHOT) as u32;
    epoll.control(libc::EPOLL_CTL_ADD, fd, oneshot, data)?;
    // Woken by the event, the deadline or a stray wake. A stray wake looks
    // like readiness: the caller's read or write says WouldBlock and it
    // waits again.
    match deadline {
        Some(deadline) => super::park_until(deadline),
        None => super::park(),
    }
    let removed = epoll.control(libc::EPOLL_CTL_DEL, fd, 0, 0);
    drop(task);
    removed?;
    match deadline {
        Some(deadline) if Instant::now() >= deadline => poll_thread(fd, events, Some(deadline)),
        _ => Ok(true),
    }
}

/// `poll(2)` on one descriptor until `deadline` (None: forever).
fn poll_thread(fd: RawFd, events: libc::c_int, deadline: Option<Instant>) -> io::Result<bool> {
    loop {
        let timeout_ms = deadline.map_or(-1, |d| {
            let left = d.saturating_duration_since(Instant::now());
            i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
        });
        let mut pollfd = libc::pollfd {
            fd,
            events: events as libc::c_short,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(&mut pollfd, 1, timeout_ms) };
        if n > 0 {
            return Ok(true);
        }
        if n == 0 {
            if deadline.is_some_and(|d| Instant::now() < d) {
                continue;
            }
            return Ok(false);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}
