//! Diehl & Cook's network on ranks ([`run_diehl_cook_on`]), as a [`RankedNetwork`]: its k
//! competitive shards are the units placed on ranks, the coordinator and the input live on
//! rank 0, and an actor placed on another rank is a stand-in linked through its rank's port
//! ([`Link::Port`]: every edge keeps its order, so each shard's lockstep sees what it sees in
//! one process). After the run every rank gathers every shard's weights and thresholds (as
//! bits) and rank 0's figures, so every rank returns the whole run; rank 0's report holds
//! every rank's traffic. In one process the same sequence runs with no port and no stand-in.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::coordinator::{Plan, StdpCoordinator};
use super::{
    figures, initial_weights, input_delays, params, patterns, restore, DiehlCookConfig,
    DiehlCookResults, DiehlCookRun, RunHooks, DT_MS, HZ_PER_UNIT,
};
use crate::cluster::remote::{merge_shares, RemoteActor, TrafficShare};
use crate::cluster::{run_ranked, Built, Link, LinkFigures, Placed, RankedNetwork, Ranks, Report};
use crate::data::dataset::Dataset;
use crate::run_error::NetworkRunError;
use crate::runtime::{ActorId, Network, RuntimeConfig, RuntimeError};
use crate::spike::competitive::CompetitiveShard;
use crate::spike::plasticity::DenseProjection;
use crate::spike::poisson_source::PoissonSource;

/// [`super::run_diehl_cook`] on `ranks`: across several, the shards are spread over them
/// (the coordinator and the input on rank 0) and every rank returns the whole run's weights,
/// thresholds and figures (rank 0's report holds every rank's traffic, the others' their own).
pub fn run_diehl_cook_on(
    ranks: &mut Ranks,
    cfg: &DiehlCookConfig,
    data: &Dataset,
    seed: u64,
    (shards, runtime): (usize, RuntimeConfig),
    hooks: RunHooks<'_>,
) -> Result<DiehlCookRun, NetworkRunError> {
    let (images, labels, test_offset) = patterns(cfg, data);
    let plan = Plan {
        train: cfg.epochs * cfg.train_images.min(data.train.len()),
        train_images: cfg.train_images.min(data.train.len()),
        label: cfg.label_images.min(data.train.len()),
        test: cfg.test_images.min(data.test.len()),
        test_offset,
        curve_every: cfg.curve_every,
    };
    let net = DiehlCookNetwork {
        interrupted: false,
        cfg,
        seed,
        k: shards.clamp(1, cfg.n_exc.max(1)),
        inputs: data.pixels(),
        classes: data.classes,
        plan,
        patterns: (images, labels),
        runtime,
        hooks,
        actor_rank: Vec::new(),
        root: None,
        shards: Vec::new(),
        results: None,
    };
    run_ranked(ranks, net)
}

/// The network as [`run_ranked`] runs it: actor 0 the coordinator, 1 the input, `2 + s`
/// shard `s`.
struct DiehlCookNetwork<'a> {
    /// Rank 0's coordinator stopped on request before the end.
    interrupted: bool,
    cfg: &'a DiehlCookConfig,
    seed: u64,
    /// Shards.
    k: usize,
    inputs: usize,
    classes: usize,
    plan: Plan,
    /// Images and labels (training images, then test images).
    patterns: (Arc<Vec<u8>>, Arc<Vec<u8>>),
    runtime: RuntimeConfig,
    /// Progress counter and checkpoints (until the coordinator is built), and the states to
    /// continue from.
    hooks: RunHooks<'a>,
    /// The rank of every actor, once built.
    actor_rank: Vec<usize>,
    /// On rank 0, once built: the coordinator and the input.
    root: Option<(ActorId<StdpCoordinator>, ActorId<PoissonSource>)>,
    /// This rank's shards, once built.
    shards: Vec<ActorId<CompetitiveShard>>,
    /// Rank 0's figures, as it computed them (not read back from the gathered share).
    results: Option<DiehlCookResults>,
}

/// One shard's learned state: its first neuron, its input weights (a row per input) and
/// thresholds, as `f32` bits (exact through the gather's JSON, NaN included).
#[derive(Serialize, Deserialize)]
struct ShardState {
    start: usize,
    weights: Vec<u32>,
    theta: Vec<u32>,
}

/// A non-finite state a shard reported: (shard, presentation, what, value bits).
type Fault = (u32, u64, String, u32);

/// What each rank tells every other after the run: its shards' state, rank 0's figures (or
/// the fault that stopped the run), and its traffic.
#[derive(Serialize, Deserialize)]
struct DiehlCookShare {
    shards: Vec<ShardState>,
    root: Option<Result<DiehlCookResults, Fault>>,
    traffic: TrafficShare,
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

impl DiehlCookNetwork<'_> {
    /// Shard `s`'s excitatory neurons.
    fn range(&self, s: usize) -> std::ops::Range<usize> {
        let (n, k) = (self.cfg.n_exc, self.k);
        s * n / k..(s + 1) * n / k
    }

    /// Shard `s` with its slice of the initial weights `w0` and delays `d0` (`inputs x n_exc`
    /// each).
    fn shard(&self, s: usize, w0: &[f32], d0: &[u8]) -> CompetitiveShard {
        let range = self.range(s);
        let w: Vec<f32> = w0
            .chunks_exact(self.cfg.n_exc)
            .flat_map(|row| row[range.clone()].iter().copied())
            .collect();
        let d: Vec<u8> = d0
            .chunks_exact(self.cfg.n_exc)
            .flat_map(|row| row[range.clone()].iter().copied())
            .collect();
        let input = DenseProjection::new(self.inputs, range.len(), w).with_delays(d);
        CompetitiveShard::new((s, self.k), range, params(self.cfg.plasticity), input)
    }

    /// Rank 0's figures from its coordinator and input, or the fault that stopped the run.
    fn root_share(&mut self, report: &Report) -> Option<Result<DiehlCookResults, Fault>> {
        let (cid, iid) = self.root?;
        let c = report.actor(cid);
        self.interrupted = c.interrupted;
        if let Some((shard, step, what, value)) = c.fault {
            return Some(Err((shard, step, what.to_owned(), value.to_bits())));
        }
        let results = figures(self.cfg, c, report.actor(iid).spikes, self.classes);
        self.results = Some(results.clone());
        Some(Ok(results))
    }
}

impl RankedNetwork for DiehlCookNetwork<'_> {
    type Fingerprint = (DiehlCookConfig, u64, usize, (usize, usize), String, usize);
    type Share = DiehlCookShare;
    type Output = DiehlCookRun;

    /// Configuration, seed, shards, input shape, plan and patterns (the data's subset).
    fn fingerprint(&self) -> Self::Fingerprint {
        let shape = (self.inputs, self.classes);
        let plan = format!("{:?}", self.plan);
        let (cfg, patterns) = (self.cfg.clone(), self.patterns.1.len());
        (cfg, self.seed, self.k, shape, plan, patterns)
    }

    fn units(&self) -> usize {
        self.k
    }

    fn synapses(&self) -> Vec<u64> {
        let inputs = self.inputs as u64;
        (0..self.k)
            .map(|s| inputs * self.range(s).len() as u64)
            .collect()
    }

    fn build(&mut self, at: &Placed, _: &mut Ranks) -> Result<Built, NetworkRunError> {
        let (inputs, n, k) = (self.inputs, self.cfg.n_exc, self.k);
        let rank_of: Vec<usize> = [0, 0].into_iter().chain(at.unit_rank.clone()).collect();
        let here = |id: usize| rank_of[id] == at.rank;
        let stand_in = |id: usize| {
            let port = at.port.clone().expect("a run over ranks has a port");
            RemoteActor::new(rank_of[id], port)
        };
        let p = params(self.cfg.plasticity);
        let (images, labels) = self.patterns.clone();
        let mut net = Network::new();
        let (cid, iid) = if here(0) {
            let shape = (self.classes, n, k);
            let progress = self.hooks.progress.take();
            let mut c = StdpCoordinator::new(self.plan, labels, shape, progress);
            if let Some(checkpoints) = self.hooks.checkpoints.take() {
                c = c.with_checkpoints(checkpoints);
            }
            restore(self.hooks.resume, "coordinator", |b| c.restore(b))?;
            let cid = net.add("coordinator", c);
            let ticks = (p.present_ticks, f64::from(DT_MS));
            let source = PoissonSource::new(images, inputs, HZ_PER_UNIT, ticks, self.seed);
            let iid = net.add("input", source);
            self.root = Some((cid, iid));
            (cid.index(), iid.index())
        } else {
            let cid = net.add("coordinator", stand_in(0)).index();
            (cid, net.add("input", stand_in(1)).index())
        };
        net.connect(cid, iid);
        let w0 = initial_weights(inputs, n, self.seed);
        let d0 = input_delays(inputs, n, self.seed, self.cfg.input_delay_ms);
        let mut ids = Vec::new();
        for s in 0..k {
            let name = if k == 1 {
                "exc".to_owned()
            } else {
                format!("exc.{s}")
            };
            let id = if here(2 + s) {
                let mut shard = self.shard(s, &w0, &d0);
                restore(self.hooks.resume, &name, |b| shard.restore(b))?;
                let id = net.add(name, shard);
                self.shards.push(id);
                id.index()
            } else {
                net.add(name, stand_in(2 + s)).index()
            };
            net.place(id, s);
            net.connect(cid, id);
            net.connect(iid, id);
            ids.push(id);
        }
        for &a in &ids {
            net.connect(a, cid);
            for &b in &ids {
                if a != b {
                    net.connect(a, b);
                }
            }
        }
        self.actor_rank.clone_from(&rank_of);
        Ok((
            net,
            Link::Port {
                actor_rank: rank_of,
            },
        ))
    }

    fn runtime(&self) -> RuntimeConfig {
        self.runtime
    }

    fn share(
        &mut self,
        report: &mut Report,
        link: &LinkFigures,
    ) -> Result<DiehlCookShare, NetworkRunError> {
        let shards = self
            .shards
            .iter()
            .map(|&id| {
                let s = report.actor(id);
                ShardState {
                    start: s.range().start,
                    weights: bits(s.input().weights()),
                    theta: bits(s.theta()),
                }
            })
            .collect();
        let root = self.root_share(report);
        let traffic = TrafficShare::of(&report.traffic, link.port.map(|(_, f)| f));
        Ok(DiehlCookShare {
            shards,
            root,
            traffic,
        })
    }

    fn assemble(
        self,
        mut report: Report,
        shares: Vec<DiehlCookShare>,
        _: &Placed,
        link: LinkFigures,
    ) -> Result<DiehlCookRun, NetworkRunError> {
        let n = self.cfg.n_exc;
        let mut weights = vec![0.0; self.inputs * n];
        let mut theta = vec![0.0; n];
        for s in shares.iter().flat_map(|s| &s.shards) {
            let r = s.start..s.start + s.theta.len();
            for (row, src) in weights
                .chunks_exact_mut(n)
                .zip(s.weights.chunks_exact(r.len().max(1)))
            {
                for (w, &b) in row[r.clone()].iter_mut().zip(src) {
                    *w = f32::from_bits(b);
                }
            }
            for (t, &b) in theta[r].iter_mut().zip(&s.theta) {
                *t = f32::from_bits(b);
            }
        }
        if let Some((port_id, _)) = link.port {
            let traffic: Vec<TrafficShare> = shares.iter().map(|s| s.traffic.clone()).collect();
            let names = report.names[..port_id].to_vec();
            report.traffic = merge_shares(&traffic, &self.actor_rank, &names, port_id);
            report.actors.truncate(port_id);
            report.names.truncate(port_id);
            // A message to another rank is in the trace once, sent to its actor's stand-in.
            let here = |id: u32| (id as usize) < port_id;
            report.trace.retain(|e| here(e.from) && here(e.to));
        }
        let root = shares.into_iter().find_map(|s| s.root);
        let results = match (self.results, root) {
            (Some(mine), _) => mine,
            (None, Some(Ok(gathered))) => gathered,
            (None, Some(Err((shard, step, what, value)))) => {
                return Err(RuntimeError::NonFinite {
                    actor: format!("exc.{shard}"),
                    step,
                    what,
                    value: f32::from_bits(value),
                }
                .into())
            }
            (None, None) => {
                let lost = "rank 0 shared no figures (it holds the coordinator)";
                return Err(NetworkRunError::Ranks(lost.to_owned()));
            }
        };
        Ok(DiehlCookRun {
            results,
            weights,
            theta,
            report,
            interrupted: self.interrupted,
        })
    }
}
