//! What a validated [`Scenario`] resolves to: the configurations the learners and the
//! runtime take, and the check of the network against its data.

use super::{invalid, AlgorithmKind, Scenario, ScenarioError, TimeSchedule};
use crate::learn::backprop::TrainConfig;
use crate::math::matrix::Threads;
use crate::math::mlp::Mlp;
use crate::math::optimizer::OptimizerConfig;
use crate::math::rng::SeededRng;

impl Scenario {
    /// The untrained network every model of the run starts from: the scenario's layers,
    /// activation and initialisation, drawn from the seed's `weights` stream.
    pub fn initial_network(&self) -> Mlp {
        let n = self.network();
        let mut rng = SeededRng::stream(self.seed(), "weights");
        Mlp::new(&n.layers, n.activation, n.init, &mut rng)
    }

    /// Checks the network against the data it will see: the first width must equal the
    /// image size, the last the number of classes.
    pub fn check_data(
        &self,
        rows: usize,
        cols: usize,
        classes: usize,
    ) -> Result<(), ScenarioError> {
        let layers = self.layers();
        let pixels = rows * cols;
        if layers[0] != pixels {
            return Err(invalid(
                "network.layers[0]",
                layers[0],
                &format!("must equal the data's image size, {rows}x{cols} = {pixels} pixels"),
            ));
        }
        let last = layers.len() - 1;
        if layers[last] != classes {
            return Err(invalid(
                &format!("network.layers[{last}]"),
                layers[last],
                &format!("must equal the number of classes in the data, {classes}"),
            ));
        }
        Ok(())
    }

    /// Learning rate as the optimisers take it.
    fn lr(&self) -> f32 {
        self.file.train.lr as f32
    }

    /// The optimiser as `[train]` configures it.
    fn optimizer(&self) -> OptimizerConfig {
        OptimizerConfig {
            kind: self.file.train.optimizer,
            momentum: self.file.train.momentum as f32,
            ..OptimizerConfig::default()
        }
    }

    /// The synchronous backprop learner's configuration from `[train]`.
    pub fn train_config(&self) -> TrainConfig {
        let t = &self.file.train;
        TrainConfig {
            batch_size: t.batch_size,
            lr: self.lr(),
            schedule: t.schedule,
            epochs: t.epochs,
            loss: t.loss,
            optimizer: self.optimizer(),
            seed: self.file.seed,
            threads: Threads(self.workers),
        }
    }

    /// The actor runtime's configuration from `[runtime]` and `[trace]`.
    pub fn runtime_config(&self) -> crate::runtime::RuntimeConfig {
        crate::runtime::RuntimeConfig {
            executor: self.setup.executor,
            workers: self.workers,
            mailbox_capacity: self.file.runtime.mailbox_capacity,
            stall_timeout: std::time::Duration::from_secs_f64(self.file.runtime.stall_timeout_s),
            trace_sample: self.file.trace.sample,
        }
    }

    /// The layer actors' configuration (for `pc`, `zil`, `ep` and `cep`), given the number of
    /// training examples (for the learning-rate schedule's length).
    pub fn layer_config(&self, train_examples: usize) -> crate::learn::layer::LayerConfig {
        let f = &self.file;
        let a = &f.algorithm;
        let zil = a.kind == AlgorithmKind::Zil;
        let batches = train_examples.div_ceil(f.train.batch_size) * f.train.epochs;
        crate::learn::layer::LayerConfig {
            zil,
            steps: a.inference_steps,
            gamma: a.inference_rate.unwrap_or(if zil { 1.0 } else { 0.1 }) as f32,
            forward_init: a.forward_init,
            update_before_feedback: a.update_before_feedback,
            feedback: a.feedback,
            kp_decay: a.kp_decay as f32,
            kp_init: a.kp_init,
            shards: self.setup.shards,
            loss: f.train.loss,
            activation: f.network.activation,
            optimizer: self.optimizer(),
            lr: self.lr(),
            schedule: f.train.schedule,
            total_batches: batches,
            check_gradients: f.compare.check_gradients,
            asynchronous: self.async_schedule(),
            ep: self.ep_config(),
            spc: (a.kind == AlgorithmKind::Spc).then(|| f.spc.config()),
            probes: self.probes(),
        }
    }

    /// The asynchronous schedule, when `runtime.schedule = "async"`.
    fn async_schedule(&self) -> Option<crate::learn::layer::AsyncSchedule> {
        let f = &self.file;
        let rt = &f.runtime;
        (rt.schedule == TimeSchedule::Async).then(|| crate::learn::layer::AsyncSchedule {
            settle_tolerance: rt.settle_tolerance as f32,
            max_updates: if rt.max_updates == 0 {
                f.algorithm.inference_steps.max(1) as u64
            } else {
                rt.max_updates as u64
            },
            faults: f.faults.links(),
            seed: f.seed,
            quiet: std::time::Duration::from_secs_f64(rt.settle_quiet_ms * 1e-3),
        })
    }

    /// Equilibrium propagation's configuration, for `ep` and `cep`.
    fn ep_config(&self) -> Option<crate::learn::ep::EpConfig> {
        let a = &self.file.algorithm;
        a.kind.is_ep().then(|| crate::learn::ep::EpConfig {
            continual: a.kind == AlgorithmKind::Cep,
            free_steps: a.free_steps,
            nudged_steps: a.nudged_steps,
            beta: a.beta as f32,
            random_sign_beta: a.random_sign_beta,
            step: a.step as f32,
            layer_lr: match &a.layer_lr {
                Some(r) => r.iter().map(|&v| v as f32).collect(),
                None => vec![self.lr(); self.file.network.weight_layers()],
            },
        })
    }
}
