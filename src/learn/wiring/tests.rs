//! Kolen-Pollack "shared-seed": every hidden shard draws its own `B` from the seed, and it
//! equals `W_above^T` bit for bit with no weight byte sent.

use std::any::Any;

use crate::data::dataset::Split;
use crate::learn::coordinator::TrainPlan;
use crate::learn::ep_layer::EpLayerActor;
use crate::learn::layer::core::LayerRule;
use crate::learn::layer::{Feedback, KpInit, LayerConfig};
use crate::learn::pc_layer::{Lockstep, PcLayer};
use crate::learn::train::train_layers;
use crate::math::activation::Activation;
use crate::math::loss::Loss;
use crate::math::matrix::Matrix;
use crate::math::mlp::{Init, Mlp};
use crate::math::optimizer::{OptimizerConfig, Schedule};
use crate::math::rng::SeededRng;
use crate::runtime::RuntimeConfig;

fn config(ep: bool) -> LayerConfig {
    LayerConfig {
        zil: false,
        steps: 3,
        gamma: 0.1,
        forward_init: true,
        update_before_feedback: false,
        feedback: Feedback::KolenPollack,
        kp_decay: 0.0,
        kp_init: KpInit::SharedSeed,
        shards: 3,
        loss: Loss::CrossEntropy,
        activation: Activation::Relu,
        optimizer: OptimizerConfig::default(),
        lr: 0.05,
        schedule: Schedule::Constant,
        total_batches: 1,
        check_gradients: false,
        asynchronous: None,
        ep: ep.then(|| crate::learn::ep::EpConfig {
            continual: false,
            free_steps: 4,
            nudged_steps: 2,
            beta: 0.5,
            random_sign_beta: false,
            step: 0.5,
            layer_lr: vec![0.1; 3],
        }),
        spc: None,
        probes: Vec::new(),
    }
}

/// The feedback synapses a layer actor holds, if it is one.
fn feedback_of(actor: &mut dyn Any) -> Option<(usize, usize, Matrix)> {
    let core = if let Some(a) = actor.downcast_mut::<PcLayer<Lockstep>>() {
        a.core()
    } else {
        actor.downcast_mut::<EpLayerActor>()?.core()
    };
    let b = core.fb_syn.clone()?;
    Some((core.at.layer, core.at.range.start, b))
}

#[test]
fn shared_seed_feedback_is_drawn_by_the_lower_actor_and_equals_the_weights_above() {
    let widths = [12, 9, 7, 4];
    let images: Vec<u8> = (0..12 * 8).map(|i| (i * 37 % 251) as u8).collect();
    let split = Split::new(images, (0..8).map(|i| i % 4).collect(), 12);
    for (init_kind, ep) in [(Init::Kaiming, false), (Init::Xavier, true)] {
        let mut rng = SeededRng::stream(5, "weights");
        let init = Mlp::new(&widths, Activation::Relu, init_kind, &mut rng);
        let plan = TrainPlan {
            epochs: 0,
            batch_size: 4,
            seed: 5,
            weights: init_kind,
        };
        let rt = RuntimeConfig::default();
        let mut report = train_layers(&init, &split, &split, plan, config(ep), rt, &mut |_| {})
            .expect("the run completes");
        assert_eq!(report.traffic.weight_transport_bytes, 0);
        let mut seen = 0;
        for actor in &mut report.actors {
            let any: &mut dyn Any = actor.as_mut();
            let Some((layer, offset, b)) = feedback_of(any) else {
                continue;
            };
            let above = &init.layers()[layer].weight;
            for r in 0..b.rows() {
                let want = &above.row(r)[offset..offset + b.cols()];
                assert_eq!(b.row(r), want, "layer {layer} offset {offset} row {r}");
            }
            seen += 1;
        }
        assert_eq!(seen, 6, "two hidden layers of three shards");
    }
}
