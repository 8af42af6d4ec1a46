//! The CUBA spiking network (`algorithm.kind = "cuba"`) and the microcircuit: no data, no
//! training; `snn` and `traffic` in results.json, a raster plot, traffic.png (and the
//! sampled trace with `trace.sample` > 0) and, when synapses learn, `weights.png`.

use super::probes::{write_probes, TimeAxis};
use super::{Observer, RunError, RunOptions, RunSummary};
use crate::cluster::Ranks;
use crate::experiment::live::LiveEvent;
use crate::experiment::results::Results;
use crate::experiment::run_dir::RunDir;
use crate::experiment::scenario::Scenario;
use crate::spike::tally::TrafficLog;

/// What a rank other than 0 of an MPI job returns: it ran its shards; rank 0 writes.
fn other_rank(scenario: &Scenario, snn: crate::spike::stats::SnnStats) -> RunSummary {
    let mut results = Results::for_scenario(scenario);
    results.snn = Some(snn);
    RunSummary {
        dir: std::path::PathBuf::new(),
        results,
    }
}

/// Simulates the CUBA network on `ranks` and writes its run folder (rank 0). Ctrl-C stops
/// population shards (and ranks) at the same tick; what was simulated is written.
pub(super) fn run_cuba_scenario(
    scenario: &Scenario,
    opts: &RunOptions,
    observer: &mut dyn Observer,
    ranks: &mut Ranks,
) -> Result<RunSummary, RunError> {
    let root = ranks.is_root();
    let mut cfg = scenario.cuba();
    let ticks = (cfg.duration_ms / crate::models::cuba::LIF.dt_ms).round() as u64;
    let dt = crate::models::cuba::LIF.dt_ms;
    let live_plans = watch(&mut cfg.probes, opts, (dt, ticks, cfg.neurons));
    let mut run = || {
        crate::models::cuba::run_cuba_until(
            ranks,
            &cfg,
            scenario.seed(),
            scenario.shards(),
            scenario.runtime_config(),
            opts.stop.clone(),
        )
    };
    if !root {
        return Ok(other_rank(scenario, run()?.stats));
    }
    let dir = RunDir::create(opts.out.as_deref(), scenario.name())?;
    observer.run_dir(dir.path());
    dir.write("scenario.toml", scenario.to_toml().as_bytes())?;
    let mut results = Results::for_scenario(scenario);
    dir.write("results.json", results.to_json().as_bytes())?;
    let run = run()?;
    results.snn = Some(run.stats.clone());
    let excitatory = cfg.neurons * 4 / 5;
    record_traffic(scenario, &run.traffic, &dir, &mut results, Some(excitatory))?;
    let time = TimeAxis {
        scale: crate::models::cuba::LIF.dt_ms,
        unit: "ms",
    };
    let probes = &run.probes[..run.probes.len().min(live_plans)];
    results.probes = write_probes(&dir, scenario.name(), probes, time)?;
    if run.stopped {
        results.status = "interrupted".to_owned();
    } else {
        results.complete();
    }
    dir.write("results.json", results.to_json().as_bytes())?;
    crate::experiment::plot::cuba_raster_png(&run, &dir.path().join("raster.png"))?;
    write_spikes(&dir, &run.raster, crate::models::cuba::LIF.dt_ms)?;
    write_weights(&dir, scenario, run.stats.plasticity.as_ref())?;
    if run.stopped {
        return Err(RunError::Stopped {
            dir: dir.path().to_owned(),
            simulated_s: run.stats.sim_s,
        });
    }
    Ok(RunSummary {
        dir: dir.path().to_owned(),
        results,
    })
}

/// Builds and simulates the cortical microcircuit and writes its run folder: results.json
/// (`snn` with `populations`), a raster of every population and a box plot of their rates.
/// Ctrl-C stops every shard (and rank) at the same tick; what was simulated is written.
pub(super) fn run_microcircuit_scenario(
    scenario: &Scenario,
    opts: &RunOptions,
    observer: &mut dyn Observer,
    ranks: &mut Ranks,
) -> Result<RunSummary, RunError> {
    let root = ranks.is_root();
    let mut cfg = scenario.microcircuit();
    let dt = crate::models::microcircuit::model::LIF.dt_ms;
    let ticks = (cfg.duration_ms / dt).round() as u64;
    let neurons = cfg.model().starts()[8];
    let live_plans = watch(&mut cfg.probes, opts, (dt, ticks, neurons));
    let mut run = |stop| {
        crate::models::microcircuit::run_microcircuit_on(
            ranks,
            &cfg,
            scenario.seed(),
            (scenario.shards(), scenario.runtime_config()),
            stop,
        )
    };
    if !root {
        // Another rank of an MPI job: run its shards; rank 0 writes the run folder.
        return Ok(other_rank(scenario, run(opts.stop.clone())?.stats));
    }
    let dir = RunDir::create(opts.out.as_deref(), scenario.name())?;
    observer.run_dir(dir.path());
    dir.write("scenario.toml", scenario.to_toml().as_bytes())?;
    let mut results = Results::for_scenario(scenario);
    dir.write("results.json", results.to_json().as_bytes())?;
    let run = run(opts.stop.clone())?;
    results.snn = Some(run.stats.clone());
    record_traffic(scenario, &run.traffic, &dir, &mut results, None)?;
    let time = TimeAxis {
        scale: crate::models::microcircuit::model::LIF.dt_ms,
        unit: "ms",
    };
    let probes = &run.probes[..run.probes.len().min(live_plans)];
    results.probes = write_probes(&dir, scenario.name(), probes, time)?;
    if run.stopped {
        results.status = "interrupted".to_owned();
    } else {
        results.complete();
    }
    dir.write("results.json", results.to_json().as_bytes())?;
    crate::experiment::plot::microcircuit_raster_png(&run, &dir.path().join("raster.png"))?;
    write_spikes(
        &dir,
        &run.raster,
        crate::models::microcircuit::model::LIF.dt_ms,
    )?;
    crate::experiment::plot::rates_box_png(&run, &dir.path().join("rates.png"))?;
    write_weights(&dir, scenario, run.stats.plasticity.as_ref())?;
    if run.stopped {
        return Err(RunError::Stopped {
            dir: dir.path().to_owned(),
            simulated_s: run.stats.sim_s,
        });
    }
    Ok(RunSummary {
        dir: dir.path().to_owned(),
        results,
    })
}

/// Neurons whose spikes a live view's raster shows when no probe records spikes.
const LIVE_RASTER_NEURONS: usize = 50;

/// With a live view: feeds it the probes' samples, tells it the time axis and the ticks,
/// and (when no probe records spikes) adds a probe of [`LIVE_RASTER_NEURONS`] sampled
/// neurons' spikes for its raster. Returns how many probes are the scenario's own (the
/// added one is not written to the run folder).
fn watch(
    probes: &mut crate::message::probe::Probes,
    opts: &RunOptions,
    (dt_ms, ticks, neurons): (f64, u64, usize),
) -> usize {
    use crate::message::probe::{ProbePlan, ProbeVariable};
    let own = probes.plans.len();
    let Some(live) = &opts.live else {
        return own;
    };
    let k = LIVE_RASTER_NEURONS.min(neurons) as u64;
    let evenly: Vec<u32> = (0..k).map(|i| (i * neurons as u64 / k) as u32).collect();
    if !probes
        .plans
        .iter()
        .any(|p| p.variable == ProbeVariable::Spikes)
    {
        probes.plans.push(ProbePlan {
            name: format!("{}spikes", crate::message::probe::LIVE_ONLY),
            variable: ProbeVariable::Spikes,
            layer: 0,
            units: evenly.clone(),
            labels: evenly,
            every: 1,
            from: 0,
            until: u64::MAX,
        });
    }
    probes.feed = Some(live.probe_feed());
    live.send(LiveEvent::Probes(probes.plans.clone(), dt_ms, "ms"));
    live.send(LiveEvent::Ticks(0, ticks));
    own
}

/// Draws `weights.png` (the plastic weights before and after) when synapses learned.
fn write_weights(
    dir: &RunDir,
    scenario: &Scenario,
    w: Option<&crate::spike::plasticity::WeightFigures>,
) -> Result<(), RunError> {
    if let Some(w) = w {
        let title = format!("{}: plastic weights, start and end", scenario.name());
        crate::experiment::plot::weights_png(w, &title, &dir.path().join("weights.png"))?;
    }
    Ok(())
}

/// Writes the recorded spikes (the raster's sample) as `spikes.safetensors`: `time_ms` (F32)
/// and `neuron` (U32), one entry per spike in time order, for notebooks (`axon.Run.spikes`).
fn write_spikes(dir: &RunDir, raster: &[(u32, u32)], dt_ms: f64) -> Result<(), RunError> {
    use safetensors::tensor::{Dtype, TensorView};
    let times: Vec<u8> = raster
        .iter()
        .flat_map(|&(t, _)| ((f64::from(t) * dt_ms) as f32).to_le_bytes())
        .collect();
    let neurons: Vec<u8> = raster.iter().flat_map(|&(_, n)| n.to_le_bytes()).collect();
    let n = raster.len();
    let views = [
        ("time_ms", TensorView::new(Dtype::F32, vec![n], &times)),
        ("neuron", TensorView::new(Dtype::U32, vec![n], &neurons)),
    ]
    .map(|(name, v)| (name, v.expect("lengths agree by construction")));
    let bytes = safetensors::tensor::serialize(views, None)
        .expect("serialising in-memory tensors cannot fail");
    dir.write("spikes.safetensors", &bytes)?;
    Ok(())
}

/// Above this many edges, results.json lists the traffic between groups of actors (neuron
/// actors by population) instead of each edge.
const MAX_LISTED_EDGES: usize = 10_000;

/// Puts the run's exact traffic in `results` (with one actor per neuron, merged per pair of
/// populations, `neurons.E` and `neurons.I`, the first `excitatory` neurons being E) and
/// writes traffic.png and, with `trace.sample` > 0, trace.jsonl and trace.json. A run that
/// sent nothing to trace (one population actor) says so when asked to trace.
pub(super) fn record_traffic(
    scenario: &Scenario,
    log: &TrafficLog,
    dir: &RunDir,
    results: &mut Results,
    excitatory: Option<usize>,
) -> Result<(), RunError> {
    let sample = scenario.runtime_config().trace_sample;
    let t = &log.traffic;
    if t.counters && t.totals.messages == 0 && log.trace.is_empty() {
        if sample > 0 {
            tracing::warn!(
                "trace.sample = {sample}: this run sent no messages to trace (one population \
                 actor simulates the whole network); set runtime.shards to 2 or more, or \
                 runtime.shards = cuba.neurons for one actor per neuron, to trace its spikes"
            );
        }
        return Ok(());
    }
    results.traffic = Some(if t.per_edge.len() > MAX_LISTED_EDGES {
        t.grouped(|_, name| population_of(name, excitatory))
    } else {
        t.clone()
    });
    super::write_traffic_of(t, &log.trace, &log.names, dir, sample)
}

/// `neurons.E` or `neurons.I` for a neuron actor (`neuron.I`, excitatory below
/// `excitatory`); any other actor's own name.
fn population_of(name: &str, excitatory: Option<usize>) -> String {
    let index = name
        .strip_prefix("neuron.")
        .and_then(|i| i.parse::<usize>().ok());
    match (index, excitatory) {
        (Some(i), Some(e)) if i < e => "neurons.E".to_owned(),
        (Some(_), Some(_)) => "neurons.I".to_owned(),
        _ => name.to_owned(),
    }
}
