//! [`PoissonSource`]: an input population of Poisson neurons as one actor. For each
//! presentation the coordinator names a pattern (an image) and an intensity; input `i` then
//! fires at each tick with probability `rate_i dt`, `rate_i = pattern_i x intensity x
//! hz_per_unit`, and the whole presentation's spikes go to the receiving shards as one
//! [`Message::Input`] window (the input does not depend on the network, so nothing is gained
//! by sending it tick by tick).
//!
//! The draws of presentation `p` come from the seed's `p`-th substream, so they are the same
//! whatever the sharding, executor or ranks, and a resumed run draws what an uninterrupted one
//! would.

use std::sync::Arc;

use crate::math::rng::SeededRng;
use crate::message::{Message, Phase, SpikePool};
use crate::runtime::actor::{Actor, Context, Flow};

/// Poisson inputs driven by patterns.
pub struct PoissonSource {
    /// Patterns, `inputs` values each, row after row.
    patterns: Arc<Vec<u8>>,
    inputs: usize,
    /// Rate (Hz) per unit of pattern value and of intensity.
    hz_per_unit: f64,
    dt_ms: f64,
    /// Ticks of a presentation with input.
    ticks: u32,
    seed: u64,
    pool: SpikePool,
    /// (tick, input) of one presentation's spikes, and the window built from them.
    pairs: Vec<(u32, u32)>,
    window: Vec<u32>,
    /// Spikes sent over the run.
    pub spikes: u64,
}

impl PoissonSource {
    /// Inputs of `inputs` neurons over `patterns`, `ticks` ticks of `dt_ms` per presentation.
    pub fn new(
        patterns: Arc<Vec<u8>>,
        inputs: usize,
        hz_per_unit: f64,
        (ticks, dt_ms): (u32, f64),
        seed: u64,
    ) -> Self {
        PoissonSource {
            patterns,
            inputs,
            hz_per_unit,
            dt_ms,
            ticks,
            seed,
            pool: SpikePool::default(),
            pairs: Vec::new(),
            window: Vec::new(),
            spikes: 0,
        }
    }

    /// Draws presentation `p` of `pattern` at `intensity` into `window`: per tick a count,
    /// then the inputs that fired (in index order).
    pub fn draw(&mut self, p: u64, pattern: usize, intensity: u32) -> &[u32] {
        let mut rng = SeededRng::substream(self.seed, "poisson-input", p);
        let values = &self.patterns[pattern * self.inputs..(pattern + 1) * self.inputs];
        let ticks = self.ticks;
        self.pairs.clear();
        for (i, &x) in values.iter().enumerate() {
            let prob = f64::from(x) * f64::from(intensity) * self.hz_per_unit * self.dt_ms * 1e-3;
            if prob <= 0.0 {
                continue;
            }
            // Ticks between spikes are geometric: the same law as a draw per tick, with a
            // draw per spike instead.
            let log_q = (1.0 - prob.min(1.0)).ln();
            let mut t = 0u64;
            loop {
                let gap = if log_q == f64::NEG_INFINITY {
                    0
                } else {
                    ((1.0 - rng.uniform()).ln() / log_q).floor() as u64
                };
                t += gap;
                if t >= u64::from(ticks) {
                    break;
                }
                self.pairs.push((t as u32, i as u32));
                t += 1;
            }
        }
        self.pairs.sort_unstable();
        self.window.clear();
        let mut at = 0;
        for t in 0..ticks {
            let start = at;
            while at < self.pairs.len() && self.pairs[at].0 == t {
                at += 1;
            }
            self.window.push((at - start) as u32);
            self.window
                .extend(self.pairs[start..at].iter().map(|&(_, i)| i));
        }
        self.spikes += self.pairs.len() as u64;
        &self.window
    }
}

impl Actor<Message> for PoissonSource {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        if let Message::Phase {
            step,
            phase: Phase::Present {
                pattern, intensity, ..
            },
        } = msg
        {
            self.draw(step, pattern as usize, intensity);
            let window = self.pool.spikes(&self.window);
            for edge in 0..ctx.edges() {
                ctx.send(
                    edge,
                    Message::Input {
                        presentation: step,
                        window: window.clone(),
                    },
                );
            }
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_match_the_pattern_and_draws_repeat_per_presentation() {
        // Two inputs at 100 Hz and 0 Hz, 0.5 ms ticks, 20 s.
        let patterns = Arc::new(vec![200u8, 0]);
        let mut s = PoissonSource::new(patterns, 2, 0.25, (40_000, 0.5), 7);
        let w = s.draw(3, 0, 2).to_vec();
        let (mut at, mut spikes) = (0, [0u32; 2]);
        for _ in 0..40_000 {
            let n = w[at] as usize;
            for &i in &w[at + 1..at + 1 + n] {
                spikes[i as usize] += 1;
            }
            at += 1 + n;
        }
        assert_eq!(at, w.len());
        assert_eq!(spikes[1], 0);
        let rate = f64::from(spikes[0]) / 20.0;
        assert!((rate - 100.0).abs() < 6.0, "{rate} Hz");
        assert_eq!(
            s.draw(3, 0, 2),
            &w[..],
            "the same presentation draws the same"
        );
        assert_ne!(s.draw(4, 0, 2), &w[..]);
    }
}
