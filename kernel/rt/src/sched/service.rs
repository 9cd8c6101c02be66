//! Background services (the page cleaner, purge, the log flusher): a loop
//! that runs for the engine's life, as a fiber on a core when the engine
//! runs on the per-core scheduler, or as a thread of its own otherwise,
//! behind one joinable handle.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::{Oneshot, SchedulerHandle};

/// A running service; [`Service::join`] waits for its body to return.
pub struct Service {
    name: String,
    end: End,
}

enum End {
    Thread(JoinHandle<()>),
    /// Whether the body panicked, once it has returned.
    Fiber(Arc<Oneshot<bool>>),
}

/// The service's body panicked (the panic was logged where it happened).
#[derive(Debug, thiserror::Error)]
#[error("the {0} panicked")]
pub struct ServicePanicked(pub String);

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Service({})", self.name)
    }
}

/// Starts `body` as a fiber on the least loaded of `cores`, or, with None,
/// as a thread named `name`.
pub fn spawn_service(
    cores: Option<&SchedulerHandle>,
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<Service> {
    let end = match cores {
        None => End::Thread(
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(body)?,
        ),
        Some(cores) => {
            let done = Arc::new(Oneshot::new());
            let signal = Arc::clone(&done);
            let label = name.to_owned();
            cores
                .spawn_any(name, move || {
                    let panicked = catch_unwind(AssertUnwindSafe(body)).is_err();
                    if panicked {
                        log::error!("{label} panicked");
                    }
                    signal.put(panicked);
                })
                .map_err(std::io::Error::other)?;
            End::Fiber(done)
        }
    };
    Ok(Service {
        name: name.to_owned(),
        end,
    })
}

impl Service {
    /// Waits until the body has returned (parks a fiber caller, blocks a
    /// thread).
    pub fn join(self) -> Result<(), ServicePanicked> {
        let panicked = match self.end {
            End::Thread(thread) => thread.join().is_err(),
            End::Fiber(done) => done.take(),
        };
        if panicked {
            Err(ServicePanicked(self.name))
        } else {
            Ok(())
        }
    }
}
