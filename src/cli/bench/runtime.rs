//! `axon bench snn` and `axon bench messages`: the spiking network and the message runtime
//! on each executor and worker count.

use std::path::PathBuf;

use axon::bench::snn::SnnBenchRow;
use axon::models::cuba::{CubaConfig, LIF};
use axon::runtime::Executor;
use clap::Args;

use super::{bad_input, machine_failure, parse_setups, Failure};

#[derive(Args, Debug)]
pub(crate) struct MessagesArgs {
    /// Actors in the loaded ring (the threads executor uses at most 8).
    #[arg(long, default_value_t = 10_000)]
    actors: usize,
    /// Sizes the fixed-count patterns: messages per actor of the fan patterns (at most 2 M in
    /// all), ring-token and ping-pong lengths.
    #[arg(long, default_value_t = 100)]
    hops: u64,
    /// The loaded ring's window, ms: both sides count the messages handled in this long
    /// after the first actor starts.
    #[arg(long, default_value_t = 1000)]
    window_ms: u64,
    /// Worker threads of the tokio executor, one table block per value (comma-separated).
    /// Default: every count from 1 to the number of cores.
    #[arg(long, value_delimiter = ',')]
    workers: Vec<usize>,
    /// Also write the rows as a JSON list to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also run a traced 64-actor loaded ring and write trace.jsonl, trace.json (Chrome
    /// trace, opens in Perfetto), traffic.json and traffic.png into DIR.
    #[arg(long, value_name = "DIR")]
    trace_out: Option<PathBuf>,
    /// 1 in N messages of the traced ring go into its event log.
    #[arg(long, default_value_t = 100)]
    trace_sample: u64,
    /// Sample 1 in N messages into the event log during the timed patterns too (to
    /// measure what sampling costs); 0: off.
    #[arg(long, default_value_t = 0)]
    sample: u64,
    /// Also spawn this many idle actors on each of `--spawn-executors` and report time and
    /// memory per actor.
    #[arg(long)]
    spawn: Option<usize>,
    /// Executors of the spawn probe (comma-separated). Memory is read from the process, so
    /// give one executor per process for exact figures: a second probe reuses memory the
    /// first freed.
    #[arg(long, value_delimiter = ',', default_value = "tokio,pinned")]
    spawn_executors: Vec<String>,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How `axon bench snn` runs each setup: simulated time, synaptic delays, runs per row.
pub(super) struct SnnRuns<'a> {
    pub(super) duration_ms: f64,
    pub(super) delays: Option<&'a str>,
    pub(super) repeats: usize,
}

/// `axon bench snn`: the CUBA network for each setup and seed.
pub(super) fn bench_snn(
    seeds: &[u64],
    setups: &[String],
    scale: bool,
    runs: SnnRuns<'_>,
    json: bool,
) -> Result<(), Failure> {
    let SnnRuns {
        duration_ms,
        delays,
        repeats,
    } = runs;
    if !(duration_ms.is_finite() && (0.1..=3.6e6).contains(&duration_ms)) {
        return Err(bad_input(anyhow::anyhow!(
            "--duration-ms must be between 0.1 (one tick) and 3600000, not {duration_ms}"
        )));
    }
    if !(1..=100).contains(&repeats) {
        return Err(bad_input(anyhow::anyhow!(
            "--repeats must be between 1 and 100, not {repeats}"
        )));
    }
    let delays = delays.map(parse_delays).transpose()?;
    let setups = if scale {
        (1..=cores()).map(|w| (Executor::Tokio, w, w)).collect()
    } else {
        parse_setups(setups)?
    };
    if !json {
        print_snn_header(repeats > 1);
    }
    let rows =
        axon::bench::snn::bench_snn(seeds, &setups, duration_ms, delays, repeats, &mut |r| {
            if !json {
                print_snn_row(r, repeats > 1);
            }
        })
        .map_err(machine_failure)?;
    let per_neuron = CubaConfig::default().neurons;
    if !json {
        print_per_neuron_ratios(&rows, per_neuron);
    }
    if !json && setups.iter().any(|s| s.2 == per_neuron) {
        let chains = [1, (duration_ms / LIF.dt_ms).round() as u64];
        let [one, whole] =
            chains.map(|c| axon::bench::snn::lif_arithmetic_s(per_neuron, duration_ms, c));
        outln!(
            "the neurons' arithmetic alone, scalar, one neuron at a time (as one actor per \
             neuron computes it, in calls of one tick to hundreds): {one:.4} s with a tick per \
             call, {whole:.4} s with the whole run per call"
        );
    }
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "executor": r.executor, "workers": r.workers, "shards": r.shards,
                "seed": r.seed, "snn": r.snn, "spread": r.spread,
            })
        })
        .collect();
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    }
    Ok(())
}

/// For each one-actor-per-neuron row (`shards == neurons`), its wall time over the
/// population's on one worker of the same executor and seed, and its speed-up over its own
/// setup on one worker, where those rows were timed too.
fn print_per_neuron_ratios(rows: &[SnnBenchRow], neurons: usize) {
    let find = |r: &SnnBenchRow, workers: usize, shards: usize| {
        rows.iter().find(|o| {
            (&o.executor, o.seed, o.workers, o.shards) == (&r.executor, r.seed, workers, shards)
        })
    };
    for r in rows.iter().filter(|r| r.shards == neurons) {
        let mut said = Vec::new();
        if let Some(pop) = find(r, 1, 1) {
            let x = r.snn.wall_s / pop.snn.wall_s.max(1e-12);
            said.push(format!("{x:.1}x the population on 1 worker"));
        }
        if let Some(one) = find(r, 1, neurons).filter(|_| r.workers > 1) {
            let x = one.snn.wall_s / r.snn.wall_s.max(1e-12);
            said.push(format!("{x:.2}x faster than 1 worker"));
        }
        if !said.is_empty() {
            outln!(
                "one actor per neuron, {} with {} worker(s), seed {}: {}",
                r.executor,
                r.workers,
                r.seed,
                said.join(", ")
            );
        }
    }
}

/// `--delays MIN-MAX`: synaptic delays in ticks, 1 <= MIN <= MAX <= 1000.
fn parse_delays(s: &str) -> Result<(u16, u16), Failure> {
    let parsed = s.split_once('-').and_then(|(a, b)| {
        let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
        (1 <= a && a <= b && b <= 1000).then_some((a, b))
    });
    parsed.ok_or_else(|| {
        bad_input(anyhow::anyhow!(
            "--delays {s:?}: expected MIN-MAX in ticks of 0.1 ms with 1 <= MIN <= MAX <= 1000, \
             e.g. --delays 3-7"
        ))
    })
}

/// One row of `axon bench snn`'s table.
fn print_snn_header(spread: bool) {
    outln!(
        "{:<8} {:>7} {:>6} {:>5} {:>8} {:>10} {:>7} {:>9} {:>14} {:>12}{}",
        "executor",
        "workers",
        "shards",
        "seed",
        "spikes",
        "syn events",
        "rate Hz",
        "wall s",
        "syn events/s",
        "messages/s",
        if spread { "   spread" } else { "" }
    );
}

fn print_snn_row(r: &SnnBenchRow, spread: bool) {
    let st = &r.snn;
    outln!(
        "{:<8} {:>7} {:>6} {:>5} {:>8} {:>10} {:>7.2} {:>9.4} {:>14.0} {:>12.0}{}",
        r.executor,
        r.workers,
        r.shards,
        r.seed,
        st.spikes,
        st.synaptic_events,
        st.mean_rate_hz,
        st.wall_s,
        st.synaptic_events as f64 / st.wall_s.max(1e-12),
        st.messages as f64 / st.wall_s.max(1e-12),
        if spread {
            format!(" {:>7.1} %", 100.0 * r.spread)
        } else {
            String::new()
        }
    );
}

/// `axon bench messages`: each pattern on each executor beside the bare channels.
pub(super) fn bench_messages(args: MessagesArgs) -> Result<(), Failure> {
    let MessagesArgs {
        actors,
        hops,
        window_ms,
        workers,
        json,
        trace_out,
        trace_sample,
        sample,
        spawn,
        spawn_executors,
    } = args;
    if actors < 2 || hops == 0 || workers.contains(&0) || !(1..=3_600_000).contains(&window_ms) {
        return Err(bad_input(anyhow::anyhow!(
            "--actors must be >= 2, --hops and --workers >= 1, --window-ms 1 to 3600000"
        )));
    }
    let window = std::time::Duration::from_millis(window_ms);
    let workers: Vec<usize> = if workers.is_empty() {
        (1..=cores()).collect()
    } else {
        workers
    };
    let most = workers.iter().copied().max().unwrap_or(1);
    if let Some(n) = spawn {
        let executors = spawn_executors
            .iter()
            .map(|name| super::parse_setup(&format!("{name}:1:1")).map(|s| s.0))
            .collect::<Result<Vec<Executor>, Failure>>()?;
        for executor in executors {
            let r = axon::bench::stress::spawn_probe(executor, n.max(1), most)
                .map_err(machine_failure)?;
            outln!(
                "spawn: {} idle {} actors in {:.3} s, {:.0} bytes resident per actor",
                r.actors,
                format!("{executor:?}").to_lowercase(),
                r.spawn_s,
                r.bytes_per_actor
            );
        }
    }
    let mut rows = Vec::new();
    for &w in &workers {
        rows.extend(
            axon::bench::stress::run_stress(actors, hops, w, sample, window)
                .map_err(machine_failure)?,
        );
    }
    print_stress_rows(&rows);
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&rows).map_err(machine_failure)?;
        axon::io::write_atomic(&path, text.as_bytes()).map_err(machine_failure)?;
    }
    if let Some(dir) = trace_out {
        let files = axon::bench::stress::traced_ring(&dir, most, trace_sample.max(1))
            .map_err(machine_failure)?;
        for f in files {
            outln!("wrote {}", f.display());
        }
    }
    Ok(())
}

/// `axon bench messages`'s table.
fn print_stress_rows(rows: &[axon::bench::stress::StressRow]) {
    outln!(
        "{:<12} {:<8} {:>7} {:>7} {:>14} {:>14} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "pattern",
        "executor",
        "actors",
        "workers",
        "msgs/s",
        "raw msgs/s",
        "ratio",
        "rtt ns",
        "raw rtt",
        "window s",
        "raw win s"
    );
    for r in rows {
        outln!(
            "{:<12} {:<8} {:>7} {:>7} {:>14.0} {:>14.0} {:>6.2} {:>9} {:>9} {:>9.4} {:>9.4}",
            r.pattern,
            format!("{:?}", r.executor).to_lowercase(),
            r.actors,
            r.workers,
            r.msgs_per_s,
            r.raw_msgs_per_s,
            r.msgs_per_s / r.raw_msgs_per_s,
            r.rtt_ns.map_or("-".to_owned(), |v| format!("{v:.0}")),
            r.raw_rtt_ns.map_or("-".to_owned(), |v| format!("{v:.0}")),
            r.window_s,
            r.raw_window_s,
        );
    }
}
