//! SplitMix64: the seeded generator behind MemDevice's crash outcomes and
//! the contract suite's data patterns. Ours rather than `rand`'s so that a
//! seed replays the same outcome whatever `rand` version the tree moves to;
//! it is ten lines and statistically plenty for choosing faults.

#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn next_bool(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// Uniform in `0..bound` (`bound` > 0); the modulo bias is below
    /// 2^-32 for the small bounds used here.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "random choice among zero options");
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same seed, same sequence; different seeds differ; `below` stays in range.
    #[test]
    fn deterministic_and_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let mut c = SplitMix64::new(8);
        let first: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let again: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        let other: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
        let mut seen = [false; 5];
        for _ in 0..200 {
            let value = a.below(5);
            assert!(value < 5);
            seen[value as usize] = true;
        }
        assert!(
            seen.iter().all(|&s| s),
            "some value in 0..5 never drawn: {seen:?}"
        );
    }
}
