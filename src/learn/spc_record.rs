//! What a spiking predictive-coding shard records for the run's counts and figures, and what
//! the coordinator makes of it. A shard's `Recorder` counts its spikes and synaptic events
//! per batch, its spikes per tick and population over each training batch (reported with the
//! batch as [`ReportData::TickCounts`]), and every spike of the first image of its last
//! training batch (reported at the epoch's snapshot as [`ReportData::Raster`], and kept in
//! its checkpoint state). The coordinator sums the counts over shards and batches into
//! [`TickRates`] per layer, and gathers the shards' spikes into the epoch's [`SpcRaster`].
//! Nothing here allocates per tick: the buffers are the shard's, reused batch after batch.
//! `sample_probes` records a shard's `[[probe]]`s.

use std::sync::Arc;

use crate::learn::layer::core::LayerCore;
use crate::math::matrix::Matrix;
use crate::message::{ProbeVariable, ReportData};
use crate::state::{StateBag, StateError};

/// Records a shard's probes due at global step `step` (a tick of a training batch), from
/// its value neurons `x`, prediction `mu` and error input `drive` (`x - mu`): the first
/// example's values (the output's: its prediction) and error input (0 while settling), the
/// shard's free energy, its weight rows' norms (read by the core).
pub(crate) fn sample_probes(
    core: &mut LayerCore,
    step: u64,
    (x, mu, drive): (&Matrix, &Matrix, &Matrix),
    (output, learning, energy): (bool, bool, f32),
) {
    core.probe(step, |v, i| {
        let i = i as usize;
        match v {
            ProbeVariable::Values if output => mu.row(0)[i],
            ProbeVariable::Values => x.row(0)[i],
            ProbeVariable::Errors if learning => drive.row(0)[i],
            ProbeVariable::Errors => 0.0,
            ProbeVariable::FreeEnergy => energy,
            _ => f32::NAN,
        }
    });
}

/// The populations of a spiking PC layer, in the order of the recorded counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Population {
    /// Value neurons (they fire up; the output's do not fire: its prediction is read as `mu`).
    Value = 0,
    /// Error neurons' positive spikes (`u >= theta`).
    ErrorPos = 1,
    /// Error neurons' negative spikes (`u <= -theta`).
    ErrorNeg = 2,
}

impl Population {
    /// The three, in order.
    pub const ALL: [Population; 3] = [
        Population::Value,
        Population::ErrorPos,
        Population::ErrorNeg,
    ];

    /// The population of recorded index `i`, if any.
    fn of(i: u32) -> Option<Self> {
        Self::ALL.get(i as usize).copied()
    }
}

/// Name of the state tensor that holds the recorded image's spikes.
const RASTER_STATE: &str = "raster";

/// One shard's recording: spike and synaptic-event counts of the open batch, spikes per tick
/// by population and the first image's spikes of the open training batch, and those spikes
/// of the last finished training batch.
pub(crate) struct Recorder {
    /// The shard's first neuron in its layer (recorded neurons are the layer's).
    offset: u32,
    /// Ticks of a training batch.
    ticks: usize,
    /// Whether the open batch trains (only training batches record per tick).
    train: bool,
    /// Spikes fired (and, by layer 1's first shard, the input's) and synaptic events
    /// delivered in the open batch.
    spikes: u64,
    events: u64,
    /// `ticks x 3` counts of the open training batch; the coordinator holds the last batch's
    /// only until it has added them up, so the buffer comes back unshared.
    counts: Arc<Vec<u32>>,
    /// `(tick, neuron, population)` of the open training batch's first image, and of the
    /// last finished one's.
    open: Vec<u32>,
    last: Vec<u32>,
}

impl Recorder {
    /// The recorder of a shard whose first neuron is `offset`, for batches of `ticks` ticks.
    pub(crate) fn new(offset: usize, ticks: usize) -> Self {
        Self {
            offset: offset as u32,
            ticks,
            train: false,
            spikes: 0,
            events: 0,
            counts: Arc::new(vec![0; 3 * ticks]),
            open: Vec::new(),
            last: Vec::new(),
        }
    }

    /// A batch opens: the counts start from zero.
    pub(crate) fn begin(&mut self, train: bool) {
        (self.train, self.spikes, self.events) = (train, 0, 0);
        if train {
            let counts = Arc::make_mut(&mut self.counts);
            counts.clear();
            counts.resize(3 * self.ticks, 0);
            self.open.clear();
        }
    }

    /// Spikes arrived: `fired` of them, each reaching `targets` neurons; `input` when they are
    /// the input's and this shard counts them.
    pub(crate) fn received(&mut self, fired: u64, targets: usize, input: bool) {
        self.events += fired * targets as u64;
        if input {
            self.spikes += fired;
        }
    }

    /// Tick `t`'s value spikes (`s`: one row per image, 1 where a neuron fired).
    pub(crate) fn values(&mut self, t: usize, s: &Matrix) {
        self.count(t, s, |v| (v != 0.0).then_some(Population::Value));
    }

    /// Tick `t`'s error spikes (`e`: +1, -1 or 0).
    pub(crate) fn errors(&mut self, t: usize, e: &Matrix) {
        self.count(t, e, |v| {
            if v > 0.0 {
                Some(Population::ErrorPos)
            } else if v < 0.0 {
                Some(Population::ErrorNeg)
            } else {
                None
            }
        });
    }

    /// Counts the spikes of `m` at tick `t` by the population `pop` assigns; in a training
    /// batch, per tick, and the first image's one by one.
    fn count(&mut self, t: usize, m: &Matrix, pop: impl Fn(f32) -> Option<Population>) {
        let mut fired = [0u32; 3];
        for &v in m.as_slice() {
            if let Some(p) = pop(v) {
                fired[p as usize] += 1;
            }
        }
        self.spikes += fired.iter().map(|&f| u64::from(f)).sum::<u64>();
        if !self.train || t >= self.ticks {
            return;
        }
        let counts = Arc::make_mut(&mut self.counts);
        for (c, f) in counts[3 * t..3 * t + 3].iter_mut().zip(fired) {
            *c += f;
        }
        if m.rows() == 0 {
            return;
        }
        for (i, &v) in m.row(0).iter().enumerate() {
            if let Some(p) = pop(v) {
                let neuron = self.offset + i as u32;
                self.open.extend_from_slice(&[t as u32, neuron, p as u32]);
            }
        }
    }

    /// The batch ends: the reports of a training batch (spikes and synaptic events, spikes per
    /// tick) for layer `layer`; its first image's spikes become the last batch's.
    pub(crate) fn finish(&mut self, layer: usize) -> Option<[ReportData; 2]> {
        if !std::mem::take(&mut self.train) {
            return None;
        }
        std::mem::swap(&mut self.open, &mut self.last);
        let (spikes, events) = (self.spikes, self.events);
        Some([
            ReportData::SpikeCounts { spikes, events },
            ReportData::TickCounts {
                layer: layer as u32,
                counts: self.counts.clone(),
            },
        ])
    }

    /// The spikes of the last training batch's first image, for the epoch's snapshot.
    pub(crate) fn raster(&self, layer: usize) -> ReportData {
        ReportData::Raster {
            layer: layer as u32,
            events: Arc::new(self.last.clone()),
        }
    }

    /// Adds the recorded image to a checkpoint state (exact as `f32` below 2^24).
    pub(crate) fn save(&self, bag: &mut StateBag) {
        bag.tensor(RASTER_STATE, self.last.iter().map(|&v| v as f32).collect());
    }

    /// Restores what [`Recorder::save`] wrote (nothing recorded if the state has none).
    pub(crate) fn restore(&mut self, bag: &StateBag) -> Result<(), StateError> {
        let saved = bag.tensors().find(|(name, _)| *name == RASTER_STATE);
        let values = saved.map_or(&[][..], |(_, v)| v);
        if values.len() % 3 != 0 || values.iter().any(|v| !(0.0..16_777_216.0).contains(v)) {
            return Err(StateError::Value {
                name: RASTER_STATE.to_owned(),
                value: format!(
                    "{} values, not (tick, neuron, population) triples",
                    values.len()
                ),
            });
        }
        self.last = values.iter().map(|&v| v as u32).collect();
        Ok(())
    }
}

/// One layer's spike rates by tick over an epoch's training images: mean spikes per neuron
/// and image at each tick of a training batch, per population.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TickRates {
    /// The layer (1-based; the output last).
    pub layer: usize,
    /// Value neurons (all 0 at the output, whose value neurons do not fire).
    pub value: Vec<f64>,
    /// Positive error spikes.
    pub error_pos: Vec<f64>,
    /// Negative error spikes.
    pub error_neg: Vec<f64>,
}

/// Adds a shard's counts of one batch for layer `layer` (1-based) to `sums` (per layer,
/// `ticks x 3`), growing it as needed.
pub(crate) fn add_tick_counts(sums: &mut Vec<Vec<u64>>, layer: u32, counts: &[u32]) {
    let l = (layer as usize).saturating_sub(1);
    if sums.len() <= l {
        sums.resize(l + 1, Vec::new());
    }
    let s = &mut sums[l];
    if s.len() < counts.len() {
        s.resize(counts.len(), 0);
    }
    for (s, &c) in s.iter_mut().zip(counts) {
        *s += u64::from(c);
    }
}

/// The rates of counts `sums` (per layer, as [`add_tick_counts`] adds them) of layers of
/// `widths` neurons (layer 1 first) over `images` training images.
pub(crate) fn tick_rates(sums: &[Vec<u64>], widths: &[usize], images: usize) -> Vec<TickRates> {
    let rate = |s: &[u64], p: usize, width: usize| -> Vec<f64> {
        let per = (images.max(1) * width.max(1)) as f64;
        s.chunks_exact(3).map(|c| c[p] as f64 / per).collect()
    };
    sums.iter()
        .zip(widths)
        .enumerate()
        .map(|(l, (s, &w))| TickRates {
            layer: l + 1,
            value: rate(s, Population::Value as usize, w),
            error_pos: rate(s, Population::ErrorPos as usize, w),
            error_neg: rate(s, Population::ErrorNeg as usize, w),
        })
        .collect()
}

/// One spike of the raster's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RasterSpike {
    /// The layer (1-based).
    pub layer: u32,
    /// The tick of the batch (settle ticks first).
    pub tick: u32,
    /// Value, positive or negative error.
    pub population: Population,
    /// The neuron, numbered within its layer.
    pub neuron: u32,
}

/// Every spike of one training image in every layer: the first image of an epoch's last
/// training batch, through its settle and learn ticks.
#[derive(Clone, Debug, PartialEq)]
pub struct SpcRaster {
    /// Ticks of a training batch.
    pub ticks: usize,
    /// How many of them settle (the rest learn, the label clamped).
    pub settle_ticks: usize,
    /// Neurons per layer, layer 1 first.
    pub widths: Vec<usize>,
    /// The spikes in (layer, tick, population, neuron) order.
    pub spikes: Vec<RasterSpike>,
}

impl SpcRaster {
    /// Gathers the shards' reports `parts` (layer, triples) for layers of `widths` neurons;
    /// a triple outside the layer, the batch or the populations is dropped.
    pub(crate) fn gather(
        parts: &[(u32, Arc<Vec<u32>>)],
        widths: &[usize],
        (ticks, settle_ticks): (usize, usize),
    ) -> Self {
        let mut spikes: Vec<RasterSpike> = parts
            .iter()
            .flat_map(|(layer, events)| {
                let width = widths.get((*layer as usize).wrapping_sub(1)).copied();
                events.chunks_exact(3).filter_map(move |e| {
                    let population = Population::of(e[2])?;
                    let inside = (e[0] as usize) < ticks && (e[1] as usize) < width?;
                    inside.then_some(RasterSpike {
                        layer: *layer,
                        tick: e[0],
                        population,
                        neuron: e[1],
                    })
                })
            })
            .collect();
        spikes.sort_unstable();
        SpcRaster {
            ticks,
            settle_ticks,
            widths: widths.to_vec(),
            spikes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_training_batch_counts_by_tick_and_keeps_its_first_image() {
        let mut r = Recorder::new(10, 2);
        r.begin(true);
        r.values(0, &Matrix::from_vec(2, 2, vec![1.0, 0.0, 1.0, 1.0]));
        r.errors(1, &Matrix::from_vec(2, 2, vec![0.0, -1.0, 1.0, -1.0]));
        let Some([ReportData::SpikeCounts { spikes, .. }, ReportData::TickCounts { counts, .. }]) =
            r.finish(2)
        else {
            panic!("a training batch reports")
        };
        assert_eq!(spikes, 6);
        assert_eq!(*counts, vec![3, 0, 0, 0, 1, 2]);
        let ReportData::Raster { events, .. } = r.raster(2) else {
            panic!("a raster")
        };
        assert_eq!(
            *events,
            vec![0, 10, 0, 1, 11, 2],
            "row 0 only, global neurons"
        );
        // An evaluation batch reports nothing and keeps the training image.
        r.begin(false);
        r.values(0, &Matrix::from_vec(1, 2, vec![1.0, 1.0]));
        assert!(r.finish(2).is_none());
        let mut bag = StateBag::default();
        r.save(&mut bag);
        let mut back = Recorder::new(10, 2);
        back.restore(&bag).expect("restores");
        assert_eq!(back.last, r.last);
        bag.insert_tensor(RASTER_STATE, vec![1.0, -2.0, 0.0]);
        assert!(back.restore(&bag).is_err());
    }

    #[test]
    fn counts_become_rates_and_shards_one_raster() {
        let mut sums = Vec::new();
        add_tick_counts(&mut sums, 2, &[4, 2, 0]);
        add_tick_counts(&mut sums, 2, &[4, 0, 2]);
        add_tick_counts(&mut sums, 1, &[1, 0, 0]);
        let rates = tick_rates(&sums, &[2, 4], 2);
        assert_eq!(rates[1].value, vec![1.0]);
        assert_eq!((rates[1].error_pos[0], rates[1].error_neg[0]), (0.25, 0.25));
        assert_eq!(rates[0].value, vec![0.25]);
        let parts = [
            (2, Arc::new(vec![1, 3, 1, 0, 2, 0])),
            (1, Arc::new(vec![1, 0, 0, 5, 0, 0, 0, 9, 0, 0, 1, 7])),
        ];
        let raster = SpcRaster::gather(&parts, &[2, 4], (2, 1));
        let got: Vec<(u32, u32, u32)> = raster
            .spikes
            .iter()
            .map(|s| (s.layer, s.tick, s.neuron))
            .collect();
        assert_eq!(
            got,
            vec![(1, 1, 0), (2, 0, 2), (2, 1, 3)],
            "sorted, outliers dropped"
        );
    }
}
