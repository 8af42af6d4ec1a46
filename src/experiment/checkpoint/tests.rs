//! Unit tests of checkpoint writing and reading.

use super::*;
use crate::math::mlp::Init;
use crate::math::rng::SeededRng;

#[test]
fn round_trip_is_exact() {
    let mut rng = SeededRng::new(2);
    let net = Mlp::new(&[6, 4, 3], Activation::Tanh, Init::Kaiming, &mut rng);
    let bytes = to_safetensors(&net, &[("epoch", "0".to_owned())]);
    let back = from_safetensors(Path::new("mem"), &bytes, Activation::Tanh).expect("valid");
    assert_eq!(back, net);
    assert!(from_safetensors(Path::new("mem"), &bytes[..10], Activation::Tanh).is_err());
    let mut bad = net.clone();
    bad.layers_mut()[1].bias[2] = f32::NAN;
    let bytes = to_safetensors(&bad, &[]);
    let err = from_safetensors(Path::new("mem"), &bytes, Activation::Tanh).unwrap_err();
    assert!(
        err.to_string().contains("layers.1.bias: value 2 is NaN"),
        "{err}"
    );
}

#[test]
fn resume_state_round_trips() {
    let mut bag = StateBag::default();
    bag.tensor("weight", vec![1.0, -2.5, f32::MIN_POSITIVE]);
    bag.tensor("empty", Vec::new());
    bag.scalar("step", "7".to_owned());
    let state = ResumeState {
        position: Position {
            epoch: 2,
            next_batch: 5,
            next_step: 123,
            train_loss: 0.1 + 0.2,
            energy: vec![1.0 / 3.0],
            ..Position::default()
        },
        actors: BTreeMap::from([("layer-1.0".to_owned(), bag.clone())]),
        results: "{\"name\": \"x\"}".to_owned(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("resume.safetensors");
    std::fs::write(&path, state.to_bytes()).expect("write");
    let back = ResumeState::read(&path).expect("reads");
    assert_eq!(back, state);
    let mut w = [0.0; 3];
    back.actors["layer-1.0"]
        .fill("weight", &mut w)
        .expect("fits");
    assert_eq!(w, [1.0, -2.5, f32::MIN_POSITIVE]);
    std::fs::write(&path, b"junk").expect("write");
    assert!(ResumeState::read(&path).is_err());
}

#[test]
fn a_network_checkpoint_holds_only_its_layers() {
    let mut rng = SeededRng::new(2);
    let net = Mlp::new(&[6, 4, 3], Activation::Tanh, Init::Kaiming, &mut rng);
    let bytes = to_safetensors(&net, &[]);
    let st = SafeTensors::deserialize(&bytes).expect("valid");
    let mut buffers: Vec<(String, TensorView<'_>)> = st.tensors();
    let extra = le_bytes(&[1.0]);
    buffers.push((
        "layers.+1.bias".to_owned(),
        TensorView::new(Dtype::F32, vec![1], &extra).expect("view"),
    ));
    let stray = safetensors::tensor::serialize(buffers, None).expect("serialises");
    let err = from_safetensors(Path::new("mem"), &stray, Activation::Tanh).unwrap_err();
    assert!(
        err.to_string()
            .contains("layers.+1.bias: is not part of the network"),
        "{err}"
    );
    let empty: Vec<(String, TensorView<'_>)> = vec![
        (
            "layers.0.weight".to_owned(),
            TensorView::new(Dtype::F32, vec![0, 6], &[]).expect("view"),
        ),
        (
            "layers.0.bias".to_owned(),
            TensorView::new(Dtype::F32, vec![0], &[]).expect("view"),
        ),
    ];
    let bytes = safetensors::tensor::serialize(empty, None).expect("serialises");
    let err = from_safetensors(Path::new("mem"), &bytes, Activation::Tanh).unwrap_err();
    assert!(err.to_string().contains("empty dimension"), "{err}");
}

#[test]
fn impossible_positions_are_refused() {
    let ok = Position {
        epoch: 2,
        next_batch: 3,
        train_correct: 5,
        train_n: 10,
        wall_s: 1.5,
        grad_gap: vec![0.0, f64::INFINITY],
        ..Position::default()
    };
    assert_eq!(ok.problem(), None);
    let bad = [
        Position {
            epoch: 0,
            ..ok.clone()
        },
        Position {
            wall_s: -1.0,
            ..ok.clone()
        },
        Position {
            wall_s: f64::NAN,
            ..ok.clone()
        },
        Position {
            wall_s: 1e300,
            ..ok.clone()
        },
        Position {
            train_loss: f64::INFINITY,
            ..ok.clone()
        },
        Position {
            energy: vec![f64::NAN],
            ..ok.clone()
        },
        Position {
            train_correct: 11,
            ..ok.clone()
        },
        Position {
            grad_gap: vec![f64::NAN, 0.0],
            ..ok.clone()
        },
        Position {
            grad_gap: vec![-0.5, 0.0],
            ..ok.clone()
        },
    ];
    for p in bad {
        assert!(p.problem().is_some(), "{p:?}");
    }
    let state = ResumeState {
        position: ok,
        ..ResumeState::default()
    };
    let path = Path::new("mem");
    assert!(state.check_plan(path, 2, 3, 2).is_ok());
    let refused = [(1, 3, 2), (2, 2, 2), (2, 3, 3)];
    for (epochs, batches, layers) in refused {
        let err = state.check_plan(path, epochs, batches, layers).unwrap_err();
        assert!(
            err.to_string().starts_with("mem: the saved position"),
            "{err}"
        );
    }
}

#[test]
fn resume_tensors_must_be_finite_f32_named_actor_slash_name() {
    let mut bag = StateBag::default();
    bag.tensor("weight", vec![1.0, f32::INFINITY]);
    let state = ResumeState {
        position: Position {
            epoch: 1,
            ..Position::default()
        },
        actors: BTreeMap::from([("layer-1.0".to_owned(), bag)]),
        results: "{}".to_owned(),
    };
    let err = ResumeState::from_bytes(Path::new("mem"), &state.to_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("layer-1.0/weight: value 1 is inf"),
        "{err}"
    );
}
