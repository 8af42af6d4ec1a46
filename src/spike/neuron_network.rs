//! A recurrent LIF network as one actor per neuron ([`NeuronNetwork`]): its [`NeuronActor`]s
//! wired to their targets, the [`Clock`] and, with worker ticks, one [`WorkerTicker`] per
//! worker; built, run and collected into a [`SpikingRun`].

use std::sync::Arc;
use std::time::Instant;

use crate::message::Message;
use crate::runtime::{ActorId, Executor, Network, Runtime, RuntimeConfig, RuntimeError};
use crate::spike::coupling::Coupling;
use crate::spike::lif::LifParams;
use crate::spike::neuron_actor::{Clock, NeuronActor, NeuronShared, TickProtocol, WorkerTicker};
use crate::spike::plasticity::sparse::Decays;
use crate::spike::plasticity::{PlasticProjections, SynapseTraces};
use crate::spike::tally::{collect, RunSize, SpikingRun};

/// A recurrent LIF network to run as one actor per neuron.
pub(crate) struct NeuronNetwork<'a> {
    /// Each presynaptic neuron's targets.
    pub(crate) post: &'a [Vec<u32>],
    /// Each neuron's initial potential, mV.
    pub(crate) v0: &'a [f32],
    /// The neurons' parameters (all alike).
    pub(crate) params: LifParams,
    /// How a spike acts on its targets.
    pub(crate) coupling: Coupling,
    /// Ticks to simulate.
    pub(crate) ticks: u64,
    /// Projections whose synapses learn, if any.
    pub(crate) plastic: Option<&'a PlasticProjections>,
    /// Set to stop early (Ctrl-C): the clock opens no further tick.
    pub(crate) stop: Option<crate::spike::tally::StopFlag>,
}

impl NeuronNetwork<'_> {
    /// Builds the network and runs it on `runtime`'s executor: with worker ticks (inline,
    /// pinned) the clock ticks one [`WorkerTicker`] per worker, else every neuron. `built`:
    /// when building started (the run's `build_s`).
    pub(crate) fn run(
        &self,
        built: Instant,
        runtime: RuntimeConfig,
    ) -> Result<SpikingRun, RuntimeError> {
        let (net, neurons, clock, synapses) = self.network(runtime);
        let build_s = built.elapsed().as_secs_f64();
        let mut report = Runtime::new(runtime).run(net)?;
        let ticks = report.actor(clock).ticks_done();
        let size = RunSize {
            neurons: self.v0.len(),
            synapses,
            ticks,
            dt_ms: self.params.dt_ms,
        };
        let mut run = collect(size, build_s, &report, &neurons)?;
        run.stopped = ticks < self.ticks;
        run.traffic = crate::spike::tally::TrafficLog::take(&mut report);
        Ok(run)
    }

    /// The neurons (in contiguous blocks, block `w` placed on worker `w`), their synapses and
    /// the clock; the neurons' and the clock's handles, and how many synapses there are.
    fn network(
        &self,
        runtime: RuntimeConfig,
    ) -> (
        Network<Message>,
        Vec<ActorId<NeuronActor>>,
        ActorId<Clock>,
        usize,
    ) {
        let (n, ticks) = (self.v0.len(), self.ticks);
        let shared = Arc::new(NeuronShared {
            prop: self.params.propagator(),
            ticks,
            coupling: self.coupling,
        });
        let protocol = TickProtocol::for_executor(runtime.executor);
        let workers = match runtime.executor {
            Executor::Pinned => runtime.workers.max(1),
            _ => 1,
        };
        let mut net = Network::new();
        let mut neurons = Vec::with_capacity(n);
        let mut plastic = self.plastic_inputs();
        for (i, &v) in self.v0.iter().enumerate() {
            let mut neuron = NeuronActor::new(i as u32, v, shared.clone());
            if let Some(traces) = plastic.as_mut().map(|p| std::mem::take(&mut p[i])) {
                neuron = neuron.with_plasticity(traces.expect("one per neuron"));
            }
            let id = net.add(format!("neuron.{i}"), neuron);
            // Pinned executor: neurons in contiguous blocks, block w on worker w.
            net.place(id, i * workers / n);
            neurons.push(id);
        }
        let mut synapses = 0;
        for (i, targets) in self.post.iter().enumerate() {
            for &t in targets {
                net.connect(i, t as usize);
            }
            synapses += targets.len();
        }
        let clock = net.add("clock", Clock::new(ticks, self.stop.clone()));
        net.place(clock, 0);
        match protocol {
            TickProtocol::Message => {
                for i in 0..n {
                    net.connect(i, clock);
                    net.connect(clock, i);
                }
            }
            TickProtocol::Worker => {
                for i in 0..n {
                    net.tick_by_worker(i);
                }
                for w in 0..workers {
                    let ticker = net.add(format!("ticker.{w}"), WorkerTicker::new(ticks));
                    net.place(ticker, w);
                    net.connect(clock, ticker);
                    net.connect(ticker, clock);
                }
            }
        }
        (net, neurons, clock, synapses)
    }

    /// Each neuron's plastic incoming synapses (from its presynaptic neurons, ascending,
    /// starting at their coupling's weight), when synapses learn.
    fn plastic_inputs(&self) -> Option<Vec<Option<SynapseTraces>>> {
        let p = self.plastic?;
        let decays = Decays::new(&p.rule, self.params.dt_ms as f32);
        let mut from: Vec<Vec<u32>> = vec![Vec::new(); self.v0.len()];
        for (j, targets) in self.post.iter().enumerate() {
            for &t in targets {
                if p.is_plastic(j as u32, t) {
                    from[t as usize].push(j as u32);
                }
            }
        }
        let c = self.coupling;
        let weight = |j: u32| if j < c.excitatory { c.we_mv } else { c.wi_mv };
        Some(
            from.into_iter()
                .map(|f| {
                    let w = f.iter().map(|&j| weight(j)).collect();
                    Some(SynapseTraces::new(p, decays.clone(), f, w))
                })
                .collect(),
        )
    }
}
