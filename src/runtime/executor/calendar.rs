//! When a worker's sleeping ticked residents are next due ([`Calendar`]), and the bit sets
//! of residents due at a worker tick ([`DueSet`]), which a worker walks in id order.

/// Ticks the near wheel covers; later wakes wait in a list looked at every half turn.
const WHEEL: u64 = 4096;

/// Residents by the worker tick they asked to sleep until: a wheel of buckets for the next
/// [`WHEEL`] ticks, a list for later ones. A resident's entry is valid while its wake is
/// still that tick (mail may have woken it earlier; then it asked anew).
#[derive(Default)]
pub(super) struct Calendar {
    buckets: Vec<Vec<u32>>,
    far: Vec<(u64, u32)>,
    /// The tick at which `far` is next looked at.
    far_check: u64,
}

impl Calendar {
    /// Resident `l` is due at tick `at` (`at > now`).
    pub(super) fn schedule(&mut self, now: u64, at: u64, l: u32) {
        if self.buckets.is_empty() {
            self.buckets = vec![Vec::new(); WHEEL as usize];
        }
        if at - now < WHEEL {
            self.buckets[(at % WHEEL) as usize].push(l);
        } else {
            self.far.push((at, l));
        }
    }

    /// Marks in `due` the residents due at tick `now` (called for every tick in turn):
    /// those whose wake is still `now` and which are live.
    pub(super) fn take_due(&mut self, now: u64, wake: &[u64], live: &[bool], due: &mut DueSet) {
        if self.buckets.is_empty() {
            return;
        }
        if now >= self.far_check && !self.far.is_empty() {
            self.far_check = now + WHEEL / 2;
            let buckets = &mut self.buckets;
            self.far.retain(|&(at, l)| {
                let near = at - now < WHEEL;
                if near {
                    buckets[(at % WHEEL) as usize].push(l);
                }
                !near
            });
        }
        for l in self.buckets[(now % WHEEL) as usize].drain(..) {
            let i = l as usize;
            if wake[i] == now && live[i] {
                due.insert(i);
            }
        }
    }
}

/// A set of residents, by index, walked in ascending order.
#[derive(Clone, Default)]
pub(super) struct DueSet {
    words: Vec<u64>,
}

impl DueSet {
    /// An empty set for residents `0..n`.
    pub(super) fn new(n: usize) -> Self {
        DueSet {
            words: vec![0; n.div_ceil(64)],
        }
    }

    /// Adds resident `l`.
    pub(super) fn insert(&mut self, l: usize) {
        self.words[l / 64] |= 1 << (l % 64);
    }

    /// Removes and returns the smallest resident, if any (from word `from` on: the caller
    /// passes the word of the last one it took).
    pub(super) fn pop_first(&mut self, from: &mut usize) -> Option<usize> {
        while *from < self.words.len() {
            let w = &mut self.words[*from];
            if *w != 0 {
                let bit = w.trailing_zeros() as usize;
                *w &= *w - 1;
                return Some(*from * 64 + bit);
            }
            *from += 1;
        }
        None
    }

    /// Empties the set.
    pub(super) fn clear(&mut self) {
        self.words.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residents_come_due_at_their_tick_in_id_order_near_and_far() {
        let mut cal = Calendar::default();
        let mut wake = vec![0u64; 200];
        let live = vec![true; 200];
        for (l, at) in [(150usize, 3u64), (7, 3), (64, 9000), (65, 3), (8, 5)] {
            wake[l] = at;
            cal.schedule(0, at, l as u32);
        }
        // 8 was woken by mail and asked for tick 6 instead: its entry at 5 is stale.
        wake[8] = 6;
        cal.schedule(4, 6, 8);
        let mut due_at = |now: u64| {
            let mut due = DueSet::new(200);
            cal.take_due(now, &wake, &live, &mut due);
            let mut from = 0;
            std::iter::from_fn(|| due.pop_first(&mut from)).collect::<Vec<_>>()
        };
        assert_eq!(due_at(3), vec![7, 65, 150]);
        assert_eq!(due_at(5), Vec::<usize>::new());
        assert_eq!(due_at(6), vec![8]);
        for t in 7..9000 {
            assert!(due_at(t).is_empty(), "{t}");
        }
        assert_eq!(due_at(9000), vec![64]);
    }
}
