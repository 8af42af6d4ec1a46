//! A NIR node's parameters into its [`Dynamics`]: arrays checked (present, finite, one value
//! or one per neuron), time constants turned into per-step factors by the graph's method.

use super::node::{decay, Dynamics, Method, Neuron};
use super::{Arrays, GraphSpec, NirError, NodeSpec};
use crate::math::matrix::Matrix;

/// Parameter `name` of `node`: `len` values (one value is broadcast).
fn param(arrays: &Arrays, node: &NodeSpec, name: &str, len: usize) -> Result<Vec<f32>, NirError> {
    let bad = |message: String| NirError::Node {
        node: node.name.clone(),
        message,
    };
    let v = arrays
        .get(&(node.name.clone(), name.to_owned()))
        .ok_or_else(|| bad(format!("{} needs parameter {name:?}", node.kind)))?;
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(bad(format!(
            "parameter {name:?} holds a non-finite value ({x})"
        )));
    }
    match v.len() {
        1 => Ok(vec![v[0]; len]),
        l if l == len => Ok(v.clone()),
        l => Err(bad(format!(
            "parameter {name:?} has {l} values for {len} neurons"
        ))),
    }
}

/// Optional parameter: `default` when absent.
fn param_or(
    arrays: &Arrays,
    node: &NodeSpec,
    name: &str,
    len: usize,
    default: f32,
) -> Result<Vec<f32>, NirError> {
    if arrays.contains_key(&(node.name.clone(), name.to_owned())) {
        param(arrays, node, name, len)
    } else {
        Ok(vec![default; len])
    }
}

/// A node's dynamics from its type and arrays.
pub(super) fn dynamics_of(
    node: &NodeSpec,
    arrays: &Arrays,
    spec: &GraphSpec,
) -> Result<Dynamics, NirError> {
    let p = |name: &str| param(arrays, node, name, node.size);
    Ok(match node.kind.as_str() {
        "Input" | "Output" | "Flatten" => Dynamics::Identity,
        "Affine" | "Linear" => affine(node, arrays)?,
        "Scale" => Dynamics::Scale(p("scale")?),
        "Threshold" => Dynamics::Threshold(p("threshold")?),
        "LIF" | "CubaLIF" | "LI" => Dynamics::Neuron(leaky_neuron(node, arrays, spec)?),
        "IF" | "Integrator" => {
            let mut neuron = Neuron {
                keep: vec![1.0; node.size],
                mem_gain: p("r")?.iter().map(|r| r * spec.dt).collect(),
                leak: vec![0.0; node.size],
                v_init: vec![0.0; node.size],
                ..Neuron::default()
            };
            if node.kind == "IF" {
                spiking(&mut neuron, arrays, node, spec)?;
            }
            Dynamics::Neuron(neuron)
        }
        other => {
            return Err(NirError::Unsupported {
                node: node.name.clone(),
                kind: other.to_owned(),
            })
        }
    })
}

/// Affine (weight and bias) or Linear (weight): `weight` holds `size` rows.
fn affine(node: &NodeSpec, arrays: &Arrays) -> Result<Dynamics, NirError> {
    let n = node.size;
    let w = arrays
        .get(&(node.name.clone(), "weight".to_owned()))
        .ok_or_else(|| NirError::Node {
            node: node.name.clone(),
            message: "needs parameter \"weight\"".to_owned(),
        })?;
    if w.is_empty() || w.len() % n != 0 || w.iter().any(|x| !x.is_finite()) {
        return Err(NirError::Node {
            node: node.name.clone(),
            message: format!("weight of {} finite values does not have {n} rows", w.len()),
        });
    }
    let bias = if node.kind == "Affine" {
        param(arrays, node, "bias", n)?
    } else {
        Vec::new()
    };
    Ok(Dynamics::Affine {
        weight: Matrix::from_vec(n, w.len() / n, w.clone()),
        bias,
    })
}

/// LIF, CubaLIF (with its synaptic current) or LI (no threshold).
fn leaky_neuron(node: &NodeSpec, arrays: &Arrays, spec: &GraphSpec) -> Result<Neuron, NirError> {
    let n = node.size;
    let p = |name: &str| param(arrays, node, name, n);
    let time_constant = |name: &str| -> Result<(Vec<f32>, Vec<f32>), NirError> {
        let tau = p(name)?;
        if tau.iter().any(|&t| t <= 0.0) {
            return Err(NirError::Node {
                node: node.name.clone(),
                message: format!("{name} must be > 0 in every neuron"),
            });
        }
        Ok(tau.iter().map(|&t| decay(t, spec.dt, spec.method)).unzip())
    };
    let tau_name = if node.kind == "CubaLIF" {
        "tau_mem"
    } else {
        "tau"
    };
    let (keep, gain) = time_constant(tau_name)?;
    let (r, v_leak) = (p("r")?, p("v_leak")?);
    let mut neuron = Neuron {
        mem_gain: input_gain(&gain, &r, spec.method),
        leak: gain.iter().zip(&v_leak).map(|(g, l)| g * l).collect(),
        keep,
        v_init: v_leak,
        ..Neuron::default()
    };
    if node.kind != "LI" {
        spiking(&mut neuron, arrays, node, spec)?;
    }
    if node.kind == "CubaLIF" {
        let (keep_syn, gain_syn) = time_constant("tau_syn")?;
        let w_in = param_or(arrays, node, "w_in", n, 1.0)?;
        neuron.syn_gain = input_gain(&gain_syn, &w_in, spec.method);
        neuron.keep_syn = keep_syn;
    }
    Ok(neuron)
}

/// The factor of an input `x` in `gain * (scale * x)`. By Euler, a factor within 1e-5 of 1
/// is 1: tools that export a discrete `v' = beta v + x` write `r = tau / dt` (or
/// `w_in = tau_syn / dt`), which `f32` rounds (9.999997 for `beta = 0.9`), and their importers
/// (snnTorch's) take the factor as exactly 1.
fn input_gain(gain: &[f32], scale: &[f32], method: Method) -> Vec<f32> {
    gain.iter()
        .zip(scale)
        .map(|(g, s)| {
            let f = g * s;
            if method == Method::Euler && (f - 1.0).abs() <= 1e-5 {
                1.0
            } else {
                f
            }
        })
        .collect()
}

/// A threshold and its reset.
fn spiking(
    neuron: &mut Neuron,
    arrays: &Arrays,
    node: &NodeSpec,
    spec: &GraphSpec,
) -> Result<(), NirError> {
    let n = node.size;
    neuron.v_threshold = param(arrays, node, "v_threshold", n)?;
    neuron.v_reset = param_or(arrays, node, "v_reset", n, 0.0)?;
    neuron.reset = Some(spec.reset);
    Ok(())
}
