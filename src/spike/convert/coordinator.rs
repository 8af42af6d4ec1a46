//! The conversion run's coordinator: feeds test batches to layer 1 (two in flight), tallies
//! the output's predictions and every layer's spike counts at each checkpoint tick.

use std::collections::BTreeMap;

use crate::data::dataset::Split;
use crate::learn::backprop::EVAL_BATCH;
use crate::math::loss::count_correct;
use crate::math::matrix::Matrix;
use crate::message::{Message, ReportData, SignalPool};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::spike::convert::ConversionPoint;

/// Feeds test batches, tallies accuracy and activity at each checkpoint.
pub(super) struct ConvertCoordinator {
    test: Split,
    ticks: usize,
    checkpoints: Vec<usize>,
    layers: usize,
    next: usize,
    batches: usize,
    done: usize,
    /// Per batch in flight: reports received.
    received: BTreeMap<usize, usize>,
    correct: Vec<usize>,
    spikes: Vec<u64>,
    events: Vec<u64>,
    batch: Matrix,
    labels: Vec<u8>,
    indices: Vec<usize>,
    scores: Matrix,
    predictions: Vec<usize>,
    pool: SignalPool,
}

impl ConvertCoordinator {
    /// Feeds `test` to a network of `widths` (input first), `ticks` ticks per batch, reading
    /// at `checkpoints`.
    pub(super) fn new(test: &Split, ticks: usize, checkpoints: &[usize], widths: &[usize]) -> Self {
        let layers = widths.len() - 1;
        ConvertCoordinator {
            test: test.clone(),
            ticks,
            checkpoints: checkpoints.to_vec(),
            layers,
            next: 0,
            batches: test.len().div_ceil(EVAL_BATCH),
            done: 0,
            received: BTreeMap::new(),
            correct: vec![0; checkpoints.len()],
            spikes: vec![0; checkpoints.len()],
            events: vec![0; checkpoints.len()],
            batch: Matrix::zeros(0, widths[0]),
            labels: Vec::new(),
            indices: Vec::new(),
            scores: Matrix::zeros(0, widths[layers]),
            predictions: Vec::new(),
            pool: SignalPool::default(),
        }
    }

    /// Accuracy and activity per image at every checkpoint, over the whole test split.
    pub(super) fn points(&self) -> Vec<ConversionPoint> {
        let n = self.test.len().max(1) as f64;
        self.checkpoints
            .iter()
            .enumerate()
            .map(|(k, &t)| ConversionPoint {
                ticks: t,
                test_accuracy: self.correct[k] as f64 / n,
                spikes_per_image: self.spikes[k] as f64 / n,
                synaptic_events_per_image: self.events[k] as f64 / n,
            })
            .collect()
    }

    fn send_batch(&mut self, ctx: &mut Context<'_, Message>) {
        if self.next >= self.batches {
            return;
        }
        let start = self.next * EVAL_BATCH;
        let end = (start + EVAL_BATCH).min(self.test.len());
        self.indices.clear();
        self.indices.extend(start..end);
        self.test
            .fill_batch(&self.indices, &mut self.batch, &mut self.labels);
        let (r, c) = (self.batch.rows(), self.batch.cols());
        let values = self.batch.as_slice();
        let signal = self.pool.signal(r, c, |o| o.copy_from_slice(values));
        ctx.send(
            0,
            Message::Activity {
                step: (self.next * self.ticks) as u64,
                shard: 0,
                changed: true,
                signal,
            },
        );
        self.received.insert(self.next, 0);
        self.next += 1;
    }
}

impl Actor<Message> for ConvertCoordinator {
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        for _ in 0..2 {
            self.send_batch(ctx);
        }
        if self.batches == 0 {
            Flow::StopAll
        } else {
            Flow::Continue
        }
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        let Message::Report { step, data } = msg else {
            return Flow::Continue;
        };
        let batch = step as usize / self.ticks;
        let tick = step as usize % self.ticks + 1;
        let Some(k) = self.checkpoints.iter().position(|&c| c == tick) else {
            return Flow::Continue;
        };
        match data {
            ReportData::Predictions(s) => {
                let start = batch * EVAL_BATCH;
                let labels = &self.test.labels()[start..start + s.rows()];
                self.scores.set_rows(s.rows());
                self.scores.as_mut_slice().copy_from_slice(s.values());
                self.correct[k] += count_correct(&self.scores, labels, &mut self.predictions);
            }
            ReportData::SpikeCounts { spikes, events } => {
                self.spikes[k] += spikes;
                self.events[k] += events;
            }
            _ => return Flow::Continue,
        }
        if k + 1 == self.checkpoints.len() {
            let got = self.received.entry(batch).or_insert(0);
            *got += 1;
            // Every layer's counts and the output's predictions at the last checkpoint.
            if *got == self.layers + 1 {
                self.received.remove(&batch);
                self.done += 1;
                if self.done == self.batches {
                    return Flow::StopAll;
                }
                self.send_batch(ctx);
            }
        }
        Flow::Continue
    }
}
