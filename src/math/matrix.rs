//! Row-major `f32` matrices and their products: the one module that names the GEMM crate.
//!
//! Every matrix product in axon goes through [`matmul`], which hands the work to
//! [`faer`]'s GEMM kernels. faer picks AVX-512, AVX2+FMA or scalar code at run time from
//! the CPU it finds, so one portable binary runs at the speed of the machine it lands on.
//! Transposes are free: [`MatView::t`] only swaps strides.
//!
//! ```
//! use axon::math::matrix::{matmul, Matrix, Threads};
//! let a = Matrix::from_vec(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! let b = Matrix::from_vec(2, 3, vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
//! let mut c = Matrix::zeros(2, 2);
//! // c = a * b^T
//! matmul(&mut c, a.view(), b.view().t(), 1.0, false, Threads::ONE);
//! assert_eq!(c.as_slice(), &[4.0, 2.0, 10.0, 5.0]);
//! ```

use faer::{Accum, MatRef, Par};

/// A dense, row-major `f32` matrix that owns its buffer.
///
/// The buffer may be larger than `rows * cols` (see [`Matrix::set_rows`]), so that a
/// workspace sized for the largest batch can serve a smaller last batch without
/// reallocating.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// A `rows x cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Wraps a row-major buffer of exactly `rows * cols` values.
    ///
    /// # Panics
    /// If the buffer length is not `rows * cols` (a programming error, not user input).
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * cols, "buffer length must be rows * cols");
        Self { rows, cols, data }
    }

    /// Number of rows in use.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Changes the number of rows in use, growing the buffer if needed (new rows are zero).
    /// Shrinking keeps the allocation, so alternating batch sizes never reallocate.
    pub fn set_rows(&mut self, rows: usize) {
        let need = rows * self.cols;
        if self.data.len() < need {
            self.data.resize(need, 0.0);
        }
        self.rows = rows;
    }

    /// The values in use, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data[..self.rows * self.cols]
    }

    /// The values in use, row-major, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        let n = self.rows * self.cols;
        &mut self.data[..n]
    }

    /// Row `r` as a slice.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// Row `r` as a mutable slice.
    pub fn row_mut(&mut self, r: usize) -> &mut [f32] {
        let c = self.cols;
        &mut self.data[r * c..(r + 1) * c]
    }

    /// A borrowed view of the rows in use.
    pub fn view(&self) -> MatView<'_> {
        MatView {
            data: self.as_slice(),
            rows: self.rows,
            cols: self.cols,
            transposed: false,
        }
    }

    /// Sets every value in use to `value`.
    pub fn fill(&mut self, value: f32) {
        self.as_mut_slice().fill(value);
    }
}

impl Matrix {
    /// Copies the values of `v` (as seen, after any transpose) into this matrix, taking its
    /// number of rows.
    ///
    /// # Panics
    /// If the column counts differ.
    pub fn copy_from_view(&mut self, v: MatView<'_>) {
        assert_eq!(
            self.cols,
            v.cols(),
            "a copy needs the same number of columns"
        );
        self.set_rows(v.rows());
        if v.transposed {
            for r in 0..v.rows() {
                for c in 0..v.cols() {
                    self.data[r * self.cols + c] = v.data[c * v.cols + r];
                }
            }
        } else {
            self.data[..v.data.len()].copy_from_slice(v.data);
        }
    }
}

/// A borrowed row-major matrix, possibly read as its transpose.
#[derive(Clone, Copy, Debug)]
pub struct MatView<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl<'a> MatView<'a> {
    /// Views a row-major slice of exactly `rows * cols` values.
    ///
    /// # Panics
    /// If the slice length is not `rows * cols`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "slice length must be rows * cols");
        Self {
            data,
            rows,
            cols,
            transposed: false,
        }
    }

    /// The values, row-major, of a view that is not transposed.
    ///
    /// # Panics
    /// On a transposed view.
    pub fn as_slice(&self) -> &'a [f32] {
        assert!(!self.transposed, "a transposed view has no row-major slice");
        self.data
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        Self {
            transposed: !self.transposed,
            ..self
        }
    }

    /// Rows of the matrix as seen (after any transpose).
    pub fn rows(&self) -> usize {
        if self.transposed {
            self.cols
        } else {
            self.rows
        }
    }

    /// Columns of the matrix as seen (after any transpose).
    pub fn cols(&self) -> usize {
        if self.transposed {
            self.rows
        } else {
            self.cols
        }
    }

    fn faer(&self) -> MatRef<'a, f32> {
        let m = MatRef::from_row_major_slice(self.data, self.rows, self.cols);
        if self.transposed {
            m.transpose()
        } else {
            m
        }
    }
}

/// How many threads a matrix product may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threads(pub usize);

/// Products with fewer multiply-adds than this run on the calling thread whatever
/// [`Threads`] allows: splitting them costs more in hand-offs than it saves. Measured on a
/// 2-core Xeon: 784-256-256-10 at batch 64 (products of 0.2-13 M multiply-adds) ran 0.62 s
/// per epoch on one thread and 0.93 s on two; at 1024 wide and batch 1024 (0.8 G) two threads
/// were 1.65x faster.
pub const PARALLEL_MIN_WORK: usize = 1 << 25;

impl Threads {
    /// Single-threaded: the products run on the calling thread.
    pub const ONE: Threads = Threads(1);

    fn par(self, work: usize) -> Par {
        if self.0 <= 1 || work < PARALLEL_MIN_WORK {
            Par::Seq
        } else {
            Par::rayon(self.0)
        }
    }
}

/// `dst = alpha * a * b` (or `dst += alpha * a * b` when `accumulate`).
///
/// # Panics
/// If the shapes do not agree (a programming error inside axon, never user input).
pub fn matmul(
    dst: &mut Matrix,
    a: MatView<'_>,
    b: MatView<'_>,
    alpha: f32,
    accumulate: bool,
    threads: Threads,
) {
    assert_eq!(
        a.cols(),
        b.rows(),
        "inner dimensions of a product must agree"
    );
    assert_eq!(
        (dst.rows(), dst.cols()),
        (a.rows(), b.cols()),
        "destination shape must be rows(a) x cols(b)"
    );
    let (rows, cols) = (dst.rows, dst.cols);
    let par = threads.par(rows * cols * a.cols());
    let out = faer::MatMut::from_row_major_slice_mut(dst.as_mut_slice(), rows, cols);
    let accum = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    faer::linalg::matmul::matmul(out, accum, a.faer(), b.faer(), alpha, par);
    clear_upper_simd_state();
}

/// Zeroes the upper halves of the vector registers after a GEMM call.
///
/// faer's AVX-512 kernels return with the upper register state dirty (no `vzeroupper`). On
/// Intel cores every later SSE-encoded instruction, which is what the rest of a baseline
/// x86-64 build (and glibc's `expf`) is made of, then pays a false dependency on those
/// upper bits: measured here it made the softmax 40x slower and a BP epoch 1.5x slower.
#[inline]
fn clear_upper_simd_state() {
    #[cfg(target_arch = "x86_64")]
    {
        /// Executes `vzeroupper`.
        ///
        /// # Safety
        /// The CPU must support AVX.
        #[target_feature(enable = "avx")]
        unsafe fn zeroupper() {
            std::arch::x86_64::_mm256_zeroupper();
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: AVX support was just detected.
            unsafe { zeroupper() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference product by definition, for checking the GEMM wiring.
    fn naive(a: MatView<'_>, b: MatView<'_>) -> Vec<f32> {
        let (m, k, n) = (a.rows(), a.cols(), b.cols());
        let at = |i: usize, j: usize| {
            if a.transposed {
                a.data[j * a.cols + i]
            } else {
                a.data[i * a.cols + j]
            }
        };
        let bt = |i: usize, j: usize| {
            if b.transposed {
                b.data[j * b.cols + i]
            } else {
                b.data[i * b.cols + j]
            }
        };
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
            }
        }
        out
    }

    #[test]
    fn all_transpose_combinations_match_the_definition() {
        let a = Matrix::from_vec(3, 4, (0..12).map(|x| x as f32 * 0.5 - 2.0).collect());
        let b = Matrix::from_vec(4, 3, (0..12).map(|x| (x as f32).sin()).collect());
        let sq = Matrix::from_vec(3, 4, (0..12).map(|x| (x as f32).cos()).collect());
        // a * b, a * sq^T, a^T * sq, b^T * a^T
        let cases = [
            (a.view(), b.view()),
            (a.view(), sq.view().t()),
            (a.view().t(), sq.view()),
            (b.view().t(), a.view().t()),
        ];
        for (x, y) in cases {
            let mut dst = Matrix::zeros(x.rows(), y.cols());
            matmul(&mut dst, x, y, 1.0, false, Threads::ONE);
            let want = naive(x, y);
            for (g, w) in dst.as_slice().iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
            // accumulate doubles it
            matmul(&mut dst, x, y, 1.0, true, Threads(2));
            for (g, w) in dst.as_slice().iter().zip(&want) {
                assert!((g - 2.0 * w).abs() < 1e-4, "{g} vs {}", 2.0 * w);
            }
        }
    }

    #[test]
    fn set_rows_keeps_capacity_and_values() {
        let mut m = Matrix::from_vec(2, 2, vec![1.0, 2.0, 3.0, 4.0]);
        m.set_rows(1);
        assert_eq!(m.as_slice(), &[1.0, 2.0]);
        m.set_rows(3);
        assert_eq!(m.rows(), 3);
        assert_eq!(m.row(2), &[0.0, 0.0]);
    }
}
