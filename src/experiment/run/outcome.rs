//! How a run's folder says that the run did not complete (`"status": "failed"` with the
//! error, `"interrupted"` with the reason), and the reuse of such a folder by the same
//! `--out`: resumed where its scenario and checkpoint allow, started over otherwise; a
//! complete run's folder is never reused.

use std::path::{Path, PathBuf};

use super::{error_chain, Observer, RunError, RunOptions, RESUME_FILE};
use crate::data::dataset::Dataset;
use crate::experiment::results::{EpochRecord, Results};
use crate::experiment::run_dir::RunDir;
use crate::experiment::scenario::Scenario;

/// Passes every event to `inner` and remembers the run folder, to record how the run ended.
pub(super) struct FolderWatch<'a> {
    pub(super) inner: &'a mut dyn Observer,
    pub(super) dir: Option<PathBuf>,
}

impl Observer for FolderWatch<'_> {
    fn data_loaded(&mut self, data: &Dataset) {
        self.inner.data_loaded(data);
    }
    fn run_dir(&mut self, path: &Path) {
        self.dir = Some(path.to_owned());
        self.inner.run_dir(path);
    }
    fn epoch_start(&mut self, label: &str, epoch: usize, epochs: usize, batches: usize) {
        self.inner.epoch_start(label, epoch, epochs, batches);
    }
    fn batch_done(&mut self, done: usize) {
        self.inner.batch_done(done);
    }
    fn epoch_end(&mut self, label: &str, record: &EpochRecord) {
        self.inner.epoch_end(label, record);
    }
}

impl RunError {
    /// Whether the run was stopped on request (Ctrl-C, SIGTERM) rather than failed.
    pub fn is_interruption(&self) -> bool {
        matches!(
            self,
            RunError::Interrupted { .. } | RunError::Stopped { .. }
        )
    }
}

/// The results a folder holds, if it holds readable ones.
fn results_in(dir: &Path) -> Option<Results> {
    let text = std::fs::read_to_string(dir.join("results.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes into `dir`'s results.json how the run ended with `e` (keeping what it measured
/// before): `"interrupted"` and the reason, or `"failed"` and the error chain. Best effort:
/// the run's own error is what its caller reports.
pub(super) fn record_end(scenario: &Scenario, dir: &Path, e: &RunError) {
    let mut results = results_in(dir).unwrap_or_else(|| Results::for_scenario(scenario));
    let chain = error_chain(e);
    if e.is_interruption() {
        results.status = "interrupted".to_owned();
        results.reason = Some(chain);
        results.error = None;
    } else {
        results.status = "failed".to_owned();
        results.error = Some(chain);
        results.reason = None;
    }
    let written =
        RunDir::open(dir).and_then(|d| d.write("results.json", results.to_json().as_bytes()));
    if let Err(w) = written {
        tracing::warn!("could not record the run's end in {}: {w}", dir.display());
    }
}

/// Where `--out` names the folder of a failed or interrupted run: the same scenario with a
/// resumable checkpoint continues from it (`opts.resume` is set); otherwise the folder is
/// emptied (on rank 0 only; every rank decides alike) and the run starts over in it. Any
/// other folder is left to [`RunDir::create`] (which refuses a non-empty one).
pub(super) fn reuse_folder(
    scenario: &Scenario,
    opts: &mut RunOptions,
    root: bool,
) -> Result<(), RunError> {
    let (Some(out), None) = (&opts.out, &opts.resume) else {
        return Ok(());
    };
    let Some(earlier) = results_in(out) else {
        return Ok(());
    };
    if !matches!(earlier.status.as_str(), "failed" | "interrupted") {
        return Ok(());
    }
    let same = std::fs::read_to_string(out.join("scenario.toml"))
        .is_ok_and(|saved| saved == scenario.to_toml());
    if same && out.join(RESUME_FILE).exists() {
        if root {
            tracing::warn!(
                "{}: the run there {}; resuming it from its checkpoint",
                out.display(),
                ended(&earlier)
            );
        }
        opts.resume = Some(out.clone());
        return Ok(());
    }
    if root {
        tracing::warn!(
            "{}: the run there {}; starting over in the folder",
            out.display(),
            ended(&earlier)
        );
        empty(out).map_err(|source| {
            RunError::Output(crate::experiment::run_dir::RunDirError::Io {
                path: out.clone(),
                source,
            })
        })?;
    }
    Ok(())
}

/// How the earlier run ended, in words.
fn ended(r: &Results) -> &'static str {
    if r.status == "failed" {
        "failed"
    } else {
        "was interrupted"
    }
}

/// Removes everything in `dir`, keeping the folder.
fn empty(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
