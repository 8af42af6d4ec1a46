//! A layer-actor run over several ranks: every rank builds the same network with the actors
//! placed elsewhere as stand-ins, adds its [`RankPort`], runs, and finishes with the others;
//! rank 0 (the coordinator's) merges every rank's traffic into one report.

use std::time::Duration;

use super::{conclude, run_network, TrainControl, TrainEvent, TrainPlan};
use crate::cluster::remote::{finish, merge_traffic, PortFigures, RankPort};
use crate::cluster::{ClusterError, Exchange};
use crate::data::dataset::Split;
use crate::learn::layer::LayerConfig;
use crate::learn::wiring::{build_network_on, Spread};
use crate::math::mlp::Mlp;
use crate::message::Message;
use crate::run_error::NetworkRunError;
use crate::runtime::traffic::EdgeTraffic;
use crate::runtime::{Network, RunReport, RuntimeConfig};

/// What each rank tells rank 0 after the run: its actors' edges, whether it counted, and
/// its port's figures.
#[derive(serde::Serialize, serde::Deserialize)]
struct RankShare {
    per_edge: Vec<EdgeTraffic>,
    counters: bool,
    posted: (u64, u64),
    received: (u64, u64),
    wait_s: f64,
}

fn ranks_error(e: ClusterError) -> NetworkRunError {
    NetworkRunError::Ranks(e.to_string())
}

/// [`super::train_layers_with`] on this thread's rank of `x`'s ranks. The exchange is put
/// back for the next run when this one ends normally.
#[allow(clippy::too_many_arguments)]
pub(super) fn train_on_ranks(
    mut x: Box<dyn Exchange>,
    init: &Mlp,
    data: (&Split, &Split),
    plan: TrainPlan,
    cfg: LayerConfig,
    runtime: RuntimeConfig,
    control: &TrainControl,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<RunReport<Message>, NetworkRunError> {
    // Every rank waits here for the others (rank 0 may have trained the baseline first), and
    // checks that they all build the same network.
    let what = (init.widths(), format!("{plan:?}"), format!("{cfg:?}"));
    crate::cluster::agree(x.as_mut(), &what).map_err(ranks_error)?;
    let (rank, ranks) = (x.rank(), x.size());
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let spread = Spread {
        rank,
        ranks,
        port: port_tx,
    };
    let (mut net, events, rank_of) =
        build_network_on(init, data, plan, cfg, control, Some(&spread))?;
    drop(spread);
    let port_id = add_port(&mut net, x, port_rx, &rank_of, rank);
    let mut report = run_network(net, events, runtime, on_event)?;
    let port = (report.actors[port_id].as_mut() as &mut dyn std::any::Any)
        .downcast_mut::<RankPort>()
        .expect("the last actor is the rank's port");
    let figures = port.figures();
    let mut x = port
        .take_exchange()
        .expect("the port hands its exchange back once");
    finish(x.as_mut(), port.done_from(), Duration::from_secs(60)).map_err(ranks_error)?;
    let shares =
        crate::cluster::gather_json(x.as_mut(), &share(&report, figures)).map_err(ranks_error)?;
    crate::cluster::put_back(x);
    let per_rank = shares
        .iter()
        .map(|s| crate::runtime::traffic::Traffic {
            counters: s.counters,
            per_edge: s.per_edge.clone(),
            ..Default::default()
        })
        .collect();
    let ports: Vec<(usize, PortFigures)> =
        shares.iter().map(|s| (port_id, figures_of(s))).collect();
    let names = report.names[..port_id].to_vec();
    report.traffic = merge_traffic(per_rank, &rank_of, &names, &ports);
    report.actors.truncate(port_id);
    report.names.truncate(port_id);
    if rank == 0 {
        conclude(report)
    } else {
        Ok(report)
    }
}

/// Adds rank `rank`'s port to `net`: an edge to every local actor, then one to itself.
fn add_port(
    net: &mut Network<Message>,
    x: Box<dyn Exchange>,
    outbound: std::sync::mpsc::Receiver<crate::cluster::remote::Outbound>,
    rank_of: &[usize],
    rank: usize,
) -> usize {
    let local: Vec<usize> = (0..rank_of.len())
        .filter(|&id| rank_of[id] == rank)
        .collect();
    let mut edge_of = vec![None; rank_of.len()];
    for (edge, &id) in local.iter().enumerate() {
        edge_of[id] = Some(edge);
    }
    let port = RankPort::new(x, outbound, edge_of, local.len());
    let pid = net.add(format!("rank {rank} port"), port);
    for id in local {
        net.connect(pid, id);
    }
    net.connect(pid, pid);
    pid
}

fn share(report: &RunReport<Message>, f: PortFigures) -> RankShare {
    RankShare {
        per_edge: report.traffic.per_edge.clone(),
        counters: report.traffic.counters,
        posted: (f.posted.messages, f.posted.bytes),
        received: (f.received.messages, f.received.bytes),
        wait_s: f.wait_s,
    }
}

fn figures_of(s: &RankShare) -> PortFigures {
    let tally = |(messages, bytes)| crate::runtime::traffic::Tally { messages, bytes };
    PortFigures {
        posted: tally(s.posted),
        received: tally(s.received),
        wait_s: s.wait_s,
    }
}

#[cfg(test)]
mod tests;
