//! A [`DenseProjection`]'s synaptic delays ([`DelayLine`]): each synapse delays its
//! presynaptic spikes by a whole number of ticks, and its spike-timing events happen when a
//! spike arrives at the synapse, as in Diehl & Cook's published code (Brian 1's
//! `DelayConnection` with STDP).
//!
//! The receiving shard keeps the line: the presynaptic spikes of the last `max + 2` ticks (a
//! ring, one slot per tick, allocated once) and, per presynaptic neuron, its traces over the
//! same ticks. A synapse with delay `d` sees the trace of its presynaptic neuron `d` ticks
//! ago, which is exactly the trace a per-synapse copy jumping at the spike's arrival would
//! hold; so the line stores `max + 2` traces per input instead of one per synapse. With every
//! delay 0 it gives the numbers of the projection without a line.

use super::DenseProjection;
use crate::spike::conductance::flush;
use crate::state::{StateBag, StateError};

/// The delays of a dense projection and the spikes still on their way.
#[derive(Clone, Debug, PartialEq)]
pub struct DelayLine {
    /// Ticks of delay per synapse, a row per presynaptic neuron (as the weights).
    delay: Vec<u8>,
    /// The longest delay, ticks.
    max: usize,
    /// Slots of the ring: `max + 2` (the oldest one gives the trace just before a spike's
    /// jump for the longest delay).
    slots: usize,
    /// Row `i`'s local neurons in order of delay: `order[i * n_post..][..n_post]`.
    order: Vec<u32>,
    /// Row `i`'s neurons with delay `d` are `order[i * n_post..][starts[k + d]..starts[k + d + 1]]`,
    /// `k = i * (max + 2)`.
    starts: Vec<u32>,
    /// The presynaptic spikes of each slot's tick: `spikes[s * n_pre..][..count[s]]`.
    spikes: Vec<u32>,
    count: Vec<u32>,
    /// The slot of the current tick.
    now: usize,
}

impl DelayLine {
    /// A line for `n_pre x n_post` synapses with `delay` ticks each (a row per presynaptic
    /// neuron), nothing on its way.
    fn new(n_pre: usize, n_post: usize, delay: Vec<u8>) -> Self {
        let max = delay.iter().copied().max().unwrap_or(0) as usize;
        let width = max + 2;
        let mut order = Vec::with_capacity(n_pre * n_post);
        let mut starts = Vec::with_capacity(n_pre * width);
        for row in delay.chunks_exact(n_post) {
            let at = order.len();
            order.extend(0..n_post as u32);
            order[at..].sort_by_key(|&j| row[j as usize]);
            let mut start = 0u32;
            for d in 0..width {
                starts.push(start);
                start += row.iter().filter(|&&x| x as usize == d).count() as u32;
            }
        }
        DelayLine {
            delay,
            max,
            slots: max + 2,
            order,
            starts,
            spikes: vec![0; n_pre * (max + 2)],
            count: vec![0; max + 2],
            now: 0,
        }
    }

    /// The slot `back` (`<= max + 1`) ticks before the current one.
    #[inline]
    fn slot(&self, back: usize) -> usize {
        if self.now >= back {
            self.now - back
        } else {
            self.now + self.slots - back
        }
    }

    /// Row `i`'s local neurons whose delay is `d` (`d <= max`).
    #[inline]
    fn cols(&self, i: usize, d: usize, n_post: usize) -> &[u32] {
        let k = i * (self.max + 2) + d;
        let (a, b) = (self.starts[k] as usize, self.starts[k + 1] as usize);
        &self.order[i * n_post..(i + 1) * n_post][a..b]
    }
}

impl DenseProjection {
    /// Delays each synapse's spikes by `delay` ticks (a row per presynaptic neuron, as the
    /// weights). All zero: no line (the projection as it was).
    ///
    /// # Panics
    /// If `delay.len()` is not one per synapse (a programming error).
    pub fn with_delays(mut self, delay: Vec<u8>) -> Self {
        assert_eq!(delay.len(), self.n_pre * self.n_post, "a delay per synapse");
        if delay.iter().all(|&d| d == 0) {
            return self;
        }
        self.install_line(delay);
        self
    }

    /// Puts in a line for `delay` (even all zero), the traces resized to its slots.
    fn install_line(&mut self, delay: Vec<u8>) {
        let line = DelayLine::new(self.n_pre, self.n_post, delay);
        for k in 0..2 {
            if !self.pre[k].is_empty() {
                self.pre[k] = vec![0.0; self.n_pre * line.slots];
            }
        }
        self.line = Some(line);
    }

    /// The presynaptic traces' slots per input: 1 without delays.
    pub(super) fn trace_slots(&self) -> usize {
        self.line.as_ref().map_or(1, |l| l.slots)
    }

    /// The line's tick: the next slot, its traces decayed from the last one's, no spikes.
    pub(super) fn advance_line(&mut self) {
        let Some(line) = self.line.as_mut() else {
            return;
        };
        let n = self.n_pre;
        let last = line.now;
        line.now = (line.now + 1) % line.slots;
        line.count[line.now] = 0;
        let now = line.now;
        for k in 0..2 {
            let xs = &mut self.pre[k];
            if !xs.is_empty() {
                xs.copy_within(last * n..(last + 1) * n, now * n);
                super::decay_all(&mut xs[now * n..(now + 1) * n], self.pre_decay[k]);
            }
        }
    }

    /// [`DenseProjection::deliver`] through the line: `fired` start on their way (their
    /// traces jump now, as a per-synapse trace would at each arrival, `d` ticks later), and
    /// the spikes arriving this tick add their weights into `g` and, when `learn`, depress
    /// their synapses. Returns the synaptic events (arrivals).
    pub(super) fn deliver_delayed(&mut self, fired: &[u32], g: &mut [f32], learn: bool) -> u64 {
        let (n_pre, n) = (self.n_pre, self.n_post);
        let line = self.line.as_mut().expect("a delay line");
        let now = line.now;
        line.spikes[now * n_pre..now * n_pre + fired.len()].copy_from_slice(fired);
        line.count[now] = fired.len() as u32;
        let line = self.line.as_ref().expect("a delay line");
        let rule = self.plasticity.filter(|_| learn);
        if let Some(p) = rule {
            for xs in self.pre.iter_mut().filter(|x| !x.is_empty()) {
                for &i in fired {
                    let x = &mut xs[now * n_pre + i as usize];
                    *x = p.jump(*x);
                }
            }
        }
        let [o1, o2] = &self.post;
        let (r2, r2_decay) = (&self.pre[1], self.pre_decay[1]);
        let depress = rule.filter(|p| p.depresses());
        // Only neurons with a postsynaptic trace are depressed, as without delays.
        let traced =
            |j: usize| o1.get(j).is_some_and(|&x| x != 0.0) || o2.get(j).is_some_and(|&x| x != 0.0);
        let g = &mut g[..n];
        let mut events = 0;
        let mut s = now;
        for d in 0..=line.max {
            let before = if s == 0 { line.slots - 1 } else { s - 1 };
            for &i in &line.spikes[s * n_pre..s * n_pre + line.count[s] as usize] {
                let i = i as usize;
                let cols = line.cols(i, d, n);
                events += cols.len() as u64;
                let row = &mut self.weights[i * n..(i + 1) * n];
                let Some(p) = depress else {
                    for &j in cols {
                        g[j as usize] += row[j as usize];
                    }
                    continue;
                };
                // The synapse's r2 just before this arrival's jump: its input's trace at the
                // spike's tick, before the jump.
                let r2 = r2
                    .get(before * n_pre + i)
                    .map_or(0.0, |&x| flush(x * r2_decay));
                for &j in cols {
                    let (j, w) = (j as usize, &mut row[j as usize]);
                    g[j] += *w;
                    if traced(j) {
                        let o = o1.get(j).copied().unwrap_or(0.0);
                        *w = p.clip(*w - p.f_minus(*w) * p.pre_factor(o, r2));
                    }
                }
            }
            s = before;
        }
        events
    }

    /// The inputs whose trace, as some synapse of theirs sees it now, is not zero.
    pub(super) fn rows_delayed(&mut self) {
        let line = self.line.as_ref().expect("a delay line");
        let (n_pre, r1) = (self.n_pre, &self.pre[0]);
        self.rows.clear();
        if r1.is_empty() {
            return;
        }
        // Every slot but the oldest (the trace `max + 1` ticks ago, which no synapse sees).
        let oldest = line.slot(line.max + 1);
        let seen = |i: usize| (0..line.slots).any(|s| s != oldest && r1[s * n_pre + i] != 0.0);
        self.rows
            .extend((0..n_pre as u32).filter(|&i| seen(i as usize)));
    }

    /// Potentiates local neuron `j`'s synapses (it spiked; `o2` its trace before the jump),
    /// each by its input's trace as the synapse sees it (`d` ticks ago).
    pub(super) fn potentiate_delayed(&mut self, j: usize, o2: f32, p: super::Plasticity) {
        let line = self.line.as_ref().expect("a delay line");
        let (n_pre, n, r1) = (self.n_pre, self.n_post, &self.pre[0]);
        let seen = |i: usize| {
            let s = line.slot(line.delay[i * n + j] as usize);
            r1.get(s * n_pre + i).copied().unwrap_or(0.0)
        };
        let each = |i: usize, w: &mut f32| {
            *w = p.clip(*w + p.f_plus(*w) * p.post_factor(seen(i), o2));
        };
        if p.post_factor(0.0, o2) == 0.0 {
            for &i in &self.rows {
                let i = i as usize;
                each(i, &mut self.weights[i * n + j]);
            }
        } else {
            for i in 0..n_pre {
                each(i, &mut self.weights[i * n + j]);
            }
        }
    }

    /// Writes the line (spikes on their way, the current slot) into `b`; nothing without one.
    pub fn save_line(&self, b: &mut StateBag) {
        let Some(line) = &self.line else {
            return;
        };
        b.tensor(
            "line.spikes",
            line.spikes.iter().map(|&i| i as f32).collect(),
        );
        b.tensor("line.count", line.count.iter().map(|&c| c as f32).collect());
        b.scalar("line.now", line.now.to_string());
    }

    /// Restores the line [`DenseProjection::save_line`] wrote.
    pub fn restore_line(&mut self, b: &StateBag) -> Result<(), StateError> {
        let Some(line) = &mut self.line else {
            return Ok(());
        };
        let mut spikes = vec![0.0; line.spikes.len()];
        b.fill("line.spikes", &mut spikes)?;
        let mut count = vec![0.0; line.count.len()];
        b.fill("line.count", &mut count)?;
        line.spikes = spikes.iter().map(|&x| x as u32).collect();
        line.count = count.iter().map(|&x| x as u32).collect();
        line.now = b.parse("line.now")?;
        let n_pre = line.spikes.len() / line.slots;
        let fits = line.now < line.slots
            && line.count.iter().all(|&c| c as usize <= n_pre)
            && line.spikes.iter().all(|&i| (i as usize) < n_pre);
        if !fits {
            return Err(StateError::Value {
                name: "line".to_owned(),
                value: "a slot or a spike out of range".to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
