//! What a spiking run's actors counted (`SpikeTally`) and its collection from the run's
//! report into the run's figures and raster ([`SpikingRun`]), whatever the model.

use crate::message::Message;
use crate::runtime::actor::Actor;
use crate::runtime::{ActorId, RunReport, RuntimeError};
use crate::spike::plasticity::WeightFigures;
use crate::spike::stats::SnnStats;

/// Ticks whose spikes are kept for the raster plot (1 s at 0.1 ms).
pub const RASTER_TICKS: u64 = 10_000;

/// What a spiking run returns: its figures and its raster.
#[derive(Clone, Debug)]
pub struct SpikingRun {
    /// The figures (`"snn"` in results.json).
    pub stats: SnnStats,
    /// (tick, neuron) of every spike in the first [`RASTER_TICKS`] ticks, in time order.
    pub raster: Vec<(u32, u32)>,
    /// What the `[[probe]]`s recorded, in scenario order.
    pub probes: Vec<crate::message::probe::ProbeArray>,
    /// Stopped early on request (Ctrl-C): the figures cover the ticks simulated.
    pub stopped: bool,
    /// The messages the run's actors sent (this rank's, across ranks).
    pub traffic: TrafficLog,
}

/// What a run's actors sent each other: exact counts per edge and kind, the sampled events
/// (with `trace.sample` > 0), and the actors' names, as a spiking run returns them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrafficLog {
    /// Every message counted, per edge and kind.
    pub traffic: crate::runtime::traffic::Traffic,
    /// The sampled message events, by send time.
    pub trace: Vec<crate::runtime::trace_log::TraceEvent<crate::message::MessageKind>>,
    /// The actors' names, by id.
    pub names: Vec<String>,
}

impl TrafficLog {
    /// Takes the traffic, trace and names out of `report`.
    pub fn take(report: &mut RunReport<Message>) -> Self {
        Self {
            traffic: std::mem::take(&mut report.traffic),
            trace: std::mem::take(&mut report.trace),
            names: report.names.clone(),
        }
    }

    /// Replaces the traffic with `traffic`, whose actors `names` names by id (a ranked
    /// run's, summed over ranks), and renumbers the sampled events to match: an actor of
    /// this process that `names` lacks (a rank's bridge) is added at the end.
    pub(crate) fn renamed(
        &mut self,
        traffic: crate::runtime::traffic::Traffic,
        mut names: Vec<String>,
    ) {
        let mut id = |local: u32| {
            let name = self.names.get(local as usize).cloned().unwrap_or_default();
            let at = names.iter().position(|n| *n == name).unwrap_or_else(|| {
                names.push(name);
                names.len() - 1
            });
            at as u32
        };
        for e in &mut self.trace {
            (e.from, e.to) = (id(e.from), id(e.to));
        }
        self.traffic = traffic;
        self.names = names;
    }
}

/// A request to stop a spiking run early (set by Ctrl-C), shared with its shards.
pub type StopFlag = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// What a spiking actor counted over a run.
pub(crate) trait SpikeTally {
    /// Adds its spikes and synaptic events, and its (tick, neuron) spikes to `raster`.
    fn tally(&self, spikes: &mut u64, events: &mut u64, raster: &mut Vec<(u32, u32)>);
    /// A non-finite value it found: (tick, what, value).
    fn fault(&self) -> Option<(u64, &'static str, f32)>;
    /// What its plastic weights did, if it has any.
    fn weights(&self) -> Option<WeightFigures> {
        None
    }
}

/// The size of a spiking run: neurons, synapses, ticks and the tick's length (ms).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunSize {
    pub(crate) neurons: usize,
    pub(crate) synapses: usize,
    pub(crate) ticks: u64,
    pub(crate) dt_ms: f64,
}

/// Sums what the spiking `actors` counted into the run's figures (`build_s`: seconds it
/// took to build the network); a non-finite state an actor found is an error naming it.
pub(crate) fn collect<A: SpikeTally + Actor<Message>>(
    size: RunSize,
    build_s: f64,
    report: &RunReport<Message>,
    actors: &[ActorId<A>],
) -> Result<SpikingRun, RuntimeError> {
    let (mut spikes, mut events, mut raster) = (0u64, 0u64, Vec::new());
    let mut plastic: Option<WeightFigures> = None;
    for &id in actors {
        let p = report.actor(id);
        if let Some((step, what, value)) = p.fault() {
            return Err(RuntimeError::NonFinite {
                actor: report.names[id.index()].clone(),
                step,
                what: what.to_owned(),
                value,
            });
        }
        p.tally(&mut spikes, &mut events, &mut raster);
        if let Some(w) = p.weights() {
            plastic.get_or_insert_with(WeightFigures::default).merge(&w);
        }
    }
    raster.sort_unstable();
    let n = size.neurons;
    let sim_s = size.ticks as f64 * size.dt_ms / 1000.0;
    Ok(SpikingRun {
        stats: SnnStats {
            neurons: n,
            synapses: size.synapses,
            spikes,
            synaptic_events: events,
            mean_rate_hz: spikes as f64 / n.max(1) as f64 / sim_s.max(1e-12),
            sim_s,
            wall_s: report.elapsed.as_secs_f64(),
            build_s,
            messages: report.handled,
            rtf: Some(report.elapsed.as_secs_f64() / sim_s.max(1e-12)),
            plasticity: plastic,
            ..SnnStats::default()
        },
        raster,
        probes: Vec::new(),
        stopped: false,
        traffic: TrafficLog::default(),
    })
}
