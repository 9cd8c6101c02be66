//! Small shared pieces: time as a handle, and counters sharded per core.

pub mod clock;
pub mod counter;
