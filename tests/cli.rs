//! The `axon` binary as a user drives it: a small real run end to end, and bad input that
//! must give a clear message and exit code 2, never a panic.

mod common;

use std::path::{Path, PathBuf};

use axon::experiment::checkpoint::load_mlp;
use axon::math::activation::Activation;
use common::{axon, expect_bad_input, mnist_dir, run_into, stderr, write_file};

/// A small real-MNIST scenario in a temp folder.
fn scenario(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        "name = \"small\"\nseed = 3\n[data]\ndir = \"{}\"\ntrain_limit = 2000\ntest_limit = 500\n\
         [network]\nlayers = [784, 32, 10]\n[train]\nepochs = 2\nlr = 0.002\n{extra}",
        mnist_dir().display()
    );
    write_file(dir, "small.toml", &text)
}

#[test]
fn end_to_end_run_writes_results_plot_and_checkpoints() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = scenario(tmp.path(), "");
    let out = tmp.path().join("run");
    let o = run_into(&file, &out, &["--quiet"]);
    assert!(o.status.success(), "run failed: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("test accuracy"), "summary line: {stdout}");

    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).expect("results.json"))
            .expect("valid JSON");
    assert_eq!(results["name"], "small");
    assert_eq!(results["seed"], 3);
    assert_eq!(results["status"], "complete");
    let bp = &results["models"]["bp"];
    assert_eq!(bp["algorithm"], "bp");
    let epochs = bp["epochs"].as_array().expect("epochs array");
    assert_eq!(epochs.len(), 2);
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(e["epoch"], i + 1);
        for key in ["train_loss", "train_accuracy", "test_accuracy", "wall_s"] {
            assert!(e[key].is_number(), "{key} in {e}");
        }
        let acc = e["test_accuracy"].as_f64().expect("number");
        assert!((0.0..=1.0).contains(&acc));
    }
    // 2000 real examples, 2 epochs: a working MLP is far above chance (0.1).
    let final_acc = bp["final"]["test_accuracy"]
        .as_f64()
        .expect("final accuracy");
    assert!(final_acc > 0.80, "final test accuracy {final_acc}");
    assert!(bp["final"]["wall_s"].as_f64().expect("number") > 0.0);

    // The final network evaluated by message passing gives exactly the same accuracy.
    assert_eq!(bp["actor_test_accuracy"], bp["final"]["test_accuracy"]);
    let traffic = &results["traffic"];
    assert_eq!(traffic["weight_transport_bytes"], 0);
    // 500 test images in one batch: input -> layer-1 -> layer-2 -> readout, 3 activity messages.
    assert_eq!(traffic["per_kind"]["activity"]["messages"], 3);
    assert_eq!(
        traffic["per_kind"]["activity"]["bytes"],
        4 * 500 * (784 + 32 + 10)
    );
    let heat = std::fs::read(out.join("traffic.png")).expect("traffic.png");
    assert_eq!(&heat[..8], b"\x89PNG\r\n\x1a\n");
    let png = std::fs::read(out.join("accuracy.png")).expect("accuracy.png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let resolved = std::fs::read_to_string(out.join("scenario.toml")).expect("scenario.toml");
    assert!(
        resolved.contains("optimizer = \"adam\""),
        "defaults are filled in: {resolved}"
    );

    for epoch in 0..=2 {
        let p = out.join(format!("checkpoints/bp/epoch-{epoch}.safetensors"));
        let net = load_mlp(&p, Activation::Relu).expect("checkpoint loads");
        assert_eq!(net.widths(), vec![784, 32, 10]);
        assert_eq!(net.layers()[0].weight.rows(), 32, "weight is out x in");
        if epoch == 0 {
            assert!(
                net.layers()
                    .iter()
                    .all(|l| l.bias.iter().all(|&b| b == 0.0)),
                "initial biases are zero"
            );
        }
    }
    // The run folder is never overwritten.
    let again = run_into(&file, &out, &["--quiet"]);
    expect_bad_input(&again, "not empty");
}

#[test]
fn set_overrides_any_key_and_validate_checks_the_data() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = scenario(tmp.path(), "");
    let out = tmp.path().join("run");
    let o = run_into(
        &file,
        &out,
        &[
            "--quiet",
            "--set",
            "train.epochs=1",
            "--set",
            "network.layers=[784,16,10]",
            "--set",
            "train.optimizer=sgd",
            "--set",
            "train.lr=0.1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let resolved = std::fs::read_to_string(out.join("scenario.toml")).expect("scenario.toml");
    assert!(
        resolved.contains("epochs = 1") && resolved.contains("optimizer = \"sgd\""),
        "{resolved}"
    );
    let net = load_mlp(
        &out.join("checkpoints/bp/epoch-1.safetensors"),
        Activation::Relu,
    )
    .expect("loads");
    assert_eq!(net.widths(), vec![784, 16, 10]);

    let v = axon(&["validate", file.to_str().expect("utf8")]);
    assert!(v.status.success(), "{}", stderr(&v));
    assert!(String::from_utf8_lossy(&v.stdout).contains("valid"));
    assert!(axon(&["validate", "scenarios/quickstart.toml"])
        .status
        .success());
    assert!(axon(&["validate", "scenarios/bp-mnist.toml"])
        .status
        .success());
}

#[test]
fn bad_scenarios_exit_2_with_the_key_and_value() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cases: &[(&str, &str)] = &[
        ("[algorithm]\nfoo = 1\n", "unknown field `foo`"),
        ("[optimizer]\nlr = 1\n", "unknown field `optimizer`"),
        ("[runtime]\nworkers = \"many\"\n", "workers"),
        ("[runtime]\nworkers = 0\n", "runtime.workers = 0"),
    ];
    for (extra, needle) in cases {
        let file = scenario(tmp.path(), extra);
        expect_bad_input(&axon(&["validate", file.to_str().expect("utf8")]), needle);
        expect_bad_input(
            &axon(&["run", file.to_str().expect("utf8"), "--quiet"]),
            needle,
        );
    }
    let file = scenario(tmp.path(), "");
    let f = file.to_str().expect("utf8");
    let sets: &[(&str, &str)] = &[
        (
            "train.lr=nan",
            "train.lr = NaN: must be a finite number > 0",
        ),
        (
            "train.lr=-0.5",
            "train.lr = -0.5: must be a finite number > 0",
        ),
        ("train.epochs=ten", "epochs"),
        (
            "network.layers=[100,10]",
            "network.layers[0] = 100: must equal the data's image size, 28x28 = 784",
        ),
        (
            "network.layers=[784,10,7]",
            "network.layers[2] = 7: must equal the number of classes in the data, 10",
        ),
        ("network.activation=gelu", "unknown variant `gelu`"),
        ("train.lr", "expected KEY=VALUE"),
        (
            "data.dir=/nonexistent/axon-data",
            "no file train-images-idx3-ubyte",
        ),
    ];
    for (set, needle) in sets {
        expect_bad_input(&axon(&["run", f, "--quiet", "--set", set]), needle);
    }
    expect_bad_input(
        &axon(&["run", "/nonexistent/scenario.toml"]),
        "cannot read scenario",
    );
    // clap's own usage errors are exit code 2 as well
    expect_bad_input(&axon(&["run"]), "Usage");
}

#[test]
fn a_truncated_data_file_is_bad_input_not_a_panic() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).expect("dir");
    for name in axon::data::dataset::FILE_NAMES {
        let src = mnist_dir().join(format!("{name}.gz"));
        let bytes = std::fs::read(&src).expect("shipped data");
        let keep = if name.starts_with("t10k-images") {
            bytes.len() / 2
        } else {
            bytes.len()
        };
        std::fs::write(data.join(format!("{name}.gz")), &bytes[..keep]).expect("copy");
    }
    let file = scenario(tmp.path(), "");
    let o = axon(&[
        "run",
        file.to_str().expect("utf8"),
        "--quiet",
        "--set",
        &format!("data.dir=\"{}\"", data.display()),
    ]);
    expect_bad_input(&o, "t10k-images-idx3-ubyte.gz");
}

#[test]
fn help_shows_examples() {
    let o = axon(&["--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Examples:") && text.contains("--set train.epochs=1"),
        "{text}"
    );
}

#[test]
fn bench_messages_writes_a_trace_that_summarize_reads() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("msgs");
    let json = tmp.path().join("rows.json");
    let o = axon(&[
        "bench",
        "messages",
        "--actors",
        "20",
        "--hops",
        "2",
        "--workers",
        "1",
        "--json",
        json.to_str().expect("utf8"),
        "--trace-out",
        out.to_str().expect("utf8"),
        "--trace-sample",
        "10",
        "--window-ms",
        "50",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("rows")).expect("JSON");
    let rows = rows.as_array().expect("a list");
    assert_eq!(
        rows.len(),
        5 * axon::runtime::Executor::ALL.len(),
        "5 patterns x every executor"
    );
    for r in rows {
        assert!(r["msgs_per_s"].as_f64().expect("number") > 0.0, "{r}");
        assert!(r["raw_msgs_per_s"].as_f64().expect("number") > 0.0, "{r}");
    }
    for f in ["trace.jsonl", "trace.json", "traffic.json", "traffic.png"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let s = axon(&[
        "trace",
        "summarize",
        out.join("trace.jsonl").to_str().expect("utf8"),
    ]);
    assert!(s.status.success(), "{}", stderr(&s));
    let text = String::from_utf8_lossy(&s.stdout);
    assert!(text.contains("ring-0") && text.contains("p99"), "{text}");
    std::fs::write(tmp.path().join("bad.jsonl"), "{\"from\": 1\n").expect("write");
    expect_bad_input(
        &axon(&[
            "trace",
            "summarize",
            tmp.path().join("bad.jsonl").to_str().expect("utf8"),
        ]),
        "bad.jsonl:1",
    );
}

#[test]
fn pc_run_against_bp_writes_both_models_energy_gap_and_traffic() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = scenario(
        tmp.path(),
        "[algorithm]\nkind = \"pc\"\ninference_steps = 5\n[runtime]\nshards = 2\nworkers = 2\n\
         [compare]\nbaseline = \"bp\"\n",
    );
    let out = tmp.path().join("run");
    let o = run_into(&file, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("model") && stdout.contains("weight transport"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("results"))
            .expect("valid json");
    assert_eq!(json["status"], "complete");
    let bp = json["models"]["bp"]["final"]["test_accuracy"]
        .as_f64()
        .expect("bp acc");
    let pc = json["models"]["pc"]["final"]["test_accuracy"]
        .as_f64()
        .expect("pc acc");
    assert!(pc > 0.75 && bp > 0.75, "pc {pc} bp {bp}");
    let records = json["models"]["pc"]["pc"].as_array().expect("pc records");
    assert_eq!(records.len(), 2);
    let f = records[1]["free_energy"].as_array().expect("energy");
    assert_eq!(f.len(), 6, "forward sweep + 5 steps");
    let gap = records[1]["weight_gap"].as_array().expect("weight gap");
    assert_eq!(gap.len(), 2);
    assert!(
        json["traffic"]["weight_transport_bytes"]
            .as_u64()
            .expect("bytes")
            > 0
    );
    for f in ["accuracy.png", "free_energy.png", "traffic.png"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let net = load_mlp(
        &out.join("checkpoints/pc/epoch-2.safetensors"),
        Activation::Relu,
    )
    .expect("loads");
    assert_eq!(net.widths(), vec![784, 32, 10]);
}

#[test]
fn pc_keys_are_validated() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (extra, needle) in [
        (
            "[algorithm]\nkind = \"pc\"\ninference_rate = nan\n",
            "algorithm.inference_rate",
        ),
        (
            "[algorithm]\nkind = \"pc\"\nfeedback = \"mirror\"\n",
            "kolen-pollack",
        ),
        ("[runtime]\nshards = 0\n", "runtime.shards"),
        ("[compare]\nbaseline = \"pytorch\"\n", "baseline"),
    ] {
        let file = scenario(tmp.path(), extra);
        let o = axon(&["validate", file.to_str().expect("utf8")]);
        expect_bad_input(&o, needle);
    }
}

/// A diverging PC run (MSE loss, momentum 0.99, lr 900) stops at the first non-finite value
/// and names the actor, the step and the value, instead of training on garbage; the run folder
/// stays (status "failed", with the error).
#[test]
fn a_diverging_run_stops_and_names_the_actor_step_and_value() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = scenario(
        tmp.path(),
        "loss = \"mse\"\noptimizer = \"momentum\"\nmomentum = 0.99\n\
         [algorithm]\nkind = \"pc\"\ninference_steps = 5\n",
    );
    let out = tmp.path().join("run");
    let o = axon(&[
        "run",
        file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--set",
        "train.lr=900.0",
        "--quiet",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("actor layer-") && err.contains("non-finite value at step"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let json = std::fs::read_to_string(out.join("results.json")).expect("results kept");
    assert!(json.contains("\"status\": \"failed\""), "{json}");
    assert!(
        json.contains("non-finite value at step"),
        "the error is kept: {json}"
    );
}

/// A small EP run from the command line: both models, the energy at the free fixed point per
/// epoch, the feedback gap (0: tied Kolen-Pollack copies), no weight transport, energy.png.
#[test]
fn ep_run_writes_energy_feedback_gap_and_no_weight_transport() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = scenario(
        tmp.path(),
        "loss = \"mse\"\nbatch_size = 20\noptimizer = \"sgd\"\nlr = 0.1\n\
         [algorithm]\nkind = \"ep\"\nrandom_sign_beta = true\nlayer_lr = [0.1, 0.05]\n\
         feedback = \"kolen-pollack\"\n[compare]\nbaseline = \"bp\"\n",
    );
    let text = std::fs::read_to_string(&file)
        .expect("written")
        .replace("lr = 0.002\n", "");
    std::fs::write(&file, text).expect("rewritten");
    let out = tmp.path().join("run");
    let o = axon(&[
        "run",
        file.to_str().expect("utf8"),
        "--set",
        "network.activation=\"hard-sigmoid\"",
        "--set",
        "network.init=\"xavier\"",
        "--out",
        out.to_str().expect("utf8"),
        "--quiet",
    ]);
    assert!(o.status.success(), "run failed: {}", stderr(&o));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).expect("results.json"))
            .expect("valid JSON");
    let ep = &results["models"]["ep"];
    assert_eq!(ep["algorithm"], "ep");
    let acc = ep["epochs"][1]["test_accuracy"].as_f64().expect("accuracy");
    assert!(acc > 0.6, "EP test accuracy {acc}");
    for r in ep["pc"].as_array().expect("per-epoch records") {
        let e = r["free_energy"].as_array().expect("energy");
        assert_eq!(e.len(), 1, "one energy, at the free fixed point: {r}");
        assert!(e[0].as_f64().expect("a number").is_finite());
        assert_eq!(r["feedback_gap"][0].as_f64(), Some(0.0), "tied copies: {r}");
        assert!(r["weight_gap"].is_array(), "gap to the BP baseline: {r}");
    }
    assert!(results["models"]["bp"]["epochs"].is_array());
    assert_eq!(results["traffic"]["weight_transport_bytes"], 0);
    assert!(out.join("energy.png").exists());
    assert!(out.join("accuracy.png").exists());
}

#[test]
fn ep_keys_are_validated() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ep = "loss = \"mse\"\n[algorithm]\nkind = \"ep\"\n";
    for (extra, set, needle) in [
        (ep, "network.activation=\"relu\"", "hard-sigmoid"),
        (
            "[algorithm]\nkind = \"ep\"\n",
            "network.activation=\"hard-sigmoid\"",
            "train.loss",
        ),
        (ep, "algorithm.feedback=\"direct\"", "algorithm.feedback"),
        (ep, "algorithm.beta=nan", "algorithm.beta = NaN"),
        (ep, "algorithm.layer_lr=[0.1]", "one rate per weight layer"),
        (
            ep,
            "algorithm.layer_lr=[0.1, -1.0]",
            "algorithm.layer_lr[1]",
        ),
        (ep, "algorithm.nudged_steps=0", "algorithm.nudged_steps"),
        (ep, "runtime.schedule=\"async\"", "runtime.schedule"),
    ] {
        let file = scenario(tmp.path(), extra);
        let mut args = vec!["validate", file.to_str().expect("utf8"), "--set", set];
        if !set.starts_with("network.activation") {
            args.extend(["--set", "network.activation=\"hard-sigmoid\""]);
        }
        let o = axon(&args);
        expect_bad_input(&o, needle);
    }
}
