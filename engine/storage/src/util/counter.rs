//! A counter that many cores bump: one cache line per shard, the shard
//! picked by the core the thread runs on, summed only when read.

use std::sync::atomic::{AtomicU64, Ordering};

const SHARD_COUNT: usize = 64;

#[repr(C, align(64))] // one cache line per shard: no false sharing
#[derive(Default)]
struct Shard(AtomicU64);

pub struct Counter {
    shards: Box<[Shard]>,
}

impl Default for Counter {
    fn default() -> Self {
        Self {
            shards: (0..SHARD_COUNT).map(|_| Shard::default()).collect(),
        }
    }
}

impl Counter {
    pub fn add(&self, n: u64) {
        let index = floe_rt::current_core().map_or(0, |core| core.index() % SHARD_COUNT);
        // Threads are not pinned in hosted mode, so two may share a shard:
        // an atomic add keeps the count exact.
        self.shards[index].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn increment(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds from many threads sum exactly.
    #[test]
    fn sums_across_threads() {
        let counter = std::sync::Arc::new(Counter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| counter.increment()))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(counter.get(), 40_000);
    }
}
