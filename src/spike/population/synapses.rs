//! [`SynapseTable`]: a shard's incoming synapses by presynaptic neuron, with delays and
//! weights when the network has them.

use std::ops::Range;

use super::runs::DelayRuns;

/// Each synapse's delay in ticks, beside the targets: one byte each while every delay fits
/// in one (255 ticks, 25.5 ms at 0.1 ms: the microcircuit's and CUBA's delays), two bytes
/// otherwise. Empty: every delay is one tick.
#[derive(Clone, Debug, PartialEq)]
pub enum Delays {
    /// Delays of at most [`Delays::NARROW_MAX`] ticks.
    Narrow(Vec<u8>),
    /// Any delay up to `u16::MAX` ticks.
    Wide(Vec<u16>),
}

impl Default for Delays {
    fn default() -> Self {
        Delays::Narrow(Vec::new())
    }
}

impl Delays {
    /// The longest delay stored in one byte.
    pub const NARROW_MAX: u16 = u8::MAX as u16;

    /// Room for `len` delays, narrow when `max` (the longest, ticks) fits in a byte.
    pub fn zeroed(len: usize, max: u16) -> Self {
        if max <= Self::NARROW_MAX {
            Delays::Narrow(vec![0; len])
        } else {
            Delays::Wide(vec![0; len])
        }
    }

    /// `delays`, narrow when every one fits in a byte.
    pub fn of(delays: Vec<u16>) -> Self {
        if delays.iter().all(|&d| d <= Self::NARROW_MAX) {
            Delays::Narrow(delays.into_iter().map(|d| d as u8).collect())
        } else {
            Delays::Wide(delays)
        }
    }

    /// How many delays are stored.
    pub fn len(&self) -> usize {
        match self {
            Delays::Narrow(d) => d.len(),
            Delays::Wide(d) => d.len(),
        }
    }

    /// Whether none is stored (every delay is one tick).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes each delay takes.
    pub fn width(&self) -> usize {
        match self {
            Delays::Narrow(_) => 1,
            Delays::Wide(_) => 2,
        }
    }

    /// The delays of positions `r`.
    fn row(&self, r: Range<usize>) -> DelayRow<'_> {
        match self {
            Delays::Narrow(d) => DelayRow::Narrow(&d[r]),
            Delays::Wide(d) => DelayRow::Wide(&d[r]),
        }
    }

    /// The smallest and largest delay; `None` when none is stored. (Folds, not `min()` and
    /// `max()`, which compare by reference one element at a time: this is a vector pass,
    /// where those took 0.3 s a shard at full scale.)
    fn range(&self) -> Option<(u16, u16)> {
        match self {
            Delays::Narrow(d) if !d.is_empty() => Some((
                u16::from(d.iter().fold(u8::MAX, |a, &b| a.min(b))),
                u16::from(d.iter().fold(u8::MIN, |a, &b| a.max(b))),
            )),
            Delays::Wide(d) if !d.is_empty() => Some((
                d.iter().fold(u16::MAX, |a, &b| a.min(b)),
                d.iter().fold(u16::MIN, |a, &b| a.max(b)),
            )),
            _ => None,
        }
    }
}

/// The delays (ticks) of one presynaptic neuron's synapses, in their stored width.
#[derive(Clone, Copy, Debug)]
pub enum DelayRow<'a> {
    /// One byte each.
    Narrow(&'a [u8]),
    /// Two bytes each.
    Wide(&'a [u16]),
}

impl DelayRow<'_> {
    /// The delays, widened to `u16`.
    pub fn ticks(&self) -> Vec<u16> {
        match self {
            DelayRow::Narrow(d) => d.iter().map(|&d| u16::from(d)).collect(),
            DelayRow::Wide(d) => d.to_vec(),
        }
    }
}

/// Each synapse's target, as an index local to the shard: two bytes each in a shard of at
/// most 65,536 neurons whose weights do not move (the microcircuit's shards from two on),
/// four otherwise.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Indices below 65,536.
    Narrow(Vec<u16>),
    /// Any index.
    Wide(Vec<u32>),
}

impl Default for Targets {
    fn default() -> Self {
        Targets::Wide(Vec::new())
    }
}

impl Targets {
    /// The most neurons a shard may have for narrow targets.
    pub const NARROW_NEURONS: usize = 1 << 16;

    /// Room for `len` targets in a shard of `neurons` neurons, narrow when they fit.
    pub fn zeroed(len: usize, neurons: usize) -> Self {
        if neurons <= Self::NARROW_NEURONS {
            Targets::Narrow(vec![0; len])
        } else {
            Targets::Wide(vec![0; len])
        }
    }

    /// How many targets are stored.
    pub fn len(&self) -> usize {
        match self {
            Targets::Narrow(t) => t.len(),
            Targets::Wide(t) => t.len(),
        }
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes each target takes.
    pub fn width(&self) -> usize {
        match self {
            Targets::Narrow(_) => 2,
            Targets::Wide(_) => 4,
        }
    }

    /// The targets in four bytes each.
    fn widened(self) -> Vec<u32> {
        match self {
            Targets::Narrow(t) => t.into_iter().map(u32::from).collect(),
            Targets::Wide(t) => t,
        }
    }

    /// The four-byte targets of a table that has them: every table but a microcircuit
    /// shard's whose weights do not move (a table that learns is widened by
    /// [`SynapseTable::with_coupling_weights`]; CUBA's are built wide).
    fn wide(&self) -> &[u32] {
        match self {
            Targets::Wide(t) => t,
            Targets::Narrow(_) => panic!("a table with two-byte targets read as four-byte"),
        }
    }

    fn row(&self, r: Range<usize>) -> TargetRow<'_> {
        match self {
            Targets::Narrow(t) => TargetRow::Narrow(&t[r]),
            Targets::Wide(t) => TargetRow::Wide(&t[r]),
        }
    }
}

/// The targets of one presynaptic neuron's synapses, in their stored width.
#[derive(Clone, Copy, Debug)]
pub enum TargetRow<'a> {
    /// Two bytes each.
    Narrow(&'a [u16]),
    /// Four bytes each.
    Wide(&'a [u32]),
}

impl TargetRow<'_> {
    /// How many targets the row has.
    pub fn len(&self) -> usize {
        match self {
            TargetRow::Narrow(t) => t.len(),
            TargetRow::Wide(t) => t.len(),
        }
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets, widened to `u32`.
    pub fn indices(&self) -> Vec<u32> {
        match self {
            TargetRow::Narrow(t) => t.iter().map(|&t| u32::from(t)).collect(),
            TargetRow::Wide(t) => t.to_vec(),
        }
    }
}

/// Incoming synapses of a shard, by presynaptic neuron (compressed rows).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SynapseTable {
    /// `targets[offsets[j]..offsets[j + 1]]`: local indices of `j`'s targets in this shard.
    offsets: Vec<u32>,
    targets: Targets,
    /// Each synapse's delay in ticks, beside `targets`; empty: every delay is one tick.
    delays: Delays,
    /// Each synapse's weight (mV of current jump), beside `targets`; empty: the weight comes
    /// from the presynaptic neuron's kind ([`crate::spike::coupling::Coupling`]).
    weights: Vec<f32>,
}

impl SynapseTable {
    /// The synapses into the neurons of `range`, from `post` (each presynaptic neuron's
    /// targets, as global indices).
    pub(crate) fn for_shard(post: &[Vec<u32>], range: &Range<usize>) -> Self {
        let mut offsets = Vec::with_capacity(post.len() + 1);
        let mut mine = Vec::new();
        offsets.push(0);
        for targets in post {
            mine.extend(
                targets
                    .iter()
                    .filter(|&&t| range.contains(&(t as usize)))
                    .map(|&t| t - range.start as u32),
            );
            offsets.push(mine.len() as u32);
        }
        SynapseTable {
            offsets,
            targets: Targets::Wide(mine),
            delays: Delays::default(),
            weights: Vec::new(),
        }
    }

    /// [`SynapseTable::for_shard`] with a delay (ticks, >= 1) per synapse: `delays[j][k]` is
    /// the delay of `j -> post[j][k]`.
    pub(crate) fn for_shard_delayed(
        post: &[Vec<u32>],
        delays: &[Vec<u16>],
        range: &Range<usize>,
    ) -> Self {
        let mut table = Self::for_shard(post, range);
        let mut mine = Vec::with_capacity(table.len());
        for (targets, ds) in post.iter().zip(delays) {
            mine.extend(
                targets
                    .iter()
                    .zip(ds)
                    .filter(|(&t, _)| range.contains(&(t as usize)))
                    .map(|(_, &d)| d),
            );
        }
        table.delays = Delays::of(mine);
        table
    }

    /// A table from its compressed rows: `offsets` (one per presynaptic neuron, plus the
    /// end), and per synapse its local target, delay (ticks, >= 1) and weight (mV).
    pub(crate) fn from_rows(
        offsets: Vec<u32>,
        targets: Targets,
        delays: Delays,
        weights: Vec<f32>,
    ) -> Self {
        debug_assert_eq!(offsets.last().map(|&o| o as usize), Some(targets.len()));
        debug_assert!(delays.len() == targets.len() && weights.len() == targets.len());
        SynapseTable {
            offsets,
            targets,
            delays,
            weights,
        }
    }

    /// The table with a weight per synapse from `coupling` (excitatory rows `we_mv`, the
    /// others `wi_mv`) and, where it had none, a delay of one tick: what a plastic table
    /// needs, since its weights move one by one.
    pub(crate) fn with_coupling_weights(
        mut self,
        coupling: &crate::spike::coupling::Coupling,
    ) -> Self {
        // Its weights will move: plasticity indexes its synapses by four-byte target.
        self.targets = Targets::Wide(std::mem::take(&mut self.targets).widened());
        if self.has_weights() {
            return self;
        }
        self.weights = Vec::with_capacity(self.len());
        for j in 0..self.offsets.len().saturating_sub(1) {
            let w = if (j as u32) < coupling.excitatory {
                coupling.we_mv
            } else {
                coupling.wi_mv
            };
            let n = (self.offsets[j + 1] - self.offsets[j]) as usize;
            self.weights.extend(std::iter::repeat_n(w, n));
        }
        if self.delays.is_empty() {
            self.delays = Delays::Narrow(vec![1; self.len()]);
        }
        self
    }

    /// The rows (offsets), local targets and weights, to index the plastic synapses.
    pub(crate) fn parts(&self) -> (&[u32], &[u32], &[f32]) {
        (&self.offsets, self.targets.wide(), &self.weights)
    }

    /// The local targets and the weights to change (a table with weights).
    pub(crate) fn targets_and_weights_mut(&mut self) -> (&[u32], &mut [f32]) {
        (self.targets.wide(), &mut self.weights)
    }

    /// The smallest and largest delay (ticks); `None` when the table has no delays.
    pub(crate) fn delay_range(&self) -> Option<(u16, u16)> {
        self.delays.range()
    }

    /// Whether every synapse carries its own weight.
    pub(crate) fn has_weights(&self) -> bool {
        !self.weights.is_empty()
    }

    /// Whether every synapse carries its own delay.
    pub(crate) fn has_delays(&self) -> bool {
        !self.delays.is_empty()
    }

    /// The table's runs of consecutive synapses with one delay, row by row (a table with
    /// delays): few when each row is sorted by delay.
    pub(super) fn delay_runs(&self) -> DelayRuns {
        match &self.delays {
            Delays::Narrow(d) => DelayRuns::of(&self.offsets, |k| u16::from(d[k])),
            Delays::Wide(d) => DelayRuns::of(&self.offsets, |k| d[k]),
        }
    }

    /// Every synapse's target and weight (a table with weights), to read runs from.
    pub(super) fn all_weighted(&self) -> (TargetRow<'_>, &[f32]) {
        (self.targets.row(0..self.targets.len()), &self.weights)
    }

    /// Bytes the table holds.
    pub fn bytes(&self) -> usize {
        self.offsets.len() * 4
            + self.targets.len() * self.targets.width()
            + self.delays.len() * self.delays.width()
            + self.weights.len() * 4
    }

    /// Synapses in the table.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The most synapses any presynaptic neuron has in the table.
    pub(crate) fn longest_row(&self) -> usize {
        let rows = self.offsets.windows(2).map(|w| (w[1] - w[0]) as usize);
        rows.fold(0, usize::max)
    }

    pub(super) fn of(&self, j: u32) -> &[u32] {
        let j = j as usize;
        &self.targets.wide()[self.offsets[j] as usize..self.offsets[j + 1] as usize]
    }

    /// `j`'s targets and their delays.
    pub(super) fn delayed(&self, j: u32) -> (&[u32], DelayRow<'_>) {
        let j = j as usize;
        let r = self.offsets[j] as usize..self.offsets[j + 1] as usize;
        (&self.targets.wide()[r.clone()], self.delays.row(r))
    }

    /// `j`'s targets and weights (a table with weights).
    pub(crate) fn weighted(&self, j: u32) -> (&[u32], &[f32]) {
        let j = j as usize;
        let r = self.offsets[j] as usize..self.offsets[j + 1] as usize;
        (&self.targets.wide()[r.clone()], &self.weights[r])
    }

    /// `j`'s targets, delays and weights (a table with weights and delays).
    pub(crate) fn weighted_delayed(&self, j: u32) -> (TargetRow<'_>, DelayRow<'_>, &[f32]) {
        let j = j as usize;
        let r = self.offsets[j] as usize..self.offsets[j + 1] as usize;
        (
            self.targets.row(r.clone()),
            self.delays.row(r.clone()),
            &self.weights[r],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Targets take two bytes up to 65,536 neurons, delays one up to 255 ticks; a table whose
    /// weights will move gets four-byte targets with the same values.
    #[test]
    fn widths_follow_what_fits() {
        assert_eq!(Targets::zeroed(3, 1 << 16).width(), 2);
        assert_eq!(Targets::zeroed(3, (1 << 16) + 1).width(), 4);
        assert_eq!(Delays::of(vec![1, 255]).width(), 1);
        assert_eq!(Delays::of(vec![1, 256]).width(), 2);
        let table = SynapseTable::from_rows(
            vec![0, 2, 3],
            Targets::Narrow(vec![4, 0, 65535]),
            Delays::of(vec![1, 2, 3]),
            vec![0.5, -1.0, 2.0],
        );
        assert_eq!(table.bytes(), 3 * 4 + 3 * (2 + 1 + 4));
        let (t, d, w) = table.weighted_delayed(1);
        assert_eq!(
            (t.indices(), d.ticks(), w),
            (vec![65535], vec![3], &[2.0][..])
        );
        let coupling = crate::spike::coupling::Coupling {
            excitatory: 1,
            we_mv: 1.0,
            wi_mv: -1.0,
        };
        let plastic = table.clone().with_coupling_weights(&coupling);
        assert_eq!(plastic.parts().1, &[4, 0, 65535]);
        assert_eq!(plastic.parts().2, &[0.5, -1.0, 2.0]);
    }
}
