//! `CoreLocal<T>`: one `T` per core, reached without a lock from that
//! core's fibers and pollers. This is how an engine gives each core its own
//! device queue pair: made by the core on first use, used by it only.

use std::cell::{RefCell, RefMut};

use super::executor::{current_core, with_stopped_slots, CORE_SLOTS};

/// One lazily made `T` per core. Off a core (a plain thread),
/// [`CoreLocal::with`] returns None and the caller takes its other path.
pub struct CoreLocal<T> {
    slots: Box<[RefCell<Option<T>>]>,
}

// SAFETY: slot `i` is touched only by the thread of the live core with slot
// `i` (`current_core`), one at a time; a core's slot passes to a later core
// only after the earlier one's thread has ended. So a `T` moves between
// threads at most (needs Send) and is never shared (no Sync needed).
unsafe impl<T: Send> Sync for CoreLocal<T> {}

impl<T> Default for CoreLocal<T> {
    fn default() -> Self {
        CoreLocal::new()
    }
}

impl<T> CoreLocal<T> {
    pub fn new() -> Self {
        CoreLocal {
            slots: (0..CORE_SLOTS).map(|_| RefCell::new(None)).collect(),
        }
    }

    /// Runs `f` on the calling core's `T`, made by `init` on first use
    /// (`init` failing leaves it unmade and returns its error). None off a
    /// core. `f` must not park or yield: another fiber of the core could
    /// then reach the same `T`, which this refuses with a panic.
    pub fn with<R, E>(
        &self,
        init: impl FnOnce() -> Result<T, E>,
        f: impl FnOnce(&mut T) -> R,
    ) -> Option<Result<R, E>> {
        let mut slot = self.own_slot()?;
        if slot.is_none() {
            match init() {
                Ok(value) => *slot = Some(value),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(f(slot.as_mut().expect("made above"))))
    }

    /// Runs `f` on the calling core's `T` if it has been made; None off a
    /// core or before. The same rule as `with`: `f` must not park.
    pub fn with_made<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.own_slot()?.as_mut().map(f)
    }

    /// The calling core's slot, borrowed; None off a core.
    fn own_slot(&self) -> Option<RefMut<'_, Option<T>>> {
        let core = current_core()?;
        let slot = self.slots[core]
            .try_borrow_mut()
            .expect("CoreLocal: a fiber parked inside `with` and another reached the same value");
        Some(slot)
    }

    /// The values made so far, for shutting them down (call with no core
    /// running that could use them).
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.slots
            .iter_mut()
            .filter_map(|slot| slot.get_mut().take())
    }

    /// Takes the values of cores that have stopped (their threads have
    /// ended), so they can be closed from any thread; values of live cores
    /// stay.
    pub fn take_orphaned(&self) -> Vec<T> {
        with_stopped_slots(|stopped| {
            self.slots
                .iter()
                .enumerate()
                .filter(|&(slot, _)| stopped(slot))
                // The slot's core has ended and no live core holds the slot
                // (the registry is locked, so none can take it meanwhile):
                // nobody else touches this RefCell now.
                .filter_map(|(_, value)| value.try_borrow_mut().ok()?.take())
                .collect()
        })
    }
}
