//! `axon._axon`: the Python extension over the axon crate. It runs scenarios exactly as the
//! `axon` binary does (the same library calls), reads run folders' tensors into numpy arrays,
//! and runs NIR graphs on spiking actors. The typed, documented API is the `axon` package
//! (`python/axon/`); this module is its engine room.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use axon::experiment::results::EpochRecord;
use axon::experiment::run::{Observer, RunError, RunOptions};
use axon::experiment::scenario::Scenario;

mod errors {
    use pyo3::create_exception;
    use pyo3::exceptions::{PyRuntimeError, PyValueError};
    create_exception!(
        axon,
        ScenarioError,
        PyValueError,
        "Bad input: a scenario, override, data file, checkpoint or argument that the CLI \
         refuses with exit code 2. The message is the CLI's."
    );
    create_exception!(
        axon,
        RuntimeError,
        PyRuntimeError,
        "A run that failed on the machine's side (a panicking actor, a stall, a non-finite \
         value, a full disk): the CLI's exit code 1. The message is the CLI's."
    );
}

/// The error text as the CLI prints it: the error and each cause once.
fn cli_message(e: &(dyn std::error::Error + 'static)) -> String {
    axon::experiment::run::error_chain(e)
}

fn scenario_error(e: impl std::error::Error + 'static) -> PyErr {
    errors::ScenarioError::new_err(cli_message(&e))
}

/// A run's error as the Python exception the package documents.
fn run_error(e: RunError) -> PyErr {
    match e {
        RunError::Interrupted { .. } | RunError::Stopped { .. } => {
            PyKeyboardInterrupt::new_err(cli_message(&e))
        }
        e if e.is_bad_input() => errors::ScenarioError::new_err(cli_message(&e)),
        e => errors::RuntimeError::new_err(cli_message(&e)),
    }
}

/// A scenario from a file (`path`) or from a table given as JSON (`table_json`), with
/// `--set`-style overrides.
fn load_scenario(
    path: Option<String>,
    table_json: Option<String>,
    sets: &[String],
) -> PyResult<Scenario> {
    match (path, table_json) {
        (Some(p), None) => Scenario::load(Path::new(&p), sets).map_err(scenario_error),
        (None, Some(json)) => {
            let mut table: toml::Table = serde_json::from_str(&json).map_err(|e| {
                errors::ScenarioError::new_err(format!("the scenario dict is not a table: {e}"))
            })?;
            for s in sets {
                axon::experiment::scenario::load::apply_override(&mut table, s)
                    .map_err(scenario_error)?;
            }
            Scenario::from_table(Path::new("<dict>"), table).map_err(scenario_error)
        }
        _ => Err(PyValueError::new_err(
            "give a scenario file path or a dict, not both",
        )),
    }
}

/// What the run thread tells the calling thread.
enum Event {
    RunDir(PathBuf),
    EpochStart {
        label: String,
        epoch: usize,
        epochs: usize,
        batches: usize,
    },
    Batch(usize),
    EpochEnd {
        label: String,
        record: EpochRecord,
    },
}

/// An observer that forwards to the calling thread.
struct Forward(mpsc::Sender<Event>);

impl Observer for Forward {
    fn run_dir(&mut self, path: &Path) {
        let _ = self.0.send(Event::RunDir(path.to_owned()));
    }
    fn epoch_start(&mut self, label: &str, epoch: usize, epochs: usize, batches: usize) {
        let _ = self.0.send(Event::EpochStart {
            label: label.to_owned(),
            epoch,
            epochs,
            batches,
        });
    }
    fn batch_done(&mut self, done: usize) {
        let _ = self.0.send(Event::Batch(done));
    }
    fn epoch_end(&mut self, label: &str, record: &EpochRecord) {
        let _ = self.0.send(Event::EpochEnd {
            label: label.to_owned(),
            record: *record,
        });
    }
}

/// The event as a dict for the Python callback.
fn event_dict<'py>(py: Python<'py>, ev: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match ev {
        Event::RunDir(p) => {
            d.set_item("event", "run_dir")?;
            d.set_item("path", p.to_string_lossy())?;
        }
        Event::EpochStart {
            label,
            epoch,
            epochs,
            batches,
        } => {
            d.set_item("event", "epoch_start")?;
            d.set_item("model", label)?;
            d.set_item("epoch", epoch)?;
            d.set_item("epochs", epochs)?;
            d.set_item("batches", batches)?;
        }
        Event::Batch(done) => {
            d.set_item("event", "batch")?;
            d.set_item("done", done)?;
        }
        Event::EpochEnd { label, record } => {
            d.set_item("event", "epoch_end")?;
            d.set_item("model", label)?;
            d.set_item("epoch", record.epoch)?;
            d.set_item("train_loss", record.train_loss)?;
            d.set_item("train_accuracy", record.train_accuracy)?;
            d.set_item("test_loss", record.test_loss)?;
            d.set_item("test_accuracy", record.test_accuracy)?;
            d.set_item("wall_s", record.wall_s)?;
        }
    }
    Ok(d)
}

/// Runs a scenario as `axon run` does; returns (run folder, results.json text). The GIL is
/// released while the run works; `on_event(dict)` is called on this thread. Ctrl-C (or an
/// exception in `on_event`) stops the run gracefully, as in the CLI, then is raised.
#[pyfunction]
#[pyo3(signature = (path, table_json, sets, out, resume, on_event, live=false))]
#[allow(clippy::too_many_arguments)]
fn run(
    py: Python<'_>,
    path: Option<String>,
    table_json: Option<String>,
    sets: Vec<String>,
    out: Option<String>,
    resume: Option<String>,
    on_event: Option<Py<PyAny>>,
    live: bool,
) -> PyResult<(String, String)> {
    let scenario = load_scenario(path, table_json, &sets)?;
    let stop = Arc::new(AtomicBool::new(false));
    let watch = live.then(start_live).transpose()?;
    let opts = RunOptions {
        out: out.map(PathBuf::from),
        resume: resume.map(PathBuf::from),
        stop: Some(stop.clone()),
        live: watch.as_ref().map(|(hub, _)| hub.sender()),
    };
    let (tx, mut rx) = mpsc::channel();
    let (name, kind) = (
        scenario.name().to_owned(),
        scenario.kind().name().to_owned(),
    );
    let worker = std::thread::spawn(move || {
        let mut observer = Forward(tx);
        // The Python package runs in one process.
        let single = &mut axon::cluster::Ranks::single();
        let outcome = match opts.live.clone() {
            Some(live) => {
                let mut watched = axon::experiment::run::LiveObserver {
                    inner: &mut observer,
                    live: live.clone(),
                    name,
                    kind,
                    dir: None,
                };
                let outcome = axon::experiment::run::run(&scenario, &opts, &mut watched, single);
                watched.finish(&outcome);
                outcome
            }
            None => axon::experiment::run::run(&scenario, &opts, &mut observer, single),
        };
        drop(opts);
        outcome
    });
    if let Some(w) = watch {
        // The page stays up after the run returns, until the next live run or exit.
        *LIVE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(w);
    }
    // An exception in the callback, and a signal (Ctrl-C): each stops the run gracefully.
    let (mut raised, mut signal): (Option<PyErr>, Option<PyErr>) = (None, None);
    loop {
        // The receiver travels into the GIL-free closure and back (it is not `Sync`).
        let (got, back) = py.detach(move || (rx.recv_timeout(Duration::from_millis(100)), rx));
        rx = back;
        match got {
            Ok(ev) => {
                if let (Some(cb), None) = (&on_event, &raised) {
                    let called = event_dict(py, &ev).and_then(|d| cb.call1(py, (d,)));
                    if let Err(e) = called {
                        stop.store(true, Ordering::SeqCst);
                        raised = Some(e);
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let Err(e) = py.check_signals() {
            stop.store(true, Ordering::SeqCst);
            signal.get_or_insert(e);
        }
    }
    let outcome = py
        .detach(|| worker.join())
        .map_err(|_| errors::RuntimeError::new_err("the run thread panicked"))?;
    if let Some(e) = raised {
        return Err(e);
    }
    // Stopped by the signal: the run's own error says where its checkpoint is.
    if let (Some(e), Ok(_)) = (signal, &outcome) {
        return Err(e);
    }
    release_free_memory();
    let summary = outcome.map_err(run_error)?;
    let results = summary.results.to_json();
    Ok((summary.dir.to_string_lossy().into_owned(), results))
}

/// The live view of the last `run(..., live=True)`: kept serving until the next one.
static LIVE: std::sync::Mutex<
    Option<(
        axon::experiment::live::LiveHub,
        axon::experiment::live::LiveServer,
    )>,
> = std::sync::Mutex::new(None);

/// Starts a live view on 127.0.0.1 and prints its address (the previous one stops).
fn start_live() -> PyResult<(
    axon::experiment::live::LiveHub,
    axon::experiment::live::LiveServer,
)> {
    drop(
        LIVE.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(),
    );
    let hub = axon::experiment::live::LiveHub::start();
    let opts = axon::experiment::live::ServeOptions::default();
    let server = axon::experiment::live::serve(hub.state(), &opts)
        .map_err(|e| errors::RuntimeError::new_err(e.to_string()))?;
    eprintln!("live view: {}", server.url);
    Ok((hub, server))
}

/// Hands the memory a finished run freed back to the system. Each run's worker threads
/// allocate from their own glibc arenas, which keep what they freed (the data set, the
/// actors' buffers) for later: without this, a notebook's resident memory grew by 23 MB over
/// its first 50 small runs (then stayed flat); with it, by about 5 MB over the first ten (the
/// arenas themselves), then by less than 0.1 MB per 100 runs.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim only returns free heap pages to the kernel.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Checks a scenario as `axon validate` does; returns it as TOML with every default filled in.
#[pyfunction]
#[pyo3(signature = (path, table_json, sets))]
fn validate(
    path: Option<String>,
    table_json: Option<String>,
    sets: Vec<String>,
) -> PyResult<String> {
    Ok(load_scenario(path, table_json, &sets)?.to_toml())
}

/// The tensors of a safetensors file (checkpoints, spike records): name -> (1-D array,
/// shape); the arrays own their data (no second copy is made for numpy).
#[pyfunction]
fn read_tensors<'py>(py: Python<'py>, path: String) -> PyResult<Bound<'py, PyDict>> {
    let bytes =
        std::fs::read(&path).map_err(|e| errors::ScenarioError::new_err(format!("{path}: {e}")))?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| errors::ScenarioError::new_err(format!("{path}: {e}")))?;
    let out = PyDict::new(py);
    for (name, view) in tensors.tensors() {
        let shape = view.shape().to_vec();
        let data = view.data();
        let array: Bound<'py, PyAny> = match view.dtype() {
            safetensors::Dtype::F32 => {
                PyArray1::from_vec(py, le_values(data, f32::from_le_bytes)).into_any()
            }
            safetensors::Dtype::U32 => {
                PyArray1::from_vec(py, le_values(data, u32::from_le_bytes)).into_any()
            }
            safetensors::Dtype::F64 => {
                let v: Vec<f64> = data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect();
                PyArray1::from_vec(py, v).into_any()
            }
            other => {
                return Err(errors::ScenarioError::new_err(format!(
                    "{path}: tensor {name} has dtype {other:?}; axon writes F32, F64 and U32"
                )))
            }
        };
        out.set_item(name, (array, shape))?;
    }
    Ok(out)
}

fn le_values<T>(data: &[u8], from: fn([u8; 4]) -> T) -> Vec<T> {
    data.chunks_exact(4)
        .map(|c| from([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Times the scenario's layer actors on each (executor, workers, shards) setup and the BP
/// baseline on one thread, as `axon bench pc --json`: its rows, as JSON text.
#[pyfunction]
#[pyo3(signature = (path, sets, setups, epochs))]
fn bench_pc(
    py: Python<'_>,
    path: String,
    sets: Vec<String>,
    setups: Vec<(String, usize, usize)>,
    epochs: usize,
) -> PyResult<String> {
    let scenario = load_scenario(Some(path), None, &sets)?;
    let mut parsed = Vec::new();
    for (executor, workers, shards) in setups {
        let ex: axon::runtime::Executor =
            serde_json::from_value(serde_json::Value::String(executor.clone())).map_err(|_| {
                errors::ScenarioError::new_err(format!(
                    "unknown executor {executor:?}: tokio, threads, inline or pinned"
                ))
            })?;
        parsed.push((ex, workers.max(1), shards.max(1)));
    }
    let rows = py.detach(|| {
        let data = axon::experiment::run::load_data(&scenario).map_err(run_error_text)?;
        axon::bench::bench_pc(
            &scenario,
            &data.train,
            &data.test,
            &parsed,
            epochs.max(1),
            &mut |_| {},
        )
        .map_err(|e| (false, cli_message(&e)))
    });
    let rows = rows.map_err(|(bad, m)| {
        if bad {
            errors::ScenarioError::new_err(m)
        } else {
            errors::RuntimeError::new_err(m)
        }
    })?;
    serde_json::to_string(&rows).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// Times BP epochs on one thread count, as `axon bench bp --json`: its report, as JSON text.
#[pyfunction]
#[pyo3(signature = (layers, batch_size, threads, epochs, optimizer, data, train_limit))]
#[allow(clippy::too_many_arguments)]
fn bench_bp(
    py: Python<'_>,
    layers: Vec<usize>,
    batch_size: usize,
    threads: usize,
    epochs: usize,
    optimizer: String,
    data: String,
    train_limit: Option<usize>,
) -> PyResult<String> {
    if layers.len() < 2 || layers.contains(&0) || batch_size == 0 || threads == 0 || epochs == 0 {
        return Err(errors::ScenarioError::new_err(
            "layers needs at least two widths >= 1; batch_size, threads and epochs must be >= 1",
        ));
    }
    let optimizer: axon::math::optimizer::OptimizerKind =
        serde_json::from_value(serde_json::Value::String(optimizer.clone())).map_err(|_| {
            errors::ScenarioError::new_err(format!("unknown optimizer {optimizer:?}: sgd or adam"))
        })?;
    let cfg = axon::bench::BpBenchConfig {
        layers,
        batch_size,
        threads,
        epochs,
        optimizer,
    };
    let options = axon::data::dataset::LoadOptions {
        train_limit,
        ..Default::default()
    };
    let report = py.detach(|| {
        let set = axon::data::dataset::Dataset::load(Path::new(&data), &options)
            .map_err(|e| cli_message(&e))?;
        Ok::<_, String>(axon::bench::bench_bp(&set.train, &cfg, &mut |_, _| {}))
    });
    let report = report.map_err(errors::ScenarioError::new_err)?;
    serde_json::to_string(&report).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

fn run_error_text(e: RunError) -> (bool, String) {
    (e.is_bad_input(), cli_message(&e))
}

/// What `run_nir` returns: the output (flat), its shape, the recorded states, and the
/// traffic (JSON).
type NirOutcome<'py> = (
    Bound<'py, PyArray1<f32>>,
    Vec<usize>,
    Bound<'py, PyDict>,
    String,
);

/// Runs a NIR graph (already read and checked by `axon.nir`) on spiking actors: `spec_json`
/// lists the nodes and edges, `params` holds every node's arrays as (node, name) -> values,
/// `input` is (time, batch, features). Returns the output node's values (time x batch x
/// features, flat), when `record` each stateful node's membrane (flat), and the actors'
/// message traffic as results.json writes it (JSON). With `trace_dir`, writes the traffic
/// heat map there, and with `trace_sample` > 0 the sampled events (1 message in that many) as
/// `trace.jsonl` and `trace.json`, as a run folder holds them.
#[pyfunction]
#[pyo3(signature = (spec_json, params, input, record, trace_dir=None, trace_sample=0))]
fn run_nir<'py>(
    py: Python<'py>,
    spec_json: String,
    params: Vec<(String, String, PyReadonlyArray1<'py, f32>)>,
    input: PyReadonlyArray3<'py, f32>,
    record: bool,
    trace_dir: Option<std::path::PathBuf>,
    trace_sample: u64,
) -> PyResult<NirOutcome<'py>> {
    let spec: axon::spike::nir::GraphSpec = serde_json::from_str(&spec_json)
        .map_err(|e| errors::ScenarioError::new_err(format!("NIR graph: {e}")))?;
    let arrays = params
        .into_iter()
        .map(|(node, name, values)| Ok(((node, name), values.as_slice()?.to_vec())))
        .collect::<PyResult<std::collections::HashMap<_, _>>>()?;
    let shape = input.shape().to_vec();
    let values = input.as_slice()?.to_vec();
    let outcome = py.detach(|| {
        let graph = axon::spike::nir::NirGraph::build(&spec, &arrays)?;
        let graph = graph.sampling(trace_sample);
        graph.run(&values, (shape[0], shape[1], shape[2]), record)
    });
    let run = outcome.map_err(|e| match e {
        axon::spike::nir::NirError::Runtime(_) => errors::RuntimeError::new_err(e.to_string()),
        e => errors::ScenarioError::new_err(e.to_string()),
    })?;
    if let Some(dir) = trace_dir {
        let log = &run.traffic;
        py.detach(|| {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let files = (&log.traffic, &log.trace[..], &log.names[..]);
            axon::experiment::run::write_traffic_files(&dir, files, trace_sample)
                .map_err(|e| cli_message(&e))
        })
        .map_err(PyRuntimeError::new_err)?;
    }
    let states = PyDict::new(py);
    for (name, v) in run.states {
        states.set_item(name, PyArray1::from_vec(py, v))?;
    }
    let traffic = serde_json::to_string(&run.traffic.traffic)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok((
        PyArray1::from_vec(py, run.output),
        run.output_shape,
        states,
        traffic,
    ))
}

/// What `cuba_network` returns: presynaptic and postsynaptic indices, excitatory count,
/// parameters.
type CubaNetwork<'py> = (
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    usize,
    Bound<'py, PyDict>,
);

/// The CUBA network of a scenario (its `[cuba]` table and seed): (presynaptic, postsynaptic)
/// indices of every synapse, the excitatory count, the LIF parameters (ms, mV) and the
/// weights (mV), for `axon.to_nir`.
#[pyfunction]
#[pyo3(signature = (path, table_json, sets))]
fn cuba_network<'py>(
    py: Python<'py>,
    path: Option<String>,
    table_json: Option<String>,
    sets: Vec<String>,
) -> PyResult<CubaNetwork<'py>> {
    let scenario = load_scenario(path, table_json, &sets)?;
    let cfg = scenario.cuba();
    let (pairs, excitatory) =
        py.detach(|| axon::models::cuba::synapse_pairs(&cfg, scenario.seed()));
    let (pre, post): (Vec<u32>, Vec<u32>) = pairs.into_iter().unzip();
    let p = axon::models::cuba::LIF;
    let params = PyDict::new(py);
    for (k, v) in [
        ("tau_m_ms", p.tau_m_ms),
        ("tau_e_ms", p.tau_e_ms),
        ("tau_i_ms", p.tau_i_ms),
        ("v_rest_mv", p.v_rest_mv),
        ("v_threshold_mv", p.v_threshold_mv),
        ("v_reset_mv", p.v_reset_mv),
        ("refractory_ms", p.refractory_ms),
        ("dt_ms", p.dt_ms),
        ("we_mv", cfg.we_mv),
        ("wi_mv", cfg.wi_mv),
    ] {
        params.set_item(k, v)?;
    }
    params.set_item("neurons", cfg.neurons)?;
    Ok((
        PyArray1::from_vec(py, pre),
        PyArray1::from_vec(py, post),
        excitatory,
        params,
    ))
}

/// The extension module.
#[pymodule]
fn _axon(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ScenarioError", py.get_type::<errors::ScenarioError>())?;
    m.add("RuntimeError", py.get_type::<errors::RuntimeError>())?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(read_tensors, m)?)?;
    m.add_function(wrap_pyfunction!(bench_pc, m)?)?;
    m.add_function(wrap_pyfunction!(bench_bp, m)?)?;
    m.add_function(wrap_pyfunction!(run_nir, m)?)?;
    m.add_function(wrap_pyfunction!(cuba_network, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
