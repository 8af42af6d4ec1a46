//! A layer-actor run (PC, Z-IL, the asynchronous schedule, EP, C-EP): [`train_layers`] builds
//! the network ([`crate::learn::wiring`]: the coordinator and the layer shards), runs it,
//! streams the coordinator's events to the caller and concludes (a non-finite value or a
//! graceful stop as the error). On several ranks ([`train_layers_on`]) it is one
//! [`run_ranked`]: every rank builds the same network with the actors placed elsewhere as
//! stand-ins, links them through its port, and rank 0 (the coordinator's) merges every
//! rank's traffic into one report.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::cluster::remote::{merge_shares, TrafficShare};
use crate::cluster::{run_ranked, Built, Link, LinkFigures, Placed, RankedNetwork, Ranks, Report};
use crate::data::dataset::Split;
use crate::learn::coordinator::{Coordinator, TrainControl, TrainEvent, TrainPlan};
use crate::learn::layer::{LayerConfig, LayerName};
use crate::learn::pc_layer::asynchronous::AsyncPcLayerActor;
use crate::learn::wiring::{build_network_on, shard_synapses};
use crate::math::mlp::Mlp;
use crate::message::Message;
use crate::run_error::NetworkRunError;
use crate::runtime::{ActorId, Network, RunReport, Runtime, RuntimeConfig, RuntimeError};

/// Trains `init` by predictive coding on actors: builds the network, runs it on the
/// configured executor and calls `on_event` (on the calling thread) after every batch and
/// epoch. Returns the runtime's report (traffic, sampled events, timings).
pub fn train_layers(
    init: &Mlp,
    train: &Split,
    test: &Split,
    plan: TrainPlan,
    cfg: LayerConfig,
    runtime: RuntimeConfig,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<RunReport<Message>, NetworkRunError> {
    let control = TrainControl::default();
    train_layers_with(init, train, test, plan, cfg, runtime, &control, on_event)
}

/// [`train_layers`] with checkpoints, resume, a graceful stop and fault injection
/// ([`TrainControl`]), in one process.
#[allow(clippy::too_many_arguments)]
pub fn train_layers_with(
    init: &Mlp,
    train: &Split,
    test: &Split,
    plan: TrainPlan,
    cfg: LayerConfig,
    runtime: RuntimeConfig,
    control: &TrainControl,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<RunReport<Message>, NetworkRunError> {
    let data = (train, test);
    let single = &mut Ranks::single();
    train_layers_on(single, init, data, plan, cfg, runtime, control, on_event)
}

/// [`train_layers_with`] on `ranks`: across several, the layer shards are spread over them
/// (the coordinator on rank 0) and rank 0's report holds every rank's traffic; the other
/// ranks return their own part's report.
#[allow(clippy::too_many_arguments)]
pub fn train_layers_on(
    ranks: &mut Ranks,
    init: &Mlp,
    data: (&Split, &Split),
    plan: TrainPlan,
    cfg: LayerConfig,
    runtime: RuntimeConfig,
    control: &TrainControl,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<RunReport<Message>, NetworkRunError> {
    let run = LayerRun {
        init,
        data,
        plan,
        cfg: Some(cfg),
        runtime,
        control,
        on_event,
        events: None,
        actor_rank: Vec::new(),
        ends: Ends::default(),
    };
    run_ranked(ranks, run)
}

/// A layer-actor network as [`run_ranked`] runs it.
struct LayerRun<'a> {
    init: &'a Mlp,
    data: (&'a Split, &'a Split),
    plan: TrainPlan,
    /// Until the network is built.
    cfg: Option<LayerConfig>,
    runtime: RuntimeConfig,
    control: &'a TrainControl,
    on_event: &'a mut dyn FnMut(TrainEvent),
    /// The coordinator's events and the rank of every actor, once built.
    events: Option<Receiver<TrainEvent>>,
    actor_rank: Vec<usize>,
    /// The actors whose state the run's end reads, once built.
    ends: Ends,
}

/// The actors of this rank whose final state concludes a run: the coordinator (on its rank)
/// and the asynchronous PC layer actors (their fault tallies).
#[derive(Default)]
struct Ends {
    coordinator: Option<ActorId<Coordinator>>,
    async_layers: Vec<ActorId<AsyncPcLayerActor>>,
}

impl LayerRun<'_> {
    fn cfg(&self) -> &LayerConfig {
        self.cfg
            .as_ref()
            .expect("the configuration is kept until the build")
    }
}

impl RankedNetwork for LayerRun<'_> {
    type Fingerprint = (Vec<usize>, String, String);
    type Share = TrafficShare;
    type Output = RunReport<Message>;

    /// Every rank waits here for the others (rank 0 may have trained the baseline first).
    fn fingerprint(&self) -> Self::Fingerprint {
        let (plan, cfg) = (self.plan, self.cfg());
        (self.init.widths(), format!("{plan:?}"), format!("{cfg:?}"))
    }

    fn units(&self) -> usize {
        shard_synapses(self.init, self.cfg()).len()
    }

    fn synapses(&self) -> Vec<u64> {
        shard_synapses(self.init, self.cfg())
    }

    fn build(&mut self, at: &Placed, _: &mut Ranks) -> Result<Built, NetworkRunError> {
        let cfg = self.cfg.take().expect("built once");
        let spread = (at.ranks > 1).then_some(at);
        let (init, data, plan, control) = (self.init, self.data, self.plan, self.control);
        let built = build_network_on(init, data, plan, cfg, control, spread)?;
        self.events = Some(built.events);
        self.actor_rank.clone_from(&built.actor_rank);
        self.ends = Ends {
            coordinator: built.coordinator,
            async_layers: built.async_layers,
        };
        let actor_rank = built.actor_rank;
        Ok((built.network, Link::Port { actor_rank }))
    }

    fn runtime(&self) -> RuntimeConfig {
        self.runtime
    }

    /// Streams the coordinator's events to the caller while the network runs.
    fn run(&mut self, net: Network<Message>) -> Result<RunReport<Message>, NetworkRunError> {
        let events = self.events.take().expect("run once, after the build");
        run_network(net, events, self.runtime, self.on_event)
    }

    fn share(
        &mut self,
        report: &mut Report,
        link: &LinkFigures,
    ) -> Result<TrafficShare, NetworkRunError> {
        let port = link.port.map(|(_, f)| f);
        Ok(TrafficShare::of(&report.traffic, port))
    }

    fn assemble(
        self,
        mut report: RunReport<Message>,
        shares: Vec<TrafficShare>,
        at: &Placed,
        link: LinkFigures,
    ) -> Result<RunReport<Message>, NetworkRunError> {
        let Some((port_id, _)) = link.port else {
            return conclude(report, &self.ends);
        };
        let names = report.names[..port_id].to_vec();
        report.traffic = merge_shares(&shares, &self.actor_rank, &names, port_id);
        report.actors.truncate(port_id);
        report.names.truncate(port_id);
        // A message to another rank is in the trace once, sent to its actor's stand-in.
        let here = |id: u32| (id as usize) < port_id;
        report.trace.retain(|e| here(e.from) && here(e.to));
        if at.rank == 0 {
            conclude(report, &self.ends)
        } else {
            Ok(report)
        }
    }
}

/// Runs `network`, calling `on_event` with the coordinator's events on the calling thread.
fn run_network(
    network: Network<Message>,
    events: Receiver<TrainEvent>,
    runtime: RuntimeConfig,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<RunReport<Message>, NetworkRunError> {
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            Runtime::new(runtime)
                .run(network)
                .map_err(NetworkRunError::from)
        });
        loop {
            match events.recv_timeout(Duration::from_millis(50)) {
                Ok(ev) => on_event(ev),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if worker.is_finished() {
                        while let Ok(ev) = events.try_recv() {
                            on_event(ev);
                        }
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        worker
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// The faults the asynchronous layer actors' links injected and their updates.
fn fault_tally(
    report: &RunReport<Message>,
    layers: &[ActorId<AsyncPcLayerActor>],
) -> Option<crate::runtime::faults::FaultTally> {
    let mut tally = crate::runtime::faults::FaultTally::default();
    let mut actor_batches = 0u64;
    for &id in layers {
        actor_batches += report.actor(id).add_async_tally(&mut tally);
    }
    tally.mean_updates_per_batch = tally.updates as f64 / actor_batches.max(1) as f64;
    (!layers.is_empty()).then_some(tally)
}

/// The end of a run the coordinator took part in: the fault tally, and a non-finite value
/// or a stop request as the run's error.
fn conclude(
    mut report: RunReport<Message>,
    ends: &Ends,
) -> Result<RunReport<Message>, NetworkRunError> {
    let coordinator = ends.coordinator.map(|id| report.actor(id));
    let fault = coordinator.and_then(Coordinator::fault);
    let interrupted = coordinator.is_some_and(Coordinator::interrupted);
    report.traffic.faults = fault_tally(&report, &ends.async_layers);
    if let Some((layer, shard, step, what, value)) = fault {
        let (layer, shard) = (layer as usize, Some(shard as usize));
        let sharded = LayerName { layer, shard }.to_string();
        let actor = if report.names.contains(&sharded) {
            sharded
        } else {
            LayerName { layer, shard: None }.to_string()
        };
        return Err(NetworkRunError::from(RuntimeError::NonFinite {
            actor,
            step,
            what: what.to_owned(),
            value,
        }));
    }
    if interrupted {
        return Err(NetworkRunError::Interrupted);
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
