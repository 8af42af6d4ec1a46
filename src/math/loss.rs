//! Output losses: softmax cross-entropy and squared error, with their gradients.
//!
//! Both are averaged over the batch. Squared error is `0.5 * ||z - onehot(y)||^2` per example
//! (predictive coding's convention, where the output error is `y - mu`), so its gradient is
//! `(z - onehot(y)) / batch`. Cross-entropy's gradient is `(softmax(z) - onehot(y)) / batch`.

use serde::{Deserialize, Serialize};

use crate::math::matrix::Matrix;

/// The loss on the output layer's linear values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Softmax followed by negative log-likelihood.
    CrossEntropy,
    /// Half the squared distance to the one-hot target.
    Mse,
}

impl Loss {
    /// The scenario name (`cross-entropy`, `mse`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross-entropy",
            Loss::Mse => "mse",
        }
    }

    /// Mean loss over the batch, and `grad = dLoss/dz` (same shape as `z`) if given.
    pub fn evaluate(self, z: &Matrix, labels: &[u8], mut grad: Option<&mut Matrix>) -> f32 {
        let batch = z.rows();
        debug_assert_eq!(labels.len(), batch);
        let inv = 1.0 / batch as f32;
        let mut total = 0.0f64;
        if let Some(g) = grad.as_deref_mut() {
            g.set_rows(batch);
        }
        for (r, &y) in labels.iter().enumerate() {
            let zr = z.row(r);
            let y = usize::from(y);
            match self {
                Loss::CrossEntropy => {
                    let max = zr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let sum: f32 = zr.iter().map(|&v| (v - max).exp()).sum();
                    let log_sum = sum.ln();
                    total += f64::from(log_sum - (zr[y] - max));
                    if let Some(g) = grad.as_deref_mut() {
                        for (k, (gk, &v)) in g.row_mut(r).iter_mut().zip(zr).enumerate() {
                            let p = (v - max).exp() / sum;
                            *gk = (p - if k == y { 1.0 } else { 0.0 }) * inv;
                        }
                    }
                }
                Loss::Mse => {
                    let mut s = 0.0f32;
                    for (k, &v) in zr.iter().enumerate() {
                        let d = v - if k == y { 1.0 } else { 0.0 };
                        s += d * d;
                    }
                    total += f64::from(0.5 * s);
                    if let Some(g) = grad.as_deref_mut() {
                        for (k, (gk, &v)) in g.row_mut(r).iter_mut().zip(zr).enumerate() {
                            *gk = (v - if k == y { 1.0 } else { 0.0 }) * inv;
                        }
                    }
                }
            }
        }
        (total / batch as f64) as f32
    }
}

/// Index of the largest value in each row (ties: the first).
pub fn argmax_rows(z: &Matrix, out: &mut Vec<usize>) {
    out.clear();
    for r in 0..z.rows() {
        let row = z.row(r);
        let mut best = 0;
        for (k, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = k;
            }
        }
        out.push(best);
    }
}

/// Writes each row's predicted class (its largest value) into `predictions` and returns how many
/// equal their label.
pub fn count_correct(z: &Matrix, labels: &[u8], predictions: &mut Vec<usize>) -> usize {
    argmax_rows(z, predictions);
    predictions
        .iter()
        .zip(labels)
        .filter(|(&p, &y)| p == usize::from(y))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_matches_hand_computation() {
        // z = [1, 2, 3], y = 2: loss = log(e + e^2 + e^3) - 3 = 0.40760596
        let z = Matrix::from_vec(1, 3, vec![1.0, 2.0, 3.0]);
        let mut g = Matrix::zeros(1, 3);
        let l = Loss::CrossEntropy.evaluate(&z, &[2], Some(&mut g));
        assert!((l - 0.407_606).abs() < 1e-5, "{l}");
        // softmax = [0.09003057, 0.24472847, 0.66524096]
        let want = [0.090_030_57, 0.244_728_47, 0.665_240_96 - 1.0];
        for (a, b) in g.as_slice().iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn mse_is_half_squared_distance_averaged() {
        let z = Matrix::from_vec(2, 2, vec![1.0, 1.0, 0.0, 0.0]);
        let mut g = Matrix::zeros(2, 2);
        // row 0, y=0: 0.5*(0 + 1) = 0.5; row 1, y=1: 0.5*(0 + 1) = 0.5; mean 0.5
        let l = Loss::Mse.evaluate(&z, &[0, 1], Some(&mut g));
        assert!((l - 0.5).abs() < 1e-7);
        assert_eq!(g.as_slice(), &[0.0, 0.5, 0.0, -0.5]);
    }
}
