//! A layer-actor run on ranks as threads: lockstep PC, Z-IL, EP and spiking PC give the one-process numbers bit for bit on 2
//! and 3 ranks, with the same traffic on every edge; the asynchronous schedule runs.

use crate::cluster::{on_thread_ranks, Ranks};
use crate::data::dataset::Split;
use crate::learn::coordinator::{LayerEpoch, TrainControl, TrainEvent, TrainPlan};
use crate::learn::layer::{Feedback, KpInit, LayerConfig};
use crate::learn::train::train_layers_on;
use crate::math::activation::Activation;
use crate::math::loss::Loss;
use crate::math::mlp::{Init, Mlp};
use crate::math::optimizer::{OptimizerConfig, Schedule};
use crate::math::rng::SeededRng;
use crate::runtime::traffic::Traffic;
use crate::runtime::{Executor, RuntimeConfig};

#[derive(Clone, Copy, Debug)]
enum Rule {
    Pc,
    Zil,
    Ep,
    Spc,
}

fn config(rule: Rule) -> LayerConfig {
    LayerConfig {
        zil: matches!(rule, Rule::Zil),
        steps: if matches!(rule, Rule::Zil) { 0 } else { 4 },
        gamma: if matches!(rule, Rule::Zil) { 1.0 } else { 0.1 },
        forward_init: true,
        update_before_feedback: false,
        feedback: match rule {
            Rule::Zil => Feedback::Transpose,
            _ => Feedback::KolenPollack,
        },
        kp_decay: 0.0,
        kp_init: KpInit::SharedSeed,
        shards: 2,
        loss: Loss::CrossEntropy,
        activation: Activation::Relu,
        optimizer: OptimizerConfig::default(),
        lr: 0.05,
        schedule: Schedule::Constant,
        total_batches: 4,
        check_gradients: matches!(rule, Rule::Zil),
        asynchronous: None,
        ep: matches!(rule, Rule::Ep).then(|| crate::learn::ep::EpConfig {
            continual: false,
            free_steps: 4,
            nudged_steps: 2,
            beta: 0.5,
            random_sign_beta: false,
            step: 0.5,
            layer_lr: vec![0.1; 3],
        }),
        spc: matches!(rule, Rule::Spc).then_some(crate::learn::spc_layer::SpcConfig {
            settle_ticks: 3,
            learn_ticks: 3,
            trace_ticks: 2,
            error_threshold: 0.1,
            output_threshold: 1.0,
            max_value: 1.0,
        }),
        probes: Vec::new(),
    }
}

/// Two epochs of `rule` on a 12-9-7-4 network (2 + 2 + 1 layer shards), on `rt` and `ranks`:
/// rank 0's epochs and traffic.
fn train(rule: Rule, rt: RuntimeConfig, ranks: &mut Ranks) -> (Vec<LayerEpoch>, Traffic) {
    train_with(config(rule), rt, ranks)
}

/// [`train`] with `cfg`.
fn train_with(
    cfg: LayerConfig,
    rt: RuntimeConfig,
    ranks: &mut Ranks,
) -> (Vec<LayerEpoch>, Traffic) {
    let widths = [12, 9, 7, 4];
    let images: Vec<u8> = (0..12 * 16).map(|i| (i * 37 % 251) as u8).collect();
    let split = Split::new(images, (0..16).map(|i| i % 4).collect(), 12);
    let mut rng = SeededRng::stream(5, "weights");
    let init = Mlp::new(&widths, Activation::Relu, Init::Kaiming, &mut rng);
    let plan = TrainPlan {
        epochs: 2,
        batch_size: 4,
        seed: 5,
        weights: Init::Kaiming,
    };
    let mut epochs = Vec::new();
    let control = TrainControl::default();
    let data = (&split, &split);
    let report = train_layers_on(ranks, &init, data, plan, cfg, rt, &control, &mut |ev| {
        if let TrainEvent::Epoch(e) = ev {
            epochs.push(*e);
        }
    })
    .expect("the run completes");
    (epochs, report.traffic)
}

fn same_numbers(a: &[LayerEpoch], b: &[LayerEpoch], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.net, y.net, "{what}: weights after epoch {}", x.epoch);
        let figures = |e: &LayerEpoch| {
            (
                e.train_loss,
                e.test_loss,
                e.test_accuracy,
                e.free_energy.clone(),
                e.grad_gap.clone(),
            )
        };
        assert_eq!(figures(x), figures(y), "{what}: epoch {}", x.epoch);
        // Spiking PC's counts, rates by tick and raster image.
        let spiking = |e: &LayerEpoch| {
            (
                e.spikes_per_image,
                e.synaptic_events_per_image,
                e.tick_rates.clone(),
                e.raster.clone(),
            )
        };
        assert_eq!(spiking(x), spiking(y), "{what}: epoch {}", x.epoch);
    }
}

#[test]
fn lockstep_rules_give_the_one_process_numbers_on_any_number_of_ranks() {
    for rule in [Rule::Pc, Rule::Zil, Rule::Ep, Rule::Spc] {
        for (executor, workers) in [(Executor::Pinned, 1), (Executor::Tokio, 2)] {
            let rt = RuntimeConfig {
                executor,
                workers,
                ..RuntimeConfig::default()
            };
            let (one, one_traffic) = train(rule, rt, &mut Ranks::single());
            assert!(one_traffic.ranks.is_empty());
            for ranks in [2, 3] {
                let what = format!("{rule:?} on {executor:?} over {ranks} ranks");
                let mut runs = on_thread_ranks(ranks, |r| train(rule, rt, r));
                let (epochs, traffic) = runs.swap_remove(0);
                same_numbers(&one, &epochs, &what);
                assert_eq!(traffic.per_edge, one_traffic.per_edge, "{what}");
                assert_eq!(traffic.totals, one_traffic.totals, "{what}");
                assert_eq!(traffic.ranks.len(), ranks, "{what}");
                let crossed: u64 = traffic.ranks.iter().map(|r| r.inter.messages).sum();
                let posted: u64 = traffic.ranks.iter().map(|r| r.posted.messages).sum();
                assert!(
                    crossed > 0 && crossed == posted,
                    "{what}: {crossed} vs {posted}"
                );
                let stayed: u64 = traffic.ranks.iter().map(|r| r.intra.messages).sum();
                assert_eq!(stayed + crossed, traffic.totals.messages, "{what}");
                assert_eq!(traffic.ranks[0].actors[0], "coordinator");
            }
        }
    }
}

/// Asynchronous PC is not deterministic even in one process: across ranks it completes, its
/// messages cross, and it learns the same batches.
#[test]
fn spiking_pc_runs_and_sends_only_spikes() {
    let rt = RuntimeConfig {
        executor: Executor::Inline,
        ..RuntimeConfig::default()
    };
    let (one, traffic) = train(Rule::Spc, rt, &mut Ranks::single());
    assert_eq!(one.len(), 2);
    assert!(one
        .iter()
        .all(|e| e.spikes_per_image.is_some_and(|s| s > 0.0)));
    // Rates by tick for every layer (3 + 3 ticks), and one image's spikes in every layer.
    for e in &one {
        let rates = e.tick_rates.as_ref().expect("rates by tick");
        assert_eq!(rates.len(), 3);
        assert!(rates
            .iter()
            .all(|r| r.value.len() == 6 && r.error_pos.len() == 6));
        // Errors fire in learn ticks only; the output's value neurons never.
        assert!(rates
            .iter()
            .all(|r| r.error_pos[..3].iter().all(|&v| v == 0.0)));
        assert!(rates[2].value.iter().all(|&v| v == 0.0));
        let raster = e.raster.as_ref().expect("raster");
        assert_eq!(
            (raster.ticks, raster.settle_ticks, &raster.widths[..]),
            (6, 3, &[9, 7, 4][..])
        );
        for l in 1..=3 {
            assert!(
                raster.spikes.iter().any(|s| s.layer == l),
                "layer {l} fired"
            );
        }
    }
    assert_eq!(traffic.weight_transport_bytes, 0);
    for kind in ["activity", "error"] {
        assert!(!traffic.per_kind.contains_key(kind), "{kind}");
    }
}

#[test]
fn the_asynchronous_schedule_runs_across_ranks() {
    let rt = RuntimeConfig {
        executor: Executor::Pinned,
        workers: 1,
        ..RuntimeConfig::default()
    };
    let runs = on_thread_ranks(2, |ranks| {
        let mut cfg = config(Rule::Pc);
        cfg.asynchronous = Some(crate::learn::layer::AsyncSchedule {
            settle_tolerance: 1e-3,
            max_updates: 4,
            faults: Default::default(),
            seed: 5,
            quiet: std::time::Duration::from_millis(200),
        });
        train_with(cfg, rt, ranks)
    });
    let (epochs, traffic) = &runs[0];
    assert_eq!(epochs.len(), 2);
    assert!(epochs.iter().all(|e| e.train_loss.is_finite()));
    assert!(traffic.ranks.iter().map(|r| r.inter.messages).sum::<u64>() > 0);
}
