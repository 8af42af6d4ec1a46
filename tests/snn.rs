//! Spiking networks by message passing: CUBA's mean rate over five seeds lies in Brian2's
//! band and `axon run scenarios/cuba.toml` writes the `snn` results; the cortical
//! microcircuit keeps its rate structure at small scale, writes per-population results and
//! plots, and refuses bad scales and delays.

mod common;

use axon::models::cuba::{run_cuba, CubaConfig};
use axon::runtime::{Executor, RuntimeConfig};
use common::{axon, command, expect_bad_input, mnist, stderr};

#[test]
fn cuba_rate_over_five_seeds_is_in_brian2s_band() {
    let rt = RuntimeConfig {
        executor: Executor::Tokio,
        workers: 2,
        ..RuntimeConfig::default()
    };
    let mut rates = Vec::new();
    for seed in 1..=5 {
        let s = run_cuba(&CubaConfig::default(), seed, 2, rt)
            .expect("runs")
            .stats;
        assert_eq!(s.neurons, 4000);
        let p = s.synapses as f64 / (4000.0 * 4000.0);
        assert!((p - 0.02).abs() < 0.0005, "connection density {p}");
        rates.push(s.mean_rate_hz);
    }
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    // Brian2's examples/CUBA.py gives 5.5-6.2 Hz (seed 1: 22,463 spikes in 1 s).
    assert!(
        (5.5..=6.2).contains(&mean),
        "mean rate {mean} Hz over {rates:?}"
    );
}

#[test]
fn cuba_scenario_writes_snn_results() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("run");
    let o = command(&[
        "run",
        "scenarios/cuba.toml",
        "--set",
        "cuba.duration_ms=200",
        "--set",
    ])
    .arg("runtime.shards=3")
    .arg("--out")
    .arg(&out)
    .output()
    .expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("file"))
            .expect("json");
    let snn = &json["snn"];
    assert_eq!(snn["neurons"], 4000);
    assert!(snn["spikes"].as_u64().expect("spikes") > 1000);
    assert!((snn["sim_s"].as_f64().expect("sim") - 0.2).abs() < 1e-9);
    let png = std::fs::metadata(out.join("raster.png")).expect("raster.png");
    assert!(png.len() > 10_000, "raster.png is {} bytes", png.len());
    let bad = command(&[
        "validate",
        "scenarios/cuba.toml",
        "--set",
        "cuba.duration_ms=nan",
    ])
    .output()
    .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("cuba.duration_ms"));
}

/// A small BP-trained network converts to integrate-and-fire actors with little loss, and
/// more ticks do not hurt.
#[test]
fn converted_network_keeps_the_anns_accuracy() {
    use axon::learn::backprop::{evaluate, Backprop, TrainConfig};
    use axon::math::matrix::Threads;
    use axon::math::mlp::{Init, Mlp};
    use axon::math::optimizer::{OptimizerConfig, OptimizerKind, Schedule};
    let data = mnist(3000, 1000);
    let mut rng = axon::math::rng::SeededRng::stream(1, "weights");
    let net = Mlp::new(
        &[784, 64, 10],
        axon::math::activation::Activation::Relu,
        Init::Kaiming,
        &mut rng,
    );
    let cfg = TrainConfig {
        batch_size: 64,
        lr: 2e-3,
        schedule: Schedule::Constant,
        epochs: 3,
        loss: axon::math::loss::Loss::CrossEntropy,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Adam,
            ..OptimizerConfig::default()
        },
        seed: 1,
        threads: Threads::ONE,
    };
    let mut bp = Backprop::new(net, cfg);
    for e in 1..=3 {
        bp.train_epoch(&data.train, e, &mut |_, _| {});
    }
    let ann = evaluate(bp.net(), &data.test, cfg.loss, Threads::ONE).accuracy;
    let snn = axon::spike::convert::normalise(bp.net(), &data.train, 99.9, 3000);
    let rt = RuntimeConfig {
        executor: Executor::Tokio,
        workers: 2,
        ..RuntimeConfig::default()
    };
    let report = axon::spike::convert::run_converted(
        &snn,
        &data.test,
        &[10, 100],
        axon::spike::convert::Input::Constant,
        rt,
    )
    .expect("runs");
    let at100 = report.points[1].test_accuracy;
    assert!(ann > 0.85, "ANN {ann}");
    assert!(
        (ann - at100).abs() < 0.02,
        "ANN {ann} vs SNN at 100 ticks {at100}"
    );
    assert!(report.points[1].spikes_per_image > report.points[0].spikes_per_image);
    assert!(report.points[0].synaptic_events_per_image > 0.0);
    // Poisson input: same rates in expectation, so close to the ANN too (noisier), and the
    // input spikes' synaptic events are counted.
    let poisson = axon::spike::convert::Input::Poisson {
        max_rate: 1.0,
        seed: 1,
    };
    let p =
        axon::spike::convert::run_converted(&snn, &data.test, &[100], poisson, rt).expect("runs");
    let at100p = p.points[0].test_accuracy;
    assert!(
        (ann - at100p).abs() < 0.04,
        "ANN {ann} vs Poisson SNN {at100p}"
    );
    assert!(p.points[0].synaptic_events_per_image > report.points[1].synaptic_events_per_image);
}

#[test]
fn a_missing_checkpoint_is_bad_input() {
    let o = command(&[
        "run",
        "scenarios/snn-convert.toml",
        "--set",
        "convert.checkpoint=\"/nonexistent/epoch-1.safetensors\"",
        "--set",
        "data.train_limit=100",
        "--quiet",
        "--out",
    ])
    .arg(tempfile::tempdir().expect("tmp").path().join("run"))
    .output()
    .expect("runs");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/epoch-1.safetensors"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The microcircuit at 0.05 scale keeps the model's signature: every population fires, each
/// layer's inhibitory population faster than its excitatory one, L2/3E and L6E the sparsest
/// (below 1 Hz, as at full scale), L4E and L5E above 2 Hz, irregular spiking.
#[test]
fn microcircuit_small_scale_keeps_the_models_rate_structure() {
    use axon::models::microcircuit::{run_microcircuit, MicrocircuitConfig};
    let cfg = MicrocircuitConfig {
        scale: 0.05,
        duration_ms: 600.0,
        transient_ms: 100.0,
        ..MicrocircuitConfig::default()
    };
    let run = run_microcircuit(&cfg, 2, 2, RuntimeConfig::default()).expect("runs");
    let p = &run.stats.populations;
    let rate = |i: usize| p[i].rate_hz;
    let names: Vec<_> = p
        .iter()
        .map(|x| format!("{}={:.2}", x.name, x.rate_hz))
        .collect();
    assert!((0..8).all(|i| rate(i) > 0.1), "{names:?}");
    for layer in 0..4 {
        assert!(
            rate(2 * layer + 1) > rate(2 * layer),
            "layer {layer}: {names:?}"
        );
    }
    assert!(rate(0) < 1.0 && rate(6) < 1.0, "{names:?}");
    assert!(rate(2) > 2.0 && rate(4) > 2.0, "{names:?}");
    for x in p.iter().filter(|x| x.rate_hz > 2.0) {
        let cv = x.cv_isi.expect("cv");
        assert!((0.3..1.5).contains(&cv), "{}: cv {cv}", x.name);
    }
}

#[test]
fn microcircuit_scenario_writes_populations_and_plots() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("run");
    let o = command(&["run", "scenarios/microcircuit-small.toml"])
        .args([
            "--set",
            "microcircuit.scale=0.02",
            "--set",
            "microcircuit.duration_ms=300",
        ])
        .args(["--set", "runtime.shards=2", "--set", "runtime.workers=2"])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("file"))
            .expect("json");
    let snn = &json["snn"];
    let pops = snn["populations"].as_array().expect("populations");
    assert_eq!(pops.len(), 8);
    assert_eq!(pops[0]["name"], "L2/3E");
    assert!(pops.iter().all(|p| p["rate_hz"].as_f64().is_some()));
    assert!(
        pops[0]["reference_rate_hz"].is_null(),
        "no reference below full scale"
    );
    for key in [
        "rtf",
        "build_s",
        "peak_rss_bytes",
        "bytes_per_synapse",
        "network_bytes",
    ] {
        assert!(snn[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {snn}");
    }
    for png in ["raster.png", "rates.png"] {
        let len = std::fs::metadata(out.join(png)).expect(png).len();
        assert!(len > 10_000, "{png} is {len} bytes");
    }
}

#[test]
fn microcircuit_bad_input_is_refused_before_building() {
    let file = "scenarios/microcircuit.toml";
    for (set, needle) in [
        ("microcircuit.scale=0", "microcircuit.scale"),
        ("microcircuit.scale=-1", "microcircuit.scale"),
        ("microcircuit.scale=nan", "microcircuit.scale"),
        ("microcircuit.delay_e_ms=0.05", "microcircuit.delay_e_ms"),
        ("microcircuit.delay_i_ms=0", "microcircuit.delay_i_ms"),
        (
            "microcircuit.transient_ms=1000",
            "microcircuit.transient_ms",
        ),
        // 100x the synapses: about 280 GiB, refused from the estimate with its size.
        ("microcircuit.scale=10", "GiB"),
    ] {
        expect_bad_input(&axon(&["validate", file, "--set", set]), needle);
        expect_bad_input(&axon(&["run", file, "--set", set]), needle);
    }
}

/// Ctrl-C (SIGINT) during a long microcircuit run: every shard stops at the same tick, the
/// figures of what was simulated are written with status "interrupted", exit 130.
#[test]
fn ctrl_c_stops_the_microcircuit_and_keeps_what_was_simulated() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("run");
    let child = command(&["run", "scenarios/microcircuit-small.toml", "-q"])
        .args([
            "--set",
            "microcircuit.scale=0.02",
            "--set",
            "microcircuit.duration_ms=3600000",
        ])
        .args(["--set", "runtime.shards=3", "--set", "runtime.workers=2"])
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let o = child.wait_with_output().expect("exits");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped after"), "{err}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("file"))
            .expect("json");
    assert_eq!(json["status"], "interrupted");
    let sim = json["snn"]["sim_s"].as_f64().expect("sim_s");
    assert!(sim > 0.0 && sim < 3600.0, "{sim}");
    assert!(out.join("raster.png").exists() && out.join("rates.png").exists());
}

/// `[trace]` on spiking runs: one actor per neuron writes trace.jsonl, trace.json and
/// traffic.png, and results.json counts every spike message exactly (merged per pair of
/// populations); `axon trace summarize` reads the log; population shards count theirs per
/// edge; one population actor, with nothing to trace, says so and still runs.
#[test]
fn spiking_runs_trace_their_spike_traffic() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let actors = tmp.path().join("actors");
    let sets = [
        "--set",
        "cuba.neurons=400",
        "--set",
        "cuba.p_connect=0.1",
        "--set",
        "cuba.duration_ms=200",
        "--set",
        "runtime.shards=400",
        "--set",
        "trace.sample=10",
    ];
    let run = |file: &str, out: &std::path::Path, extra: &[&str]| {
        let o = axon(
            &[
                &["run", file, "-q", "--out", out.to_str().expect("utf-8")][..],
                extra,
            ]
            .concat(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    run("scenarios/cuba-actors.toml", &actors, &sets);
    for f in ["trace.jsonl", "trace.json", "traffic.png"] {
        assert!(actors.join(f).exists(), "{f}");
    }
    let r = common::results(&actors);
    let (snn, traffic) = (r.snn.expect("snn"), r.traffic.expect("traffic"));
    let spikes = &traffic.per_kind["spike"];
    // One message per spike per synapse: the synaptic events.
    assert_eq!(spikes.messages, snn.synaptic_events);
    assert!(spikes.bytes > 0);
    let e_to_i = traffic
        .per_edge
        .iter()
        .find(|e| e.from == "neurons.E" && e.to == "neurons.I")
        .expect("E to I");
    assert!(e_to_i.messages > 0 && e_to_i.kind == "spike");
    let per_edge: u64 = traffic.per_edge.iter().map(|e| e.messages).sum();
    assert_eq!(per_edge, traffic.totals.messages);
    let o = axon(&[
        "trace",
        "summarize",
        actors.join("trace.jsonl").to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("spike"));

    // Population shards: per shard pair, the same spikes as one shard.
    let shards = tmp.path().join("shards");
    let sets = [
        "--set",
        "cuba.duration_ms=200",
        "--set",
        "runtime.shards=3",
        "--set",
        "trace.sample=10",
    ];
    run("scenarios/cuba.toml", &shards, &sets);
    let r = common::results(&shards);
    let traffic = r.traffic.expect("traffic");
    assert_eq!(traffic.per_edge.len(), 6, "{:?}", traffic.per_edge);
    assert!(traffic.per_kind["spike"].messages > 0);
    assert!(shards.join("trace.jsonl").exists());

    // One population actor: nothing to trace, and the run says so.
    let one = tmp.path().join("one");
    let o = run(
        "scenarios/cuba.toml",
        &one,
        &["--set", "cuba.duration_ms=50", "--set", "trace.sample=10"],
    );
    assert!(
        stderr(&o).contains("sent no messages to trace"),
        "{}",
        stderr(&o)
    );
    assert!(!one.join("trace.jsonl").exists());
}

/// The converted network is traced like every spiking run: each layer sends the next one a
/// `spike` message per tick (one batch of test images' spikes), and `trace.sample` writes
/// the trace files.
#[test]
fn the_converted_network_traces_its_spikes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("convert");
    let o = axon(&[
        "run",
        "scenarios/snn-convert.toml",
        "-q",
        "--out",
        out.to_str().expect("utf-8"),
        "--set",
        "data.train_limit=256",
        "--set",
        "data.test_limit=32",
        "--set",
        "train.epochs=1",
        "--set",
        "convert.normalise_examples=64",
        "--set",
        "convert.ticks=[10, 20]",
        "--set",
        "trace.sample=10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["trace.jsonl", "trace.json", "traffic.png"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let traffic = common::results(&out).traffic.expect("traffic");
    let edge = |from: &str, to: &str| {
        let e = traffic.per_edge.iter();
        e.filter(|e| e.from == from && e.to == to && e.kind == "spike")
            .map(|e| e.messages)
            .sum::<u64>()
    };
    assert_eq!(
        edge("if-layer-1", "if-layer-2"),
        20,
        "{:?}",
        traffic.per_edge
    );
    assert_eq!(edge("if-layer-2", "if-layer-3"), 20);
    assert_eq!(traffic.weight_transport_bytes, 0);
}
