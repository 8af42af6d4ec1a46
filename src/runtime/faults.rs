//! Fault injection on the edges between actors: what a link does to each message that crosses
//! it (deliver, drop, duplicate, delay, reorder), seeded per edge, and the tally of every fault
//! injected, which the traffic report carries.
//!
//! Faults are applied by the receiving end of an edge as a message arrives (the receiver holds
//! delayed messages and releases them when they are due), so no extra thread or timer sits on
//! the wire. A delay is counted in steps (`unit = "steps"`: one step is the receiver's mean
//! update time, measured as it runs, so a delay of `d` steps lets it make about `d` updates
//! before the message arrives) or in wall-clock microseconds (`unit = "us"`). Reordering gives
//! each message an extra delay drawn uniformly from `0..=reorder` steps, so messages up to
//! `reorder` steps apart can swap.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::math::rng::SeededRng;

/// How a delay is distributed (`faults.delay.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DelayKind {
    /// Always `mean`.
    Fixed,
    /// Uniform on `[0, 2 mean]`.
    Uniform,
    /// Exponential with mean `mean`.
    Exponential,
}

/// What a delay is counted in (`faults.delay.unit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DelayUnit {
    /// The receiver's mean update time.
    Steps,
    /// Microseconds of wall-clock time.
    Us,
}

/// `[faults.delay]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DelayConfig {
    /// `fixed` | `uniform` | `exponential`. Default `exponential`.
    pub kind: DelayKind,
    /// Mean delay, >= 0. Default 0 (none).
    pub mean: f64,
    /// `steps` | `us`. Default `steps`.
    pub unit: DelayUnit,
}

impl Default for DelayConfig {
    fn default() -> Self {
        Self {
            kind: DelayKind::Exponential,
            mean: 0.0,
            unit: DelayUnit::Steps,
        }
    }
}

/// The faults every inference edge injects (the part of `[faults]` that concerns links).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkFaults {
    /// Delay of each message.
    pub delay: DelayConfig,
    /// Probability that a message is lost.
    pub drop: f64,
    /// Probability that a message arrives twice.
    pub duplicate: f64,
    /// Reorder window in steps (extra uniform delay `0..=reorder`).
    pub reorder: u32,
}

impl LinkFaults {
    /// Whether any fault is configured.
    pub fn any(&self) -> bool {
        self.delay.mean > 0.0 || self.drop > 0.0 || self.duplicate > 0.0 || self.reorder > 0
    }
}

/// How long one copy of a message is held.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Delay {
    /// Steps (the receiver's update times).
    pub steps: f64,
    /// Microseconds.
    pub us: f64,
}

impl Delay {
    /// When a message arriving now with this delay is due, one step being `step` long.
    pub fn due(self, step: Duration) -> Option<Instant> {
        let wait = step.mul_f64(self.steps) + Duration::from_secs_f64(self.us * 1e-6);
        (wait > Duration::ZERO).then(|| Instant::now() + wait)
    }
}

/// Counts of what one link did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// Messages that crossed the link subject to faults.
    pub messages: u64,
    /// Lost.
    pub dropped: u64,
    /// Delivered twice (the second copy is counted here, not in `messages`).
    pub duplicated: u64,
    /// Held for a delay > 0.
    pub delayed: u64,
    /// Given an extra reordering delay > 0.
    pub reordered: u64,
    /// Still held when the batch learnt (never applied).
    pub late: u64,
    /// Arrived after their batch had learnt (ignored).
    pub stale: u64,
}

impl FaultCounts {
    /// Adds `other` in.
    pub fn add(&mut self, other: &FaultCounts) {
        self.messages += other.messages;
        self.dropped += other.dropped;
        self.duplicated += other.duplicated;
        self.delayed += other.delayed;
        self.reordered += other.reordered;
        self.late += other.late;
        self.stale += other.stale;
    }
}

/// The faults of a run, in the traffic report: totals, per edge (`from -> to`), and how many
/// updates the asynchronous actors made.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultTally {
    /// Over every edge.
    pub totals: FaultCounts,
    /// By edge, `"layer-1 -> layer-2"`.
    pub per_edge: BTreeMap<String, FaultCounts>,
    /// Asynchronous schedule: updates made by all layer actors over all training batches.
    pub updates: u64,
    /// Asynchronous schedule: mean updates per layer actor per training batch.
    pub mean_updates_per_batch: f64,
}

/// One edge's fault injector, at the receiving end.
#[derive(Debug)]
pub struct Link {
    faults: LinkFaults,
    rng: SeededRng,
    /// What it did.
    pub counts: FaultCounts,
}

impl Link {
    /// An injector for the edge named `edge`, seeded from `seed` and the name.
    pub fn new(faults: LinkFaults, seed: u64, edge: &str) -> Self {
        Self {
            faults,
            rng: SeededRng::stream(seed, &format!("faults/{edge}")),
            counts: FaultCounts::default(),
        }
    }

    fn delay(&mut self) -> Delay {
        let d = self.faults.delay;
        let mut steps = 0.0;
        let mut us = 0.0;
        if d.mean > 0.0 {
            let x = match d.kind {
                DelayKind::Fixed => d.mean,
                DelayKind::Uniform => 2.0 * d.mean * self.rng.uniform(),
                DelayKind::Exponential => -d.mean * (1.0 - self.rng.uniform()).ln(),
            };
            match d.unit {
                DelayUnit::Steps => steps = x.round(),
                DelayUnit::Us => us = x,
            }
        }
        if self.faults.reorder > 0 {
            let extra = self.rng.below(u64::from(self.faults.reorder) + 1) as f64;
            if extra > 0.0 {
                self.counts.reordered += 1;
            }
            steps += extra;
        }
        if steps > 0.0 || us > 0.0 {
            self.counts.delayed += 1;
        }
        Delay { steps, us }
    }

    /// Saves the stream position and the counts into `bag` under `prefix`.
    pub fn save(&self, prefix: &str, bag: &mut crate::state::StateBag) {
        bag.scalar(&format!("{prefix}rng"), self.rng.position().to_string());
        let c = serde_json::to_string(&self.counts).expect("plain counts serialise");
        bag.scalar(&format!("{prefix}counts"), c);
    }

    /// Restores what [`Link::save`] wrote.
    pub fn restore(
        &mut self,
        prefix: &str,
        bag: &crate::state::StateBag,
    ) -> Result<(), crate::state::StateError> {
        self.rng.seek(bag.parse(&format!("{prefix}rng"))?);
        let name = format!("{prefix}counts");
        let text: String = bag.parse(&name)?;
        self.counts = serde_json::from_str(&text)
            .map_err(|_| crate::state::StateError::Value { name, value: text })?;
        Ok(())
    }

    /// What happens to one arriving message: none (dropped), one or two copies, each with
    /// the time it is due.
    pub fn admit(&mut self) -> [Option<Delay>; 2] {
        self.counts.messages += 1;
        if self.faults.drop > 0.0 && self.rng.uniform() < self.faults.drop {
            self.counts.dropped += 1;
            return [None, None];
        }
        let first = Some(self.delay());
        let second = (self.faults.duplicate > 0.0 && self.rng.uniform() < self.faults.duplicate)
            .then(|| {
                self.counts.duplicated += 1;
                self.delay()
            });
        [first, second]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(f: LinkFaults) -> Link {
        Link::new(f, 7, "layer-1 -> layer-2")
    }

    #[test]
    fn no_faults_deliver_everything_now() {
        let mut l = link(LinkFaults::default());
        for _ in 0..100 {
            assert_eq!(l.admit(), [Some(Delay::default()), None]);
        }
        assert_eq!(Delay::default().due(Duration::from_millis(1)), None);
        assert_eq!(l.counts.messages, 100);
        assert_eq!(l.counts.dropped + l.counts.delayed + l.counts.duplicated, 0);
    }

    #[test]
    fn drop_and_duplicate_rates_match_their_probabilities() {
        let mut l = link(LinkFaults {
            drop: 0.1,
            duplicate: 0.05,
            ..LinkFaults::default()
        });
        let n = 100_000;
        for _ in 0..n {
            l.admit();
        }
        let rate = |k: u64| k as f64 / n as f64;
        assert!(
            (rate(l.counts.dropped) - 0.1).abs() < 0.005,
            "{:?}",
            l.counts
        );
        // Duplicates are drawn among the delivered messages.
        assert!(
            (rate(l.counts.duplicated) - 0.9 * 0.05).abs() < 0.004,
            "{:?}",
            l.counts
        );
    }

    #[test]
    fn delays_have_their_mean_in_steps() {
        for kind in [DelayKind::Fixed, DelayKind::Uniform, DelayKind::Exponential] {
            let mut l = link(LinkFaults {
                delay: DelayConfig {
                    kind,
                    mean: 5.0,
                    unit: DelayUnit::Steps,
                },
                ..LinkFaults::default()
            });
            let n = 20_000;
            let total: f64 = (0..n).map(|_| l.admit()[0].expect("delivered").steps).sum();
            let mean = total / f64::from(n);
            assert!((mean - 5.0).abs() < 0.15, "{kind:?}: mean {mean}");
        }
    }

    #[test]
    fn reordering_swaps_messages_within_the_window() {
        let mut l = link(LinkFaults {
            reorder: 3,
            ..LinkFaults::default()
        });
        // Message i is due at step i + its delay.
        let dues: Vec<f64> = (0..1000)
            .map(|i| f64::from(i) + l.admit()[0].expect("delivered").steps)
            .collect();
        assert!(dues.windows(2).any(|w| w[1] < w[0]), "some overtake");
        assert!(dues.iter().zip(0..).all(|(&d, i)| d - f64::from(i) <= 3.0));
        assert!(l.counts.reordered > 600 && l.counts.reordered < 900);
    }

    #[test]
    fn a_saved_link_continues_its_stream() {
        let f = LinkFaults {
            drop: 0.3,
            reorder: 2,
            ..LinkFaults::default()
        };
        let mut a = link(f);
        for _ in 0..37 {
            a.admit();
        }
        let mut bag = crate::state::StateBag::default();
        a.save("link.0.", &mut bag);
        let mut b = link(f);
        b.restore("link.0.", &bag).expect("restores");
        assert_eq!(a.counts, b.counts);
        for _ in 0..50 {
            assert_eq!(a.admit(), b.admit());
        }
    }

    #[test]
    fn the_same_seed_and_edge_inject_the_same_faults() {
        let f = LinkFaults {
            drop: 0.3,
            duplicate: 0.2,
            reorder: 2,
            ..LinkFaults::default()
        };
        let (mut a, mut b) = (link(f), link(f));
        let mut c = Link::new(f, 7, "layer-2 -> layer-1");
        let run = |l: &mut Link| (0..200).map(|_| l.admit()).collect::<Vec<_>>();
        assert_eq!(run(&mut a), run(&mut b));
        assert_ne!(run(&mut a), run(&mut c));
    }
}
