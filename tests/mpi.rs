//! Spiking networks across MPI ranks (`--features mpi`; needs Open MPI's `mpirun`): the
//! same results on 2 and 4 ranks as in one process, the exchange benchmark, a killed rank
//! ending the whole job, and what does not run across ranks refused.
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
/// every count and statistic on 2 and 4 ranks equals the one-process run's.
#[test]
fn two_and_four_ranks_give_the_one_process_results() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (file, sets) in [
        (
            "scenarios/cuba.toml",
            vec!["cuba.duration_ms=200", "runtime.shards=4"],
        ),
        (
            "scenarios/microcircuit-small.toml",
            vec![
                "microcircuit.scale=0.02",
                "microcircuit.duration_ms=200",
                "runtime.shards=4",
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

/// What does not run across ranks is refused on every rank as bad input (exit 2): a
/// learning scenario, and fewer population shards than ranks.
#[test]
fn a_learning_scenario_is_refused_across_ranks() {
    let o = mpirun(2, &["run", "scenarios/quickstart.toml"])
        .output()
        .expect("runs");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("across 2 MPI ranks"), "{}", stderr(&o));
    // Fewer population shards than ranks.
    let o = mpirun(2, &["run", "scenarios/cuba.toml"])
        .output()
        .expect("runs");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("runtime.shards=2"), "{}", stderr(&o));
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
    let killed = Instant::now();
    Command::new("kill")
        .args(["-9", &victim])
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

/// Ctrl-C on mpirun (Open MPI forwards SIGINT to the ranks): every rank stops at the same
/// tick and rank 0 writes the figures of what was simulated, status "stopped".
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
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("mpirun starts");
    std::thread::sleep(Duration::from_secs(4));
    Command::new("kill")
        .args(["-INT", &job.id().to_string()])
        .status()
        .expect("kill");
    let o = job.wait_with_output().expect("exits");
    assert!(!o.status.success());
    let text = std::fs::read_to_string(out.join("results.json")).expect("results.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["status"], "stopped", "{}", stderr(&o));
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
