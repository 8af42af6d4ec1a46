//! `axon validate`: check a scenario, or every combination of a sweep, against its data
//! without training.

use std::path::PathBuf;

use axon::experiment::run::load_data;
use axon::experiment::scenario::{AlgorithmKind, Scenario};
use axon::experiment::sweep::Sweep;
use clap::Args;

use super::{bad_input, Failure};

#[derive(Args, Debug)]
pub(crate) struct ValidateArgs {
    /// Scenario file (TOML).
    file: PathBuf,
    /// Override a scenario key by dotted path (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

/// Runs `axon validate`.
pub(crate) fn validate(args: ValidateArgs) -> Result<(), Failure> {
    let ValidateArgs { file, overrides } = args;
    if let Some(sweep) = Sweep::load(&file, &overrides)? {
        sweep.check_data()?;
        let keys: Vec<String> = sweep
            .keys
            .iter()
            .zip(&sweep.values)
            .map(|(k, v)| format!("{k}: {}", v.len()))
            .collect();
        outln!(
            "{}: valid sweep of {} combinations ({}), every one checked against its data",
            file.display(),
            sweep.combinations.len(),
            keys.join(", ")
        );
        return Ok(());
    }
    let scenario = Scenario::load(&file, &overrides).map_err(bad_input)?;
    if scenario.kind() == AlgorithmKind::Cuba {
        let c = scenario.cuba();
        outln!(
            "{}: valid (CUBA: {} LIF neurons, p = {}, {} ms, {} shard(s))",
            file.display(),
            c.neurons,
            c.p_connect,
            c.duration_ms,
            scenario.shards()
        );
        return Ok(());
    }
    if scenario.kind() == AlgorithmKind::StdpMnist {
        let c = scenario.stdp_mnist();
        outln!(
            "{}: valid (Diehl & Cook: {} excitatory neurons, {} epoch(s) of {} training images, \
             {} to label, {} to test, rule {}, input delays {}-{} ms, {} shard(s))",
            file.display(),
            c.n_exc,
            c.epochs,
            c.train_images,
            c.label_images,
            c.test_images,
            c.plasticity.rule.name(),
            c.input_delay_ms.0,
            c.input_delay_ms.1,
            scenario.shards()
        );
        return Ok(());
    }
    if scenario.kind() == AlgorithmKind::Microcircuit {
        let c = scenario.microcircuit();
        let m = c.model();
        outln!(
            "{}: valid (microcircuit at scale {}: {} neurons, {} synapses, {} ms, {} shard(s))",
            file.display(),
            c.scale,
            m.total_neurons(),
            m.total_synapses(),
            c.duration_ms,
            scenario.shards()
        );
        return Ok(());
    }
    let data = load_data(&scenario)?;
    outln!(
        "{}: valid ({} train / {} test images of {}x{}, layers {:?}, {} on {} worker(s))",
        file.display(),
        data.train.len(),
        data.test.len(),
        data.rows,
        data.cols,
        scenario.layers(),
        scenario.kind().name(),
        scenario.workers()
    );
    Ok(())
}
