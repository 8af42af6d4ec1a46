//! Fuzzes the checkpoint readers: the same bytes as a network checkpoint (`convert.checkpoint`)
//! and as a resume checkpoint (`--resume`). Each must return a value or a typed error naming
//! the file, never panic, and never allocate more than the input could hold.
#![no_main]

use axon::experiment::checkpoint::{from_safetensors, ResumeState};
use axon::math::activation::Activation;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = std::path::Path::new("fuzz.safetensors");
    match from_safetensors(name, data, Activation::Relu) {
        Ok(net) => {
            // A network read holds only finite values, in layers that chain.
            let widths = net.widths();
            assert!(widths.iter().all(|&w| w > 0));
            for (l, layer) in net.layers().iter().enumerate() {
                assert_eq!(layer.inputs(), widths[l]);
                assert!(layer.weight.as_slice().iter().all(|v| v.is_finite()));
                assert!(layer.bias.iter().all(|v| v.is_finite()));
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.safetensors: ")),
    }
    match ResumeState::from_bytes(name, data) {
        Ok(state) => {
            assert!(state.position.problem().is_none());
            // Whatever it holds, checking it against a run is an answer, not a panic.
            let _ = state.check_plan(name, 3, 10, 2);
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.safetensors: ")),
    }
});
