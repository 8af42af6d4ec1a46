//! [`DenseProjection`]: every presynaptic neuron of a source population to every neuron of
//! the receiving shard, each synapse with its own weight, optionally plastic. The receiving
//! shard owns it: weights, the presynaptic traces it keeps from the spikes that arrive, and
//! the postsynaptic traces of its own neurons; with delays, the delay line ([`delay`]).

pub mod delay;

pub use delay::DelayLine;

use super::rule::Plasticity;
use crate::spike::conductance::flush;

/// A dense projection onto one shard: `weights[i * n_post + j]` is presynaptic `i` to local
/// neuron `j` (a presynaptic spike reads one contiguous row).
#[derive(Clone, Debug, PartialEq)]
pub struct DenseProjection {
    n_pre: usize,
    n_post: usize,
    weights: Vec<f32>,
    /// The rule, if the synapses are plastic.
    plasticity: Option<Plasticity>,
    /// Presynaptic traces `r1`, `r2` (one per presynaptic neuron each; empty when unused).
    pre: [Vec<f32>; 2],
    /// Postsynaptic traces `o1`, `o2`.
    post: [Vec<f32>; 2],
    /// Per-tick decay factors `exp(-dt / tau)` of `pre` and `post`.
    pre_decay: [f32; 2],
    post_decay: [f32; 2],
    /// The local neurons with a postsynaptic trace that is not zero (a presynaptic spike can
    /// depress only their synapses), in the order they last became so.
    active: Vec<u32>,
    /// Scratch: the presynaptic neurons whose `r1` is not zero, at a postsynaptic spike.
    rows: Vec<u32>,
    /// The synapses' delays, if any is not zero (then `pre` holds each input's traces over
    /// the line's ticks, a slot of `n_pre` per tick).
    line: Option<DelayLine>,
}

impl DenseProjection {
    /// A projection from `n_pre` neurons onto `n_post` with these weights (row per
    /// presynaptic neuron), fixed unless [`DenseProjection::with_plasticity`].
    ///
    /// # Panics
    /// If `weights.len() != n_pre * n_post` (a programming error).
    pub fn new(n_pre: usize, n_post: usize, weights: Vec<f32>) -> Self {
        assert_eq!(weights.len(), n_pre * n_post, "a weight per synapse");
        DenseProjection {
            n_pre,
            n_post,
            weights,
            plasticity: None,
            pre: [Vec::new(), Vec::new()],
            post: [Vec::new(), Vec::new()],
            pre_decay: [0.0; 2],
            post_decay: [0.0; 2],
            active: Vec::new(),
            rows: Vec::new(),
            line: None,
        }
    }

    /// Makes the synapses plastic under `rule`, with ticks of `dt_ms`; traces start at 0.
    pub fn with_plasticity(mut self, rule: Plasticity, dt_ms: f32) -> Self {
        let (pre, post) = rule.taus();
        let decay = |tau: f32| if tau > 0.0 { (-dt_ms / tau).exp() } else { 0.0 };
        let slots = self.trace_slots();
        for k in 0..2 {
            self.pre_decay[k] = decay(pre[k]);
            self.post_decay[k] = decay(post[k]);
            self.pre[k] = if pre[k] > 0.0 {
                vec![0.0; self.n_pre * slots]
            } else {
                Vec::new()
            };
            self.post[k] = if post[k] > 0.0 {
                vec![0.0; self.n_post]
            } else {
                Vec::new()
            };
        }
        self.plasticity = Some(rule);
        self
    }

    /// Presynaptic neurons.
    pub fn n_pre(&self) -> usize {
        self.n_pre
    }

    /// Postsynaptic (local) neurons.
    pub fn n_post(&self) -> usize {
        self.n_post
    }

    /// The weights, a row per presynaptic neuron.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The weights, to restore them from a checkpoint.
    pub fn weights_mut(&mut self) -> &mut [f32] {
        &mut self.weights
    }

    /// The traces (`r1`, `r2`, `o1`, `o2`; unused ones empty), for checkpoints.
    pub fn traces(&self) -> [&[f32]; 4] {
        [&self.pre[0], &self.pre[1], &self.post[0], &self.post[1]]
    }

    /// The length of trace `name` (`r1`, `r2`, `o1`, `o2`): 0 when the rule does not use it.
    pub fn traces_len(&self, name: &str) -> usize {
        match name {
            "r1" => self.pre[0].len(),
            "r2" => self.pre[1].len(),
            "o1" => self.post[0].len(),
            _ => self.post[1].len(),
        }
    }

    /// Restores the traces (`r1`, `r2`, `o1`, `o2`, as [`DenseProjection::traces`] gave
    /// them) from a checkpoint.
    pub fn set_traces(&mut self, [r1, r2, o1, o2]: [Vec<f32>; 4]) {
        let nonzero = |x: Option<&f32>| x.is_some_and(|&x| x != 0.0);
        self.active = (0..self.n_post as u32)
            .filter(|&j| nonzero(o1.get(j as usize)) || nonzero(o2.get(j as usize)))
            .collect();
        (self.pre, self.post) = ([r1, r2], [o1, o2]);
    }

    /// Whether the synapses are plastic.
    pub fn is_plastic(&self) -> bool {
        self.plasticity.is_some()
    }

    /// One tick of trace decay (nothing when not plastic); traces below
    /// [`crate::spike::conductance::TINY`] become zero.
    pub fn decay(&mut self) {
        for k in 0..2 {
            if self.line.is_none() {
                decay_all(&mut self.pre[k], self.pre_decay[k]);
            }
            decay_all(&mut self.post[k], self.post_decay[k]);
        }
        self.advance_line();
        let [o1, o2] = &self.post;
        self.active.retain(|&j| {
            let j = j as usize;
            o1.get(j).is_some_and(|&x| x != 0.0) || o2.get(j).is_some_and(|&x| x != 0.0)
        });
    }

    /// Delivers the presynaptic spikes `fired` (indices into the source): adds each one's
    /// row of weights into `g` (one value per local neuron) and, when `learn`, applies the
    /// rule's presynaptic update and the traces' jumps. Returns the synaptic events. With
    /// delays, `fired` start on their way and the spikes arriving now are delivered: call it
    /// every tick (with no spikes when there are none), after [`DenseProjection::decay`].
    pub fn deliver(&mut self, fired: &[u32], g: &mut [f32], learn: bool) -> u64 {
        if self.line.is_some() {
            return self.deliver_delayed(fired, g, learn);
        }
        let n = self.n_post;
        for &i in fired {
            let i = i as usize;
            let row = &mut self.weights[i * n..(i + 1) * n];
            for (g, &w) in g.iter_mut().zip(row.iter()) {
                *g += w;
            }
            let Some(p) = self.plasticity.filter(|_| learn) else {
                continue;
            };
            if p.depresses() {
                // Only neurons with a postsynaptic trace can be depressed (o1 = 0 changes
                // nothing).
                let r2 = self.pre[1].get(i).copied().unwrap_or(0.0);
                let o1 = &self.post[0];
                for &j in &self.active {
                    let (w, o) = (&mut row[j as usize], o1[j as usize]);
                    *w = p.clip(*w - p.f_minus(*w) * p.pre_factor(o, r2));
                }
            }
            for k in 0..2 {
                if let Some(x) = self.pre[k].get_mut(i) {
                    *x = p.jump(*x);
                }
            }
        }
        (fired.len() * n) as u64
    }

    /// The local neurons `fired` spiked: when `learn`, applies the rule's postsynaptic
    /// update to each one's column and the traces' jumps.
    pub fn post_spikes(&mut self, fired: &[u32], learn: bool) {
        let Some(p) = self.plasticity.filter(|_| learn) else {
            return;
        };
        if fired.is_empty() {
            return;
        }
        // Where the presynaptic trace is 0 the rules other than `presynaptic` change nothing
        // (`w + f+(w) 0 = w`): visit only the rows of inputs that spiked lately (a column walk
        // misses the cache at every row).
        if self.line.is_some() {
            self.rows_delayed();
        } else {
            let r1 = &self.pre[0];
            self.rows.clear();
            self.rows
                .extend((0..r1.len() as u32).filter(|&i| r1[i as usize] != 0.0));
        }
        for &j in fired {
            let j = j as usize;
            let o2 = self.post[1].get(j).copied().unwrap_or(0.0);
            if self.line.is_some() {
                self.potentiate_delayed(j, o2, p);
            } else {
                self.potentiate(j, o2, p);
            }
            if self.post.iter().all(|t| t.get(j).is_none_or(|&x| x == 0.0)) {
                self.active.push(j as u32);
            }
            for k in 0..2 {
                if let Some(x) = self.post[k].get_mut(j) {
                    *x = p.jump(*x);
                }
            }
        }
    }

    /// Potentiates local neuron `j`'s synapses (it spiked; `o2` its trace before the jump).
    fn potentiate(&mut self, j: usize, o2: f32, p: Plasticity) {
        let n = self.n_post;
        let r1 = &self.pre[0];
        if p.post_factor(0.0, o2) == 0.0 {
            for &i in &self.rows {
                let i = i as usize;
                let w = &mut self.weights[i * n + j];
                *w = p.clip(*w + p.f_plus(*w) * p.post_factor(r1[i], o2));
            }
        } else {
            for (i, &r) in r1.iter().enumerate() {
                let w = &mut self.weights[i * n + j];
                *w = p.clip(*w + p.f_plus(*w) * p.post_factor(r, o2));
            }
        }
    }

    /// Scales each local neuron's incoming weights so they sum to `total` (a neuron whose
    /// weights sum to 0 keeps them).
    pub fn normalise(&mut self, total: f32, sums: &mut Vec<f32>) {
        let n = self.n_post;
        sums.clear();
        sums.resize(n, 0.0);
        for row in self.weights.chunks_exact(n) {
            for (s, &w) in sums.iter_mut().zip(row) {
                *s += w;
            }
        }
        for s in sums.iter_mut() {
            *s = if *s > 0.0 { total / *s } else { 1.0 };
        }
        for row in self.weights.chunks_exact_mut(n) {
            for (w, &f) in row.iter_mut().zip(sums.iter()) {
                *w *= f;
            }
        }
    }
}

/// `x <- flush(x f)` for every trace, compiled for the widest vector instructions the machine
/// has (the same numbers on each).
fn decay_all(xs: &mut [f32], f: f32) {
    #[inline(always)]
    fn each(xs: &mut [f32], f: f32) {
        for x in xs.iter_mut() {
            *x = flush(*x * f);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn wide(xs: &mut [f32], f: f32) {
            each(xs, f)
        }
        #[target_feature(enable = "avx2")]
        fn mid(xs: &mut [f32], f: f32) {
            each(xs, f)
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was just detected.
            return unsafe { wide(xs, f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was just detected.
            return unsafe { mid(xs, f) };
        }
    }
    each(xs, f)
}
