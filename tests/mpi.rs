//! Networks across MPI ranks (`--features mpi`; needs Open MPI's `mpirun`): spiking
//! networks and learning runs give the same results on 2 and 4 ranks as in one process (and
//! Diehl & Cook's spiking network that learns, the same weights on 2 ranks); the
//! exchange benchmark; a killed rank ends the whole job (and a learning run resumes); what
//! does not run across ranks is refused.
#![cfg(feature = "mpi")]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::stderr;

/// `mpirun -np N axon ARGS...` (oversubscribed: CI has 2 cores; allowed as root).
fn mpirun(np: usize, args: &[&str]) -> Command {
    let mut c = Command::new("mpirun");
    c.args([
        "--oversubscribe",
        "-np",
        &np.to_string(),
        env!("CARGO_BIN_EXE_axon"),
    ])
    .args(args)
    .current_dir(common::root())
    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    c
}

fn snn(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json");
    serde_json::from_str::<serde_json::Value>(&text).expect("json")["snn"].clone()
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// CUBA (with its per-tick exchange) and the microcircuit (windows of its minimum delay):
/// every count, statistic and traffic edge on 2 and 4 ranks equals the one-process run's,
/// and the sampled trace holds every rank's messages.
#[test]
fn two_and_four_ranks_give_the_one_process_results() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (file, sets) in [
        (
            "scenarios/cuba.toml",
            vec![
                "cuba.duration_ms=200",
                "runtime.shards=4",
                "trace.sample=25",
            ],
        ),
        (
            "scenarios/microcircuit-small.toml",
            vec![
                "microcircuit.scale=0.02",
                "microcircuit.duration_ms=200",
                "runtime.shards=4",
                "trace.sample=25",
            ],
        ),
    ] {
        let mut args = vec!["run", file];
        for s in &sets {
            args.extend(["--set", s]);
        }
        let one = tmp.path().join(format!("one-{}", sets.len()));
        ok(common::command(&args)
            .arg("--out")
            .arg(&one)
            .output()
            .expect("runs"));
        let reference = snn(&one);
        for np in [2, 4] {
            let out = tmp.path().join(format!("np{np}-{}", file.len()));
            let o = ok(mpirun(np, &args)
                .arg("--out")
                .arg(&out)
                .output()
                .expect("mpirun runs"));
            let got = snn(&out);
            for key in ["spikes", "synaptic_events", "synapses", "populations"] {
                assert_eq!(got[key], reference[key], "{file} on {np} ranks: {key}");
            }
            // The traffic summed over ranks is the one process's, edge for edge, and the
            // edges a bridge carried say so.
            let edges = |dir: &Path| -> Vec<serde_json::Value> {
                let t = &results(dir)["traffic"]["per_edge"];
                let e = t.as_array().expect("per_edge").iter();
                e.map(|e| {
                    serde_json::json!([e["from"], e["to"], e["kind"], e["messages"], e["bytes"]])
                })
                .collect()
            };
            assert_eq!(edges(&out), edges(&one), "{file} on {np} ranks: traffic");
            let t = &results(&out)["traffic"];
            let crossed = t["per_edge"].as_array().expect("edges").iter();
            assert!(crossed.filter(|e| e["cross_rank"] == true).count() > 0);
            assert_eq!(t["ranks"].as_array().expect("ranks").len(), np);
            // The sampled trace holds every rank's messages, each bridge under its rank.
            let senders = senders(&out);
            for who in ["population.0", "population.3", "rank 0 bridge"] {
                assert!(senders.contains(who), "{file} on {np} ranks: {senders:?}");
            }
            assert!(senders.contains(&format!("rank {} bridge", np - 1)));
            let ranks = &got["ranks"];
            assert_eq!(ranks["ranks"], np, "{file}: {ranks}");
            assert_eq!(ranks["shard_rank"].as_array().expect("placement").len(), 4);
            assert!(ranks["exchanges"].as_u64().expect("exchanges") > 0);
            // Rank 0 alone prints the summary line.
            let text = String::from_utf8_lossy(&o.stdout);
            assert_eq!(text.matches("results in").count(), 1, "{text}");
        }
    }
}

#[test]
fn the_exchange_benchmark_times_a_window() {
    let o = ok(mpirun(2, &["bench", "exchange", "--windows", "500"])
        .output()
        .expect("runs"));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("us per window"), "{text}");
}

/// What does not run across ranks is refused on every rank as bad input (exit 2): the BP
/// baseline on its own, and fewer shards than ranks.
#[test]
fn what_does_not_spread_is_refused_across_ranks() {
    let o = mpirun(2, &["run", "scenarios/bp-mnist.toml"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("across 2 MPI ranks"), "{}", stderr(&o));
    // Fewer population shards than ranks.
    let o = mpirun(2, &["run", "scenarios/cuba.toml"])
        .output()
        .expect("runs");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("runtime.shards=N"), "{}", stderr(&o));
    // Three layer shards (784-128-10 with runtime.shards = 2) on four ranks.
    let o = mpirun(
        4,
        &[
            "run",
            "scenarios/quickstart.toml",
            "--set",
            "runtime.shards=2",
        ],
    )
    .output()
    .expect("runs");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("layer shards"), "{}", stderr(&o));
}

/// The actors that sent the messages of a run's sampled trace.
fn senders(dir: &Path) -> std::collections::BTreeSet<String> {
    let trace = std::fs::read_to_string(dir.join("trace.jsonl")).expect("trace.jsonl");
    trace
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .map(|e| e["from"].as_str().expect("a sender").to_owned())
        .collect()
}

fn results(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json");
    serde_json::from_str(&text).expect("json")
}

/// A small real-MNIST run of a learning scenario with two shards per hidden layer.
fn learning_args<'a>(file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        file,
        "-q",
        "--set",
        "data.train_limit=640",
        "--set",
        "data.test_limit=200",
        "--set",
        "train.epochs=1",
        "--set",
        "runtime.shards=2",
    ];
    args.extend(extra);
    args
}

/// Lockstep PC, Z-IL (Kolen-Pollack: exact, no weight transport), EP and spiking PC on 2 and
/// 4 ranks:
/// the one-process run's numbers and traffic, with the messages split by rank.
#[test]
fn learning_runs_give_the_one_process_numbers_on_two_and_four_ranks() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // EP's 784-500-10 needs three hidden shards for four ranks.
    for (file, model, shards) in [
        ("scenarios/zil-kp-mnist.toml", "zil", "runtime.shards=2"),
        ("scenarios/pc-kp-mnist.toml", "pc", "runtime.shards=2"),
        ("scenarios/ep-mnist.toml", "ep", "runtime.shards=3"),
        ("scenarios/spc-mnist.toml", "spc", "runtime.shards=2"),
    ] {
        let mut extra = vec!["--set", "compare.baseline=\"none\"", "--set", shards];
        if model == "pc" {
            extra.extend(["--set", "trace.sample=20"]);
        }
        let args = learning_args(file, &extra);
        let one = tmp.path().join(format!("{model}-one"));
        ok(common::command(&args)
            .arg("--out")
            .arg(&one)
            .output()
            .expect("runs"));
        let reference = results(&one);
        for np in [2, 4] {
            let out = tmp.path().join(format!("{model}-{np}"));
            let o = ok(mpirun(np, &args)
                .arg("--out")
                .arg(&out)
                .output()
                .expect("mpirun runs"));
            let got = results(&out);
            let what = format!("{file} on {np} ranks");
            let m = |r: &serde_json::Value| r["models"][model].clone();
            for key in ["train_loss", "train_accuracy", "test_loss", "test_accuracy"] {
                assert_eq!(
                    m(&got)["epochs"][0][key],
                    m(&reference)["epochs"][0][key],
                    "{what}: {key}"
                );
            }
            assert_eq!(m(&got)["pc"], m(&reference)["pc"], "{what}");
            if model == "spc" {
                // Rates by tick are in `pc`; the raster image is its own file.
                assert!(m(&got)["pc"][0]["tick_rates"].is_array(), "{what}");
                let raster = |d: &Path| std::fs::read(d.join("spc_raster.safetensors"));
                let (a, b) = (raster(&out).expect("raster"), raster(&one).expect("raster"));
                assert_eq!(a, b, "{what}: the raster");
            }
            for key in ["totals", "per_kind", "weight_transport_bytes"] {
                assert_eq!(
                    got["traffic"][key], reference["traffic"][key],
                    "{what}: {key}"
                );
            }
            let ranks = got["traffic"]["ranks"].as_array().expect("ranks").clone();
            assert_eq!(ranks.len(), np, "{what}");
            assert!(ranks
                .iter()
                .all(|r| r["inter"]["messages"].as_u64() > Some(0)));
            if model == "pc" {
                // Every actor's messages are in the sampled trace, whatever its rank.
                assert_eq!(senders(&out), senders(&one), "{what}: trace senders");
            }
            let text = String::from_utf8_lossy(&o.stdout);
            assert_eq!(text.matches("results in").count(), 1, "{text}");
        }
        if model == "zil" {
            let gaps = m_gaps(&reference, model);
            assert!(gaps.iter().all(|&g| g == 0.0), "Z-IL gradient gap {gaps:?}");
            assert_eq!(reference["traffic"]["weight_transport_bytes"], 0);
        }
    }
}

fn m_gaps(r: &serde_json::Value, model: &str) -> Vec<f64> {
    r["models"][model]["pc"][0]["grad_gap"]
        .as_array()
        .expect("gradient checks on")
        .iter()
        .map(|g| g.as_f64().expect("number"))
        .collect()
}

/// Diehl & Cook's network with its two shards on 2 ranks (coordinator and input on rank 0,
/// the ranks linked by ports): the one-process run's weights, thresholds, confusion matrix
/// and traffic; rank 0 alone writes the run folder.
#[test]
fn stdp_mnist_on_two_ranks_learns_the_one_process_weights() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut args = vec!["run", "scenarios/stdp-mnist.toml", "-q"];
    for s in [
        "stdp_mnist.n_exc=20",
        "stdp_mnist.train_images=30",
        "stdp_mnist.label_images=10",
        "stdp_mnist.test_images=10",
        "runtime.shards=2",
    ] {
        args.extend(["--set", s]);
    }
    let one = tmp.path().join("one");
    ok(common::command(&args)
        .arg("--out")
        .arg(&one)
        .output()
        .expect("runs"));
    let two = tmp.path().join("two");
    let o = ok(mpirun(2, &args)
        .arg("--out")
        .arg(&two)
        .output()
        .expect("mpirun runs"));
    let weights = |dir: &Path| std::fs::read(dir.join("weights.safetensors")).expect("weights");
    let (a, b) = (weights(&one), weights(&two));
    let (ta, tb) = (
        safetensors::SafeTensors::deserialize(&a).expect("safetensors"),
        safetensors::SafeTensors::deserialize(&b).expect("safetensors"),
    );
    for name in ["input_weights", "theta"] {
        let (x, y) = (ta.tensor(name).expect(name), tb.tensor(name).expect(name));
        assert_eq!(x.shape(), y.shape(), "{name}");
        assert!(x.data() == y.data(), "{name} differ on 2 ranks");
    }
    let (ra, rb) = (results(&one), results(&two));
    assert_eq!(rb["status"], "complete");
    for key in [
        "confusion",
        "neurons_per_class",
        "test_accuracy",
        "input_spikes",
    ] {
        assert_eq!(ra["stdp"][key], rb["stdp"][key], "{key}");
    }
    for key in ["totals", "per_kind", "weight_transport_bytes"] {
        assert_eq!(ra["traffic"][key], rb["traffic"][key], "{key}");
    }
    let ranks = rb["traffic"]["ranks"].as_array().expect("ranks").clone();
    assert_eq!(ranks.len(), 2);
    assert!(ranks
        .iter()
        .all(|r| r["inter"]["messages"].as_u64() > Some(0)));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.matches("results in").count(), 1, "{text}");
}

/// A learning run over 2 ranks whose second rank is killed (`kill -9`) after a checkpoint:
/// the job ends within 10 s, and `--resume` on 2 ranks ends where the uninterrupted run ends.
#[test]
fn a_killed_rank_of_a_learning_run_ends_the_job_and_the_run_resumes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let extra = [
        "--set",
        "data.train_limit=3200",
        "--set",
        "train.epochs=2",
        "--set",
        "checkpoint.every_batches=5",
        "--set",
        "compare.baseline=\"none\"",
    ];
    let args = learning_args("scenarios/pc-kp-mnist.toml", &extra);
    let reference = tmp.path().join("reference");
    ok(common::command(&args)
        .arg("--out")
        .arg(&reference)
        .output()
        .expect("runs"));
    let run = tmp.path().join("killed");
    let mut job = mpirun(2, &args)
        .arg("--out")
        .arg(&run)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun starts");
    let file = run.join("checkpoints/resume.safetensors");
    let start = Instant::now();
    loop {
        let state = axon::learn::coordinator::ResumeState::read(&file);
        if state.is_ok_and(|s| s.position.epoch == 2 || s.position.next_batch >= 10) {
            break;
        }
        assert!(
            job.try_wait().expect("wait").is_none(),
            "the run ended first"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = Command::new("pgrep")
        .args(["-P", &job.id().to_string(), "axon"])
        .output()
        .expect("pgrep");
    let pids = String::from_utf8_lossy(&out.stdout).to_string();
    let victim = pids.split_whitespace().last().expect("a rank").to_owned();
    kill_rank_and_see_the_job_end(&mut job, &victim);
    assert_eq!(results(&run)["status"], "running");
    // The checkpoint holds every actor's state: a copy resumes in one process too.
    let copy = tmp.path().join("copy");
    copy_dir(&run, &copy);
    let mut resume = args.clone();
    resume.extend(["--resume", run.to_str().expect("utf-8")]);
    ok(mpirun(2, &resume).output().expect("mpirun runs"));
    let mut resume_one = args.clone();
    resume_one.extend(["--resume", copy.to_str().expect("utf-8")]);
    ok(common::command(&resume_one).output().expect("runs"));
    let (a, b) = (results(&reference), results(&run));
    let c = results(&copy);
    assert_eq!(c["models"]["pc"]["pc"], b["models"]["pc"]["pc"]);
    for key in ["train_loss", "test_loss", "test_accuracy"] {
        assert_eq!(
            c["models"]["pc"]["epochs"][1][key],
            b["models"]["pc"]["epochs"][1][key]
        );
    }
    assert_eq!(b["status"], "complete");
    let epochs = |r: &serde_json::Value| {
        r["models"]["pc"]["epochs"]
            .as_array()
            .expect("epochs")
            .len()
    };
    assert_eq!(epochs(&b), 2);
    for key in ["train_loss", "test_loss", "test_accuracy"] {
        let x = a["models"]["pc"]["epochs"][1][key]
            .as_f64()
            .expect("number");
        let y = b["models"]["pc"]["epochs"][1][key]
            .as_f64()
            .expect("number");
        assert!(
            (x - y).abs() <= 1e-9 * x.abs().max(1.0),
            "{key}: {x} vs {y}"
        );
    }
}

/// Copies a run folder (files and one level of subfolders).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Kills rank process `victim` of `job` (`kill -9`) and checks that the whole job ends, with
/// an error, within 10 s.
fn kill_rank_and_see_the_job_end(job: &mut std::process::Child, victim: &str) {
    let killed = Instant::now();
    Command::new("kill")
        .args(["-9", victim])
        .status()
        .expect("kill");
    let status = loop {
        if let Some(s) = job.try_wait().expect("wait") {
            break s;
        }
        if killed.elapsed() > Duration::from_secs(10) {
            let _ = job.kill();
            panic!("the job still ran 10 s after a rank was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
}

/// `kill -9` of one rank ends the whole job with an error within 10 s: mpirun sees the rank
/// die and ends the others (which wait in an exchange for it).
#[test]
fn a_killed_rank_ends_the_job() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut job = mpirun(
        2,
        &[
            "run",
            "scenarios/microcircuit-small.toml",
            "--set",
            "microcircuit.duration_ms=600000",
            "--set",
            "runtime.shards=2",
        ],
    )
    .arg("--out")
    .arg(tmp.path().join("run"))
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("mpirun starts");
    // Wait until both ranks run, then kill one.
    let start = Instant::now();
    let victim = loop {
        let out = Command::new("pgrep")
            .args(["-P", &job.id().to_string(), "axon"])
            .output()
            .expect("pgrep");
        let pids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if pids.len() == 2 {
            std::thread::sleep(Duration::from_secs(2));
            break pids[1].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "ranks did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    kill_rank_and_see_the_job_end(&mut job, &victim);
}

/// Ctrl-C on mpirun (Open MPI forwards SIGINT to the ranks): every rank stops at the same
/// tick and rank 0 writes the figures of what was simulated, status "interrupted".
#[test]
fn ctrl_c_on_mpirun_stops_every_rank_and_keeps_the_figures() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("run");
    let job = mpirun(
        2,
        &[
            "run",
            "scenarios/microcircuit-small.toml",
            "-q",
            "--set",
            "microcircuit.scale=0.02",
            "--set",
            "microcircuit.duration_ms=3600000",
            "--set",
            "runtime.shards=2",
        ],
    )
    .arg("--out")
    .arg(&out)
    // On Ctrl-C mpirun sends the ranks SIGTERM (a graceful stop for axon) and SIGKILL after
    // odls_base_sigkill_timeout, 1 s by default: too short for a debug build's plots.
    .env("OMPI_MCA_odls_base_sigkill_timeout", "15")
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("mpirun starts");
    // Rank 0 writes the folder after installing its Ctrl-C handler: a SIGINT before that
    // (a loaded machine starting the ranks slowly) would kill rather than stop.
    let waited = std::time::Instant::now();
    while !out.join("scenario.toml").exists() && waited.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    Command::new("kill")
        .args(["-INT", &job.id().to_string()])
        .status()
        .expect("kill");
    let o = job.wait_with_output().expect("exits");
    assert!(!o.status.success());
    let text = std::fs::read_to_string(out.join("results.json"))
        .unwrap_or_else(|e| panic!("results.json: {e}; {}", stderr(&o)));
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["status"], "interrupted", "{}", stderr(&o));
    assert!(json["snn"]["sim_s"].as_f64().expect("sim_s") < 3600.0);
}

/// `runtime.shard_ranks` pins shards to ranks (here not in blocks): the placement is the one
/// asked for and the spikes are the one-process run's.
#[test]
fn pinned_shards_give_the_same_spikes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let sets = ["cuba.duration_ms=100", "runtime.shards=3"];
    let mut args = vec!["run", "scenarios/cuba.toml", "-q"];
    for s in &sets {
        args.extend(["--set", s]);
    }
    let one = tmp.path().join("one");
    ok(common::command(&args)
        .arg("--out")
        .arg(&one)
        .output()
        .expect("runs"));
    let pinned = tmp.path().join("pinned");
    args.extend(["--set", "runtime.shard_ranks=[1,0,1]"]);
    ok(mpirun(2, &args)
        .arg("--out")
        .arg(&pinned)
        .output()
        .expect("runs"));
    let (a, b) = (snn(&one), snn(&pinned));
    assert_eq!(a["spikes"], b["spikes"]);
    assert_eq!(a["synaptic_events"], b["synaptic_events"]);
    assert_eq!(b["ranks"]["shard_rank"], serde_json::json!([1, 0, 1]));
}

/// A panic in an actor on rank 1 ends every rank; the error names the rank and the actor.
#[test]
fn a_panic_on_one_rank_names_it_and_ends_the_job() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let extra = [
        "--set",
        "compare.baseline=\"none\"",
        "--set",
        "faults.panic_actor=\"layer-2.1\"",
        "--set",
        "faults.panic_after_batches=3",
    ];
    let args = learning_args("scenarios/pc-kp-mnist.toml", &extra);
    let start = Instant::now();
    let o = mpirun(2, &args)
        .arg("--out")
        .arg(tmp.path().join("run"))
        .output()
        .expect("mpirun runs");
    assert!(!o.status.success());
    assert!(start.elapsed() < Duration::from_secs(60));
    let err = stderr(&o);
    assert!(
        err.contains("error (rank 1 of 2): actor layer-2.1 panicked"),
        "{err}"
    );
}
