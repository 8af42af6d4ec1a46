//! The network a layer-actor run is: the coordinator (actor 0), then every layer's shards
//! layer by layer, each with its `Placement` (ranges, edges and names), its rows of the
//! initial weights and the learning rule the configuration names; and the edges between
//! them (up to the layer above, down to the layer below or, under direct feedback, from the
//! output to every hidden layer, to the coordinator, and to itself under the asynchronous
//! schedule).

use std::ops::Range;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use crate::cluster::remote::RemoteActor;
use crate::cluster::Placed;
use crate::data::dataset::Split;
use crate::learn::coordinator::{Coordinator, TrainControl, TrainEvent, TrainPlan};
use crate::learn::ep_layer::EpLayerActor;
use crate::learn::layer::core::{add_layer, InitialDraw};
use crate::learn::layer::placement::Placement;
use crate::learn::layer::{shard_range, Feedback, LayerConfig, LayerName};
use crate::learn::pc_layer::asynchronous::{AsyncPcLayerActor, AsyncState};
use crate::learn::pc_layer::{Lockstep, PcLayer};
use crate::math::mlp::{DenseLayer, Mlp};
use crate::message::{Message, Synapses};
use crate::run_error::NetworkRunError;
use crate::runtime::{ActorId, Network};

/// The shape of the actor network: shards per layer and the actors' ids.
struct Layout {
    widths: Vec<usize>,
    /// Weight layers (`L`).
    layers: usize,
    /// Shards per layer (index 0: the coordinator's input, one "shard").
    shards: Vec<usize>,
    /// The id of each layer's first shard (coordinator 0, then layer by layer).
    first_id: Vec<usize>,
    /// Direct feedback: the output's errors go to every hidden layer.
    direct: bool,
    /// The asynchronous schedule: every shard has an edge to itself.
    asynchronous: bool,
}

impl Layout {
    fn new(widths: Vec<usize>, cfg: &LayerConfig) -> Self {
        let layers = widths.len() - 1;
        let shards: Vec<usize> = (0..=layers)
            .map(|l| {
                if l == 0 || l == layers {
                    1
                } else {
                    cfg.shards.clamp(1, widths[l])
                }
            })
            .collect();
        let mut first_id = vec![0usize; layers + 2];
        first_id[1] = 1;
        for l in 1..=layers {
            first_id[l + 1] = first_id[l] + shards[l];
        }
        Self {
            widths,
            layers,
            shards,
            first_id,
            direct: cfg.feedback == Feedback::Direct,
            asynchronous: cfg.asynchronous.is_some(),
        }
    }

    /// Layer shards in the network.
    fn total_shards(&self) -> usize {
        self.first_id[self.layers + 1] - 1
    }

    /// Each layer shard's synapses (weights and biases), in network order.
    fn shard_synapses(&self) -> Vec<u64> {
        (1..=self.layers)
            .flat_map(|l| {
                let inputs = self.widths[l - 1] as u64 + 1;
                self.ranges(l)
                    .into_iter()
                    .map(move |r| r.len() as u64 * inputs)
            })
            .collect()
    }

    /// The rank of every actor: the coordinator on rank 0, the layer shards where `spread`
    /// places them (all on rank 0 without it).
    fn actor_rank(&self, spread: Option<&Placed>) -> Vec<usize> {
        match spread {
            Some(at) => std::iter::once(0).chain(at.unit_rank.clone()).collect(),
            None => vec![0; self.total_shards() + 1],
        }
    }

    fn ranges(&self, l: usize) -> Vec<Range<usize>> {
        (0..self.shards[l])
            .map(|s| shard_range(self.widths[l], self.shards[l], s))
            .collect()
    }

    fn name(&self, l: usize, s: usize) -> String {
        LayerName::new(l, s, self.shards[l]).to_string()
    }

    fn names(&self, l: usize) -> Vec<String> {
        (0..self.shards[l]).map(|s| self.name(l, s)).collect()
    }

    /// The shards errors go down to from layer `l` (ids and neuron ranges).
    fn down_targets(&self, l: usize) -> (Vec<usize>, Vec<Range<usize>>) {
        let shards_of = |h: usize| {
            let first = self.first_id[h];
            self.ranges(h)
                .into_iter()
                .enumerate()
                .map(move |(t, r)| (first + t, r))
        };
        if self.direct {
            if l == self.layers {
                (1..self.layers).flat_map(shards_of).unzip()
            } else {
                (Vec::new(), Vec::new())
            }
        } else if l >= 2 {
            shards_of(l - 1).unzip()
        } else {
            (Vec::new(), Vec::new())
        }
    }

    /// Shard `s` of layer `l`: its placement, and the actors its out-edges go to (up, then
    /// down, then the coordinator, then itself under the asynchronous schedule).
    fn placement(&self, l: usize, s: usize, range: Range<usize>) -> (Placement, Vec<usize>) {
        let (layers, id) = (self.layers, self.first_id[l] + s);
        let n_up = if l < layers { self.shards[l + 1] } else { 0 };
        let (down_targets, down_ranges) = self.down_targets(l);
        let down = n_up..n_up + down_targets.len();
        let coordinator = down.end;
        let (above, above_names) = if l == layers {
            (Vec::new(), Vec::new())
        } else if self.direct {
            (
                std::iter::once(0..self.widths[layers]).collect(),
                self.names(layers),
            )
        } else {
            (self.ranges(l + 1), self.names(l + 1))
        };
        let (below, below_names) = if l == 1 {
            (
                std::iter::once(0..self.widths[0]).collect(),
                vec!["input".to_owned()],
            )
        } else {
            (self.ranges(l - 1), self.names(l - 1))
        };
        let placement = Placement {
            layer: l,
            layers,
            shard: s,
            range,
            below,
            above,
            up: 0..n_up,
            down,
            down_ranges,
            coordinator,
            self_edge: self.asynchronous.then_some(coordinator + 1),
            name: self.name(l, s),
            below_names,
            above_names,
        };
        let mut targets: Vec<usize> = (0..n_up).map(|t| self.first_id[l + 1] + t).collect();
        targets.extend(down_targets);
        targets.push(0);
        if self.asynchronous {
            targets.push(id);
        }
        (placement, targets)
    }
}

/// Builds the coordinator and the layer shards around `init`; returns the network and the
/// receiving end of the coordinator's events.
pub fn build_network(
    init: &Mlp,
    train: &Split,
    test: &Split,
    plan: TrainPlan,
    cfg: LayerConfig,
) -> (Network<Message>, Receiver<TrainEvent>) {
    build_network_with(init, train, test, plan, cfg, &TrainControl::default())
        .expect("no checkpoint to restore, nothing to fail")
}

/// [`build_network`] with checkpointing, a stop flag, fault injection, and the actors'
/// states restored from `control.resume` (an error if a state does not fit the network).
pub fn build_network_with(
    init: &Mlp,
    train: &Split,
    test: &Split,
    plan: TrainPlan,
    cfg: LayerConfig,
    control: &TrainControl,
) -> Result<(Network<Message>, Receiver<TrainEvent>), NetworkRunError> {
    let built = build_network_on(init, (train, test), plan, cfg, control, None)?;
    Ok((built.network, built.events))
}

/// A built layer-actor network, the receiving end of its coordinator's events, the rank of
/// every actor, and the handles of the actors whose state the run's end reads.
pub struct BuiltNetwork {
    /// The network.
    pub network: Network<Message>,
    /// The coordinator's events.
    pub events: Receiver<TrainEvent>,
    /// The rank of every actor (all 0 in one process).
    pub actor_rank: Vec<usize>,
    /// The coordinator, on the rank that holds it (rank 0).
    pub(crate) coordinator: Option<ActorId<Coordinator>>,
    /// This rank's asynchronous PC layer actors (none under another rule).
    pub(crate) async_layers: Vec<ActorId<AsyncPcLayerActor>>,
}

/// Each layer shard's synapses (weights and biases) in the network of `init` under `cfg`, in
/// network order: the work a placement over ranks balances.
pub fn shard_synapses(init: &Mlp, cfg: &LayerConfig) -> Vec<u64> {
    Layout::new(init.widths(), cfg).shard_synapses()
}

/// [`build_network_with`] on one rank of a run spread over ranks: the actors placed on other
/// ranks are stand-ins ([`RemoteActor`]) sending to `spread.port`; the coordinator lives on
/// rank 0 and layer shard `u` on `spread.unit_rank[u]` (the units are the shards of
/// [`shard_synapses`]). Also returns the rank of every actor (all 0 without `spread`).
pub fn build_network_on(
    init: &Mlp,
    (train, test): (&Split, &Split),
    plan: TrainPlan,
    cfg: LayerConfig,
    control: &TrainControl,
    spread: Option<&Placed>,
) -> Result<BuiltNetwork, NetworkRunError> {
    let cfg = Arc::new(cfg);
    let layout = Layout::new(init.widths(), &cfg);
    let total_shards = layout.total_shards();
    let rank_of = layout.actor_rank(spread);
    let here = |id: usize| spread.is_none_or(|s| rank_of[id] == s.rank);
    let stand_in = |id: usize| {
        let port = spread.and_then(|s| s.port.clone());
        RemoteActor::new(rank_of[id], port.expect("a spread run has a port"))
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let mut net = Network::new();
    let shards = (total_shards, layout.shards[1]);
    let mut coordinator = None;
    let cid = if here(0) {
        let data = (train, test);
        let actor = Coordinator::new(init, data, plan, cfg.clone(), shards, control, tx);
        let id = net.add("coordinator", actor);
        coordinator = Some(id);
        id.index()
    } else {
        net.add("coordinator", stand_in(0)).index()
    };
    net.place(cid, 0);
    let draw = InitialDraw {
        seed: plan.seed,
        weights: plan.weights,
        widths: layout.widths.clone(),
    };
    let mut wiring: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut async_layers = Vec::new();
    for l in 1..=layout.layers {
        for (s, range) in layout.ranges(l).into_iter().enumerate() {
            let syn = Synapses::from_layer(rows_of(&init.layers()[l - 1], range.clone()));
            let (placement, targets) = layout.placement(l, s, range);
            let key = LayerName::state_key(l, s);
            let id = if here(layout.first_id[l] + s) {
                let (id, asynchronous) =
                    add_actor(&mut net, placement, syn, (&cfg, &draw), control, &key)?;
                async_layers.extend(asynchronous);
                id
            } else {
                net.add(placement.name, stand_in(layout.first_id[l] + s))
                    .index()
            };
            debug_assert_eq!(id, layout.first_id[l] + s);
            // Pinned executor: shard s of every layer on one worker, so neighbouring layers'
            // same-index shards talk without a channel and a layer's shards split across
            // workers.
            net.place(id, s);
            wiring.push((id, targets));
        }
    }
    // Every actor exists before any edge is wired.
    for (id, targets) in wiring {
        for t in targets {
            net.connect(id, t);
        }
    }
    for id in 1..=total_shards {
        net.connect(cid, id);
    }
    Ok(BuiltNetwork {
        network: net,
        events: rx,
        actor_rank: rank_of,
        coordinator,
        async_layers,
    })
}

/// Rows `range` of `layer` (a shard's forward synapses).
fn rows_of(layer: &DenseLayer, range: Range<usize>) -> DenseLayer {
    let mut rows = DenseLayer::zeros(layer.inputs(), range.len());
    for (i, r) in range.enumerate() {
        rows.weight.row_mut(i).copy_from_slice(layer.weight.row(r));
        rows.bias[i] = layer.bias[r];
    }
    rows
}

/// Adds the layer actor at `at` of the rule `cfg` names (EP, asynchronous PC or lockstep PC);
/// returns its id and, for an asynchronous PC actor, its handle.
fn add_actor(
    net: &mut Network<Message>,
    at: Placement,
    syn: Synapses,
    (cfg, draw): (&Arc<LayerConfig>, &InitialDraw),
    control: &TrainControl,
    key: &str,
) -> Result<(usize, Option<ActorId<AsyncPcLayerActor>>), NetworkRunError> {
    let (name, cfg) = (at.name.clone(), cfg.clone());
    let (resume, panic) = (control.resume.as_ref(), control.panic.as_ref());
    if cfg.ep.is_some() {
        let actor = EpLayerActor::new(at, cfg, syn, draw);
        Ok((
            add_layer(net, actor, name, key, resume, panic)?.index(),
            None,
        ))
    } else if cfg.spc.is_some() {
        let actor = crate::learn::spc_layer::SpcLayer::new(at, cfg, syn, draw);
        Ok((
            add_layer(net, actor, name, key, resume, panic)?.index(),
            None,
        ))
    } else if let Some(a) = cfg.asynchronous {
        let sched = AsyncState::new(a, &at);
        let actor = PcLayer::new(at, cfg, syn, draw, sched);
        let id = add_layer(net, actor, name, key, resume, panic)?;
        Ok((id.index(), Some(id)))
    } else {
        let actor = PcLayer::new(at, cfg, syn, draw, Lockstep);
        Ok((
            add_layer(net, actor, name, key, resume, panic)?.index(),
            None,
        ))
    }
}

#[cfg(test)]
mod tests;
