//! The integrate-and-fire layer actor of a converted network: every unit integrates
//! `v += W s + b` per tick (layer 1: the constant input current, or Poisson input spikes),
//! fires when `v >= 1` and resets by subtracting 1; spikes go up as `row * width + neuron`,
//! and at checkpoint ticks the layer reports its spike counts (the output layer also its
//! scores) to the coordinator.

use crate::math::matrix::{matmul, MatView, Matrix, Threads};
use crate::math::mlp::DenseLayer;
use crate::math::rng::SeededRng;
use crate::message::{Message, Phase, ReportData, Signal, SignalPool, SpikePool};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::spike::convert::{Input, RASTER_IMAGES};

/// One integrate-and-fire layer (a shard of one layer: the whole layer here).
pub(super) struct IfLayer {
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
    pub(super) raster: Vec<(u32, u32, u32)>,
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

/// `layer`'s weights transposed (`inputs x outputs`).
fn transposed(layer: &DenseLayer) -> Matrix {
    let mut wt = Matrix::zeros(layer.inputs(), layer.outputs());
    for o in 0..layer.outputs() {
        for (i, &w) in layer.weight.row(o).iter().enumerate() {
            wt.row_mut(i)[o] = w;
        }
    }
    wt
}

impl IfLayer {
    /// Layer `l` (from 0) of a network of layer `widths` (input first), run for `ticks` ticks
    /// per batch and reporting at `checkpoints`.
    pub(super) fn new(
        layer: &DenseLayer,
        l: usize,
        widths: &[usize],
        ticks: usize,
        checkpoints: &[usize],
        input: Input,
    ) -> Self {
        let last = l + 2 == widths.len();
        IfLayer {
            w: layer.weight.clone(),
            wt: transposed(layer),
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
        }
    }

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
        if self.poisson.is_some() {
            self.integrate_poisson();
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
            self.integrate_spikes(spikes);
        }
        self.fire(t);
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
            self.report(step, ctx);
        }
    }

    /// Layer 1 with Poisson input: bias as a constant current; each input spike adds its
    /// (scaled) weight column.
    fn integrate_poisson(&mut self) {
        let p = self.poisson.as_mut().expect("Poisson input");
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
    }

    /// Above layer 1: the bias, then each input spike's weight row.
    fn integrate_spikes(&mut self, spikes: &[u32]) {
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

    /// Fires every unit at or above threshold (reset by subtraction), counts, keeps the raster.
    fn fire(&mut self, t: usize) {
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
    }

    /// At a checkpoint: the spike counts, and at the output the scores.
    fn report(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
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

    /// Layer 1 takes a batch of pixels: the Poisson trains' intensities or the constant
    /// current `W x + b`, then runs every tick of the batch.
    fn take_pixels(&mut self, step: u64, signal: Signal, ctx: &mut Context<'_, Message>) {
        let rows = signal.rows();
        self.begin(step, rows, ctx);
        if let Some(p) = self.poisson.as_mut() {
            p.pixels.set_rows(rows);
            p.pixels.as_mut_slice().copy_from_slice(signal.values());
        } else {
            let x = MatView::new(signal.values(), rows, signal.cols());
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
        }
        drop(signal);
        for t in 0..self.ticks {
            self.tick(t, &[], ctx);
        }
    }
}

impl Actor<Message> for IfLayer {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        match msg {
            Message::Activity { step, signal, .. } if self.first => {
                self.take_pixels(step, signal, ctx)
            }
            Message::Phase {
                step,
                phase: Phase::Evaluate { rows },
            } => self.begin(step, rows as usize, ctx),
            Message::Spike { tick, fired } => {
                let t = (tick - self.base) as usize;
                self.tick(t, &fired, ctx);
            }
            _ => {}
        }
        Flow::Continue
    }
}
