//! Diehl & Cook's unsupervised MNIST (`algorithm.kind = "stdp-mnist"`): the network learns
//! from spike timing on actors, then is labelled and tested; results.json's `stdp` and
//! `traffic`, the learned weights (`weights.safetensors`), their receptive fields
//! (`receptive_fields.png`), the training curve (`accuracy.png`) and the traffic plot.
//! Training takes a resumable checkpoint every `checkpoint.every_batches` images (an image is
//! a batch here) and on Ctrl-C; `--resume` continues from it with the same numbers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use super::{
    open_for_resume, write_traffic, Observer, RunError, RunOptions, RunSummary, RESUME_FILE,
};
use crate::cluster::Ranks;
use crate::data::dataset::{Dataset, LoadOptions};
use crate::experiment::results::Results;
use crate::experiment::run_dir::RunDir;
use crate::experiment::scenario::Scenario;
use crate::learn::coordinator::resume::{Position, ResumeState};
use crate::models::diehl_cook::coordinator::{Checkpoint, Checkpoints};
use crate::models::diehl_cook::{run_diehl_cook_on, DiehlCookConfig, DiehlCookRun, RunHooks};

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
        let hooks = RunHooks::default();
        let run = run_diehl_cook_on(ranks, &cfg, &data, scenario.seed(), setup, hooks)?;
        let mut results = Results::for_scenario(scenario);
        results.stdp = Some(run.results);
        let dir = std::path::PathBuf::new();
        return Ok(RunSummary { dir, results });
    }
    observer.data_loaded(&data);
    let (dir, resume) = match &opts.resume {
        Some(path) => open_for_resume(scenario, path)?,
        None => (RunDir::create(opts.out.as_deref(), scenario.name())?, None),
    };
    observer.run_dir(dir.path());
    dir.write("scenario.toml", scenario.to_toml().as_bytes())?;
    let mut results = Results::for_scenario(scenario);
    dir.write("results.json", results.to_json().as_bytes())?;
    let images = cfg.epochs * cfg.train_images.min(data.train.len())
        + cfg.label_images.min(data.train.len())
        + cfg.test_images.min(data.test.len());
    observer.epoch_start("stdp-mnist", 1, 1, images);
    let (to, checkpoints) = mpsc::channel();
    let hooks = |progress| RunHooks {
        progress: Some(progress),
        checkpoints: Some(Checkpoints {
            every: scenario.checkpoint_every(),
            to,
            stop: opts.stop.clone(),
        }),
        resume: resume.as_ref().map(|r| &r.actors),
    };
    let run = watch(observer, &dir, &checkpoints, &results, |progress| {
        run_diehl_cook_on(ranks, &cfg, &data, scenario.seed(), setup, hooks(progress))
    })??;
    if run.interrupted {
        return Err(RunError::Interrupted {
            dir: dir.path().to_owned(),
        });
    }
    write_outputs(scenario, &cfg, &dir, &run, &mut results)?;
    Ok(RunSummary {
        dir: dir.path().to_owned(),
        results,
    })
}

/// Runs `work` on another thread while this one reports the images it finished to
/// `observer` (progress bars) a few times a second and writes its checkpoints.
fn watch<T: Send>(
    observer: &mut dyn Observer,
    dir: &RunDir,
    checkpoints: &mpsc::Receiver<Checkpoint>,
    results: &Results,
    work: impl FnOnce(Arc<AtomicU64>) -> T + Send,
) -> Result<T, RunError> {
    let progress = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        let counter = progress.clone();
        let handle = s.spawn(move || work(counter));
        loop {
            let finished = handle.is_finished();
            for c in checkpoints.try_iter() {
                write_checkpoint(dir, c, results)?;
            }
            if finished {
                break;
            }
            observer.batch_done(progress.load(Ordering::Relaxed) as usize);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
}

/// `checkpoints/resume.safetensors`, written atomically: the actors' states and where
/// training stands (epoch, image, presentation, seconds).
fn write_checkpoint(dir: &RunDir, c: Checkpoint, results: &Results) -> Result<(), RunError> {
    let position = Position {
        epoch: 1,
        next_batch: c.images,
        next_step: c.presentation,
        train_n: c.images,
        wall_s: c.wall_s,
        batches_done: c.images,
        ..Position::default()
    };
    let state = ResumeState {
        position,
        actors: c.actors,
        results: results.to_json(),
    };
    dir.write(RESUME_FILE, &state.to_bytes())?;
    Ok(())
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
