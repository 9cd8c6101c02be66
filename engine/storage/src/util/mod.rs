//! Small shared pieces: time as a handle, counters sharded per core, and
//! the seeded generator tests and benchmarks use.

pub mod clock;
pub mod counter;
pub mod rng;
