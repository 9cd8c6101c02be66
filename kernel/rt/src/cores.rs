//! Cores: which ones this process may run on, and pinning a thread to one.
//! Every hot thread runs pinned to its own core (DESIGN.md, execution model).

use crate::error::RtError;

/// A CPU as the kernel numbers it (the index in an affinity mask).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CoreId(pub u16);

impl CoreId {
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl std::fmt::Display for CoreId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The cores the calling thread may run on (its affinity mask at the time of
/// the call: call it before pinning), in ascending order. Empty only if the
/// kernel refuses to say.
pub fn available_cores() -> Vec<CoreId> {
    let mut cores: Vec<CoreId> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|core| u16::try_from(core.id).ok().map(CoreId))
        .collect();
    cores.sort_unstable();
    cores
}

/// Pins the calling thread to `core`, so the scheduler never moves it.
pub fn pin_current_thread(core: CoreId) -> Result<(), RtError> {
    // core_affinity indexes a fixed cpu_set_t and would panic past its end.
    let in_mask_range = usize::try_from(libc::CPU_SETSIZE).is_ok_and(|size| core.index() < size);
    let pinned =
        in_mask_range && core_affinity::set_for_current(core_affinity::CoreId { id: core.index() });
    if pinned {
        log::debug!(
            "thread {:?} pinned to core {core}",
            std::thread::current().id()
        );
        Ok(())
    } else {
        Err(RtError::Pin {
            core,
            available: available_cores(),
        })
    }
}

/// The core the calling thread runs on right now, as the kernel reports it.
pub fn current_core() -> Option<CoreId> {
    // SAFETY: sched_getcpu takes no arguments and only reads the calling
    // thread's state; it returns -1 on failure, handled below.
    let cpu = unsafe { libc::sched_getcpu() };
    u16::try_from(cpu).ok().map(CoreId)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The process may run somewhere, and the list has no duplicates.
    #[test]
    fn some_core_is_available() {
        let cores = available_cores();
        assert!(
            !cores.is_empty(),
            "no cores in this process's affinity mask"
        );
        let mut deduplicated = cores.clone();
        deduplicated.dedup();
        assert_eq!(deduplicated, cores);
    }

    /// After pinning, the kernel runs the thread on exactly that core (the
    /// pin takes effect before sched_setaffinity returns). Each available
    /// core is tried in its own thread so the test harness is not pinned.
    #[test]
    fn pinned_thread_runs_on_its_core() {
        for core in available_cores() {
            let ran_on =
                std::thread::spawn(move || pin_current_thread(core).map(|()| current_core()))
                    .join()
                    .expect("pinning thread panicked");
            match ran_on {
                Ok(ran_on) => assert_eq!(ran_on, Some(core)),
                Err(e) => panic!("pinning to available core {core}: {e}"),
            }
        }
    }

    /// A core outside the mask is refused with a typed error, not ignored.
    #[test]
    fn pinning_to_a_missing_core_fails() {
        let missing = CoreId(u16::MAX);
        assert!(!available_cores().contains(&missing));
        let outcome = std::thread::spawn(move || pin_current_thread(missing))
            .join()
            .expect("pinning thread panicked");
        assert!(
            matches!(outcome, Err(RtError::Pin { core, .. }) if core == missing),
            "{outcome:?}"
        );
    }
}
