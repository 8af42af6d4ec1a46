//! STDP on sparse, delayed synapses: which projections of a recurrent network are plastic
//! ([`PlasticProjections`]), the plastic part of one population shard's synapse table
//! ([`SparsePlasticity`]), the traces a neuron actor keeps for its own synapses
//! ([`SynapseTraces`]), and what the weights did ([`WeightFigures`]).
//!
//! **Traces are decayed lazily.** A trace stores its value at its last jump and that tick;
//! read at tick `t` it is `x * exp(-(t - t0) dt / tau)`, the factor taken from a table built
//! once ([`DecayTable`]). Work is per spike and synapse, never per neuron and tick, and a
//! population shard and a neuron actor that see the same spikes compute the same bits.
//!
//! **Timing.** Spikes are timed at the tick they were fired; synaptic delays shift when a
//! spike acts on the membrane, not the STDP window. Within one tick, postsynaptic spikes are
//! applied before presynaptic ones: a presynaptic spike acts from the next tick on, so it
//! cannot have caused a postsynaptic spike of its own tick, and the pair counts as
//! post-before-pre (depression).

use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::rule::Plasticity;

/// One plastic projection: every synapse from a neuron of `pre` onto one of `post` (global
/// neuron indices).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Projection {
    /// Presynaptic neurons (excitatory: weights are non-negative).
    pub pre: Range<u32>,
    /// Postsynaptic neurons.
    pub post: Range<u32>,
    /// The projection's name as the scenario wrote it (`E->E`, `L4E->L23E`).
    pub name: String,
}

/// The plastic projections of a network and their rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlasticProjections {
    /// The rule (weights are the network's own unit, mV for a current jump).
    pub rule: Plasticity,
    /// The projections the rule applies to.
    pub projections: Vec<Projection>,
}

impl PlasticProjections {
    /// Whether the synapse `pre -> post` (global indices) is plastic.
    pub fn is_plastic(&self, pre: u32, post: u32) -> bool {
        self.projections
            .iter()
            .any(|p| p.pre.contains(&pre) && p.post.contains(&post))
    }
}

/// `exp(-lag dt / tau)` by lag in ticks, up to the lag where it falls below `1e-12` (then 0).
#[derive(Clone, Debug)]
pub struct DecayTable(Vec<f32>);

impl DecayTable {
    /// The table for `tau_ms` (0: a trace the rule does not use, always 0) at ticks of
    /// `dt_ms`.
    pub fn new(tau_ms: f32, dt_ms: f32) -> Self {
        if tau_ms <= 0.0 {
            return DecayTable(vec![0.0]);
        }
        let per_tick = f64::from(dt_ms) / f64::from(tau_ms);
        let len = ((27.7 / per_tick).ceil() as usize).clamp(1, 1 << 22);
        DecayTable(
            (0..len)
                .map(|k| (-(k as f64) * per_tick).exp() as f32)
                .collect(),
        )
    }

    /// A trace that was `x` at tick `since`, read at tick `now` (`now >= since`).
    #[inline]
    pub fn at(&self, x: f32, since: u64, now: u64) -> f32 {
        self.0
            .get(now.saturating_sub(since) as usize)
            .map_or(0.0, |f| x * f)
    }
}

/// The four decay tables of a rule (`r1`, `r2`, `o1`, `o2`), shared by every owner.
#[derive(Clone, Debug)]
pub struct Decays {
    pre: [DecayTable; 2],
    post: [DecayTable; 2],
}

impl Decays {
    /// The tables of `rule` at ticks of `dt_ms`.
    pub fn new(rule: &Plasticity, dt_ms: f32) -> Arc<Self> {
        let (pre, post) = rule.taus();
        Arc::new(Decays {
            pre: pre.map(|t| DecayTable::new(t, dt_ms)),
            post: post.map(|t| DecayTable::new(t, dt_ms)),
        })
    }
}

/// A neuron's pair of traces (`r1`, `r2` or `o1`, `o2`) and the tick of their last jump.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Trace {
    x: [f32; 2],
    at: u64,
}

impl Trace {
    /// Both values at tick `now`.
    #[inline]
    fn read(&self, tables: &[DecayTable; 2], now: u64) -> [f32; 2] {
        [
            tables[0].at(self.x[0], self.at, now),
            tables[1].at(self.x[1], self.at, now),
        ]
    }

    /// The neuron spiked at `now`: both traces jump.
    #[inline]
    fn jump(&mut self, rule: &Plasticity, tables: &[DecayTable; 2], now: u64) {
        let x = self.read(tables, now);
        self.x = [rule.jump(x[0]), rule.jump(x[1])];
        self.at = now;
    }
}

/// What the plastic weights did over a run (`"plasticity"` in results.json's `snn`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightFigures {
    /// The plastic projections, by name.
    pub projections: Vec<String>,
    /// Plastic synapses.
    pub synapses: u64,
    /// Mean weight at the start and at the end.
    pub mean_start: f64,
    /// Mean weight at the end.
    pub mean_end: f64,
    /// Smallest and largest weight at the end.
    pub min_end: f64,
    /// Largest weight at the end.
    pub max_end: f64,
    /// The bounds the rule keeps the weights in.
    pub bounds: [f64; 2],
    /// Weights at the end in [`HISTOGRAM_BINS`] equal bins over `bounds`.
    pub histogram_end: Vec<u64>,
    /// The same at the start.
    pub histogram_start: Vec<u64>,
}

/// Bins of [`WeightFigures`]' histograms.
pub const HISTOGRAM_BINS: usize = 200;

impl WeightFigures {
    /// Figures of one set of plastic weights (`start`, `end` in the same order).
    pub fn of(rule: &Plasticity, names: Vec<String>, start: &[f32], end: &[f32]) -> Self {
        let hist = |ws: &[f32]| {
            let mut h = vec![0u64; HISTOGRAM_BINS];
            let span = f64::from(rule.w_max - rule.w_min);
            for &w in ws {
                let b = (f64::from(w - rule.w_min) / span * HISTOGRAM_BINS as f64).floor();
                h[(b.max(0.0) as usize).min(HISTOGRAM_BINS - 1)] += 1;
            }
            h
        };
        let mean =
            |ws: &[f32]| ws.iter().map(|&w| f64::from(w)).sum::<f64>() / ws.len().max(1) as f64;
        let fold =
            |f: fn(f64, f64) -> f64, init: f64| end.iter().map(|&w| f64::from(w)).fold(init, f);
        WeightFigures {
            projections: names,
            synapses: end.len() as u64,
            mean_start: mean(start),
            mean_end: mean(end),
            min_end: fold(f64::min, f64::INFINITY),
            max_end: fold(f64::max, f64::NEG_INFINITY),
            bounds: [f64::from(rule.w_min), f64::from(rule.w_max)],
            histogram_end: hist(end),
            histogram_start: hist(start),
        }
    }

    /// Adds another owner's figures (the same rule) into these.
    pub fn merge(&mut self, o: &WeightFigures) {
        if o.synapses == 0 {
            return;
        }
        if self.synapses == 0 {
            *self = o.clone();
            return;
        }
        let n = (self.synapses + o.synapses) as f64;
        let (a, b) = (self.synapses as f64 / n, o.synapses as f64 / n);
        self.mean_start = self.mean_start * a + o.mean_start * b;
        self.mean_end = self.mean_end * a + o.mean_end * b;
        self.min_end = self.min_end.min(o.min_end);
        self.max_end = self.max_end.max(o.max_end);
        self.synapses += o.synapses;
        for (h, x) in self.histogram_end.iter_mut().zip(&o.histogram_end) {
            *h += x;
        }
        for (h, x) in self.histogram_start.iter_mut().zip(&o.histogram_start) {
            *h += x;
        }
    }
}

/// The plastic synapses of one population shard's synapse table (stored by presynaptic
/// neuron): their index by presynaptic and by postsynaptic neuron, and the traces. The weights
/// stay in the table; the table hands them in.
#[derive(Clone, Debug)]
pub struct SparsePlasticity {
    rule: Plasticity,
    decays: Arc<Decays>,
    /// `row_syn[row_off[j]..row_off[j + 1]]`: the table's indices of `j`'s plastic synapses.
    row_off: Vec<u32>,
    row_syn: Vec<u32>,
    /// `col[col_off[i]..col_off[i + 1]]`: (table index, presynaptic neuron) of local `i`'s.
    col_off: Vec<u32>,
    col: Vec<(u32, u32)>,
    /// Presynaptic traces by global neuron (only those with plastic synapses move).
    pre: Vec<Trace>,
    /// Postsynaptic traces by local neuron.
    post: Vec<Trace>,
    /// The plastic weights at the start, in `row_syn` order.
    start: Vec<f32>,
    names: Vec<String>,
}

impl SparsePlasticity {
    /// The plastic synapses of a table with rows `offsets` and local `targets` (neurons
    /// `first..` of the network), under `plastic`, at ticks of `dt_ms`; `weights` are the
    /// table's.
    pub fn new(
        plastic: &PlasticProjections,
        dt_ms: f32,
        (offsets, targets, weights): (&[u32], &[u32], &[f32]),
        first: u32,
        neurons: usize,
    ) -> Self {
        let rows = offsets.len().saturating_sub(1);
        let mut row_off = Vec::with_capacity(rows + 1);
        let mut row_syn = Vec::new();
        let mut per_post = vec![0u32; neurons + 1];
        row_off.push(0);
        for j in 0..rows {
            for s in offsets[j]..offsets[j + 1] {
                let t = targets[s as usize];
                if plastic.is_plastic(j as u32, first + t) {
                    row_syn.push(s);
                    per_post[t as usize + 1] += 1;
                }
            }
            row_off.push(row_syn.len() as u32);
        }
        for i in 0..neurons {
            per_post[i + 1] += per_post[i];
        }
        let mut col = vec![(0, 0); row_syn.len()];
        let mut fill = per_post.clone();
        for j in 0..rows {
            for &s in &row_syn[row_off[j] as usize..row_off[j + 1] as usize] {
                let t = targets[s as usize] as usize;
                col[fill[t] as usize] = (s, j as u32);
                fill[t] += 1;
            }
        }
        let start = row_syn.iter().map(|&s| weights[s as usize]).collect();
        SparsePlasticity {
            rule: plastic.rule,
            decays: Decays::new(&plastic.rule, dt_ms),
            row_off,
            row_syn,
            col_off: per_post,
            col,
            pre: vec![Trace::default(); rows],
            post: vec![Trace::default(); neurons],
            start,
            names: plastic.projections.iter().map(|p| p.name.clone()).collect(),
        }
    }

    /// Clips the plastic synapses' `weights` (the table's) into the rule's bounds: a plastic
    /// synapse starts within them, and its start is recorded there.
    pub fn clip_into_bounds(&mut self, weights: &mut [f32]) {
        for (&s, w0) in self.row_syn.iter().zip(self.start.iter_mut()) {
            let w = &mut weights[s as usize];
            *w = self.rule.clip(*w);
            *w0 = *w;
        }
    }

    /// Plastic synapses in the table.
    pub fn len(&self) -> usize {
        self.row_syn.len()
    }

    /// Whether no synapse of the table is plastic.
    pub fn is_empty(&self) -> bool {
        self.row_syn.is_empty()
    }

    /// Presynaptic `j` spiked at tick `now` (after its weights were delivered): its plastic
    /// synapses are depressed by the postsynaptic traces, then its traces jump.
    #[inline]
    pub fn pre_spike(&mut self, now: u64, j: u32, targets: &[u32], weights: &mut [f32]) {
        let j = j as usize;
        let Some(&end) = self.row_off.get(j + 1) else {
            return;
        };
        let syn = &self.row_syn[self.row_off[j] as usize..end as usize];
        if syn.is_empty() {
            return;
        }
        let (p, d) = (&self.rule, &*self.decays);
        let r = self.pre[j].read(&d.pre, now);
        if p.depresses() {
            for &s in syn {
                let s = s as usize;
                let o = self.post[targets[s] as usize].read(&d.post, now);
                if o[0] != 0.0 {
                    weights[s] = p.depressed(weights[s], o[0], r[1]);
                }
            }
        }
        self.pre[j].jump(p, &d.pre, now);
    }

    /// Local `i` spiked at tick `now`: its plastic synapses are potentiated by the
    /// presynaptic traces, then its traces jump.
    #[inline]
    pub fn post_spike(&mut self, now: u64, i: u32, weights: &mut [f32]) {
        let i = i as usize;
        let Some(&end) = self.col_off.get(i + 1) else {
            return;
        };
        let (p, d) = (&self.rule, &*self.decays);
        let o = self.post[i].read(&d.post, now);
        let always = !p.depresses(); // the presynaptic rule depresses where r1 = 0
        for &(s, j) in &self.col[self.col_off[i] as usize..end as usize] {
            let r = self.pre[j as usize].read(&d.pre, now);
            if always || r[0] != 0.0 {
                let s = s as usize;
                weights[s] = p.potentiated(weights[s], r[0], o[1]);
            }
        }
        self.post[i].jump(p, &d.post, now);
    }

    /// What the weights did, given the table's `weights` now.
    pub fn figures(&self, weights: &[f32]) -> WeightFigures {
        let end: Vec<f32> = self.row_syn.iter().map(|&s| weights[s as usize]).collect();
        WeightFigures::of(&self.rule, self.names.clone(), &self.start, &end)
    }
}

/// The plastic synapses of one neuron actor: its presynaptic neurons (ascending), each
/// synapse's weight and presynaptic trace, and the neuron's own traces.
#[derive(Clone, Debug)]
pub struct SynapseTraces {
    rule: Plasticity,
    decays: Arc<Decays>,
    /// Presynaptic neurons of the plastic synapses, ascending.
    from: Vec<u32>,
    /// Their weights.
    weights: Vec<f32>,
    start: Vec<f32>,
    pre: Vec<Trace>,
    post: Trace,
    names: Vec<String>,
}

impl SynapseTraces {
    /// Plastic synapses from `from` (ascending) with these initial weights (clipped into the
    /// rule's bounds).
    pub fn new(
        plastic: &PlasticProjections,
        decays: Arc<Decays>,
        from: Vec<u32>,
        weights: Vec<f32>,
    ) -> Self {
        let weights: Vec<f32> = weights.into_iter().map(|w| plastic.rule.clip(w)).collect();
        SynapseTraces {
            rule: plastic.rule,
            decays,
            pre: vec![Trace::default(); from.len()],
            start: weights.clone(),
            from,
            weights,
            post: Trace::default(),
            names: plastic.projections.iter().map(|p| p.name.clone()).collect(),
        }
    }

    /// The weight of the synapse from `j` if it is plastic; a spike from `j` at `now` then
    /// depresses it (after this read) and the synapse's trace jumps.
    #[inline]
    pub fn pre_spike(&mut self, now: u64, j: u32) -> Option<f32> {
        let k = self.from.binary_search(&j).ok()?;
        let (p, d) = (&self.rule, &*self.decays);
        let w = self.weights[k];
        if p.depresses() {
            let o = self.post.read(&d.post, now);
            if o[0] != 0.0 {
                let r = self.pre[k].read(&d.pre, now);
                self.weights[k] = p.depressed(w, o[0], r[1]);
            }
        }
        self.pre[k].jump(p, &d.pre, now);
        Some(w)
    }

    /// The neuron spiked at `now`: every plastic synapse is potentiated, then its traces jump.
    pub fn post_spike(&mut self, now: u64) {
        let (p, d) = (&self.rule, &*self.decays);
        let o = self.post.read(&d.post, now);
        let always = !p.depresses();
        for (w, t) in self.weights.iter_mut().zip(&self.pre) {
            let r = t.read(&d.pre, now);
            if always || r[0] != 0.0 {
                *w = p.potentiated(*w, r[0], o[1]);
            }
        }
        self.post.jump(p, &d.post, now);
    }

    /// The synapses' presynaptic neurons and weights.
    pub fn weights(&self) -> (&[u32], &[f32]) {
        (&self.from, &self.weights)
    }

    /// What the weights did.
    pub fn figures(&self) -> WeightFigures {
        WeightFigures::of(&self.rule, self.names.clone(), &self.start, &self.weights)
    }
}

#[cfg(test)]
mod tests;
