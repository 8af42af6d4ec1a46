//! Tests of CUBA: connectivity, non-finite stops, identical spikes for any sharding,
//! executor, delays and ranks.

use super::*;
use crate::cluster::on_thread_ranks;
use crate::cluster::shard_traffic::assert_as_one_process;
use crate::runtime::Executor;

#[test]
fn connectivity_has_the_expected_density_and_order() {
    let mut rng = SeededRng::stream(1, "t");
    let post = connectivity(2000, 0.02, &mut rng);
    let total: usize = post.iter().map(Vec::len).sum();
    let want = 2000.0 * 2000.0 * 0.02;
    assert!((total as f64 - want).abs() < 4.0 * want.sqrt(), "{total}");
    assert!(post.iter().all(|t| t.windows(2).all(|w| w[0] < w[1])));
}

/// No ticks: nothing fires, and no sharding (not even one actor per neuron) waits on a
/// tick that never comes.
#[test]
fn a_non_finite_state_stops_the_run_and_names_the_actor() {
    // The scenario loader bounds the weights; the library API does not, so the actors
    // check their own state.
    let cfg = CubaConfig {
        neurons: 50,
        p_connect: 0.5,
        we_mv: 3e38,
        duration_ms: 300.0,
        ..CubaConfig::default()
    };
    let on = |executor| RuntimeConfig {
        executor,
        ..RuntimeConfig::default()
    };
    // One population; one actor per neuron with message ticks (tokio) and worker ticks.
    for (shards, ex) in [
        (1, Executor::Tokio),
        (50, Executor::Tokio),
        (50, Executor::Inline),
        (50, Executor::Pinned),
    ] {
        match run_cuba(&cfg, 1, shards, on(ex)) {
            Err(NetworkRunError::Runtime(crate::runtime::RuntimeError::NonFinite {
                actor,
                what,
                ..
            })) => {
                assert!(
                    actor.starts_with("neuron") || actor.starts_with("population"),
                    "{actor}"
                );
                assert!(what.contains("mV"), "{what}");
            }
            other => panic!("{shards} on {ex:?}: expected a non-finite stop, got {other:?}"),
        }
    }
}

#[test]
fn zero_duration_runs_nothing_and_returns() {
    let cfg = CubaConfig {
        neurons: 50,
        duration_ms: 0.0,
        ..CubaConfig::default()
    };
    for shards in [1, 3, 50] {
        let run = run_cuba(&cfg, 1, shards, RuntimeConfig::default()).expect("runs");
        assert_eq!((run.stats.spikes, run.raster.len()), (0, 0));
    }
}

/// With synaptic delays of 3-7 ticks, shards exchange once per 3-tick window: the spike
/// trains are the same whatever the sharding, executor and worker count, and differ from
/// the undelayed network's.
#[test]
fn delayed_windows_give_identical_spikes_for_any_sharding() {
    let cfg = CubaConfig {
        neurons: 800,
        duration_ms: 100.0,
        ..CubaConfig::default()
    };
    let rt = |executor, workers| RuntimeConfig {
        executor,
        workers,
        ..RuntimeConfig::default()
    };
    let first = run_cuba_delayed(&cfg, 1, 1, rt(Executor::Inline, 1), (3, 7)).expect("runs");
    assert!(first.stats.spikes > 0);
    let undelayed = run_cuba(&cfg, 1, 1, rt(Executor::Inline, 1)).expect("runs");
    assert_ne!(first.raster, undelayed.raster, "delays change the dynamics");
    for (shards, ex, workers) in [
        (2, Executor::Inline, 1),
        (3, Executor::Tokio, 2),
        (4, Executor::Threads, 1),
        (2, Executor::Pinned, 2),
        (5, Executor::Pinned, 3),
    ] {
        let run = run_cuba_delayed(&cfg, 1, shards, rt(ex, workers), (3, 7)).expect("runs");
        assert_eq!(
            run.raster, first.raster,
            "{shards} shards on {ex:?} x{workers}"
        );
        assert_eq!(
            (run.stats.spikes, run.stats.synaptic_events),
            (first.stats.spikes, first.stats.synaptic_events),
            "{shards} shards on {ex:?} x{workers}"
        );
    }
    // Three ticks per exchange: about a third of the messages of a per-tick exchange.
    let windowed = run_cuba_delayed(&cfg, 1, 2, rt(Executor::Inline, 1), (3, 7)).expect("runs");
    let per_tick = run_cuba(&cfg, 1, 2, rt(Executor::Inline, 1)).expect("runs");
    assert!(
        windowed.stats.messages * 2 < per_tick.stats.messages,
        "{} vs {}",
        windowed.stats.messages,
        per_tick.stats.messages
    );
}

/// Spread over 2 and 3 ranks (threads, the same collectives as MPI), with and without
/// delays, every rank returns the one-process run's spikes and traffic (summed over the
/// ranks, edge for edge), and a sampled trace holds every rank's messages; one actor per
/// neuron is refused across ranks.
#[test]
fn ranks_give_the_same_spikes_as_one_process() {
    let cfg = CubaConfig {
        neurons: 800,
        duration_ms: 50.0,
        ..CubaConfig::default()
    };
    let rt = RuntimeConfig {
        executor: Executor::Inline,
        ..RuntimeConfig::default()
    };
    let one = run_cuba(&cfg, 1, 4, rt).expect("runs");
    let one_delayed = run_cuba_delayed(&cfg, 1, 4, rt, (2, 5)).expect("runs");
    for ranks in [2, 3] {
        for run in on_thread_ranks(ranks, |r| run_cuba_on(r, &cfg, 1, 4, rt)) {
            let run = run.expect("runs");
            assert_eq!(run.raster, one.raster, "{ranks} ranks");
            assert_eq!(run.stats.spikes, one.stats.spikes);
            assert_eq!(run.stats.synapses, one.stats.synapses);
            let what = format!("{ranks} ranks: traffic");
            let (t, t1) = (&run.traffic.traffic, &one.traffic.traffic);
            assert_as_one_process(t, t1, ranks, &what);
        }
        let delayed = on_thread_ranks(ranks, |r| run_cuba_delayed_on(r, &cfg, 1, 4, rt, (2, 5)));
        for run in delayed {
            let run = run.expect("runs");
            let what = format!("{ranks} ranks, delays");
            assert_eq!(run.raster, one_delayed.raster, "{what}");
            let (t, t1) = (&run.traffic.traffic, &one_delayed.traffic.traffic);
            assert_as_one_process(t, t1, ranks, &what);
        }
    }
    // Sampled, every rank's messages are in the trace, the bridges' under their rank.
    let sampled = RuntimeConfig {
        trace_sample: 7,
        ..rt
    };
    for run in on_thread_ranks(2, |r| run_cuba_on(r, &cfg, 1, 4, sampled)) {
        let log = run.expect("runs").traffic;
        let senders: std::collections::BTreeSet<&str> = log
            .trace
            .iter()
            .map(|e| log.names[e.from as usize].as_str())
            .collect();
        let want = [
            "population.0",
            "population.1",
            "population.2",
            "population.3",
            "rank 0 bridge",
            "rank 1 bridge",
        ];
        assert_eq!(senders, want.into_iter().collect(), "{:?}", log.names);
        assert!(log.trace.windows(2).all(|w| w[0].send_ns <= w[1].send_ns));
    }
    let per_neuron = on_thread_ranks(2, |r| run_cuba_on(r, &cfg, 1, 800, rt));
    assert!(per_neuron
        .iter()
        .all(|r| matches!(r, Err(NetworkRunError::Ranks(_)))));
}

/// Same spikes whatever the sharding and executor.
#[test]
fn sharding_and_executors_give_identical_spikes() {
    let cfg = CubaConfig {
        neurons: 800,
        duration_ms: 100.0,
        ..CubaConfig::default()
    };
    let rt = |executor| RuntimeConfig {
        executor,
        workers: 2,
        ..RuntimeConfig::default()
    };
    let first = run_cuba(&cfg, 1, 1, rt(Executor::Inline)).expect("runs");
    let one = &first.stats;
    assert!(one.spikes > 0);
    for (shards, ex) in [
        (3, Executor::Tokio),
        (4, Executor::Threads),
        (2, Executor::Inline),
        (800, Executor::Tokio),
        (800, Executor::Inline),
        (2, Executor::Pinned),
        (800, Executor::Pinned),
    ] {
        let run = run_cuba(&cfg, 1, shards, rt(ex)).expect("runs");
        assert_eq!(run.raster, first.raster, "{shards} shards on {ex:?}");
        let s = run.stats;
        assert_eq!(
            (s.spikes, s.synaptic_events, s.synapses),
            (one.spikes, one.synaptic_events, one.synapses),
            "{shards} shards on {ex:?}"
        );
    }
}

/// CUBA with pair STDP on E->E (weights in mV, bounded by 2 x we).
fn plastic_cuba(neurons: usize, ms: f64) -> CubaConfig {
    use crate::spike::plasticity::{Plasticity, Projection, StdpRule, TraceMode, WeightDependence};
    let e = (neurons * 4 / 5) as u32;
    CubaConfig {
        neurons,
        duration_ms: ms,
        plasticity: Some(PlasticProjections {
            rule: Plasticity {
                rule: StdpRule::Pair {
                    a_plus: 0.05,
                    a_minus: 0.0525,
                    tau_plus_ms: 20.0,
                    tau_minus_ms: 20.0,
                },
                traces: TraceMode::AllToAll,
                dependence: WeightDependence::Additive,
                w_min: 0.0,
                w_max: 3.24,
            },
            projections: vec![Projection {
                pre: 0..e,
                post: 0..e,
                name: "E->E".into(),
            }],
        }),
        ..CubaConfig::default()
    }
}

/// STDP on E->E: the weights move within their bounds, the spikes change, and population
/// shards (1 to 3, any executor), one actor per neuron (worker and message ticks) and thread
/// ranks give the same spikes and the same weights.
#[test]
fn plastic_synapses_learn_the_same_on_every_setup() {
    let cfg = plastic_cuba(800, 100.0);
    let rt = |executor, workers| RuntimeConfig {
        executor,
        workers,
        ..RuntimeConfig::default()
    };
    let first = run_cuba(&cfg, 1, 1, rt(Executor::Inline, 1)).expect("runs");
    let fixed = run_cuba(
        &CubaConfig {
            plasticity: None,
            ..cfg.clone()
        },
        1,
        1,
        rt(Executor::Inline, 1),
    )
    .expect("runs");
    assert_ne!(first.raster, fixed.raster, "learning changes the spikes");
    let w = first.stats.plasticity.clone().expect("weight figures");
    let e = 640.0 * 640.0 * 0.02;
    assert!(
        (w.synapses as f64 - e).abs() < 4.0 * e.sqrt(),
        "{}",
        w.synapses
    );
    assert!((w.mean_start - 1.62).abs() < 1e-6);
    assert!(
        (w.mean_end - w.mean_start).abs() > 1e-4,
        "the weights moved"
    );
    assert!(w.min_end >= 0.0 && w.max_end <= 3.24 + 1e-6);
    assert_eq!(w.histogram_end.iter().sum::<u64>(), w.synapses);
    for (shards, ex, workers) in [
        (3, Executor::Tokio, 2),
        (2, Executor::Pinned, 2),
        (800, Executor::Inline, 1),
        (800, Executor::Pinned, 2),
        (800, Executor::Tokio, 2),
    ] {
        let run = run_cuba(&cfg, 1, shards, rt(ex, workers)).expect("runs");
        let what = format!("{shards} shards on {ex:?} x{workers}");
        assert_eq!(run.raster, first.raster, "{what}");
        assert_eq!(run.stats.spikes, first.stats.spikes, "{what}");
        let v = run.stats.plasticity.expect("weight figures");
        assert_eq!(v.histogram_end, w.histogram_end, "{what}");
        assert_eq!((v.min_end, v.max_end), (w.min_end, w.max_end), "{what}");
        assert!((v.mean_end - w.mean_end).abs() < 1e-9, "{what}");
    }
    for run in on_thread_ranks(2, |r| run_cuba_on(r, &cfg, 1, 4, rt(Executor::Inline, 1))) {
        let run = run.expect("runs");
        assert_eq!(run.raster, first.raster, "2 ranks");
        let v = run.stats.plasticity.expect("weight figures");
        assert_eq!(v.histogram_end, w.histogram_end, "2 ranks");
    }
    // With delays (exchange windows): the same on 1 and 3 shards.
    let one = run_cuba_delayed(&cfg, 1, 1, rt(Executor::Inline, 1), (2, 5)).expect("runs");
    let three = run_cuba_delayed(&cfg, 1, 3, rt(Executor::Tokio, 2), (2, 5)).expect("runs");
    assert_eq!(one.raster, three.raster);
    let (a, b) = (
        one.stats.plasticity.expect("w"),
        three.stats.plasticity.expect("w"),
    );
    assert_eq!(a.histogram_end, b.histogram_end);
    assert!((a.mean_end - a.mean_start).abs() > 1e-4);
}

/// A stop request ends every population shard (and rank) at the same tick, the one after
/// the tick it was seen at: set from the start, the run is one tick long and equal however it
/// is sharded; set while running, a long run ends early.
#[test]
fn a_stop_request_ends_every_shard_at_the_same_tick() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let cfg = CubaConfig {
        neurons: 400,
        duration_ms: 600_000.0,
        ..CubaConfig::default()
    };
    let rt = |executor, workers| RuntimeConfig {
        executor,
        workers,
        ..RuntimeConfig::default()
    };
    let now = || Some(Arc::new(AtomicBool::new(true)));
    let single = &mut crate::cluster::Ranks::single();
    let one = run_cuba_until(single, &cfg, 1, 1, rt(Executor::Inline, 1), now()).expect("runs");
    assert!(one.stopped);
    assert!(
        (one.stats.sim_s - 0.0001).abs() < 1e-12,
        "{}",
        one.stats.sim_s
    );
    let three = run_cuba_until(single, &cfg, 1, 3, rt(Executor::Pinned, 2), now()).expect("runs");
    assert!(three.stopped);
    assert_eq!(
        (three.stats.sim_s, three.stats.spikes),
        (one.stats.sim_s, one.stats.spikes)
    );
    // One actor per neuron, on worker ticks and on message ticks: its clock stops too.
    for (executor, workers) in [(Executor::Pinned, 2), (Executor::Tokio, 1)] {
        let neurons = run_cuba_until(single, &cfg, 1, 400, rt(executor, workers), now());
        let neurons = neurons.expect("runs");
        assert!(neurons.stopped, "{executor:?}");
        assert_eq!(
            (neurons.stats.sim_s, neurons.stats.spikes),
            (one.stats.sim_s, one.stats.spikes),
            "{executor:?}"
        );
    }
    for r in on_thread_ranks(2, |r| {
        run_cuba_until(r, &cfg, 1, 4, rt(Executor::Inline, 1), now())
    }) {
        let r = r.expect("runs");
        assert!(r.stopped && r.stats.sim_s == one.stats.sim_s);
    }
    // Set while running: 600 s simulated would take many minutes; it stops within moments.
    let flag = Arc::new(AtomicBool::new(false));
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            flag.store(true, Ordering::Relaxed);
        })
    };
    let run =
        run_cuba_until(single, &cfg, 1, 3, rt(Executor::Pinned, 2), Some(flag)).expect("runs");
    setter.join().expect("setter");
    assert!(
        run.stopped && run.stats.sim_s < 600.0,
        "{}",
        run.stats.sim_s
    );
    // Without a request the flag changes nothing.
    let short = CubaConfig {
        duration_ms: 50.0,
        ..cfg.clone()
    };
    let plain = run_cuba(&short, 1, 3, rt(Executor::Pinned, 2)).expect("runs");
    let unset = Some(Arc::new(AtomicBool::new(false)));
    let flagged =
        run_cuba_until(single, &short, 1, 3, rt(Executor::Pinned, 2), unset).expect("runs");
    assert!(!flagged.stopped);
    assert_eq!(flagged.stats.spikes, plain.stats.spikes);
}
