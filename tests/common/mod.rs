//! Helpers the integration-test binaries share: the `axon` binary as a user runs it, the
//! shipped MNIST subset, scenario files in temp folders, run folders' `results.json`, and the
//! hostile-input corpus. Each test binary includes this module (`mod common;`) and uses what
//! it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use axon::data::dataset::{Dataset, LoadOptions};
use axon::experiment::results::Results;

/// The crate root: the CLI runs here, so relative paths such as `scenarios/cuba.toml` work.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped MNIST folder.
pub fn mnist_dir() -> PathBuf {
    root().join("data/mnist")
}

/// The shipped MNIST, the first `train` training and `test` test images.
pub fn mnist(train: usize, test: usize) -> Dataset {
    Dataset::load(
        &mnist_dir(),
        &LoadOptions {
            train_limit: Some(train),
            test_limit: Some(test),
            classes: None,
        },
    )
    .expect("shipped MNIST")
}

/// The `axon` binary with `args`, run in the crate root.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_axon"));
    c.args(args).current_dir(root());
    c
}

/// Runs the `axon` binary to completion.
pub fn axon(args: &[&str]) -> Output {
    command(args).output().expect("the axon binary runs")
}

/// `axon run FILE --out OUT EXTRA...`, waited for.
pub fn run_into(file: &Path, out: &Path, extra: &[&str]) -> Output {
    let (file, out) = (file.to_str().expect("utf-8"), out.to_str().expect("utf-8"));
    let mut args = vec!["run", file, "--out", out];
    args.extend_from_slice(extra);
    axon(&args)
}

/// Starts the `axon` binary (stdout discarded, stderr piped) and returns at once.
pub fn spawn(args: &[&str]) -> Child {
    command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the axon binary starts")
}

/// A finished command's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Bad input: exit code 2, `needle` in stderr, and no panic.
pub fn expect_bad_input(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "exit code for bad input; stderr: {err}"
    );
    assert!(
        err.contains(needle),
        "stderr should mention {needle:?}: {err}"
    );
    assert!(!err.contains("panicked"), "no panic on user input: {err}");
}

/// Writes `contents` (a scenario's text, an IDX file's bytes) to `dir/name` and returns its
/// path.
pub fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("temp file");
    p
}

/// A run folder's `results.json`.
pub fn results(dir: &Path) -> Results {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json");
    serde_json::from_str(&text).expect("results.json parses")
}

/// The files of one hostile-input corpus folder (`tests/corpus/KIND`), sorted; there must be
/// at least ten.
pub fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = root().join("tests/corpus").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus folder")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "{} holds only {} files",
        dir.display(),
        files.len()
    );
    files
}
