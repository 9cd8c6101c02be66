//! LRU with a midpoint, as InnoDB's `buf0lru`: new pages enter at the head
//! of the *old* sublist (the last `old_pct` percent of the list), and only
//! an access at least `old_time_ms` after the page's first one moves it to
//! the head of the young sublist. A scan touches each page in quick
//! succession, so it churns the old sublist and leaves the hot set alone.
//!
//! The list lives behind the pool's LRU mutex; whether a frame is old is
//! mirrored in a per-frame atomic so that a hit on a young page (the common
//! case) never takes the mutex.

use std::sync::atomic::{AtomicBool, Ordering};

const NIL: u32 = u32::MAX;
/// Below this many pages the old sublist is not kept apart (as InnoDB's
/// BUF_LRU_OLD_MIN_LEN, scaled down for small test pools).
const OLD_MIN_LEN: usize = 16;
/// How far the old sublist may drift from its target before the midpoint
/// moves (InnoDB's BUF_LRU_OLD_TOLERANCE). Without it, every eviction
/// followed by a read would demote a young page and promote the page just
/// read: a scan would flush the hot set after all.
const OLD_TOLERANCE: usize = 20;

pub struct Lru {
    prev: Vec<u32>,
    next: Vec<u32>,
    in_list: Vec<bool>,
    first_access_ms: Vec<u64>,
    head: u32,
    tail: u32,
    /// First node of the old sublist, or NIL.
    midpoint: u32,
    len: usize,
    old_len: usize,
    old_pct: usize,
    old_time_ms: u64,
}

impl Lru {
    pub fn new(frame_count: usize, old_pct: u8, old_time_ms: u64) -> Self {
        assert!(
            (5..=95).contains(&old_pct),
            "old_pct {old_pct} outside 5..=95"
        );
        assert!(frame_count < NIL as usize);
        Self {
            prev: vec![NIL; frame_count],
            next: vec![NIL; frame_count],
            in_list: vec![false; frame_count],
            first_access_ms: vec![0; frame_count],
            head: NIL,
            tail: NIL,
            midpoint: NIL,
            len: 0,
            old_len: 0,
            old_pct: usize::from(old_pct),
            old_time_ms,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn old_len(&self) -> usize {
        self.old_len
    }

    #[cfg(test)]
    pub fn contains(&self, frame: usize) -> bool {
        self.in_list[frame]
    }

    fn unlink(&mut self, frame: u32) {
        let i = frame as usize;
        let (p, n) = (self.prev[i], self.next[i]);
        if p == NIL {
            self.head = n
        } else {
            self.next[p as usize] = n
        }
        if n == NIL {
            self.tail = p
        } else {
            self.prev[n as usize] = p
        }
        if self.midpoint == frame {
            self.midpoint = n;
        }
        self.prev[i] = NIL;
        self.next[i] = NIL;
    }

    /// Links `frame` before `before` (NIL: at the tail).
    fn link_before(&mut self, frame: u32, before: u32) {
        let i = frame as usize;
        let after = if before == NIL {
            self.tail
        } else {
            self.prev[before as usize]
        };
        self.prev[i] = after;
        self.next[i] = before;
        if after == NIL {
            self.head = frame
        } else {
            self.next[after as usize] = frame
        }
        if before == NIL {
            self.tail = frame
        } else {
            self.prev[before as usize] = frame
        }
    }

    /// A newly read page: at the head of the old sublist.
    pub fn insert(&mut self, frame: usize, now_ms: u64, old: &[AtomicBool]) {
        assert!(
            !self.in_list[frame],
            "frame {frame} inserted into the LRU twice"
        );
        let f = frame as u32;
        self.link_before(f, self.midpoint);
        self.midpoint = f;
        self.in_list[frame] = true;
        self.first_access_ms[frame] = now_ms;
        old[frame].store(true, Ordering::Relaxed);
        self.len += 1;
        self.old_len += 1;
        self.rebalance(old);
    }

    /// An access to an old page: young if it has been old long enough.
    pub fn touch_old(&mut self, frame: usize, now_ms: u64, old: &[AtomicBool]) -> bool {
        if !self.in_list[frame] || !old[frame].load(Ordering::Relaxed) {
            return false;
        }
        if now_ms.saturating_sub(self.first_access_ms[frame]) < self.old_time_ms {
            return false;
        }
        let f = frame as u32;
        self.unlink(f);
        self.link_before(f, self.head);
        old[frame].store(false, Ordering::Relaxed);
        self.old_len -= 1;
        self.rebalance(old);
        true
    }

    pub fn remove(&mut self, frame: usize, old: &[AtomicBool]) {
        assert!(
            self.in_list[frame],
            "frame {frame} removed from the LRU but not in it"
        );
        self.unlink(frame as u32);
        self.in_list[frame] = false;
        self.len -= 1;
        if old[frame].swap(false, Ordering::Relaxed) {
            self.old_len -= 1;
        }
        self.rebalance(old);
    }

    fn rebalance(&mut self, old: &[AtomicBool]) {
        let (target, tolerance) = if self.len < OLD_MIN_LEN {
            (self.len, 0)
        } else {
            (
                self.len * self.old_pct / 100,
                OLD_TOLERANCE.min(self.len / 10),
            )
        };
        // Too many old: the first old page becomes young.
        if self.old_len > target + tolerance {
            while self.old_len > target && self.midpoint != NIL {
                old[self.midpoint as usize].store(false, Ordering::Relaxed);
                self.midpoint = self.next[self.midpoint as usize];
                self.old_len -= 1;
            }
        }
        // Too few old: the last young page becomes old.
        if self.old_len + tolerance < target {
            while self.old_len < target {
                let candidate = if self.midpoint == NIL {
                    self.tail
                } else {
                    self.prev[self.midpoint as usize]
                };
                if candidate == NIL {
                    break;
                }
                old[candidate as usize].store(true, Ordering::Relaxed);
                self.midpoint = candidate;
                self.old_len += 1;
            }
        }
    }

    /// Frames from the cold end, at most `limit` of them.
    pub fn coldest(&self, limit: usize, out: &mut Vec<usize>) {
        let mut at = self.tail;
        while at != NIL && out.len() < limit {
            out.push(at as usize);
            at = self.prev[at as usize];
        }
    }

    /// Frames from the hot end (for the dump of the page list).
    pub fn hottest(&self, limit: usize, out: &mut Vec<usize>) {
        let mut at = self.head;
        while at != NIL && out.len() < limit {
            out.push(at as usize);
            at = self.next[at as usize];
        }
    }

    /// Checks links, counts and the old flags (tests and debug checks).
    pub fn check(&self, old: &[AtomicBool]) -> Result<(), String> {
        let mut count = 0;
        let mut old_count = 0;
        let mut at = self.head;
        let mut previous = NIL;
        let mut seen_midpoint = self.midpoint == NIL;
        while at != NIL {
            if self.prev[at as usize] != previous {
                return Err(format!("frame {at}: prev link broken"));
            }
            if at == self.midpoint {
                seen_midpoint = true;
            }
            let is_old = old[at as usize].load(Ordering::Relaxed);
            if is_old != seen_midpoint {
                return Err(format!(
                    "frame {at}: old flag {is_old} on the wrong side of the midpoint"
                ));
            }
            old_count += usize::from(is_old);
            count += 1;
            previous = at;
            at = self.next[at as usize];
        }
        if previous != self.tail || count != self.len || old_count != self.old_len {
            return Err(format!(
                "counts: walked {count} ({old_count} old), recorded {} ({} old)",
                self.len, self.old_len
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(n: usize) -> Vec<AtomicBool> {
        (0..n).map(|_| AtomicBool::new(false)).collect()
    }

    /// In a full pool, a scan of many pages read once each (every read
    /// evicting the coldest page) never evicts a page of the hot set that
    /// was re-read after `old_time_ms`; the list stays consistent throughout.
    #[test]
    fn scan_does_not_evict_hot_set() {
        let n = 1000;
        let old = flags(n);
        let mut lru = Lru::new(n, 37, 1000);
        // Fill: background pages in frames 100..1000, then the hot set 0..100.
        for frame in (100..n).chain(0..100) {
            lru.insert(frame, 0, &old);
        }
        // The hot set is read again and again, starting a second later.
        for round in 0..5 {
            for frame in 0..100 {
                lru.touch_old(frame, 2000 + round * 100, &old);
            }
        }
        // A scan of 5000 pages: each read evicts the coldest frame and
        // reuses it; the scan touches each page again at once.
        let mut victims = Vec::new();
        for _ in 0..5000 {
            victims.clear();
            lru.coldest(1, &mut victims);
            let frame = victims[0];
            assert!(frame >= 100, "hot frame {frame} evicted by a scan");
            lru.remove(frame, &old);
            lru.insert(frame, 3000, &old);
            assert!(
                !lru.touch_old(frame, 3000, &old),
                "a quick re-touch must not promote"
            );
        }
        lru.check(&old).unwrap();
        assert!((0..100).all(|frame| lru.contains(frame) && !old[frame].load(Ordering::Relaxed)));
        assert!(lru.old_len().abs_diff(n * 37 / 100) <= OLD_TOLERANCE);
    }

    /// Removal from anywhere keeps links, counts and the midpoint right.
    #[test]
    fn removal_keeps_structure() {
        let n = 200;
        let old = flags(n);
        let mut lru = Lru::new(n, 37, 0);
        for frame in 0..n {
            lru.insert(frame, frame as u64, &old);
            if frame % 3 == 0 {
                lru.touch_old(frame, 10_000, &old);
            }
        }
        for frame in (0..n).step_by(7) {
            lru.remove(frame, &old);
            lru.check(&old).unwrap();
        }
        assert!(!lru.contains(7) && lru.contains(8));
    }
}
