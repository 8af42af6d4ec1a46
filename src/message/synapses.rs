//! The synapses a layer actor learns with, and the one payload that can carry weights out of
//! it.
//!
//! Locality is enforced by the types. A [`Synapses`] can be built from outside the crate, but
//! its weights and biases can be read or changed only inside it (by the owning actor's
//! learning rule): every accessor is crate-private, and so is every way to build a
//! [`WeightCopy`] from synapses. The layer actors themselves are crate-private. So the only
//! route by which a layer's weights leave its actor is a [`WeightCopy`] the actor sends, inside
//! a `WeightTransport` message (counted as `weight_transport_bytes`) or a snapshot report
//! (counted as `snapshot`). The doctests on [`Synapses`] try each other route from outside the
//! crate, and each fails to compile.

/// The synapses an actor receives through: a weight matrix (`out x in`) and biases. Local
/// computation reads them as a [`crate::math::matrix::MatView`]; nothing hands out their values as a
/// slice, so they can only leave the actor as a [`WeightCopy`].
///
/// # Locality, checked by the compiler
///
/// Reading the weights:
/// ```compile_fail,E0624
/// let syn = axon::message::Synapses::zeros(2, 3);
/// let _ = syn.weights(); // error[E0624]: method `weights` is private
/// ```
/// Changing them:
/// ```compile_fail,E0624
/// let mut syn = axon::message::Synapses::zeros(2, 3);
/// syn.weights_mut().fill(1.0); // error[E0624]: method `weights_mut` is private
/// ```
/// Reading the biases:
/// ```compile_fail,E0624
/// let syn = axon::message::Synapses::zeros(2, 3);
/// let _ = syn.bias().to_vec(); // error[E0624]: method `bias` is private
/// ```
/// Changing them:
/// ```compile_fail,E0624
/// let mut syn = axon::message::Synapses::zeros(2, 3);
/// syn.bias_mut()[0] = 1.0; // error[E0624]: method `bias_mut` is private
/// ```
/// Reading a private field:
/// ```compile_fail,E0616
/// let syn = axon::message::Synapses::zeros(2, 3);
/// let _ = syn.weight.as_slice().to_vec(); // error[E0616]: field `weight` of struct `Synapses` is private
/// ```
/// ```compile_fail,E0616
/// let syn = axon::message::Synapses::zeros(2, 3);
/// let _ = syn.bias.clone(); // error[E0616]: field `bias` is private
/// ```
/// Copying someone's synapses into a weight copy (whole, by columns, or as feedback):
/// ```compile_fail,E0624
/// let syn = axon::message::Synapses::zeros(2, 3);
/// let _ = axon::message::WeightCopy::of(&syn); // error[E0624]: associated function `of` is private
/// ```
/// ```compile_fail,E0624
/// let syn = axon::message::Synapses::zeros(2, 3);
/// let _ = axon::message::WeightCopy::columns(&syn, 0..1); // error[E0624]: associated function `columns` is private
/// ```
/// ```compile_fail,E0624
/// let b = axon::math::matrix::Matrix::zeros(2, 3);
/// let _ = axon::message::WeightCopy::of_feedback(&b); // error[E0624]: `of_feedback` is private
/// ```
/// Building a weight copy by hand:
/// ```compile_fail,E0451
/// let _ = axon::message::WeightCopy {
///     weights: std::sync::Arc::new(axon::math::matrix::Matrix::zeros(2, 3)),
///     bias: std::sync::Arc::new(Vec::new()),
/// }; // error[E0451]: fields `weights` and `bias` of struct `WeightCopy` are private
/// ```
/// What does compile: building synapses (and cloning or comparing them).
/// ```
/// let syn = axon::message::Synapses::zeros(2, 3);
/// let _ = syn.clone() == syn;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Synapses {
    weight: crate::math::matrix::Matrix,
    bias: Vec<f32>,
}

impl Synapses {
    /// Zero synapses from `inputs` to `outputs` neurons.
    pub fn zeros(outputs: usize, inputs: usize) -> Self {
        Self {
            weight: crate::math::matrix::Matrix::zeros(outputs, inputs),
            bias: vec![0.0; outputs],
        }
    }
    /// Takes ownership of a layer's weights (for example the shared initial network).
    pub fn from_layer(layer: crate::math::mlp::DenseLayer) -> Self {
        Self {
            weight: layer.weight,
            bias: layer.bias,
        }
    }
    /// The weights, for local matrix products.
    pub(crate) fn weights(&self) -> crate::math::matrix::MatView<'_> {
        self.weight.view()
    }
    /// Mutable access for the owning actor's learning rule.
    pub(crate) fn weights_mut(&mut self) -> &mut crate::math::matrix::Matrix {
        &mut self.weight
    }
    /// The biases.
    pub(crate) fn bias(&self) -> &[f32] {
        &self.bias
    }
    /// Mutable biases for the owning actor's learning rule.
    pub(crate) fn bias_mut(&mut self) -> &mut [f32] {
        &mut self.bias
    }
}

/// A copy of forward weights (and biases), the only message payload that can carry weights.
/// Oracle feedback modes (exact PC, Z-IL) send it as [`Message::WeightTransport`](crate::message::Message::WeightTransport), and the
/// tracer counts its bytes as `weight_transport_bytes`; snapshots to the coordinator send it
/// as [`ReportData::Snapshot`](crate::message::ReportData::Snapshot), counted as `snapshot`.
#[derive(Clone, Debug)]
pub struct WeightCopy {
    weights: std::sync::Arc<crate::math::matrix::Matrix>,
    bias: std::sync::Arc<Vec<f32>>,
}

impl WeightCopy {
    /// Copies the weights and biases of `syn` (explicitly non-local).
    pub(crate) fn of(syn: &Synapses) -> Self {
        Self {
            weights: std::sync::Arc::new(syn.weight.clone()),
            bias: std::sync::Arc::new(syn.bias.clone()),
        }
    }
    /// Copies feedback synapses `B` (held as a plain matrix by the actor that feeds back
    /// through them), no biases: for snapshots to the coordinator.
    pub(crate) fn of_feedback(b: &crate::math::matrix::Matrix) -> Self {
        Self {
            weights: std::sync::Arc::new(b.clone()),
            bias: std::sync::Arc::new(Vec::new()),
        }
    }
    /// Copies columns `cols` of the weights of `syn` (the part a feedback shard reads), no
    /// biases.
    pub(crate) fn columns(syn: &Synapses, cols: std::ops::Range<usize>) -> Self {
        let w = &syn.weight;
        let mut m = crate::math::matrix::Matrix::zeros(w.rows(), cols.len());
        for r in 0..w.rows() {
            m.row_mut(r).copy_from_slice(&w.row(r)[cols.clone()]);
        }
        Self {
            weights: std::sync::Arc::new(m),
            bias: std::sync::Arc::new(Vec::new()),
        }
    }
    /// A copy received from another rank (the wire decodes what was a [`WeightCopy`] when
    /// sent: nothing else builds one from values).
    pub(crate) fn from_wire(weights: crate::math::matrix::Matrix, bias: Vec<f32>) -> Self {
        Self {
            weights: std::sync::Arc::new(weights),
            bias: std::sync::Arc::new(bias),
        }
    }
    /// The copied weights' values, row-major (for the wire).
    pub(crate) fn weight_values(&self) -> &[f32] {
        self.weights.as_slice()
    }
    /// The copied weights.
    pub fn weights(&self) -> crate::math::matrix::MatView<'_> {
        self.weights.view()
    }
    /// Writes the copied weights into rows `first..` of `dst` (which has as many columns).
    ///
    /// # Panics
    /// If the shapes do not fit (a wiring bug).
    pub fn write_rows(&self, dst: &mut crate::math::matrix::Matrix, first: usize) {
        for r in 0..self.weights.rows() {
            dst.row_mut(first + r).copy_from_slice(self.weights.row(r));
        }
    }
    /// The copied biases (empty for a column copy).
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }
    /// Payload bytes.
    pub fn bytes(&self) -> usize {
        4 * (self.weights.rows() * self.weights.cols() + self.bias.len())
    }
}
