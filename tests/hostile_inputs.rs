//! The malformed-input corpus (`tests/corpus/`): every IDX file and every scenario there is
//! wrong in its own way, and each must give an error that names the problem, never a panic.
//! The fuzz targets (`fuzz/`) add to this corpus what they find.

mod common;

use axon::data::idx::{decode_idx_bytes, read_idx_file};
use axon::experiment::scenario::Scenario;
use common::{command, corpus, stderr};

#[test]
fn every_malformed_idx_file_is_an_error() {
    for path in corpus("idx") {
        let bytes = std::fs::read(&path).expect("corpus file");
        for (ndims, what) in [(3, "images"), (1, "labels")] {
            let from_file = read_idx_file(&path, ndims, what);
            let from_bytes = decode_idx_bytes(&path, &bytes, ndims, what);
            for r in [from_file, from_bytes] {
                let e = r.expect_err(&format!("{} read as {what}", path.display()));
                let text = e.to_string();
                assert!(
                    text.contains(&path.display().to_string()),
                    "the error names the file: {text}"
                );
            }
        }
    }
}

#[test]
fn every_malformed_scenario_is_an_error() {
    for path in corpus("scenarios") {
        let e = Scenario::load(&path, &[]).expect_err(&path.display().to_string());
        assert!(!e.to_string().is_empty());
    }
}

/// Through the CLI: exit code 2 and one line saying what is wrong, for every scenario.
#[test]
fn the_cli_rejects_every_malformed_scenario_with_exit_2() {
    for path in corpus("scenarios") {
        let o = command(&["validate"]).arg(&path).output().expect("runs");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", path.display());
        assert!(err.contains("error"), "{}: {err}", path.display());
        assert!(!err.contains("panicked"), "{}: {err}", path.display());
    }
}
