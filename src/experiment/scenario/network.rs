//! `[network]`: the layer widths, the hidden activation and the weight initialisation.

use serde::{Deserialize, Serialize};

use super::{invalid, ScenarioError};
use crate::math::activation::Activation;
use crate::math::mlp::Init;

/// Upper bounds that keep a typo from asking for more memory than any machine has.
const MAX_LAYERS: usize = 1000;
const MAX_WIDTH: usize = 10_000_000;
const MAX_PARAMETERS: u128 = 1_000_000_000;

/// `[network]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// Layer widths, input and output included. Default `[784, 256, 256, 10]`.
    pub layers: Vec<usize>,
    /// Hidden activation: `relu` | `sigmoid` | `tanh` | `hard-sigmoid` | `shifted-sigmoid`.
    /// Default `relu`. (`ep` and `cep` need a bounded one: not `relu`.)
    pub activation: Activation,
    /// Weight initialisation: `kaiming` | `xavier`. Default `kaiming`.
    pub init: Init,
}

impl Default for NetworkSection {
    fn default() -> Self {
        Self {
            layers: vec![784, 256, 256, 10],
            activation: Activation::Relu,
            init: Init::Kaiming,
        }
    }
}

impl NetworkSection {
    /// Checks the widths: at least two, none zero, and a size any machine can hold.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let layers = &self.layers;
        if layers.len() < 2 {
            return Err(invalid(
                "network.layers",
                format!("{layers:?}"),
                "needs at least two widths: the input size and the number of classes, e.g. [784, 10]",
            ));
        }
        if let Some(i) = layers.iter().position(|&w| w == 0) {
            return Err(invalid(
                &format!("network.layers[{i}]"),
                0,
                "every width must be >= 1",
            ));
        }
        if layers.len() > MAX_LAYERS {
            return Err(invalid(
                "network.layers",
                format!("{} widths", layers.len()),
                &format!("at most {MAX_LAYERS} widths"),
            ));
        }
        if let Some(i) = layers.iter().position(|&w| w > MAX_WIDTH) {
            return Err(invalid(
                &format!("network.layers[{i}]"),
                layers[i],
                &format!("every width must be <= {MAX_WIDTH}"),
            ));
        }
        let params: u128 = layers
            .windows(2)
            .map(|w| (w[0] as u128 + 1) * w[1] as u128)
            .sum();
        if params > MAX_PARAMETERS {
            return Err(invalid(
                "network.layers",
                format!("{layers:?}"),
                &format!(
                    "that is {params} weights; at most {MAX_PARAMETERS} (4 bytes each, times \
                     the optimiser's copies)"
                ),
            ));
        }
        Ok(())
    }

    /// Weight layers (one fewer than widths).
    pub fn weight_layers(&self) -> usize {
        self.layers.len() - 1
    }
}
