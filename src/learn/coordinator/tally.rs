//! What the coordinator takes in: the shards' reports (predictions, energies, snapshots,
//! feedback copies, states, gradients, settle status) tallied per batch and epoch, the
//! gradient check against backprop, and what a finished batch, save or epoch turns into.

use crate::learn::coordinator::resume::ResumeState;
use crate::learn::coordinator::{Coordinator, InFlight, LayerEpoch, TrainEvent, Work};
use crate::learn::layer::{Feedback, LayerName};
use crate::learn::pc::relative_gap;
use crate::learn::spc_record::{add_tick_counts, tick_rates, SpcRaster};
use crate::math::loss::count_correct;
use crate::math::matrix::{Matrix, Threads};
use crate::math::mlp::{DenseLayer, Mlp};
use crate::message::{ReportData, Signal, WeightCopy};

impl Coordinator {
    fn tally(&mut self, epoch: usize, labels: &[u8], values: &[f32], train: bool) {
        let rows = labels.len();
        self.logits.set_rows(rows);
        self.logits.as_mut_slice().copy_from_slice(values);
        let correct = count_correct(&self.logits, labels, &mut self.predictions);
        // PC's training loss comes from the output's energies (its forward sweep); EP's is
        // the cost at the free fixed point, spiking PC's at the last settle tick, which is
        // what the output reports here.
        let ep = self.cfg.ep.is_some() || self.cfg.spc.is_some();
        let loss = (!train || ep).then(|| self.cfg.loss.evaluate(&self.logits, labels, None));
        let sums = self.sums.entry(epoch).or_default();
        if !train {
            sums.test_loss += f64::from(loss.unwrap_or(0.0)) * rows as f64;
            sums.test_correct += correct;
            sums.test_n += rows;
        } else {
            sums.train_loss += f64::from(loss.unwrap_or(0.0)) * rows as f64;
            sums.train_correct += correct;
            sums.train_n += rows;
        }
    }

    /// Takes in a report of step `step` (ignored if no batch in flight spans it).
    pub(super) fn absorb(&mut self, step: u64, data: ReportData) {
        let Some(i) = self
            .in_flight
            .iter()
            .position(|f| f.base <= step && step < f.base + f.span)
        else {
            return;
        };
        let epoch = self.in_flight[i].epoch;
        let f = &mut self.in_flight[i];
        match data {
            ReportData::Predictions(s) => {
                let train = f.work == Work::Train;
                let labels = std::mem::take(&mut f.labels);
                self.tally(epoch, &labels, s.values(), train);
                self.in_flight[i].labels = labels;
                self.in_flight[i].predicted = true;
            }
            ReportData::Energies { layer, values } => self.absorb_energies(i, layer, &values),
            ReportData::Snapshot {
                layer,
                offset,
                copy,
            } => {
                f.snapshots_in += 1;
                let into = if f.work == Work::Snapshot {
                    &mut self.snapshot
                } else {
                    &mut f.before
                };
                let l = &mut into[layer as usize - 1];
                copy.write_rows(&mut l.weight, offset as usize);
                let o = offset as usize;
                l.bias[o..o + copy.bias().len()].copy_from_slice(copy.bias());
            }
            ReportData::Feedback {
                layer,
                offset,
                copy,
            } => self.absorb_feedback(layer as usize, offset as usize, &copy),
            ReportData::State {
                layer,
                shard,
                state,
            } => {
                f.snapshots_in += 1;
                let bag = std::sync::Arc::try_unwrap(state).unwrap_or_else(|a| (*a).clone());
                let key = LayerName::state_key(layer as usize, shard as usize);
                f.states.insert(key, bag);
            }
            ReportData::Gradient {
                layer,
                offset,
                weight,
                bias,
            } => absorb_gradient(&mut f.grads[layer as usize - 1], offset, &weight, &bias),
            ReportData::Settled {
                layer,
                shard,
                settled,
            } => {
                let before = f.settled.insert((layer, shard), settled).unwrap_or(false);
                match (before, settled) {
                    (false, true) => f.settled_count += 1,
                    (true, false) => f.settled_count -= 1,
                    _ => {}
                }
            }
            ReportData::SpikeCounts { .. }
            | ReportData::TickCounts { .. }
            | ReportData::Raster { .. } => {
                let work = f.work;
                self.absorb_spiking(epoch, work, data);
            }
            ReportData::Energy(_) | ReportData::Responses { .. } | ReportData::Fault { .. } => {}
        }
    }

    /// Spiking PC's counts into epoch `epoch`'s sums: spikes, events and spikes per tick of
    /// the training batches, the shards' raster images at the snapshot.
    fn absorb_spiking(&mut self, epoch: usize, work: Work, data: ReportData) {
        let sums = self.sums.entry(epoch).or_default();
        match data {
            ReportData::SpikeCounts { spikes, events } if work == Work::Train => {
                sums.spikes += spikes;
                sums.events += events;
            }
            ReportData::TickCounts { layer, counts } if work == Work::Train => {
                add_tick_counts(&mut sums.tick_counts, layer, &counts);
            }
            ReportData::Raster { layer, events } if work == Work::Snapshot => {
                sums.raster.push((layer, events));
            }
            _ => {}
        }
    }

    /// A layer's energies of the batch in flight at `i`, into the epoch's sums (PC: the
    /// output's first is the forward sweep's training loss).
    fn absorb_energies(&mut self, i: usize, layer: u32, values: &Signal) {
        let f = &mut self.in_flight[i];
        f.energies_in += 1;
        let sums = self.sums.entry(f.epoch).or_default();
        if sums.energy.len() < values.cols() {
            sums.energy.resize(values.cols(), 0.0);
        }
        for (e, &v) in sums.energy.iter_mut().zip(values.values()) {
            *e += f64::from(v);
        }
        let from_predictions = self.cfg.ep.is_some() || self.cfg.spc.is_some();
        if layer as usize == self.net_shape.layers().len() && !from_predictions {
            sums.train_loss += f64::from(values.values()[0]);
        }
    }

    /// A shard's feedback synapses (its columns of hidden layer `l`'s `B`) into the snapshot.
    fn absorb_feedback(&mut self, l: usize, o: usize, copy: &WeightCopy) {
        let widths = self.net_shape.widths();
        if self.fb_snapshot.len() < l {
            self.fb_snapshot = (1..widths.len() - 1)
                .map(|h| Matrix::zeros(widths[h + 1], widths[h]))
                .collect();
        }
        let b = &mut self.fb_snapshot[l - 1];
        let w = copy.weights();
        if w.rows() == b.rows() {
            let mut part = Matrix::zeros(w.rows(), w.cols());
            part.copy_from_view(w);
            for r in 0..part.rows() {
                b.row_mut(r)[o..o + part.cols()].copy_from_slice(part.row(r));
            }
        }
    }

    pub(super) fn complete(&self, f: &InFlight) -> bool {
        let shards = self.shard_edges;
        match f.work {
            Work::Train => f.predicted && f.energies_in == shards,
            Work::Eval => f.predicted,
            Work::Snapshot | Work::Save => f.snapshots_in == shards,
        }
    }

    /// Backprop's gradient from the weights the shards held before the batch, compared with
    /// the gradients they formed.
    fn check(&mut self, f: &InFlight) {
        let Some(input) = &f.input else { return };
        let net = Mlp::from_layers(f.before.clone(), self.net_shape.activation());
        let rows = input.rows();
        let mut trace = net.trace(rows);
        let mut grads = net.gradients(rows);
        let out = net.forward(input, &mut trace, Threads::ONE);
        let mut dz = Matrix::zeros(rows, out.cols());
        self.cfg.loss.evaluate(out, &f.labels, Some(&mut dz));
        net.backward(input, &trace, &dz, &mut grads, Threads::ONE);
        let gap = relative_gap(&f.grads, &grads.layers);
        let worst = &mut self.sums.entry(f.epoch).or_default().grad_gap;
        worst.resize(gap.len(), 0.0);
        for (w, g) in worst.iter_mut().zip(gap) {
            *w = w.max(if g.is_nan() { f64::INFINITY } else { g });
        }
    }

    pub(super) fn finish(&mut self, mut f: InFlight) {
        match f.work {
            Work::Train => {
                self.check(&f);
                let sums = self.sums.entry(f.epoch).or_default();
                sums.batches_done += 1;
                let done = sums.batches_done;
                if done == self.train_batches {
                    if let Some(s) = sums.started {
                        sums.wall = s.elapsed();
                    }
                }
                let _ = self.events.send(TrainEvent::BatchDone {
                    epoch: f.epoch,
                    done,
                    total: self.train_batches,
                });
            }
            Work::Eval => {}
            Work::Save => {
                let state = ResumeState {
                    position: self.position(),
                    actors: std::mem::take(&mut f.states),
                    results: String::new(),
                };
                let _ = self.events.send(TrainEvent::Checkpoint(Box::new(state)));
            }
            Work::Snapshot => {
                let epoch = self.epoch_report(f.epoch);
                let _ = self.events.send(TrainEvent::Epoch(Box::new(epoch)));
            }
        }
        f.labels.clear();
        self.spare_labels.push(std::mem::take(&mut f.labels));
    }

    /// The report of finished epoch `epoch` (its sums and the snapshot just gathered).
    fn epoch_report(&mut self, epoch: usize) -> LayerEpoch {
        let s = self.sums.remove(&epoch).unwrap_or_default();
        let n = s.train_n.max(1) as f64;
        let widths = self.net_shape.widths();
        let fb = std::mem::take(&mut self.fb_snapshot);
        let feedback_gap = (!fb.is_empty() && self.cfg.feedback != Feedback::Direct).then(|| {
            fb.iter()
                .zip(&self.snapshot[1..])
                .map(|(b, above)| matrix_gap(b, &above.weight))
                .collect()
        });
        LayerEpoch {
            epoch,
            train_loss: s.train_loss / n,
            train_accuracy: s.train_correct as f64 / n,
            test_loss: s.test_loss / s.test_n.max(1) as f64,
            test_accuracy: s.test_correct as f64 / s.test_n.max(1) as f64,
            wall_s: s.wall.as_secs_f64(),
            free_energy: s.energy.iter().map(|e| e / n).collect(),
            grad_gap: self.cfg.check_gradients.then_some(s.grad_gap),
            spikes_per_image: self.cfg.spc.map(|_| s.spikes as f64 / n),
            synaptic_events_per_image: self.cfg.spc.map(|_| s.events as f64 / n),
            tick_rates: self
                .cfg
                .spc
                .map(|_| tick_rates(&s.tick_counts, &widths[1..], s.train_n)),
            raster: self.cfg.spc.map(|spc| {
                let ticks = (spc.last_step() + 1, spc.settle_ticks);
                SpcRaster::gather(&s.raster, &widths[1..], ticks)
            }),
            feedback_gap,
            net: Mlp::from_layers(
                std::mem::take(&mut self.snapshot),
                self.net_shape.activation(),
            ),
        }
    }
}

/// A shard's gradient (its rows from `offset`) into the batch's gradients.
fn absorb_gradient(g: &mut DenseLayer, offset: u32, weight: &Signal, bias: &Signal) {
    let o = offset as usize;
    let cols = g.weight.cols();
    for r in 0..weight.rows() {
        g.weight
            .row_mut(o + r)
            .copy_from_slice(&weight.values()[r * cols..(r + 1) * cols]);
    }
    g.bias[o..o + bias.cols()].copy_from_slice(bias.values());
}

/// `||a - b|| / ||b||` (Frobenius).
fn matrix_gap(a: &Matrix, b: &Matrix) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&x, &y) in a.as_slice().iter().zip(b.as_slice()) {
        diff += f64::from(x - y).powi(2);
        norm += f64::from(y).powi(2);
    }
    (diff / norm.max(f64::MIN_POSITIVE)).sqrt()
}
