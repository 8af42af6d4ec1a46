//! [`StdpCoordinator`]: presents the images of a Diehl & Cook run one after another
//! (training with learning on, then labelling and testing with learning off), presents an
//! image again with stronger input when the excitatory neurons barely answered, and tallies
//! labels, the training curve and test accuracy from the shards' spike counts. It sends
//! phase words only; it never reads a weight.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::labels::{Assignments, Responses};
use super::{CurvePoint, StageFigures};
use crate::message::{Message, Phase, ReportData};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::state::{StateBag, StateError};

/// A checkpoint taken between two training images: every actor's state by name
/// (`coordinator`, `exc` or `exc.N`), the training images done and the training seconds.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Actor states.
    pub actors: BTreeMap<String, StateBag>,
    /// Learning presentations' images finished (over all epochs).
    pub images: usize,
    /// The presentation that comes next.
    pub presentation: u64,
    /// Training wall seconds so far.
    pub wall_s: f64,
}

/// Where checkpoints go, how often (training images between two), and the request to stop.
pub struct Checkpoints {
    /// Training images between two checkpoints (0: none).
    pub every: usize,
    /// The run's writer.
    pub to: mpsc::Sender<Checkpoint>,
    /// Set (Ctrl-C): stop after the current image, with a checkpoint when training.
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// What the coordinator keeps between presentations (its part of a checkpoint).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Progress {
    item: usize,
    presentation: u64,
    window: Responses,
    previous: Option<Assignments>,
    window_hits: (u64, u64),
    curve: Vec<CurvePoint>,
    stages: [StageFigures; 3],
}

/// Input intensity of a first presentation (rates pixel / 8 x intensity Hz).
pub const INTENSITY: u32 = 2;
/// Fewer excitatory spikes than this in a presentation: present again, one intensity more.
pub const MIN_SPIKES: u64 = 5;
/// Presentations of one image at most.
pub const MAX_TRIES: u32 = 20;

/// What the run presents, in order: `train` learning presentations (the training images
/// `0..train_images`, epoch after epoch), then `label` training images and `test` test images
/// with learning off. Patterns: training images first, test images from `test_offset`.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Learning presentations (epochs x train_images).
    pub train: usize,
    /// Training images per epoch.
    pub train_images: usize,
    /// Images to label neurons with.
    pub label: usize,
    /// Test images.
    pub test: usize,
    /// Index of the first test image among the patterns.
    pub test_offset: usize,
    /// Training images per point of the training curve.
    pub curve_every: usize,
}

/// Which part of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Train,
    Label,
    Test,
}

/// The coordinator of a Diehl & Cook run (edge 0: the input; then the shards).
pub struct StdpCoordinator {
    plan: Plan,
    labels: Arc<Vec<u8>>,
    classes: usize,
    shards: usize,
    item: usize,
    presentation: u64,
    intensity: u32,
    tries: u32,
    counts: Vec<u32>,
    reported: usize,
    pres: (u64, u64),
    stage_start: Instant,
    /// The training curve's window, the assignments of the window before, and its hits.
    window: Responses,
    previous: Option<Assignments>,
    window_hits: (u64, u64),
    /// Training curve: test accuracy on each window by the previous window's labels.
    pub curve: Vec<CurvePoint>,
    label_responses: Responses,
    /// Labels of the neurons (after labelling).
    pub assignments: Assignments,
    /// `confusion[true * classes + predicted]`; `predicted = classes` when no neuron spoke.
    pub confusion: Vec<u64>,
    /// Per stage (train, label, test): presentations, images, spikes, events, wall seconds.
    pub stages: [StageFigures; 3],
    /// A non-finite state a shard reported: (shard, presentation, what, value).
    pub fault: Option<(u32, u64, &'static str, f32)>,
    progress: Option<Arc<AtomicU64>>,
    checkpoints: Option<Checkpoints>,
    /// Shard states of the checkpoint being taken.
    saving: BTreeMap<String, StateBag>,
    /// Training seconds before this process (a resumed run).
    wall_before: f64,
    /// The run stopped on request before its end.
    pub interrupted: bool,
}

impl StdpCoordinator {
    /// A coordinator for `plan` over patterns labelled `labels`, with `shards` shards of
    /// `n_exc` excitatory neurons in all; `progress` (if any) counts images finished.
    pub fn new(
        plan: Plan,
        labels: Arc<Vec<u8>>,
        (classes, n_exc, shards): (usize, usize, usize),
        progress: Option<Arc<AtomicU64>>,
    ) -> Self {
        StdpCoordinator {
            plan,
            labels,
            classes,
            shards,
            item: 0,
            presentation: 0,
            intensity: INTENSITY,
            tries: 1,
            counts: vec![0; n_exc],
            reported: 0,
            pres: (0, 0),
            stage_start: Instant::now(),
            window: Responses::new(classes, n_exc),
            previous: None,
            window_hits: (0, 0),
            curve: Vec::new(),
            label_responses: Responses::new(classes, n_exc),
            assignments: Assignments::none(classes, n_exc),
            confusion: vec![0; classes * (classes + 1)],
            stages: Default::default(),
            fault: None,
            progress,
            checkpoints: None,
            saving: BTreeMap::new(),
            wall_before: 0.0,
            interrupted: false,
        }
    }

    /// Takes a checkpoint every so many training images.
    pub fn with_checkpoints(mut self, c: Checkpoints) -> Self {
        self.checkpoints = Some(c);
        self
    }

    /// The coordinator's part of a checkpoint.
    pub fn snapshot(&self) -> StateBag {
        let mut stages = self.stages;
        stages[0].wall_s = self.wall_before + self.stage_start.elapsed().as_secs_f64();
        let p = Progress {
            item: self.item,
            presentation: self.presentation,
            window: self.window.clone(),
            previous: self.previous.clone(),
            window_hits: self.window_hits,
            curve: self.curve.clone(),
            stages,
        };
        let mut b = StateBag::default();
        b.scalar(
            "progress",
            serde_json::to_string(&p).expect("plain data serialises"),
        );
        b
    }

    /// Continues from a [`StdpCoordinator::snapshot`] (taken during training).
    pub fn restore(&mut self, b: &StateBag) -> Result<(), StateError> {
        let text: String = b.parse("progress")?;
        let p: Progress = serde_json::from_str(&text).map_err(|_| StateError::Value {
            name: "progress".to_owned(),
            value: text.clone(),
        })?;
        self.item = p.item;
        self.presentation = p.presentation;
        self.window = p.window;
        self.previous = p.previous;
        self.window_hits = p.window_hits;
        self.curve = p.curve;
        self.stages = p.stages;
        self.wall_before = p.stages[0].wall_s;
        Ok(())
    }

    /// Whether a checkpoint is due now (between two training images): every so many
    /// images, or on a stop request.
    fn checkpoint_due(&self) -> bool {
        let Some(c) = &self.checkpoints else {
            return false;
        };
        let done = self.stages[0].images as usize;
        let training = self.item < self.plan.train && done > 0;
        training && (self.interrupted || (c.every > 0 && done.is_multiple_of(c.every)))
    }

    /// Whether a stop was requested.
    fn stop_requested(&self) -> bool {
        self.checkpoints
            .as_ref()
            .and_then(|c| c.stop.as_ref())
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Asks every shard for its state (they answer once the last tick is complete).
    fn ask_states(&mut self, ctx: &mut Context<'_, Message>) {
        for edge in 1..ctx.edges() {
            ctx.send(
                edge,
                Message::Phase {
                    step: self.presentation,
                    phase: Phase::Save,
                },
            );
        }
    }

    /// A shard's state: once all are in, the checkpoint goes to the writer.
    fn absorb_state(&mut self, shard: u32, state: Arc<StateBag>) -> bool {
        let name = if self.shards == 1 {
            "exc".to_owned()
        } else {
            format!("exc.{shard}")
        };
        let bag = Arc::try_unwrap(state).unwrap_or_else(|a| (*a).clone());
        self.saving.insert(name, bag);
        if self.saving.len() < self.shards {
            return false;
        }
        let mut actors = std::mem::take(&mut self.saving);
        actors.insert("coordinator".to_owned(), self.snapshot());
        let wall_s = self.wall_before + self.stage_start.elapsed().as_secs_f64();
        if let Some(c) = &self.checkpoints {
            // A writer that has gone away (the run is ending) loses nothing it needs.
            let _ = c.to.send(Checkpoint {
                actors,
                images: self.stages[0].images as usize,
                presentation: self.presentation,
                wall_s,
            });
        }
        true
    }

    /// The stage of item `i` and its pattern.
    fn at(&self, i: usize) -> Option<(Stage, usize)> {
        let p = &self.plan;
        if i < p.train {
            Some((Stage::Train, i % p.train_images.max(1)))
        } else if i < p.train + p.label {
            Some((Stage::Label, i - p.train))
        } else if i < p.train + p.label + p.test {
            Some((Stage::Test, p.test_offset + i - p.train - p.label))
        } else {
            None
        }
    }

    /// Sends the phase word of the current item's presentation to the input and the shards.
    fn present(&mut self, ctx: &mut Context<'_, Message>) {
        let Some((stage, pattern)) = self.at(self.item) else {
            return;
        };
        let phase = Phase::Present {
            pattern: pattern as u32,
            intensity: self.intensity,
            learn: stage == Stage::Train,
        };
        for edge in 0..ctx.edges() {
            ctx.send(
                edge,
                Message::Phase {
                    step: self.presentation,
                    phase,
                },
            );
        }
    }

    /// Every shard answered: present again, or take the answer and move on. Returns whether
    /// the plan is done.
    fn answered(&mut self) -> bool {
        let (stage, pattern) = self.at(self.item).expect("an item is in flight");
        let s = &mut self.stages[stage as usize];
        s.presentations += 1;
        s.spikes += self.pres.0;
        s.synaptic_events += self.pres.1;
        self.presentation += 1;
        let total: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        if total < MIN_SPIKES && self.tries < MAX_TRIES {
            self.intensity += 1;
            self.tries += 1;
            return false;
        }
        s.images += 1;
        let label = usize::from(self.labels[pattern]);
        match stage {
            Stage::Train => self.train_curve(label),
            Stage::Label => self.label_responses.add(label, &self.counts),
            Stage::Test => {
                let predicted = self.assignments.classify(&self.counts);
                let p = predicted.unwrap_or(self.classes);
                self.confusion[label * (self.classes + 1) + p] += 1;
            }
        }
        if let Some(p) = &self.progress {
            p.fetch_add(1, Ordering::Relaxed);
        }
        (self.intensity, self.tries) = (INTENSITY, 1);
        self.item += 1;
        let next = self.at(self.item).map(|(s, _)| s);
        if next != Some(stage) {
            let before = if stage == Stage::Train {
                self.wall_before
            } else {
                0.0
            };
            self.stages[stage as usize].wall_s = before + self.stage_start.elapsed().as_secs_f64();
            self.stage_start = Instant::now();
            if stage == Stage::Label || (stage == Stage::Train && self.plan.label == 0) {
                self.assignments = self.label_responses.assign();
            }
        }
        next.is_none()
    }

    /// One training image's answer into the curve's window.
    fn train_curve(&mut self, label: usize) {
        if let Some(a) = &self.previous {
            let hit = a.classify(&self.counts) == Some(label);
            self.window_hits.0 += u64::from(hit);
            self.window_hits.1 += 1;
        }
        self.window.add(label, &self.counts);
        let done = self.stages[0].images as usize;
        let every = self.plan.curve_every.max(1);
        if done.is_multiple_of(every) || done == self.plan.train {
            if self.window_hits.1 > 0 {
                self.curve.push(CurvePoint {
                    images: done as u64,
                    accuracy: self.window_hits.0 as f64 / self.window_hits.1 as f64,
                });
            }
            self.previous = Some(self.window.assign());
            self.window = Responses::new(self.classes, self.counts.len());
            self.window_hits = (0, 0);
        }
    }
}

impl Actor<Message> for StdpCoordinator {
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        if self.at(self.item).is_none() {
            return Flow::StopAll;
        }
        self.stage_start = Instant::now();
        if let Some(p) = &self.progress {
            p.store(self.item as u64, Ordering::Relaxed);
        }
        self.present(ctx);
        Flow::Continue
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        let Message::Report { step, data } = msg else {
            return Flow::Continue;
        };
        match data {
            ReportData::Responses {
                offset,
                counts,
                spikes,
                events,
            } if step == self.presentation => {
                let o = offset as usize;
                self.counts[o..o + counts.len()].copy_from_slice(&counts);
                self.pres.0 += spikes;
                self.pres.1 += events;
                self.reported += 1;
            }
            ReportData::Fault {
                shard, what, value, ..
            } => {
                self.fault = Some((shard, step, what, value));
                return Flow::StopAll;
            }
            ReportData::State { shard, state, .. } if step == self.presentation => {
                if !self.absorb_state(shard, state) {
                    return Flow::Continue;
                }
                if self.interrupted {
                    return Flow::StopAll;
                }
                self.present(ctx);
                return Flow::Continue;
            }
            _ => return Flow::Continue,
        }
        if self.reported < self.shards {
            return Flow::Continue;
        }
        if self.answered() {
            return Flow::StopAll;
        }
        self.reported = 0;
        self.pres = (0, 0);
        if self.tries == 1 && self.stop_requested() {
            self.interrupted = true;
            if !self.checkpoint_due() {
                return Flow::StopAll;
            }
        }
        if self.checkpoint_due() && self.tries == 1 {
            self.ask_states(ctx);
        } else {
            self.present(ctx);
        }
        Flow::Continue
    }
}
