//! Runs that are killed, interrupted or crash: SIGKILL mid-epoch and `--resume` give the same
//! results as an uninterrupted run; Ctrl-C (SIGINT) stops with a final checkpoint and exit
//! 130; a panicking actor is named, exits 1 and leaves the last checkpoint intact.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use axon::experiment::results::Results;
use axon::learn::coordinator::ResumeState;
use common::{axon, mnist_dir, results, run_into, spawn, stderr, write_file};

/// A small PC run: 3 epochs of 40 batches, a resumable checkpoint every 4 batches, with the
/// BP baseline beside it.
fn scenario(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        "name = \"resumable\"\nseed = 5\n[data]\ndir = \"{}\"\ntrain_limit = 2560\ntest_limit = 300\n\
         [network]\nlayers = [784, 32, 16, 10]\n[train]\nepochs = 3\nbatch_size = 64\nlr = 0.002\n\
         optimizer = \"adam\"\nschedule = \"cosine\"\n\
         [algorithm]\nkind = \"pc\"\ninference_steps = 8\nfeedback = \"kolen-pollack\"\n\
         kp_init = \"random\"\nkp_decay = 0.001\n\
         [runtime]\nexecutor = \"tokio\"\nworkers = 2\n[compare]\nbaseline = \"bp\"\n\
         [checkpoint]\nevery_batches = 4\n{extra}",
        mnist_dir().display()
    );
    write_file(dir, "resumable.toml", &text)
}

/// Everything measured except times and traffic (which count only the last process).
fn assert_same_numbers(a: &Results, b: &Results) {
    assert_eq!(a.status, "complete");
    assert_eq!(b.status, "complete");
    assert_eq!(
        a.models.keys().collect::<Vec<_>>(),
        b.models.keys().collect::<Vec<_>>()
    );
    for (label, ma) in &a.models {
        let mb = &b.models[label];
        assert_eq!(ma.epochs.len(), mb.epochs.len(), "{label}");
        for (ea, eb) in ma.epochs.iter().zip(&mb.epochs) {
            assert_eq!(ea.train_loss, eb.train_loss, "{label} epoch {}", ea.epoch);
            assert_eq!(
                ea.train_accuracy, eb.train_accuracy,
                "{label} epoch {}",
                ea.epoch
            );
            assert_eq!(ea.test_loss, eb.test_loss, "{label} epoch {}", ea.epoch);
            assert_eq!(
                ea.test_accuracy, eb.test_accuracy,
                "{label} epoch {}",
                ea.epoch
            );
        }
        assert_eq!(ma.pc.len(), mb.pc.len());
        for (pa, pb) in ma.pc.iter().zip(&mb.pc) {
            assert_eq!(pa.weight_gap, pb.weight_gap, "{label} epoch {}", pa.epoch);
            for (fa, fb) in pa.free_energy.iter().zip(&pb.free_energy) {
                assert!((fa - fb).abs() <= 1e-9 * fa.abs().max(1.0), "{fa} vs {fb}");
            }
        }
    }
    let last = |d: &Results| d.models["pc"].epochs.len();
    assert_eq!(last(a), 3);
}

fn same_file(a: &Path, b: &Path) {
    let (x, y) = (
        std::fs::read(a).expect("file"),
        std::fs::read(b).expect("file"),
    );
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

/// Waits until the run's resumable checkpoint satisfies `ready`; panics if the run ends first.
fn wait_for_checkpoint(child: &mut Child, dir: &Path, ready: impl Fn(&ResumeState) -> bool) {
    let file = dir.join("checkpoints/resume.safetensors");
    let start = Instant::now();
    loop {
        if let Ok(state) = ResumeState::read(&file) {
            if ready(&state) {
                return;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before the checkpoint the test waits for");
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn killed_or_interrupted_runs_resume_to_the_same_results() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = scenario(tmp.path(), "");
    let file = file.to_str().expect("utf-8");
    let reference = tmp.path().join("reference");
    let o = axon(&[
        "run",
        file,
        "--out",
        reference.to_str().expect("utf-8"),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let reference_results = results(&reference);

    // SIGKILL in the middle of an epoch after the first, then resume.
    let killed = tmp.path().join("killed");
    let k = killed.to_str().expect("utf-8");
    let mut child = spawn(&["run", file, "--out", k, "-q"]);
    wait_for_checkpoint(&mut child, &killed, |s| {
        s.position.epoch >= 2 && s.position.next_batch > 0
    });
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(results(&killed).status, "running");
    let o = axon(&["run", file, "--resume", k, "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_numbers(&reference_results, &results(&killed));
    same_file(
        &reference.join("checkpoints/pc/epoch-3.safetensors"),
        &killed.join("checkpoints/pc/epoch-3.safetensors"),
    );

    // Ctrl-C (SIGINT) during epoch 1: a graceful stop, exit 130, then resume.
    let stopped = tmp.path().join("interrupted");
    let s = stopped.to_str().expect("utf-8");
    let mut child = spawn(&["run", file, "--out", s, "-q"]);
    wait_for_checkpoint(&mut child, &stopped, |st| st.position.next_batch >= 4);
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = child.wait_with_output().expect("exits");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "says how to continue: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let interrupted = results(&stopped);
    assert_eq!(interrupted.status, "interrupted");
    let reason = interrupted.reason.expect("the reason");
    assert!(reason.contains("--resume"), "{reason}");
    let o = axon(&["run", file, "--resume", s, "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_numbers(&reference_results, &results(&stopped));
    assert!(results(&stopped).reason.is_none());

    // SIGTERM: the same graceful stop; the same command with the same --out resumes it.
    let termed = tmp.path().join("terminated");
    let t = termed.to_str().expect("utf-8");
    let mut child = spawn(&["run", file, "--out", t, "-q"]);
    wait_for_checkpoint(&mut child, &termed, |st| st.position.next_batch >= 4);
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = child.wait_with_output().expect("exits");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(results(&termed).status, "interrupted");
    let o = axon(&["run", file, "--out", t, "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming it"), "{}", stderr(&o));
    assert_same_numbers(&reference_results, &results(&termed));
    // A complete run's folder is never reused.
    let o = axon(&["run", file, "--out", t, "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));

    // Resuming a finished run is refused.
    let o = axon(&["run", file, "--resume", s, "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("already complete"), "{}", stderr(&o));

    // Resuming with a different scenario is refused.
    let o = axon(&["run", file, "--resume", s, "--set", "train.lr=0.1", "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("differs"), "{}", stderr(&o));
}

/// A run that fails says so in its folder (`"status": "failed"` with the error) and exits 2;
/// the corrected command with the same `--out` runs there and completes.
#[test]
fn a_failed_run_says_so_and_its_folder_takes_the_corrected_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("convert");
    let o_s = out.to_str().expect("utf-8");
    let file = "scenarios/snn-convert.toml";
    let small = [
        "--set",
        "data.train_limit=1000",
        "--set",
        "data.test_limit=100",
        "--set",
        "train.epochs=1",
    ];
    let missing = "convert.checkpoint=\"missing.safetensors\"";
    let o = axon(
        &[
            &["run", file, "--set", missing, "--out", o_s, "-q"][..],
            &small,
        ]
        .concat(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let failed = results(&out);
    assert_eq!(failed.status, "failed");
    assert!(failed
        .error
        .expect("the error")
        .contains("missing.safetensors"));
    let o = axon(&[&["run", file, "--out", o_s, "-q"][..], &small].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("failed; starting over"),
        "{}",
        stderr(&o)
    );
    let done = results(&out);
    assert_eq!(done.status, "complete");
    assert!(done.error.is_none() && !done.conversion.is_empty());
    assert!(out.join("accuracy_vs_ticks.png").exists());
}

#[test]
fn a_panicking_actor_is_named_and_the_last_checkpoint_survives() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = scenario(
        tmp.path(),
        "[faults]\npanic_actor = \"layer-2\"\npanic_after_batches = 10\n",
    );
    let out = tmp.path().join("run");
    let o = run_into(&file, &out, &["--set", "compare.baseline=\"none\"", "-q"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("error: actor layer-2 panicked"), "{err}");
    assert!(err.contains("injected fault"), "{err}");
    // Saves after batches 4 and 8; the panic comes at the end of batch 10.
    let state = ResumeState::read(&out.join("checkpoints/resume.safetensors"))
        .expect("the last checkpoint is intact");
    assert_eq!((state.position.epoch, state.position.next_batch), (1, 8));
    assert_eq!(state.actors.len(), 3);
    let failed = results(&out);
    assert_eq!(failed.status, "failed");
    let error = failed.error.expect("the error");
    assert!(error.contains("layer-2 panicked"), "{error}");
}

#[test]
fn an_interrupted_asynchronous_run_resumes_with_its_fault_streams() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = scenario(tmp.path(), "[faults]\ndrop = 0.05\nreorder = 1\n");
    let file = file.to_str().expect("utf-8");
    let out = tmp.path().join("async");
    let o = out.to_str().expect("utf-8");
    let sets = [
        "--set",
        "runtime.schedule=\"async\"",
        "--set",
        "compare.baseline=\"none\"",
    ];
    let mut args = vec!["run", file, "--out", o, "-q"];
    args.extend(sets);
    let mut child = spawn(&args);
    wait_for_checkpoint(&mut child, &out, |s| s.position.next_batch >= 8);
    let state = ResumeState::read(&out.join("checkpoints/resume.safetensors")).expect("reads");
    assert!(
        state.actors["layer-2.0"]
            .parse::<u64>("async.updates")
            .is_ok(),
        "async actors save their link streams"
    );
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    let stopped = child.wait_with_output().expect("exits");
    assert_eq!(stopped.status.code(), Some(130), "{}", stderr(&stopped));
    let mut args = vec!["run", file, "--resume", o, "-q"];
    args.extend(sets);
    let done = axon(&args);
    assert!(done.status.success(), "{}", stderr(&done));
    let r = results(&out);
    assert_eq!(r.status, "complete");
    assert_eq!(r.models["pc"].epochs.len(), 3);
    let faults = r.traffic.expect("traffic").faults.expect("async faults");
    assert!(faults.totals.dropped > 0 && faults.totals.reordered > 0);
}
