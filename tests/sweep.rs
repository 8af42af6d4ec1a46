//! `axon run` on a scenario with a `[sweep]` table, as a user runs it: every combination into
//! its own folder with the sweep table, bad values refused before anything runs, and a failing
//! combination that does not stop the others.
mod common;

use std::path::{Path, PathBuf};

use common::{axon, expect_bad_input, mnist_dir, run_into, stderr, write_file};

/// A tiny PC-against-BP scenario with a `[sweep]` table (500 training, 200 test images).
fn sweep_scenario(dir: &Path, file: &str, extra: &str, sweep: &str) -> PathBuf {
    let text = format!(
        "name = \"grid\"\nseed = 3\n[data]\ndir = \"{}\"\ntrain_limit = 500\ntest_limit = 200\n\
         [network]\nlayers = [784, 16, 10]\n[train]\nepochs = 1\nlr = 0.01\n{extra}\
         [algorithm]\nkind = \"pc\"\ninference_steps = 5\n[runtime]\nworkers = 1\n\
         [compare]\nbaseline = \"bp\"\n[sweep]\n{sweep}",
        mnist_dir().display()
    );
    write_file(dir, file, &text)
}

fn sweep_rows(dir: &Path) -> Vec<serde_json::Value> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).expect("sweep.json"))
            .expect("valid JSON");
    json.as_array().expect("an array of rows").clone()
}

#[test]
fn a_sweep_runs_every_combination_into_its_own_folder() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = sweep_scenario(
        tmp.path(),
        "grid.toml",
        "",
        "\"algorithm.feedback\" = [\"transpose\", \"random\"]\n\"train.lr\" = [0.01, 0.003]\n",
    );
    let f = file.to_str().expect("utf8");
    let v = axon(&["validate", f]);
    assert!(v.status.success(), "{}", stderr(&v));
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("valid sweep of 4 combinations"),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );

    let out = tmp.path().join("sweep");
    let o = axon(&[
        "run",
        f,
        "--out",
        out.to_str().expect("utf8"),
        "--jobs",
        "2",
        "--quiet",
    ]);
    assert!(o.status.success(), "sweep failed: {}", stderr(&o));
    let rows = sweep_rows(&out);
    let folders: Vec<&str> = rows
        .iter()
        .map(|r| r["folder"].as_str().expect("folder"))
        .collect();
    assert_eq!(
        folders,
        [
            "feedback=transpose,lr=0.01",
            "feedback=transpose,lr=0.003",
            "feedback=random,lr=0.01",
            "feedback=random,lr=0.003",
        ],
        "first key outermost, keys in file order"
    );
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["combination"], i + 1);
        assert_eq!(r["status"], "complete", "{r}");
        assert_eq!(
            r["values"]["algorithm.feedback"],
            if i < 2 { "transpose" } else { "random" }
        );
        assert_eq!(
            r["values"]["train.lr"],
            if i % 2 == 0 { 0.01 } else { 0.003 }
        );
        for model in ["bp", "pc"] {
            let m = &r["models"][model];
            let acc = m["test_accuracy"].as_f64().expect("accuracy");
            assert!((0.0..=1.0).contains(&acc), "{m}");
            assert_eq!(m["epochs"], 1);
            assert!(m["wall_s"].as_f64().expect("seconds") > 0.0);
        }
        let transport = r["weight_transport_bytes"].as_u64().expect("bytes");
        assert_eq!(transport > 0, i < 2, "only transpose copies weights: {r}");
        assert!(r["messages"].as_u64().expect("messages") > 0);
        assert!(r["bytes"].as_u64().expect("bytes") > 0);
        // Each combination is a normal run folder whose scenario has no [sweep] table.
        let sub = out.join(folders[i]);
        let resolved = std::fs::read_to_string(sub.join("scenario.toml")).expect("scenario");
        assert!(!resolved.contains("[sweep]"), "{resolved}");
        assert!(resolved.contains(if i % 2 == 0 {
            "lr = 0.01"
        } else {
            "lr = 0.003"
        }));
        assert!(sub.join("results.json").is_file() && sub.join("accuracy.png").is_file());
    }
    // The BP baseline does not depend on the feedback mode.
    assert_eq!(
        rows[0]["models"]["bp"]["test_accuracy"],
        rows[2]["models"]["bp"]["test_accuracy"]
    );

    let md = std::fs::read_to_string(out.join("sweep.md")).expect("sweep.md");
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(
        lines.len(),
        2 + 4 * 2,
        "header, rule, a row per combination and model: {md}"
    );
    assert!(lines[0].contains("| algorithm.feedback | train.lr | model | test acc |"));
    assert!(
        lines[2].starts_with("| 1 | transpose | 0.01 | bp |"),
        "{md}"
    );
    assert!(lines[9].starts_with("| 4 | random | 0.003 | pc |"), "{md}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(lines[9]),
        "printed at the end"
    );
    for key in ["algorithm.feedback", "train.lr"] {
        let png = std::fs::read(out.join(format!("sweep-{key}.png"))).expect("plot");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}

#[test]
fn a_bad_sweep_value_is_rejected_before_anything_runs() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = sweep_scenario(
        tmp.path(),
        "bad.toml",
        "",
        "seed = [1, 2, 3]\n\"train.lr\" = [0.01, -1.0]\n",
    );
    let f = file.to_str().expect("utf8");
    let needle = "combination 2 of 6 (seed = 1, train.lr = -1.0): train.lr = -1: must be a finite number > 0";
    expect_bad_input(&axon(&["validate", f]), needle);
    let out = tmp.path().join("sweep");
    expect_bad_input(
        &axon(&["run", f, "--out", out.to_str().expect("utf8"), "--quiet"]),
        needle,
    );
    assert!(!out.exists(), "nothing ran");
    // A width that does not fit the data is found up front too.
    let file = sweep_scenario(
        tmp.path(),
        "widths.toml",
        "",
        "\"network.layers\" = [[784, 16, 10], [784, 16, 7]]\n",
    );
    expect_bad_input(
        &run_into(&file, &out, &[]),
        "combination 2 of 2 (network.layers = [784, 16, 7]): network.layers[2] = 7",
    );
    assert!(!out.exists(), "nothing ran");
    expect_bad_input(
        &axon(&["run", "scenarios/bp-mnist.toml", "--jobs", "2"]),
        "no [sweep] table",
    );
    expect_bad_input(
        &axon(&["bench", "pc", file.to_str().expect("utf8")]),
        "has a [sweep] table",
    );
    let file = sweep_scenario(tmp.path(), "empty.toml", "", "seed = []\n");
    expect_bad_input(
        &axon(&["validate", file.to_str().expect("utf8")]),
        "\"seed\" = []: must list at least one value",
    );
}

/// A diverging combination (MSE, momentum 0.99, lr 900) is a failed row; the other still runs,
/// and the command exits 1.
#[test]
fn a_failing_sweep_combination_does_not_stop_the_others() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = sweep_scenario(
        tmp.path(),
        "diverge.toml",
        "loss = \"mse\"\noptimizer = \"momentum\"\nmomentum = 0.99\n",
        "\"train.lr\" = [900.0, 0.01]\n",
    );
    let out = tmp.path().join("sweep");
    let o = axon(&[
        "run",
        file.to_str().expect("utf8"),
        "--out",
        out.to_str().expect("utf8"),
        "--jobs",
        "1",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("1 of 2 combinations failed"), "{err}");
    let rows = sweep_rows(&out);
    assert_eq!(rows[0]["status"], "failed", "{}", rows[0]);
    assert!(
        rows[0]["error"]
            .as_str()
            .expect("error")
            .contains("non-finite value"),
        "{}",
        rows[0]
    );
    assert_eq!(rows[1]["status"], "complete", "{}", rows[1]);
    let md = std::fs::read_to_string(out.join("sweep.md")).expect("sweep.md");
    assert!(md.contains("| failed: "), "{md}");
    assert!(out.join("sweep-train.lr.png").is_file());
}

/// A sweep over a `[spc]` key (spiking PC's learn ticks per image): each combination is a
/// spiking PC run with no weight transport, and its rates by tick span its own ticks.
#[test]
fn a_sweep_over_spiking_pc_ticks_runs_each_setting() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "name = \"spc-grid\"\nseed = 1\n[data]\ndir = \"{}\"\ntrain_limit = 256\ntest_limit = 100\n\
         [network]\nlayers = [784, 32, 10]\n[train]\nepochs = 1\n\
         [algorithm]\nkind = \"spc\"\nfeedback = \"kolen-pollack\"\nkp_init = \"random\"\n\
         [spc]\nsettle_ticks = 8\n[sweep]\n\"spc.learn_ticks\" = [4, 8]\n",
        mnist_dir().display()
    );
    let file = write_file(tmp.path(), "spc-grid.toml", &text);
    let out = tmp.path().join("sweep");
    let o = run_into(&file, &out, &["--jobs", "1", "--quiet"]);
    assert!(o.status.success(), "sweep failed: {}", stderr(&o));
    let rows = sweep_rows(&out);
    assert_eq!(rows.len(), 2);
    for (r, learn) in rows.iter().zip([4, 8]) {
        assert_eq!(r["status"], "complete", "{r}");
        assert_eq!(r["algorithm"], "spc", "{r}");
        assert_eq!(r["values"]["spc.learn_ticks"], learn);
        assert_eq!(r["weight_transport_bytes"], 0, "{r}");
        let sub = out.join(r["folder"].as_str().expect("folder"));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(sub.join("results.json")).expect("results.json"))
                .expect("valid JSON");
        let rates = &json["models"]["spc"]["pc"][0]["tick_rates"][0]["error_pos"];
        assert_eq!(rates.as_array().map(Vec::len), Some(8 + learn), "{rates}");
        assert!(sub.join("error_rates.png").is_file() && sub.join("spc_raster.png").is_file());
    }
    assert!(out.join("sweep-spc.learn_ticks.png").is_file());
}
