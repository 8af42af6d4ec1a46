//! [`DelayRuns`]: a synapse table's runs of synapses with one delay, row by row, and the
//! stable sort by delay that makes a row's runs few.
//!
//! A shard whose weights do not move delivers a spike as one queue entry per run (where the
//! row's synapses land, and which ones) instead of one per synapse, and reads the run's
//! targets and weights from the table only when its tick falls due. A row sorted by delay has
//! one run per delay it holds: about 35 in the full-scale microcircuit, against about 1,950
//! synapses a row in each of two shards.

/// Each row's runs of consecutive synapses with one delay, in row order.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct DelayRuns {
    /// `rows[j]..rows[j + 1]`: row `j`'s runs.
    rows: Vec<u32>,
    /// Per run, its first synapse; then the table's end (so run `r` is
    /// `starts[r]..starts[r + 1]`).
    starts: Vec<u32>,
    /// Per run, its delay in ticks.
    delays: Vec<u16>,
}

impl DelayRuns {
    /// The runs of rows `offsets` (one per row, then the end) whose synapses have `delay(k)`.
    pub(crate) fn of(offsets: &[u32], delay: impl Fn(usize) -> u16) -> Self {
        let mut runs = DelayRuns {
            rows: Vec::with_capacity(offsets.len()),
            ..DelayRuns::default()
        };
        for row in offsets.windows(2) {
            runs.rows.push(runs.starts.len() as u32);
            let mut last = None;
            for k in row[0] as usize..row[1] as usize {
                let d = delay(k);
                if last != Some(d) {
                    runs.starts.push(k as u32);
                    runs.delays.push(d);
                    last = Some(d);
                }
            }
        }
        runs.rows.push(runs.starts.len() as u32);
        runs.starts.push(offsets.last().copied().unwrap_or(0));
        runs
    }

    /// Row `j`'s runs: their bounds (one more than runs: run `k` is
    /// `bounds[k]..bounds[k + 1]`) and their delays (ticks).
    #[inline]
    pub(crate) fn row(&self, j: u32) -> (&[u32], &[u16]) {
        let j = j as usize;
        let r = self.rows[j] as usize..self.rows[j + 1] as usize;
        (&self.starts[r.start..=r.end], &self.delays[r])
    }

    /// Bytes the runs take.
    pub(crate) fn bytes(&self) -> usize {
        self.rows.len() * 4 + self.starts.len() * 4 + self.delays.len() * 2
    }
}

/// Sorts one row's synapses (`targets`, `delays`, `weights`, side by side) by delay, stably:
/// synapses of one delay keep their order. A counting sort over delays below `longest + 1`,
/// with `scratch` as room.
pub(crate) fn sort_row_by_delay<T: Copy, D: Copy + Into<usize>>(
    (targets, delays, weights): (&mut [T], &mut [D], &mut [f32]),
    longest: usize,
    scratch: &mut RowScratch<T, D>,
) {
    let n = delays.len();
    if delays.windows(2).all(|p| p[0].into() <= p[1].into()) {
        return;
    }
    let at = &mut scratch.at;
    at.clear();
    at.resize(longest + 2, 0);
    for &d in delays.iter() {
        at[d.into() + 1] += 1;
    }
    for k in 1..at.len() {
        at[k] += at[k - 1];
    }
    scratch.moved.clear();
    scratch.moved.reserve(n);
    // SAFETY: `moved` has room for `n`; every slot below `n` is written exactly once (the
    // counts are a permutation's) before the length is set.
    unsafe {
        let out = scratch.moved.as_mut_ptr();
        for k in 0..n {
            let d = delays[k];
            let slot = &mut at[d.into()];
            out.add(*slot as usize).write((targets[k], d, weights[k]));
            *slot += 1;
        }
        scratch.moved.set_len(n);
    }
    for (k, &(t, d, w)) in scratch.moved.iter().enumerate() {
        (targets[k], delays[k], weights[k]) = (t, d, w);
    }
}

/// Room for [`sort_row_by_delay`]: kept between rows, so a thread sorts without allocating.
#[derive(Debug)]
pub(crate) struct RowScratch<T, D> {
    at: Vec<u32>,
    moved: Vec<(T, D, f32)>,
}

impl<T, D> Default for RowScratch<T, D> {
    fn default() -> Self {
        RowScratch {
            at: Vec::new(),
            moved: Vec::new(),
        }
    }
}

/// The synapses of `runs` (bounds into a table) in order: for the tests.
#[cfg(test)]
pub(crate) fn positions(bounds: &[u32]) -> Vec<std::ops::Range<usize>> {
    bounds
        .windows(2)
        .map(|b| b[0] as usize..b[1] as usize)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorting is stable and runs cover each row once, in order, one delay each.
    #[test]
    fn sorted_rows_make_one_run_per_delay() {
        let mut rng = crate::math::rng::SeededRng::new(3);
        let offsets = vec![0u32, 0, 7, 40, 41];
        let n = 41;
        let mut t: Vec<u32> = (0..n as u32).collect();
        let mut d: Vec<u8> = (0..n).map(|_| 1 + rng.below(5) as u8).collect();
        let mut w: Vec<f32> = (0..n).map(|k| k as f32).collect();
        let before = d.clone();
        let mut scratch = RowScratch::default();
        for row in offsets.windows(2) {
            let r = row[0] as usize..row[1] as usize;
            let parts = (&mut t[r.clone()], &mut d[r.clone()], &mut w[r.clone()]);
            sort_row_by_delay(parts, 5, &mut scratch);
            let mut want: Vec<(u8, u32)> = r.clone().map(|k| (before[k], k as u32)).collect();
            want.sort_by_key(|&(d, _)| d); // stable
            let got: Vec<(u8, u32)> = r.clone().map(|k| (d[k], t[k])).collect();
            assert_eq!(got, want);
            assert!(r.clone().all(|k| w[k] == t[k] as f32));
        }
        let runs = DelayRuns::of(&offsets, |k| u16::from(d[k]));
        for (j, row) in offsets.windows(2).enumerate() {
            let (bounds, delays) = runs.row(j as u32);
            assert_eq!(bounds.len(), delays.len() + 1);
            assert_eq!((bounds[0], bounds[delays.len()]), (row[0], row[1]));
            let mut seen: Vec<u16> = delays.to_vec();
            seen.dedup();
            assert_eq!(seen, delays, "one run per delay");
            for (p, &dl) in positions(bounds).into_iter().zip(delays) {
                assert!(p.clone().all(|k| u16::from(d[k]) == dl) && !p.is_empty());
            }
        }
    }
}
