//! Checkpoints: a network's weights as safetensors files.
//!
//! Tensor names are `layers.I.weight` (shape `out x in`) and `layers.I.bias` (shape `out`),
//! `I` from 0 at the input side, all `f32` little-endian: the layout PyTorch's `nn.Linear`
//! uses, so `safetensors.torch.load_file` reads a checkpoint straight into a PyTorch MLP.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::activation::Activation;
use crate::matrix::Matrix;
use crate::mlp::{DenseLayer, Mlp};

/// What went wrong reading or writing a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read.
    #[error("{path}: cannot read checkpoint: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid safetensors.
    #[error("{path}: not a valid safetensors file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// A tensor is missing or has the wrong type or shape.
    #[error("{path}: tensor {name}: {message}")]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Serialises a network's weights and biases to safetensors bytes. `metadata` is stored in
/// the header under the single key `axon`, as a JSON object in the order given (the format
/// keeps its metadata in a hash map, so one key is what makes the bytes reproducible).
pub fn to_safetensors(net: &Mlp, metadata: &[(&str, String)]) -> Vec<u8> {
    let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = net
        .layers()
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            [
                (
                    format!("layers.{i}.weight"),
                    vec![l.outputs(), l.inputs()],
                    le_bytes(l.weight.as_slice()),
                ),
                (
                    format!("layers.{i}.bias"),
                    vec![l.outputs()],
                    le_bytes(&l.bias),
                ),
            ]
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
                .expect("shape and byte length agree by construction");
            (name.clone(), view)
        })
        .collect();
    let fields: Vec<String> = metadata
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                serde_json::Value::from(*k),
                serde_json::Value::from(v.as_str())
            )
        })
        .collect();
    let info = (!metadata.is_empty())
        .then(|| HashMap::from([("axon".to_owned(), format!("{{{}}}", fields.join(",")))]));
    safetensors::tensor::serialize(views, info)
        .expect("serialising in-memory f32 tensors cannot fail")
}

/// Reads a network from a safetensors file written by [`to_safetensors`] (or by PyTorch with
/// the same names).
pub fn load_mlp(path: &Path, activation: Activation) -> Result<Mlp, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })?;
    from_safetensors(path, &bytes, activation)
}

/// Parses safetensors bytes into a network; `path` labels errors.
pub fn from_safetensors(
    path: &Path,
    bytes: &[u8],
    activation: Activation,
) -> Result<Mlp, CheckpointError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Format {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let tensor_err = |name: &str, message: String| CheckpointError::Tensor {
        path: path.to_owned(),
        name: name.to_owned(),
        message,
    };
    let read = |name: &str, dims: usize| -> Result<(Vec<usize>, Vec<f32>), CheckpointError> {
        let t = st
            .tensor(name)
            .map_err(|e| tensor_err(name, e.to_string()))?;
        if t.dtype() != Dtype::F32 || t.shape().len() != dims {
            return Err(tensor_err(
                name,
                format!(
                    "expected {dims}-d F32, found {:?} with shape {:?}",
                    t.dtype(),
                    t.shape()
                ),
            ));
        }
        let values = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((t.shape().to_vec(), values))
    };
    let mut layers = Vec::new();
    while st
        .tensor(&format!("layers.{}.weight", layers.len()))
        .is_ok()
    {
        let i = layers.len();
        let (shape, w) = read(&format!("layers.{i}.weight"), 2)?;
        let bias_name = format!("layers.{i}.bias");
        let (bshape, b) = read(&bias_name, 1)?;
        if bshape[0] != shape[0] {
            return Err(tensor_err(
                &bias_name,
                format!("has {} values, expected {}", bshape[0], shape[0]),
            ));
        }
        if let Some(prev) = layers.last().map(DenseLayer::outputs) {
            if prev != shape[1] {
                return Err(tensor_err(
                    &format!("layers.{i}.weight"),
                    format!(
                        "takes {} inputs but layer {} has {prev} outputs",
                        shape[1],
                        i - 1
                    ),
                ));
            }
        }
        layers.push(DenseLayer {
            weight: Matrix::from_vec(shape[0], shape[1], w),
            bias: b,
        });
    }
    if layers.is_empty() {
        return Err(tensor_err("layers.0.weight", "missing".to_owned()));
    }
    Ok(Mlp::from_layers(layers, activation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::Init;
    use crate::rng::SeededRng;

    #[test]
    fn round_trip_is_exact() {
        let mut rng = SeededRng::new(2);
        let net = Mlp::new(&[6, 4, 3], Activation::Tanh, Init::Kaiming, &mut rng);
        let bytes = to_safetensors(&net, &[("epoch", "0".to_owned())]);
        let back = from_safetensors(Path::new("mem"), &bytes, Activation::Tanh).expect("valid");
        assert_eq!(back, net);
        assert!(from_safetensors(Path::new("mem"), &bytes[..10], Activation::Tanh).is_err());
    }
}
