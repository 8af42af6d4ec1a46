//! ANN-to-SNN conversion (Diehl et al. 2015; Rueckauer et al. 2017), run live on actors.
//!
//! A trained ReLU MLP becomes a network of integrate-and-fire layers: weights and biases are
//! normalised by the 99.9th percentile of each layer's ReLU activations on training data
//! ([`normalise`]), every unit integrates `v += W s + b` per tick, fires when `v >= 1` and resets
//! by subtracting 1 (so its rate approximates the ReLU's activation). The input is a constant
//! current (the pixel values) or, as an option, Poisson spike trains ([`Input::Poisson`]: a
//! pixel of intensity `p` fires at each tick with probability `p * max_rate`, and each input
//! spike adds its weight column divided by `max_rate`, so the expected current is the
//! constant one). The class is the output neuron with most spikes, ties broken by
//! membrane potential. Accuracy is read at several tick counts in one simulation.
//!
//! ```text
//! coordinator --Activity(pixels)--> layer-1 --Phase, Spike(t)--> layer-2 --> ... --> output
//!      ^------------------ Report (scores at checkpoint ticks, spike counts) -----------'
//! ```
//! Spike messages carry `row * width + neuron` for every unit that fired at a tick, so work per
//! tick grows with spikes times fan-out.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::dataset::Split;
use crate::learn::backprop::EVAL_BATCH;
use crate::math::loss::argmax_rows;
use crate::math::matrix::{matmul, Matrix, Threads};
use crate::math::mlp::{ForwardTrace, Mlp};
use crate::math::rng::SeededRng;
use crate::message::{Message, Phase, ReportData, SignalPool, SpikePool};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::{Network, Runtime, RuntimeConfig, RuntimeError};

/// How pixels drive the first layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    /// A constant current: the pixel values, every tick.
    Constant,
    /// Independent Bernoulli (discrete-time Poisson) spike trains, one per pixel.
    Poisson {
        /// Firing probability per tick of a pixel of intensity 1, in (0, 1].
        max_rate: f64,
        /// Seed of the spike trains.
        seed: u64,
    },
}

/// Accuracy and activity after a number of ticks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversionPoint {
    /// Ticks simulated.
    pub ticks: usize,
    /// Test accuracy of the spiking network.
    pub test_accuracy: f64,
    /// Spikes per image (all layers) up to this tick.
    pub spikes_per_image: f64,
    /// Synaptic events per image (spikes times fan-out) up to this tick.
    pub synaptic_events_per_image: f64,
}

/// Scales a ReLU network for integrate-and-fire units with threshold 1: layer `l`'s weights
/// by `lambda_{l-1} / lambda_l` and biases by `1 / lambda_l`, where `lambda_l` is the
/// `percentile` of layer `l`'s activations (pre-activations at the output) on `data` (the
/// input's lambda is 1: pixels are in [0, 1]).
pub fn normalise(net: &Mlp, data: &Split, percentile: f64, limit: usize) -> Mlp {
    let n = data.len().min(limit).max(1);
    let layers = net.layers().len();
    let mut samples: Vec<Vec<f32>> = vec![Vec::new(); layers];
    let mut trace: ForwardTrace = net.trace(EVAL_BATCH);
    let mut batch = Matrix::zeros(EVAL_BATCH, net.widths()[0]);
    let mut labels = Vec::new();
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        data.fill_batch(chunk, &mut batch, &mut labels);
        net.forward(&batch, &mut trace, Threads::ONE);
        for (l, s) in samples.iter_mut().enumerate() {
            let m = if l + 1 < layers {
                &trace.post[l]
            } else {
                &trace.pre[l]
            };
            s.extend(m.as_slice().iter().copied().filter(|&v| v > 0.0));
        }
    }
    let mut lambdas = Vec::with_capacity(layers);
    for mut s in samples {
        let lambda = if s.is_empty() {
            1.0
        } else {
            let k = (((s.len() - 1) as f64) * percentile / 100.0).round() as usize;
            let (_, v, _) = s.select_nth_unstable_by(k, f32::total_cmp);
            f64::from(*v).max(1e-6)
        };
        lambdas.push(lambda);
    }
    let scaled = net
        .layers()
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let below = if l == 0 { 1.0 } else { lambdas[l - 1] };
            let mut out = layer.clone();
            let w = (below / lambdas[l]) as f32;
            out.weight.as_mut_slice().iter_mut().for_each(|v| *v *= w);
            let b = (1.0 / lambdas[l]) as f32;
            out.bias.iter_mut().for_each(|v| *v *= b);
            out
        })
        .collect();
    Mlp::from_layers(scaled, net.activation())
}

/// One integrate-and-fire layer (a shard of one layer: the whole layer here).
struct IfLayer {
    /// Weights (`outputs x inputs`): layer 1 forms its input current with them.
    w: Matrix,
    /// Weights transposed (`inputs x outputs`): the row of an input is what its spike adds.
    wt: Matrix,
    bias: Vec<f32>,
    first: bool,
    last: bool,
    /// Width of the layer above (synaptic events per spike).
    fan_out: u64,
    current: Matrix,
    v: Matrix,
    counts: Matrix,
    rows: usize,
    base: u64,
    ticks: usize,
    checkpoints: Vec<usize>,
    fired: Vec<u32>,
    pool: SpikePool,
    report_pool: SignalPool,
    spikes: u64,
    events: u64,
    /// Out-edge to the coordinator (edge 0 goes up, except at the output).
    coordinator: usize,
    /// Spikes of the first [`RASTER_IMAGES`] test images: (image, tick, neuron).
    raster: Vec<(u32, u32, u32)>,
    /// Poisson input (layer 1 only): the batch's pixels, the rate, the spike trains' source.
    poisson: Option<PoissonInput>,
}

/// Layer 1's Poisson spike trains for the batch at hand.
struct PoissonInput {
    pixels: Matrix,
    max_rate: f64,
    rng: SeededRng,
    /// Input spikes over the run (each adds one weight column: `outputs` synaptic events).
    spikes: u64,
}

/// Test images whose spikes are kept for the raster plot.
pub const RASTER_IMAGES: usize = 3;

impl IfLayer {
    fn begin(&mut self, base: u64, rows: usize, ctx: &mut Context<'_, Message>) {
        self.base = base;
        self.rows = rows;
        for m in [&mut self.v, &mut self.counts] {
            m.set_rows(rows);
            m.fill(0.0);
        }
        self.spikes = 0;
        self.events = 0;
        if !self.last {
            ctx.send(
                0,
                Message::Phase {
                    step: base,
                    phase: Phase::Evaluate { rows: rows as u32 },
                },
            );
        }
    }

    /// One tick: add the input (layer 1: the constant current; else bias and the spikes'
    /// weight rows), fire, send, report at checkpoints.
    fn tick(&mut self, t: usize, spikes: &[u32], ctx: &mut Context<'_, Message>) {
        if let Some(p) = self.poisson.as_mut() {
            // Bias as a constant current; each input spike adds its (scaled) weight column.
            let (width, scale) = (p.pixels.cols(), (1.0 / p.max_rate) as f32);
            for r in 0..self.rows {
                let v = self.v.row_mut(r);
                for (v, &b) in v.iter_mut().zip(&self.bias) {
                    *v += b;
                }
                for j in 0..width {
                    let x = f64::from(p.pixels.row(r)[j]);
                    if x > 0.0 && p.rng.uniform() < x * p.max_rate {
                        p.spikes += 1;
                        self.events += self.wt.cols() as u64;
                        for (v, &w) in v.iter_mut().zip(self.wt.row(j)) {
                            *v += w * scale;
                        }
                    }
                }
            }
        } else if self.first {
            for (v, &c) in self
                .v
                .as_mut_slice()
                .iter_mut()
                .zip(self.current.as_slice())
            {
                *v += c;
            }
        } else {
            let inputs = self.wt.rows() as u32;
            for r in 0..self.rows {
                for (v, &b) in self.v.row_mut(r).iter_mut().zip(&self.bias) {
                    *v += b;
                }
            }
            for &s in spikes {
                let (r, j) = ((s / inputs) as usize, (s % inputs) as usize);
                for (v, &w) in self.v.row_mut(r).iter_mut().zip(self.wt.row(j)) {
                    *v += w;
                }
            }
        }
        self.fired.clear();
        for (i, (v, c)) in self
            .v
            .as_mut_slice()
            .iter_mut()
            .zip(self.counts.as_mut_slice())
            .enumerate()
        {
            if *v >= 1.0 {
                *v -= 1.0;
                *c += 1.0;
                self.fired.push(i as u32);
            }
        }
        self.spikes += self.fired.len() as u64;
        self.events += self.fired.len() as u64 * self.fan_out;
        if self.base == 0 {
            let width = self.v.cols() as u32;
            self.raster.extend(
                self.fired
                    .iter()
                    .filter(|&&i| ((i / width) as usize) < RASTER_IMAGES)
                    .map(|&i| (i / width, t as u32, i % width)),
            );
        }
        let step = self.base + t as u64;
        if !self.last {
            let s = self.pool.spikes(&self.fired);
            ctx.send(
                0,
                Message::Spike {
                    tick: step,
                    fired: s,
                },
            );
        }
        if self.checkpoints.contains(&(t + 1)) {
            ctx.send(
                self.coordinator,
                Message::Report {
                    step,
                    data: ReportData::SpikeCounts {
                        spikes: self.spikes,
                        events: self.events,
                    },
                },
            );
            if self.last {
                // Scores: spike count, ties broken by membrane potential (mapped into (0, 1)).
                let (c, v) = (&self.counts, &self.v);
                let s = self.report_pool.signal(c.rows(), c.cols(), |o| {
                    for ((o, &c), &v) in o.iter_mut().zip(c.as_slice()).zip(v.as_slice()) {
                        *o = c + 0.5 + v.atan() / std::f32::consts::PI;
                    }
                });
                ctx.send(
                    self.coordinator,
                    Message::Report {
                        step,
                        data: ReportData::Predictions(s),
                    },
                );
            }
        }
    }
}

impl Actor<Message> for IfLayer {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        match msg {
            Message::Activity { step, signal, .. } if self.first => {
                let rows = signal.rows();
                self.begin(step, rows, ctx);
                if let Some(p) = self.poisson.as_mut() {
                    p.pixels.set_rows(rows);
                    p.pixels.as_mut_slice().copy_from_slice(signal.values());
                    drop(signal);
                    for t in 0..self.ticks {
                        self.tick(t, &[], ctx);
                    }
                    return Flow::Continue;
                }
                let x = crate::math::matrix::MatView::new(signal.values(), rows, signal.cols());
                self.current.set_rows(rows);
                matmul(
                    &mut self.current,
                    x,
                    self.w.view().t(),
                    1.0,
                    false,
                    Threads::ONE,
                );
                for r in 0..rows {
                    for (c, &b) in self.current.row_mut(r).iter_mut().zip(&self.bias) {
                        *c += b;
                    }
                }
                drop(signal);
                for t in 0..self.ticks {
                    self.tick(t, &[], ctx);
                }
            }
            Message::Phase {
                step,
                phase: Phase::Evaluate { rows },
            } => self.begin(step, rows as usize, ctx),
            Message::Spike { tick, fired } => {
                let t = (tick - self.base) as usize;
                self.tick(t, &fired.0, ctx);
            }
            _ => {}
        }
        Flow::Continue
    }
}

/// Feeds test batches, tallies accuracy and activity at each checkpoint.
struct ConvertCoordinator {
    test: Split,
    ticks: usize,
    checkpoints: Vec<usize>,
    layers: usize,
    next: usize,
    batches: usize,
    done: usize,
    /// Per batch in flight: reports received.
    received: std::collections::BTreeMap<usize, usize>,
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
                argmax_rows(&self.scores, &mut self.predictions);
                self.correct[k] += self
                    .predictions
                    .iter()
                    .zip(labels)
                    .filter(|(&p, &y)| p == usize::from(y))
                    .count();
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

/// What a conversion run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversionReport {
    /// One entry per checkpoint tick count.
    pub points: Vec<ConversionPoint>,
    /// Wall seconds of the spiking simulation.
    pub wall_s: f64,
    /// Spikes of the first test images, per layer: (image, tick, neuron).
    pub raster: Vec<Vec<(u32, u32, u32)>>,
    /// Layer widths (input excluded), for the raster's axes.
    pub widths: Vec<usize>,
    /// Ticks simulated.
    pub ticks: usize,
}

/// Converts `net` (normalised with [`normalise`]) and runs it on `test` for `max(checkpoints)`
/// ticks on actors, driven by `input`, reading accuracy and activity at every checkpoint.
pub fn run_converted(
    net: &Mlp,
    test: &Split,
    checkpoints: &[usize],
    input: Input,
    runtime: RuntimeConfig,
) -> Result<ConversionReport, RuntimeError> {
    let ticks = checkpoints.iter().copied().max().unwrap_or(1).max(1);
    let widths = net.widths();
    let layers = net.layers().len();
    let mut network = Network::new();
    let cid = network.add(
        "coordinator",
        ConvertCoordinator {
            test: test.clone(),
            ticks,
            checkpoints: checkpoints.to_vec(),
            layers,
            next: 0,
            batches: test.len().div_ceil(EVAL_BATCH),
            done: 0,
            received: std::collections::BTreeMap::new(),
            correct: vec![0; checkpoints.len()],
            spikes: vec![0; checkpoints.len()],
            events: vec![0; checkpoints.len()],
            batch: Matrix::zeros(0, widths[0]),
            labels: Vec::new(),
            indices: Vec::new(),
            scores: Matrix::zeros(0, widths[layers]),
            predictions: Vec::new(),
            pool: SignalPool::default(),
        },
    );
    let mut ids = Vec::new();
    for (l, layer) in net.layers().iter().enumerate() {
        let mut wt = Matrix::zeros(layer.inputs(), layer.outputs());
        for o in 0..layer.outputs() {
            for (i, &w) in layer.weight.row(o).iter().enumerate() {
                wt.row_mut(i)[o] = w;
            }
        }
        let last = l + 1 == layers;
        ids.push(network.add(
            format!("if-layer-{}", l + 1),
            IfLayer {
                w: layer.weight.clone(),
                wt,
                bias: layer.bias.clone(),
                first: l == 0,
                last,
                fan_out: if last { 0 } else { widths[l + 2] as u64 },
                current: Matrix::zeros(0, layer.outputs()),
                v: Matrix::zeros(0, layer.outputs()),
                counts: Matrix::zeros(0, layer.outputs()),
                rows: 0,
                base: 0,
                ticks,
                checkpoints: checkpoints.to_vec(),
                fired: Vec::new(),
                pool: SpikePool::default(),
                report_pool: SignalPool::default(),
                spikes: 0,
                events: 0,
                coordinator: usize::from(!last),
                raster: Vec::new(),
                poisson: match input {
                    Input::Poisson { max_rate, seed } if l == 0 => Some(PoissonInput {
                        pixels: Matrix::zeros(0, layer.inputs()),
                        max_rate,
                        rng: SeededRng::stream(seed, "convert/poisson-input"),
                        spikes: 0,
                    }),
                    _ => None,
                },
            },
        ));
    }
    network.connect(cid, ids[0]);
    for (l, &id) in ids.iter().enumerate() {
        if l + 1 < layers {
            network.connect(id, ids[l + 1]);
        }
        network.connect(id, cid);
    }
    let started = Instant::now();
    let report = Runtime::new(runtime).run(network)?;
    let wall_s = started.elapsed().as_secs_f64();
    let c = report
        .actors
        .first()
        .and_then(|a| (a.as_ref() as &dyn std::any::Any).downcast_ref::<ConvertCoordinator>())
        .expect("the coordinator is actor 0");
    let n = test.len().max(1) as f64;
    let points = checkpoints
        .iter()
        .enumerate()
        .map(|(k, &t)| ConversionPoint {
            ticks: t,
            test_accuracy: c.correct[k] as f64 / n,
            spikes_per_image: c.spikes[k] as f64 / n,
            synaptic_events_per_image: c.events[k] as f64 / n,
        })
        .collect();
    let raster = report
        .actors
        .iter()
        .filter_map(|a| (a.as_ref() as &dyn std::any::Any).downcast_ref::<IfLayer>())
        .map(|l| l.raster.clone())
        .collect();
    Ok(ConversionReport {
        points,
        wall_s,
        raster,
        widths: widths[1..].to_vec(),
        ticks,
    })
}
