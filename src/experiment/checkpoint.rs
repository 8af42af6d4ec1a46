//! Checkpoints: a network's weights as safetensors files.
//!
//! Tensor names are `layers.I.weight` (shape `out x in`) and `layers.I.bias` (shape `out`),
//! `I` from 0 at the input side, all `f32` little-endian: the layout PyTorch's `nn.Linear`
//! uses, so `safetensors.torch.load_file` reads a checkpoint straight into a PyTorch MLP.
//!
//! Resumable runs add `checkpoints/resume.safetensors` ([`ResumeState`]): every actor's own
//! state as it serialised it on a snapshot message (a [`StateBag`]: named `f32` tensors and
//! scalars, stored as `ACTOR/NAME`), the coordinator's position in the data and its partial
//! epoch sums, and the results so far, in one file written atomically.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::math::activation::Activation;
use crate::math::matrix::Matrix;
use crate::math::mlp::{DenseLayer, Mlp};

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
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(tensor_err(
                name,
                format!(
                    "value {i} is {}: a network that diverged cannot be used",
                    values[i]
                ),
            ));
        }
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

/// What is wrong with a serialised actor state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A tensor or scalar is missing.
    #[error("{name} is missing")]
    Missing {
        /// Its name.
        name: String,
    },
    /// A tensor has the wrong length (the scenario's shapes differ from the saved run's).
    #[error("{name} has {found} values, expected {expected}")]
    Length {
        /// Its name.
        name: String,
        /// The length the actor needs.
        expected: usize,
        /// The saved length.
        found: usize,
    },
    /// A scalar does not parse.
    #[error("{name} = {value:?} does not parse")]
    Value {
        /// Its name.
        name: String,
        /// The saved text.
        value: String,
    },
}

/// One actor's serialised state: named `f32` tensors and named scalars (as text).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateBag {
    tensors: BTreeMap<String, Vec<f32>>,
    scalars: BTreeMap<String, String>,
}

impl StateBag {
    /// Adds a tensor (empty ones are not stored: nothing to restore).
    pub fn tensor(&mut self, name: &str, values: Vec<f32>) {
        if !values.is_empty() {
            self.tensors.insert(name.to_owned(), values);
        }
    }

    /// Adds a scalar.
    pub fn scalar(&mut self, name: &str, value: String) {
        self.scalars.insert(name.to_owned(), value);
    }

    /// Copies tensor `name` into `into`, which must have its length (nothing to do for an
    /// empty `into`).
    pub fn fill(&self, name: &str, into: &mut [f32]) -> Result<(), StateError> {
        if into.is_empty() {
            return Ok(());
        }
        let v = self.tensors.get(name).ok_or_else(|| StateError::Missing {
            name: name.to_owned(),
        })?;
        if v.len() != into.len() {
            return Err(StateError::Length {
                name: name.to_owned(),
                expected: into.len(),
                found: v.len(),
            });
        }
        into.copy_from_slice(v);
        Ok(())
    }

    /// Parses scalar `name`.
    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<T, StateError> {
        let v = self.scalars.get(name).ok_or_else(|| StateError::Missing {
            name: name.to_owned(),
        })?;
        v.parse().map_err(|_| StateError::Value {
            name: name.to_owned(),
            value: v.clone(),
        })
    }

    /// Bytes of tensor data (what the state message carries).
    pub fn bytes(&self) -> usize {
        self.tensors.values().map(|v| 4 * v.len()).sum::<usize>()
            + self.scalars.values().map(String::len).sum::<usize>()
    }
}

/// Where a predictive-coding run stands in its data, and its sums over the unfinished epoch.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// The epoch to continue (1-based).
    pub epoch: usize,
    /// The next training batch of that epoch (0-based; the order is a function of seed and
    /// epoch, so this is the whole data position).
    pub next_batch: usize,
    /// The next global step number.
    pub next_step: u64,
    /// Sums over the epoch's finished batches.
    pub train_loss: f64,
    /// Correct training predictions so far.
    pub train_correct: usize,
    /// Training examples so far.
    pub train_n: usize,
    /// Free energy per step, summed.
    pub energy: Vec<f64>,
    /// Training seconds so far in the epoch.
    pub wall_s: f64,
    /// Worst gradient gap per layer so far.
    pub grad_gap: Vec<f64>,
    /// Batches finished in the epoch.
    pub batches_done: usize,
}

/// Everything needed to continue a run: actor states, the coordinator's position, and the
/// results written so far (JSON).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResumeState {
    /// The coordinator's position.
    pub position: Position,
    /// Each actor's state, by actor name (`layer-2.0`).
    pub actors: BTreeMap<String, StateBag>,
    /// `results.json` as it was when the checkpoint was taken.
    pub results: String,
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
                bag.tensors
                    .iter()
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
        let scalars: BTreeMap<&String, &BTreeMap<String, String>> =
            self.actors.iter().map(|(a, b)| (a, &b.scalars)).collect();
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
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_owned(),
            source,
        })?;
        let format = |message: String| CheckpointError::Format {
            path: path.to_owned(),
            message,
        };
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| format(e.to_string()))?;
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
        let position: Position =
            serde_json::from_str(&field("position")?).map_err(|e| format(e.to_string()))?;
        let scalars: BTreeMap<String, BTreeMap<String, String>> =
            serde_json::from_str(&field("scalars")?).map_err(|e| format(e.to_string()))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| format(e.to_string()))?;
        let mut actors: BTreeMap<String, StateBag> = scalars
            .into_iter()
            .map(|(a, scalars)| {
                (
                    a,
                    StateBag {
                        tensors: BTreeMap::new(),
                        scalars,
                    },
                )
            })
            .collect();
        for (name, t) in st.tensors() {
            let (actor, tensor) = name
                .split_once('/')
                .ok_or_else(|| format(format!("tensor {name} is not ACTOR/NAME")))?;
            if t.dtype() != Dtype::F32 {
                return Err(format(format!("tensor {name} is {:?}, not F32", t.dtype())));
            }
            let values = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            actors
                .entry(actor.to_owned())
                .or_default()
                .tensors
                .insert(tensor.to_owned(), values);
        }
        Ok(Self {
            position,
            actors,
            results: field("results")?,
        })
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(bag.parse::<i32>("step").expect("parses"), 7);
        assert!(matches!(
            bag.fill("weight", &mut [0.0; 2]),
            Err(StateError::Length { .. })
        ));
        assert!(matches!(
            bag.parse::<i32>("nope"),
            Err(StateError::Missing { .. })
        ));
        std::fs::write(&path, b"junk").expect("write");
        assert!(ResumeState::read(&path).is_err());
    }
}
