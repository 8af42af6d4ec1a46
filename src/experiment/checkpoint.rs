//! Checkpoints: a network's weights as safetensors files.
//!
//! Tensor names are `layers.I.weight` (shape `out x in`) and `layers.I.bias` (shape `out`),
//! `I` from 0 at the input side, all `f32` little-endian: the layout PyTorch's `nn.Linear`
//! uses, so `safetensors.torch.load_file` reads a checkpoint straight into a PyTorch MLP.
//!
//! Resumable runs add `checkpoints/resume.safetensors` (a [`ResumeState`], defined beside the
//! coordinator; its file format is here): every actor's own state as it serialised it on a
//! snapshot message (a [`StateBag`]: named `f32` tensors and scalars, stored as `ACTOR/NAME`),
//! the coordinator's position in the data and its partial epoch sums, and the results so far,
//! in one file written atomically.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::learn::coordinator::resume::{Position, ResumeState};
use crate::math::activation::Activation;
use crate::math::matrix::Matrix;
use crate::math::mlp::{DenseLayer, Mlp};
use crate::state::StateBag;

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
    /// A resume checkpoint's position in the data is impossible, or not one of this run.
    #[error("{path}: the saved position is not one this run can continue from: {message}")]
    Position {
        /// The file.
        path: PathBuf,
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

/// Reads a whole checkpoint file.
fn read_file(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a network from a safetensors file written by [`to_safetensors`] (or by PyTorch with
/// the same names).
pub fn load_mlp(path: &Path, activation: Activation) -> Result<Mlp, CheckpointError> {
    from_safetensors(path, &read_file(path)?, activation)
}

/// Little-endian `f32` values of a tensor whose dtype is F32, refusing any non-finite value.
fn finite_f32(path: &Path, name: &str, data: &[u8]) -> Result<Vec<f32>, CheckpointError> {
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(CheckpointError::Tensor {
            path: path.to_owned(),
            name: name.to_owned(),
            message: format!(
                "value {i} is {}: a network that diverged cannot be used",
                values[i]
            ),
        }),
        None => Ok(values),
    }
}

/// Tensor `name` of a network checkpoint: `dims`-dimensional F32 with no empty dimension and
/// only finite values; its shape and values.
fn network_tensor(
    st: &SafeTensors<'_>,
    path: &Path,
    name: &str,
    dims: usize,
) -> Result<(Vec<usize>, Vec<f32>), CheckpointError> {
    let err = |message: String| CheckpointError::Tensor {
        path: path.to_owned(),
        name: name.to_owned(),
        message,
    };
    let t = st.tensor(name).map_err(|e| err(e.to_string()))?;
    if t.dtype() != Dtype::F32 || t.shape().len() != dims {
        return Err(err(format!(
            "expected {dims}-d F32, found {:?} with shape {:?}",
            t.dtype(),
            t.shape()
        )));
    }
    if t.shape().contains(&0) {
        return Err(err(format!(
            "shape {:?} has an empty dimension: a layer needs at least one neuron",
            t.shape()
        )));
    }
    Ok((t.shape().to_vec(), finite_f32(path, name, t.data())?))
}

/// Parses safetensors bytes into a network; `path` labels errors. Every tensor must belong to
/// the network: `layers.I.weight` and `layers.I.bias` for `I` from 0 without a gap.
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
    let mut layers: Vec<DenseLayer> = Vec::new();
    while st
        .tensor(&format!("layers.{}.weight", layers.len()))
        .is_ok()
    {
        let i = layers.len();
        let weight_name = format!("layers.{i}.weight");
        let (shape, w) = network_tensor(&st, path, &weight_name, 2)?;
        let bias_name = format!("layers.{i}.bias");
        let (bshape, b) = network_tensor(&st, path, &bias_name, 1)?;
        if bshape[0] != shape[0] {
            return Err(tensor_err(
                &bias_name,
                format!("has {} values, expected {}", bshape[0], shape[0]),
            ));
        }
        if let Some(prev) = layers.last().map(DenseLayer::outputs) {
            if prev != shape[1] {
                return Err(tensor_err(
                    &weight_name,
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
    let read: Vec<String> = (0..layers.len())
        .flat_map(|i| [format!("layers.{i}.weight"), format!("layers.{i}.bias")])
        .collect();
    let mut names = st.names();
    names.sort_unstable();
    if let Some(extra) = names.into_iter().find(|n| !read.iter().any(|r| r == n)) {
        return Err(tensor_err(
            extra,
            format!(
                "is not part of the network, whose layers run from layers.0 to layers.{}",
                layers.len() - 1
            ),
        ));
    }
    Ok(Mlp::from_layers(layers, activation))
}

/// The file format tag of resume checkpoints.
const RESUME_FORMAT: &str = "axon-resume-1";

impl ResumeState {
    /// Serialises to safetensors bytes: tensors `ACTOR/NAME`, scalars and the rest as JSON in
    /// the metadata.
    pub fn to_bytes(&self) -> Vec<u8> {
        let buffers: Vec<(String, usize, Vec<u8>)> = self
            .actors
            .iter()
            .flat_map(|(actor, bag)| {
                bag.tensors()
                    .map(move |(name, v)| (format!("{actor}/{name}"), v.len(), le_bytes(v)))
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = buffers
            .iter()
            .map(|(name, len, bytes)| {
                let view = TensorView::new(Dtype::F32, vec![*len], bytes)
                    .expect("shape and byte length agree by construction");
                (name.clone(), view)
            })
            .collect();
        let scalars: BTreeMap<&String, &BTreeMap<String, String>> = self
            .actors
            .iter()
            .map(|(a, b)| (a, b.scalar_map()))
            .collect();
        let meta = HashMap::from([
            ("format".to_owned(), RESUME_FORMAT.to_owned()),
            (
                "position".to_owned(),
                serde_json::to_string(&self.position).expect("plain data serialises"),
            ),
            (
                "scalars".to_owned(),
                serde_json::to_string(&scalars).expect("plain data serialises"),
            ),
            ("results".to_owned(), self.results.clone()),
        ]);
        safetensors::tensor::serialize(views, Some(meta))
            .expect("serialising in-memory f32 tensors cannot fail")
    }

    /// Reads a resume checkpoint written by [`ResumeState::to_bytes`].
    pub fn read(path: &Path) -> Result<Self, CheckpointError> {
        Self::from_bytes(path, &read_file(path)?)
    }

    /// Parses resume-checkpoint bytes; `path` labels errors. Refuses what no run writes: a
    /// non-finite value, a tensor that is not `F32` or not named `ACTOR/NAME`, a position that
    /// no run can stand at (see [`Position::problem`]).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, CheckpointError> {
        let format = |message: String| CheckpointError::Format {
            path: path.to_owned(),
            message,
        };
        let st = SafeTensors::deserialize(bytes).map_err(|e| format(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format(e.to_string()))?;
        let meta = header
            .metadata()
            .clone()
            .ok_or_else(|| format("no metadata: not a resume checkpoint".to_owned()))?;
        if meta.get("format").map(String::as_str) != Some(RESUME_FORMAT) {
            return Err(format(format!(
                "not a resume checkpoint (format {:?}, expected {RESUME_FORMAT})",
                meta.get("format")
            )));
        }
        let field = |k: &str| {
            meta.get(k)
                .cloned()
                .ok_or_else(|| format(format!("metadata {k} is missing")))
        };
        let position: Position = serde_json::from_str(&field("position")?)
            .map_err(|e| format(format!("metadata position: {e}")))?;
        if let Some(problem) = position.problem() {
            return Err(CheckpointError::Position {
                path: path.to_owned(),
                message: problem,
            });
        }
        let scalars: BTreeMap<String, BTreeMap<String, String>> =
            serde_json::from_str(&field("scalars")?)
                .map_err(|e| format(format!("metadata scalars: {e}")))?;
        Ok(Self {
            position,
            actors: actor_states(path, &st, scalars)?,
            results: field("results")?,
        })
    }

    /// Checks the saved position against the run it is to continue: `epochs` epochs of
    /// `batches` training batches each, on a network of `weight_layers` weight layers.
    pub fn check_plan(
        &self,
        path: &Path,
        epochs: usize,
        batches: usize,
        weight_layers: usize,
    ) -> Result<(), CheckpointError> {
        let p = &self.position;
        let problem = if p.epoch > epochs {
            format!("epoch {} of a run of {epochs} epochs", p.epoch)
        } else if p.next_batch > batches || p.batches_done > batches {
            format!(
                "batch {} ({} done) of an epoch of {batches} batches",
                p.next_batch, p.batches_done
            )
        } else if !p.grad_gap.is_empty() && p.grad_gap.len() != weight_layers {
            format!(
                "gradient gaps of {} layers for a network of {weight_layers}",
                p.grad_gap.len()
            )
        } else {
            return Ok(());
        };
        Err(CheckpointError::Position {
            path: path.to_owned(),
            message: format!("{problem}: it was written by another run"),
        })
    }
}

/// The actors' states: `scalars` (actor -> name -> text) and the tensors `ACTOR/NAME` of `st`,
/// each `F32` with finite values.
fn actor_states(
    path: &Path,
    st: &SafeTensors<'_>,
    scalars: BTreeMap<String, BTreeMap<String, String>>,
) -> Result<BTreeMap<String, StateBag>, CheckpointError> {
    let mut actors: BTreeMap<String, StateBag> = scalars
        .into_iter()
        .map(|(a, scalars)| (a, StateBag::with_scalars(scalars)))
        .collect();
    for (name, t) in st.tensors() {
        let err = |message: String| CheckpointError::Tensor {
            path: path.to_owned(),
            name: name.clone(),
            message,
        };
        let (actor, tensor) = name
            .split_once('/')
            .ok_or_else(|| err("is not named ACTOR/NAME".to_owned()))?;
        if t.dtype() != Dtype::F32 {
            return Err(err(format!("is {:?}, not F32", t.dtype())));
        }
        let values = finite_f32(path, &name, t.data())?;
        actors
            .entry(actor.to_owned())
            .or_default()
            .insert_tensor(tensor, values);
    }
    Ok(actors)
}

#[cfg(test)]
mod tests;
