//! Diehl & Cook's unsupervised MNIST (`algorithm.kind = "stdp-mnist"`): the network learns
//! from spike timing on actors, then is labelled and tested; results.json's `stdp` and
//! `traffic`, the learned weights (`weights.safetensors`), their receptive fields
//! (`receptive_fields.png`), the training curve (`accuracy.png`) and the traffic plot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{write_traffic, Observer, RunError, RunOptions, RunSummary};
use crate::cluster::Ranks;
use crate::data::dataset::{Dataset, LoadOptions};
use crate::experiment::results::Results;
use crate::experiment::run_dir::RunDir;
use crate::experiment::scenario::Scenario;
use crate::models::diehl_cook::{run_diehl_cook_on, DiehlCookConfig, DiehlCookRun};

/// The images the run needs (never more than `[data]`'s limits allow).
fn load(scenario: &Scenario, cfg: &DiehlCookConfig) -> Result<Dataset, RunError> {
    let d = scenario.data();
    let want = |limit: Option<usize>, n: usize| Some(limit.map_or(n, |l| l.min(n)));
    let opts = LoadOptions {
        train_limit: want(d.train_limit, cfg.train_images.max(cfg.label_images)),
        test_limit: want(d.test_limit, cfg.test_images),
        classes: d.classes,
    };
    Ok(Dataset::load(&d.dir, &opts)?)
}

/// Trains, labels and tests the network on `ranks` and writes its run folder (rank 0; the
/// other ranks run their shards and return the figures).
pub(super) fn run_stdp_scenario(
    scenario: &Scenario,
    opts: &RunOptions,
    observer: &mut dyn Observer,
    ranks: &mut Ranks,
) -> Result<RunSummary, RunError> {
    let cfg = scenario.stdp_mnist();
    let data = load(scenario, &cfg)?;
    let setup = (scenario.shards(), scenario.runtime_config());
    if !ranks.is_root() {
        let run = run_diehl_cook_on(ranks, &cfg, &data, scenario.seed(), setup, None)?;
        let mut results = Results::for_scenario(scenario);
        results.stdp = Some(run.results);
        let dir = std::path::PathBuf::new();
        return Ok(RunSummary { dir, results });
    }
    observer.data_loaded(&data);
    let dir = RunDir::create(opts.out.as_deref(), scenario.name())?;
    observer.run_dir(dir.path());
    dir.write("scenario.toml", scenario.to_toml().as_bytes())?;
    let mut results = Results::for_scenario(scenario);
    dir.write("results.json", results.to_json().as_bytes())?;
    let images = cfg.epochs * cfg.train_images.min(data.train.len())
        + cfg.label_images.min(data.train.len())
        + cfg.test_images.min(data.test.len());
    observer.epoch_start("stdp-mnist", 1, 1, images);
    let run = with_progress(observer, |progress| {
        run_diehl_cook_on(ranks, &cfg, &data, scenario.seed(), setup, Some(progress))
    })?;
    write_outputs(scenario, &cfg, &dir, &run, &mut results)?;
    Ok(RunSummary {
        dir: dir.path().to_owned(),
        results,
    })
}

/// Runs `work` on another thread while this one reports the images it finished to
/// `observer` (progress bars) a few times a second.
fn with_progress<T: Send>(
    observer: &mut dyn Observer,
    work: impl FnOnce(Arc<AtomicU64>) -> T + Send,
) -> T {
    let progress = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        let counter = progress.clone();
        let handle = s.spawn(move || work(counter));
        while !handle.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(200));
            observer.batch_done(progress.load(Ordering::Relaxed) as usize);
        }
        handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// results.json, the weights, and the figures.
fn write_outputs(
    scenario: &Scenario,
    cfg: &DiehlCookConfig,
    dir: &RunDir,
    run: &DiehlCookRun,
    results: &mut Results,
) -> Result<(), RunError> {
    results.stdp = Some(run.results.clone());
    results.traffic = Some(run.report.traffic.clone());
    results.complete();
    dir.write("results.json", results.to_json().as_bytes())?;
    write_weights(dir, &run.weights, &run.theta, cfg.n_exc)?;
    let title = format!(
        "{}: input weights of {} excitatory neurons",
        scenario.name(),
        cfg.n_exc
    );
    let path = dir.path().join("receptive_fields.png");
    crate::experiment::plot::receptive_fields_png(
        &run.weights,
        cfg.n_exc,
        cfg.plasticity.w_max,
        &title,
        &path,
    )?;
    let title = format!("{}: accuracy against training images seen", scenario.name());
    let path = dir.path().join("accuracy.png");
    crate::experiment::plot::stdp_curve_png(&run.results, &title, &path)?;
    write_traffic(&run.report, dir, scenario.runtime_config().trace_sample)
}

/// `weights.safetensors`: `input_weights` (F32, pixels x n_exc) and `theta` (F32, n_exc, mV).
fn write_weights(dir: &RunDir, w: &[f32], theta: &[f32], n: usize) -> Result<(), RunError> {
    use safetensors::tensor::{Dtype, TensorView};
    let (wb, tb): (&[u8], &[u8]) = (bytemuck::cast_slice(w), bytemuck::cast_slice(theta));
    let views = [
        (
            "input_weights",
            TensorView::new(Dtype::F32, vec![w.len() / n.max(1), n], wb),
        ),
        ("theta", TensorView::new(Dtype::F32, vec![n], tb)),
    ]
    .map(|(name, v)| (name, v.expect("lengths agree by construction")));
    let bytes = safetensors::tensor::serialize(views, None)
        .expect("serialising in-memory tensors cannot fail");
    dir.write("weights.safetensors", &bytes)?;
    Ok(())
}
