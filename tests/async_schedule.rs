//! The asynchronous schedule (`runtime.schedule = "async"`) and fault injection, through the
//! CLI on small real MNIST subsets: it learns about as well as lockstep, survives lost,
//! duplicated, delayed and reordered messages, and counts every fault it injected.

mod common;

use std::path::{Path, PathBuf};

use axon::experiment::results::Results;
use common::{axon, mnist_dir, results, stderr, write_file};

fn scenario(dir: &Path) -> PathBuf {
    let text = format!(
        "name = \"async\"\nseed = 2\n[data]\ndir = \"{}\"\ntrain_limit = 3000\ntest_limit = 500\n\
         [network]\nlayers = [784, 48, 24, 10]\n[train]\nepochs = 2\nbatch_size = 32\n\
         optimizer = \"adam\"\nlr = 0.002\n\
         [algorithm]\nkind = \"pc\"\ninference_steps = 12\nfeedback = \"transpose\"\n\
         [runtime]\nexecutor = \"tokio\"\nworkers = 2\n",
        mnist_dir().display()
    );
    write_file(dir, "async.toml", &text)
}

fn run(file: &Path, out: &Path, sets: &[&str]) -> Results {
    let mut args = vec![
        "run",
        file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "-q",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let o = axon(&args);
    assert!(o.status.success(), "{sets:?}: {}", stderr(&o));
    results(out)
}

fn accuracy(r: &Results) -> f64 {
    r.models["pc"].final_.expect("complete").test_accuracy
}

#[test]
fn async_learns_like_lockstep_and_counts_every_fault() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = scenario(tmp.path());
    let lockstep = run(&file, &tmp.path().join("lockstep"), &[]);
    assert!(lockstep.traffic.as_ref().expect("traffic").faults.is_none());
    let clean = run(
        &file,
        &tmp.path().join("async"),
        &["runtime.schedule=\"async\""],
    );
    let (a, b) = (accuracy(&lockstep), accuracy(&clean));
    assert!(a > 0.8, "lockstep learns: {a}");
    assert!((a - b).abs() < 0.04, "async {b} vs lockstep {a}");
    let tally = clean.traffic.as_ref().expect("traffic").faults.clone();
    let tally = tally.expect("async runs report their links");
    assert_eq!(tally.totals.dropped + tally.totals.delayed, 0);
    assert!(tally.totals.messages > 0);
    assert!(tally.mean_updates_per_batch > 1.0 && tally.mean_updates_per_batch <= 24.0);
    assert_eq!(clean.models["pc"].pc[0].free_energy.len(), 2);

    // Every kind of fault at once, on tokio, and on the inline executor with two actors per
    // hidden layer.
    for (executor, shards) in [("tokio", 1), ("inline", 2)] {
        let faulty = run(
            &file,
            &tmp.path().join(format!("faulty-{executor}")),
            &[
                "runtime.schedule=\"async\"",
                &format!("runtime.executor=\"{executor}\""),
                &format!("runtime.shards={shards}"),
                "faults.drop=0.2",
                "faults.duplicate=0.1",
                "faults.reorder=2",
                "faults.delay={kind=\"uniform\", mean=1.0, unit=\"steps\"}",
            ],
        );
        let acc = accuracy(&faulty);
        assert!(acc > 0.6, "{executor}: still learns under faults: {acc}");
        let t = faulty.traffic.expect("traffic").faults.expect("faults");
        let n = t.totals.messages as f64;
        let dropped = t.totals.dropped as f64 / n;
        assert!(
            (dropped - 0.2).abs() < 0.03,
            "{executor}: drop rate {dropped}"
        );
        assert!(t.totals.duplicated > 0 && t.totals.delayed > 0 && t.totals.reordered > 0);
        // Every edge between layer actors carries faults, both ways.
        let edges: Vec<&str> = if shards == 1 {
            vec![
                "layer-1 -> layer-2",
                "layer-2 -> layer-1",
                "layer-2 -> layer-3",
                "layer-3 -> layer-2",
            ]
        } else {
            vec![
                "layer-1.0 -> layer-2.1",
                "layer-2.1 -> layer-1.0",
                "layer-2.0 -> layer-3",
                "layer-3 -> layer-2.1",
            ]
        };
        assert_eq!(t.per_edge.len(), if shards == 1 { 4 } else { 12 });
        for edge in edges {
            assert!(t.per_edge[edge].messages > 0, "{executor}: {edge}");
        }
    }
}

#[test]
fn faults_need_the_async_schedule_and_async_needs_pc() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = scenario(tmp.path());
    let f = file.to_str().expect("utf-8");
    for (sets, needle) in [
        (vec!["faults.drop=0.1"], "runtime.schedule"),
        (
            vec!["runtime.schedule=\"async\"", "algorithm.kind=\"zil\""],
            "algorithm.kind = \"pc\"",
        ),
        (
            vec!["runtime.schedule=\"async\"", "faults.drop=1.0"],
            "faults.drop",
        ),
        (
            vec!["runtime.schedule=\"async\"", "runtime.settle_tolerance=0.0"],
            "settle_tolerance",
        ),
        (
            vec!["runtime.schedule=\"async\"", "faults.delay.kind=\"gamma\""],
            "gamma",
        ),
    ] {
        let mut args = vec!["validate", f];
        for s in &sets {
            args.extend(["--set", s]);
        }
        let o = axon(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{sets:?}: {err}");
        assert!(err.contains(needle), "{sets:?}: {err}");
    }
}
