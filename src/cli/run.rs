//! `axon run`: train a scenario into a run folder, or every combination of a sweep, and
//! print what it reached.

use std::io::IsTerminal;
use std::path::PathBuf;

use axon::cluster::Ranks;
use axon::experiment::live::LiveEvent;
use axon::experiment::run::{run as run_scenario, RunOptions, RunSummary};
use axon::experiment::scenario::Scenario;
use axon::experiment::sweep::{default_jobs, Sweep, SweepOptions, SweepRow};
use clap::Args;

use super::progress::Bars;
use super::{bad_input, machine_failure, stop_flag, Failure};

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Scenario file (TOML).
    file: PathBuf,
    /// Run folder to create (must not exist or be empty). Default: runs/NAME-TIMESTAMP.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Override a scenario key by dotted path, e.g. --set train.epochs=1 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Continue the run in DIR (stopped by Ctrl-C, a crash or a kill) from its last
    /// checkpoint; give the same FILE and --set overrides as the run that wrote it.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    resume: Option<PathBuf>,
    /// No progress bars; only the final summary line.
    #[arg(long, short)]
    quiet: bool,
    /// Sweeps: combinations run at once. Default: the cores divided by each run's
    /// runtime.workers, at least 1.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    #[command(flatten)]
    live: super::view::LiveArgs,
}

/// Runs `axon run` on `ranks`: a sweep when the file has a `[sweep]` table (one process
/// only), one scenario otherwise.
pub(crate) fn run(args: RunArgs, ranks: &mut Ranks) -> Result<(), Failure> {
    let RunArgs {
        file,
        out,
        overrides,
        resume,
        quiet,
        jobs,
        live,
    } = args;
    let (rank, size) = (ranks.rank(), ranks.size());
    if let Some(sweep) = Sweep::load(&file, &overrides)? {
        if size > 1 {
            return Err(bad_input(anyhow::anyhow!(
                "{}: a sweep does not run across MPI ranks; run it without mpirun, or run \
                 one of its scenarios across ranks",
                file.display()
            )));
        }
        if let Some(dir) = resume {
            return Err(bad_input(anyhow::anyhow!(
                "--resume: {} is a sweep; resume one of its runs with that run's own \
                 scenario: axon run {}/COMBINATION/scenario.toml --resume {}/COMBINATION",
                file.display(),
                dir.display(),
                dir.display()
            )));
        }
        return run_sweep(&sweep, out, (jobs, quiet), &live);
    }
    if jobs.is_some() {
        return Err(bad_input(anyhow::anyhow!(
            "--jobs: {} has no [sweep] table; --jobs sets how many of a sweep's runs go at once",
            file.display()
        )));
    }
    let scenario = Scenario::load(&file, &overrides).map_err(bad_input)?;
    let kind = scenario.kind();
    check_ranks(&scenario, &file, size, resume.is_some())?;
    if rank == 0 && !quiet && kind != axon::experiment::scenario::AlgorithmKind::Bp {
        eprintln!("{}", scenario.setup().describe());
    }
    let mut bars = Bars {
        enabled: rank == 0 && !quiet && std::io::stderr().is_terminal(),
        bar: None,
    };
    let watched = live.live && rank == 0;
    let summary = run_one(
        &scenario,
        RunOptions {
            out,
            resume,
            ..RunOptions::default()
        },
        &mut bars,
        ranks,
        watched.then_some(&live),
    )?;
    if rank == 0 && !watched {
        print_summary(&summary);
    }
    Ok(())
}

/// Checks that `scenario` runs across `size` MPI ranks: only layer actors and spiking networks
/// (those without `--resume`) go across ranks, and every rank needs a shard.
fn check_ranks(
    scenario: &Scenario,
    file: &std::path::Path,
    size: usize,
    resuming: bool,
) -> Result<(), Failure> {
    let kind = scenario.kind();
    let stdp = kind == axon::experiment::scenario::AlgorithmKind::StdpMnist;
    let spiking = kind.is_spiking_network() || stdp;
    if size > 1 && !(kind.is_layer_actors() || spiking && !resuming) {
        return Err(bad_input(anyhow::anyhow!(
            "{}: across {size} MPI ranks axon runs the layer actors (algorithm.kind = pc, \
             zil, ep or cep) and the spiking networks (cuba, microcircuit, stdp-mnist; without \
             --resume); this scenario is {:?}: run it without mpirun",
            file.display(),
            kind.name()
        )));
    }
    if size > scenario.rank_units() {
        let what = if kind.is_layer_actors() {
            "layer shards (each hidden layer has runtime.shards of them, the output layer one)"
        } else {
            "population shards (runtime.shards)"
        };
        return Err(bad_input(anyhow::anyhow!(
            "{}: {size} MPI ranks but {} {what}: every rank needs one; set --set \
             runtime.shards=N with more shards, or run on fewer ranks",
            file.display(),
            scenario.rank_units()
        )));
    }
    Ok(())
}

/// Runs `scenario` with a Ctrl-C flag, showing progress on `bars` and, with `live`, in the
/// live view (which then prints the summary and serves the finished run a while).
fn run_one(
    scenario: &Scenario,
    mut opts: RunOptions,
    bars: &mut Bars,
    ranks: &mut Ranks,
    live: Option<&super::view::LiveArgs>,
) -> Result<RunSummary, Failure> {
    let stop = stop_flag();
    opts.stop = Some(stop.clone());
    let Some(args) = live else {
        return Ok(run_scenario(scenario, &opts, bars, ranks)?);
    };
    let watch = super::view::Live::start(args)?;
    let sender = watch.hub.sender();
    opts.live = Some(sender.clone());
    let mut observer = axon::experiment::run::LiveObserver {
        inner: bars,
        live: sender.clone(),
        name: scenario.name().to_owned(),
        kind: scenario.kind().name().to_owned(),
        dir: None,
    };
    let outcome = run_scenario(scenario, &opts, &mut observer, ranks);
    observer.finish(&outcome);
    if let Ok(summary) = &outcome {
        print_summary(summary);
    }
    watch.linger(args.linger, &stop);
    Ok(outcome?)
}

/// The final lines: each model's accuracy, the conversion table, the spiking statistics, and
/// the comparison table when there is something to compare.
fn print_summary(summary: &RunSummary) {
    let r = &summary.results;
    for (label, m) in &r.models {
        if let Some(f) = m.final_ {
            outln!(
                "{}: {label} test accuracy {:.4} after {} epochs, {:.1} s training; results in {}",
                r.name,
                f.test_accuracy,
                m.epochs.len(),
                f.wall_s,
                summary.dir.display()
            );
        }
    }
    if let Some(ann) = r.ann_test_accuracy {
        print_conversion(summary, ann);
    }
    if let Some(st) = &r.snn {
        outln!(
            "{}: {} neurons, {} synapses: {} spikes ({:.2} Hz), {} synaptic events in {} s simulated, {:.4} s wall (+{:.3} s to build); results in {}",
            r.name,
            st.neurons,
            st.synapses,
            st.spikes,
            st.mean_rate_hz,
            st.synaptic_events,
            st.sim_s,
            st.wall_s,
            st.build_s,
            summary.dir.display()
        );
    }
    if let Some(st) = &r.stdp {
        outln!(
            "{}: {} excitatory neurons, test accuracy {:.4} on {} images; {:.2} ms per training \
             image, {:.1} spikes and {:.0} synaptic events per image; results in {}",
            r.name,
            st.n_exc,
            st.test_accuracy,
            st.test.images,
            st.train_wall_s_per_image * 1e3,
            st.spikes_per_image,
            st.synaptic_events_per_image,
            summary.dir.display()
        );
    }
    if r.models.len() > 1 || r.traffic.is_some() {
        out!("{}", r.summary_table());
    }
}

/// The converted network's accuracy and activity per tick count.
fn print_conversion(summary: &RunSummary, ann: f64) {
    outln!(
        "{}: ANN test accuracy {ann:.4}; converted to integrate-and-fire actors:",
        summary.results.name
    );
    outln!(
        "{:>6} {:>10} {:>14} {:>20}",
        "ticks",
        "test acc",
        "spikes/image",
        "syn events/image"
    );
    for p in &summary.results.conversion {
        outln!(
            "{:>6} {:>10.4} {:>14.0} {:>20.0}",
            p.ticks,
            p.test_accuracy,
            p.spikes_per_image,
            p.synaptic_events_per_image
        );
    }
}

/// `axon run` on a sweep: every combination, a line per finished one on stderr (unless
/// `quiet`), the markdown table at the end; exit 1 if any failed.
fn run_sweep(
    sweep: &Sweep,
    out: Option<PathBuf>,
    (jobs, quiet): (Option<usize>, bool),
    live: &super::view::LiveArgs,
) -> Result<(), Failure> {
    if jobs == Some(0) {
        return Err(bad_input(anyhow::anyhow!("--jobs must be >= 1")));
    }
    // Every combination fits its data before anything runs.
    sweep.check_data()?;
    let total = sweep.combinations.len();
    let jobs = jobs.unwrap_or_else(|| default_jobs(sweep.workers_per_run()));
    if !quiet {
        eprintln!(
            "sweep: {total} combinations of {}, {} at a time",
            sweep.keys.join(", "),
            jobs.min(total)
        );
    }
    let stop = stop_flag();
    let options = SweepOptions {
        out,
        jobs,
        stop: Some(stop.clone()),
    };
    let watch = live
        .live
        .then(|| super::view::Live::start(live))
        .transpose()?;
    let sender = watch.as_ref().map(|w| w.hub.sender());
    let tell = |ev: LiveEvent| sender.iter().for_each(|s| s.send(ev.clone()));
    tell(LiveEvent::Started {
        name: sweep.name().to_owned(),
        kind: "sweep".to_owned(),
        dir: PathBuf::new(),
    });
    let outcome = sweep.run(&options, &|done, row: &SweepRow| {
        if !quiet {
            eprintln!("{}", progress_line(done, total, row));
        }
        tell(LiveEvent::SweepPoint(sweep_point(row)));
    });
    if let Some(w) = watch {
        let end = match &outcome {
            Ok(summary) => {
                tell(LiveEvent::Started {
                    name: sweep.name().to_owned(),
                    kind: "sweep".to_owned(),
                    dir: summary.dir.clone(),
                });
                let rows: Vec<serde_json::Value> = summary.rows.iter().map(sweep_point).collect();
                Ok(serde_json::json!({ "status": "complete", "sweep": rows }))
            }
            Err(e) => Err(axon::experiment::run::error_chain(e)),
        };
        tell(LiveEvent::Finished(end));
        w.linger(live.linger, &stop);
    }
    let summary = outcome?;
    out!("{}", summary.markdown);
    let failed = summary.failed();
    outln!(
        "{}: {total} combinations, {failed} failed; results in {}",
        sweep.name(),
        summary.dir.display()
    );
    if failed > 0 {
        return Err(machine_failure(anyhow::anyhow!(
            "{failed} of {total} combinations failed (see {})",
            summary.dir.join("sweep.md").display()
        )));
    }
    Ok(())
}

/// A sweep row as the live page's table shows it: folder, swept values, status, each
/// model's test accuracy, messages, seconds.
fn sweep_point(row: &SweepRow) -> serde_json::Value {
    let mut p = serde_json::Map::new();
    p.insert("folder".into(), row.folder.clone().into());
    for (k, v) in &row.values {
        p.insert(k.clone(), v.clone());
    }
    p.insert(
        "status".into(),
        serde_json::to_value(row.status).unwrap_or_default(),
    );
    for (label, m) in &row.models {
        p.insert(format!("{label} test accuracy"), m.test_accuracy.into());
    }
    p.insert("messages".into(), row.messages.into());
    p.insert("run s".into(), row.run_s.into());
    serde_json::Value::Object(p)
}

/// `[DONE/TOTAL] FOLDER: MODEL ACCURACY, ... (SECONDS s)`, or the failure.
fn progress_line(done: usize, total: usize, row: &SweepRow) -> String {
    let what = match &row.error {
        Some(e) => format!("failed: {e}"),
        None => row
            .models
            .iter()
            .map(|(label, m)| {
                let acc = m
                    .test_accuracy
                    .map_or_else(|| "-".to_owned(), |a| format!("{a:.4}"));
                format!("{label} {acc}")
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!(
        "[{done}/{total}] {}: {what} ({:.1} s)",
        row.folder,
        row.run_s.unwrap_or(0.0)
    )
}
