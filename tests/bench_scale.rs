//! `axon bench scale` on tiny sizes: every workload's JSON rows carry the fields, the 1-worker
//! row of each workload and executor has speed-up 1, and efficiency is speed-up / workers.
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
