//! The malformed-input corpus (`tests/corpus/`): every IDX file, scenario and checkpoint there
//! is wrong in its own way, and each must give an error that names the problem, never a panic.
//! The fuzz targets (`fuzz/`) add to this corpus what they find.
//!
//! The checkpoints (written by `tests/corpus/make_checkpoints.py`) are wrong for a 784-4-10
//! network: `mlp-*` as `convert.checkpoint` of an snn-convert run, `resume-*` as the
//! `checkpoints/resume.safetensors` of a `--resume` run, the others as both.

mod common;

use std::path::{Path, PathBuf};

use axon::data::dataset::FILE_NAMES;
use axon::data::idx::{decode_idx_bytes, encode_idx, read_idx_file};
use axon::experiment::checkpoint::{from_safetensors, load_mlp};
use axon::experiment::scenario::Scenario;
use axon::learn::coordinator::ResumeState;
use axon::math::activation::Activation;
use common::{axon, command, corpus, expect_bad_input, stderr, write_file};

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

/// The checkpoint corpus files meant for one reader: `mlp-` or `resume-` ones and the rest.
fn checkpoints(reader: &str) -> Vec<PathBuf> {
    let other = if reader == "mlp-" { "resume-" } else { "mlp-" };
    corpus("checkpoints")
        .into_iter()
        .filter(|p| !file_name(p).starts_with(other))
        .collect()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("a file")
        .to_string_lossy()
        .into_owned()
}

/// A data folder of 256 training and 100 test images of 28 x 28, ten classes (enough to build
/// the runs; what the images show does not matter here).
fn tiny_data(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data folder");
    for (i, n) in [(0, 256u32), (2, 100)] {
        let pixels: Vec<u8> = (0..n as usize * 784).map(|k| (k * 7 % 256) as u8).collect();
        write_file(&data, FILE_NAMES[i], encode_idx(&[n, 28, 28], &pixels));
        let labels: Vec<u8> = (0..n).map(|k| (k % 10) as u8).collect();
        write_file(&data, FILE_NAMES[i + 1], encode_idx(&[n], &labels));
    }
    data
}

/// The scenario the resume corpus was written for: PC on 784-4-10, one epoch of four batches,
/// a resumable checkpoint after every batch.
fn resume_scenario(dir: &Path, data: &Path) -> PathBuf {
    let text = format!(
        "name = \"resume-target\"\nseed = 1\n[data]\ndir = \"{}\"\n[network]\nlayers = [784, 4, 10]\n\
         [train]\nepochs = 1\nbatch_size = 64\noptimizer = \"adam\"\nlr = 0.01\n\
         [algorithm]\nkind = \"pc\"\ninference_steps = 4\n[runtime]\nworkers = 1\n\
         [checkpoint]\nevery_batches = 1\n",
        data.display()
    );
    write_file(dir, "resume.toml", text)
}

/// An snn-convert run of a 784-4-10 network from `convert.checkpoint`.
fn convert_scenario(dir: &Path, data: &Path) -> PathBuf {
    let text = format!(
        "name = \"convert-target\"\nseed = 1\n[data]\ndir = \"{}\"\n[network]\nlayers = [784, 4, 10]\n\
         [algorithm]\nkind = \"snn-convert\"\n[convert]\nticks = [5]\nnormalise_examples = 100\n\
         [runtime]\nworkers = 1\n",
        data.display()
    );
    write_file(dir, "convert.toml", text)
}

/// Both readers on every checkpoint: an error names the file; nothing panics. (Some files are
/// valid for one reader and wrong only for the run: a network of other widths, a resume
/// checkpoint of another network; the CLI tests below refuse those.)
#[test]
fn every_checkpoint_reader_names_the_file_and_never_panics() {
    for path in corpus("checkpoints") {
        let shown = path.display().to_string();
        let errors = [
            load_mlp(&path, Activation::Relu)
                .err()
                .map(|e| e.to_string()),
            ResumeState::read(&path).err().map(|e| e.to_string()),
        ];
        for e in errors.into_iter().flatten() {
            assert!(e.starts_with(&format!("{shown}: ")), "names the file: {e}");
            assert!(e.len() > shown.len() + 10, "says what is wrong: {e}");
        }
    }
}

/// Every `mlp-` and container checkpoint as `convert.checkpoint`: exit 2, the file and the
/// problem named, no panic.
#[test]
fn the_cli_refuses_every_hostile_convert_checkpoint_with_exit_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_data(tmp.path());
    let file = convert_scenario(tmp.path(), &data);
    for (i, path) in checkpoints("mlp-").into_iter().enumerate() {
        let out = tmp.path().join(format!("run-{i}"));
        let set = format!("convert.checkpoint={:?}", path.display().to_string());
        let o = axon(&[
            "run",
            file.to_str().expect("utf-8"),
            "--set",
            &set,
            "--out",
            out.to_str().expect("utf-8"),
            "-q",
        ]);
        eprintln!("{}: {}", file_name(&path), stderr(&o).trim());
        expect_bad_input(&o, &format!("{}: ", path.display()));
    }
}

/// Every `resume-` and container checkpoint as `DIR/checkpoints/resume.safetensors` of
/// `--resume DIR`: exit 2, the file and the problem named, no panic.
#[test]
fn the_cli_refuses_every_hostile_resume_checkpoint_with_exit_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tiny_data(tmp.path());
    let file = resume_scenario(tmp.path(), &data);
    let saved = Scenario::load(&file, &[]).expect("valid").to_toml();
    for (i, path) in checkpoints("resume-").into_iter().enumerate() {
        let dir = tmp.path().join(format!("run-{i}"));
        std::fs::create_dir_all(dir.join("checkpoints")).expect("run folder");
        write_file(&dir, "scenario.toml", &saved);
        std::fs::copy(&path, dir.join("checkpoints/resume.safetensors")).expect("copy");
        let o = command(&["run", file.to_str().expect("utf-8"), "--resume"])
            .arg(&dir)
            .arg("-q")
            .output()
            .expect("runs");
        eprintln!("{}: {}", file_name(&path), stderr(&o).trim());
        expect_bad_input(&o, "checkpoints/resume.safetensors");
    }
}

/// Random mutations of every corpus checkpoint (byte flips, truncation, a rewritten header
/// length, spliced bytes), through both readers from bytes: each is a value or an error that
/// names the file, never a panic. A fixed seed keeps the run reproducible; the cargo-fuzz
/// target `checkpoint` does the same open-ended.
#[test]
fn mutated_checkpoints_are_errors_never_panics() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let name = Path::new("mutant.safetensors");
    let (mut networks, mut resumes) = (0, 0);
    for path in corpus("checkpoints") {
        let original = std::fs::read(&path).expect("corpus file");
        for _ in 0..200 {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 4 {
                let at = |n: u64, len: usize| (n % (len.max(1) as u64)) as usize;
                match next() % 4 {
                    0 if !bytes.is_empty() => {
                        let i = at(next(), bytes.len());
                        bytes[i] ^= 1 << (next() % 8);
                    }
                    1 => bytes.truncate(at(next(), bytes.len() + 1)),
                    2 if bytes.len() >= 8 => {
                        let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
                        let n = n.wrapping_add(next() % 17).wrapping_sub(8);
                        bytes[..8].copy_from_slice(&n.to_le_bytes());
                    }
                    _ => {
                        let i = at(next(), bytes.len() + 1);
                        let junk: Vec<u8> = (0..next() % 16).map(|_| next() as u8).collect();
                        bytes.splice(i..i, junk);
                    }
                }
            }
            match from_safetensors(name, &bytes, Activation::Relu) {
                Ok(_) => networks += 1,
                Err(e) => assert!(e.to_string().starts_with("mutant.safetensors: "), "{e}"),
            }
            match ResumeState::from_bytes(name, &bytes) {
                Ok(s) => {
                    assert!(s.position.problem().is_none());
                    resumes += 1;
                }
                Err(e) => assert!(e.to_string().starts_with("mutant.safetensors: "), "{e}"),
            }
        }
    }
    eprintln!("mutants read as a network: {networks}, as a resume checkpoint: {resumes}");
}

/// Every shipped scenario, given a key its kind does not read, is refused (exit 2) with an
/// error naming the key: no setting silently does nothing.
#[test]
fn every_scenario_refuses_a_key_its_kind_does_not_read() {
    let mut seen = 0;
    for entry in std::fs::read_dir(common::root().join("scenarios")).expect("scenarios") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let spiking = ["\"cuba\"", "\"microcircuit\"", "\"stdp-mnist\""]
            .iter()
            .any(|k| text.contains(&format!("kind = {k}")));
        let (set, key) = if spiking {
            ("train.lr=0.5", "train.lr")
        } else {
            ("microcircuit.scale=0.5", "microcircuit.scale")
        };
        let o = common::axon(&["validate", path.to_str().expect("utf-8"), "--set", set]);
        let err = common::stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", path.display());
        assert!(
            err.contains(key) && err.contains("does not read"),
            "{}: {err}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 20, "{seen} scenarios");
}
