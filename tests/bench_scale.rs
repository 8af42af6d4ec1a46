//! `axon bench scale` on tiny sizes: every workload's JSON rows carry the fields, the 1-worker
//! row of each workload and executor has speed-up 1, and efficiency is speed-up / workers;
//! `axon bench snn --delays` (exchange windows) agrees across setups.
mod common;

use common::axon;

#[test]
fn bench_scale_writes_speedup_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("scale.json");
    let out = axon(&[
        "bench",
        "scale",
        "--workers",
        "2",
        "--executors",
        "tokio,inline",
        "--ring-actors",
        "50",
        "--ring-hops",
        "10",
        "--pc-batches",
        "1",
        "--set",
        "algorithm.inference_steps=2",
        "--cuba-neurons",
        "200",
        "--cuba-large-neurons",
        "400",
        "--duration-ms",
        "5",
        "--neurons-duration-ms",
        "2",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("efficiency"), "{table}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON file"))
            .expect("a JSON list");
    // 5 workloads x 2 executors x workers {1 (always run), 2}.
    assert_eq!(rows.len(), 5 * 2 * 2, "{rows:#?}");
    for r in &rows {
        let num = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
        let workers = num("workers");
        let (wall, speedup, efficiency) = (num("wall_s"), num("speedup"), num("efficiency"));
        assert!(num("shards") >= 1.0 && wall > 0.0, "{r}");
        assert!(
            r["workload"].is_string() && r["executor"].is_string(),
            "{r}"
        );
        if workers == 1.0 {
            assert_eq!(speedup, 1.0, "{r}");
        }
        assert!((efficiency - speedup / workers).abs() < 1e-9, "{r}");
        let shards = num("shards");
        match r["workload"].as_str() {
            Some("ring") => assert_eq!(shards, 50.0),
            Some("cuba-neurons") => assert_eq!(shards, 200.0),
            _ => assert_eq!(shards, workers, "{r}"),
        }
    }
    for w in ["ring", "pc", "cuba", "cuba40k", "cuba-neurons"] {
        assert!(rows.iter().any(|r| r["workload"] == w), "no {w} row");
    }
}

#[test]
fn bench_scale_rejects_an_unknown_workload_or_executor() {
    common::expect_bad_input(
        &axon(&["bench", "scale", "--workloads", "mandelbrot"]),
        "--workloads",
    );
    common::expect_bad_input(
        &axon(&["bench", "scale", "--executors", "fibers"]),
        "EXECUTOR",
    );
}

/// `axon bench snn --delays`: windowed shards give the same spikes on every setup, and a
/// delay below one tick is bad input (exit 2) that says what is allowed.
#[test]
fn bench_snn_with_delays_agrees_across_setups_and_refuses_zero() {
    let out = axon(&[
        "bench",
        "snn",
        "--setups",
        "inline:1:1,pinned:2:2,tokio:2:3",
        "--duration-ms",
        "30",
        "--delays",
        "3-7",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON rows");
    let spikes: Vec<u64> = rows
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["snn"]["spikes"].as_u64().expect("spikes"))
        .collect();
    assert_eq!(spikes.len(), 3);
    assert!(
        spikes[0] > 0 && spikes.iter().all(|&s| s == spikes[0]),
        "{spikes:?}"
    );
    let bad = axon(&["bench", "snn", "--delays", "0-3", "--duration-ms", "1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1 <= MIN <= MAX"));
}

/// `axon bench snn --repeats`: each row is the fastest of its runs with their spread, and
/// one actor per neuron is set against the population and against its own 1-worker row;
/// zero repeats is bad input.
#[test]
fn bench_snn_repeats_rows_and_sets_neuron_actors_against_the_population() {
    let out = axon(&[
        "bench",
        "snn",
        "--setups",
        "pinned:1:1,pinned:1:4000,pinned:2:4000",
        "--duration-ms",
        "20",
        "--repeats",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("pinned")).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows.iter().all(|r| r.ends_with('%')), "{text}");
    assert!(text.contains("the population on 1 worker"), "{text}");
    assert!(text.contains("faster than 1 worker"), "{text}");
    let bad = axon(&["bench", "snn", "--repeats", "0", "--duration-ms", "1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--repeats"));
}
