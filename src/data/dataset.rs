//! Labelled image data sets (MNIST and any other IDX set): loading, checking and batching.
//!
//! A [`Dataset`] is a train and a test [`Split`] read from a folder holding the four IDX
//! files `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
//! `t10k-labels-idx1-ubyte`, each optionally gzipped (`.gz`). Image size comes from the
//! files. Images stay `u8` in memory (47 MB for MNIST's training set instead of 188 MB as
//! `f32`) and are scaled to `[0, 1]` one batch at a time by [`Split::fill_batch`].

use std::path::{Path, PathBuf};

use crate::data::idx::{read_idx_file, IdxError};
use crate::math::matrix::Matrix;

/// What went wrong loading a data set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An IDX file is missing or malformed.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// Neither `NAME` nor `NAME.gz` exists in the data folder.
    #[error(
        "{dir}: no file {name} or {name}.gz; data.dir must name a folder holding the four IDX files \
         (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)"
    )]
    MissingFile {
        /// The data folder.
        dir: PathBuf,
        /// The file looked for.
        name: String,
    },
    /// Image and label files disagree on the number of examples.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels; they must agree")]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Images it holds.
        image_count: u32,
        /// The label file.
        labels: PathBuf,
        /// Labels it holds.
        label_count: u32,
    },
    /// A label is not below the number of classes.
    #[error("{path}: label {label} at index {index} is out of range: data.classes = {classes} allows labels 0..{classes}")]
    LabelOutOfRange {
        /// The label file.
        path: PathBuf,
        /// Position of the label.
        index: usize,
        /// The label.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// Train and test images differ in size.
    #[error("train images are {train_rows}x{train_cols} but test images are {test_rows}x{test_cols}; they must agree")]
    ShapeMismatch {
        /// Rows of a training image.
        train_rows: u32,
        /// Columns of a training image.
        train_cols: u32,
        /// Rows of a test image.
        test_rows: u32,
        /// Columns of a test image.
        test_cols: u32,
    },
    /// A split holds no examples (after `train_limit` / `test_limit`).
    #[error("{what} split is empty; it needs at least one example")]
    Empty {
        /// "train" or "test".
        what: &'static str,
    },
}

/// One split of a data set: images (as bytes) and labels.
#[derive(Clone, Debug)]
pub struct Split {
    images: Vec<u8>,
    labels: Vec<u8>,
    pixels: usize,
}

impl Split {
    /// Builds a split from raw bytes: `images.len()` must be `labels.len() * pixels`.
    ///
    /// # Panics
    /// If the lengths disagree (a programming error: loaded files are checked before this).
    pub fn new(images: Vec<u8>, labels: Vec<u8>, pixels: usize) -> Self {
        assert_eq!(
            images.len(),
            labels.len() * pixels,
            "images must hold pixels per label"
        );
        Self {
            images,
            labels,
            pixels,
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split holds no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.pixels
    }

    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The raw pixels of example `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * self.pixels..(i + 1) * self.pixels]
    }

    /// Keeps only the first `n` examples (no-op if `n >= len`).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.images.truncate(n * self.pixels);
        }
    }

    /// Writes the examples at `indices` into `out` (one row each, scaled to `[0, 1]`) and
    /// their labels into `labels`. Reuses both buffers.
    pub fn fill_batch(&self, indices: &[usize], out: &mut Matrix, labels: &mut Vec<u8>) {
        debug_assert_eq!(out.cols(), self.pixels);
        out.set_rows(indices.len());
        labels.clear();
        for (r, &i) in indices.iter().enumerate() {
            // Shuffled batches read images from all over 47 MB: ask for the next image's
            // cache lines while converting this one (a third of the epoch's time otherwise).
            if let Some(&next) = indices.get(r + 1) {
                prefetch(self.image(next));
            }
            for (dst, &src) in out.row_mut(r).iter_mut().zip(self.image(i)) {
                *dst = f32::from(src) / 255.0;
            }
            labels.push(self.labels[i]);
        }
    }
}

/// Hints the CPU to start loading `bytes` into cache.
#[inline]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: SSE is part of every x86-64 CPU, and a prefetch never faults.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// A train and a test split with a common image size and class count.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Training examples.
    pub train: Split,
    /// Test examples.
    pub test: Split,
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
    /// Number of classes (labels are `0..classes`).
    pub classes: usize,
}

/// File names of an IDX data set, as MNIST names them.
pub const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// How much of a data set to load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Keep only the first this-many training examples.
    pub train_limit: Option<usize>,
    /// Keep only the first this-many test examples.
    pub test_limit: Option<usize>,
    /// Number of classes; `None` means max label + 1 over both splits.
    pub classes: Option<usize>,
}

/// Finds `NAME` or `NAME.gz` in `dir`.
pub fn find_file(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::MissingFile {
        dir: dir.to_owned(),
        name: name.to_owned(),
    })
}

fn load_split(
    dir: &Path,
    images: &str,
    labels: &str,
) -> Result<(Split, u32, u32, PathBuf), DataError> {
    let image_path = find_file(dir, images)?;
    let label_path = find_file(dir, labels)?;
    let img = read_idx_file(&image_path, 3, "images")?;
    let lab = read_idx_file(&label_path, 1, "labels")?;
    if img.dims[0] != lab.dims[0] {
        return Err(DataError::CountMismatch {
            images: image_path,
            image_count: img.dims[0],
            labels: label_path,
            label_count: lab.dims[0],
        });
    }
    let pixels = img.dims[1] as usize * img.dims[2] as usize;
    Ok((
        Split::new(img.data, lab.data, pixels),
        img.dims[1],
        img.dims[2],
        label_path,
    ))
}

impl Dataset {
    /// Loads and checks the four IDX files in `dir`.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Self, DataError> {
        let (mut train, tr_rows, tr_cols, train_labels) =
            load_split(dir, FILE_NAMES[0], FILE_NAMES[1])?;
        let (mut test, te_rows, te_cols, test_labels) =
            load_split(dir, FILE_NAMES[2], FILE_NAMES[3])?;
        if (tr_rows, tr_cols) != (te_rows, te_cols) {
            return Err(DataError::ShapeMismatch {
                train_rows: tr_rows,
                train_cols: tr_cols,
                test_rows: te_rows,
                test_cols: te_cols,
            });
        }
        let classes = match opts.classes {
            Some(c) => c,
            None => {
                let max = train.labels.iter().chain(&test.labels).copied().max();
                max.map_or(0, |m| usize::from(m) + 1)
            }
        };
        for (split, path) in [(&train, &train_labels), (&test, &test_labels)] {
            if let Some((index, &label)) = split
                .labels
                .iter()
                .enumerate()
                .find(|(_, &l)| usize::from(l) >= classes)
            {
                return Err(DataError::LabelOutOfRange {
                    path: path.clone(),
                    index,
                    label,
                    classes,
                });
            }
        }
        if let Some(n) = opts.train_limit {
            train.truncate(n);
        }
        if let Some(n) = opts.test_limit {
            test.truncate(n);
        }
        for (split, what) in [(&train, "train"), (&test, "test")] {
            if split.is_empty() {
                return Err(DataError::Empty { what });
            }
        }
        Ok(Self {
            train,
            test,
            rows: tr_rows as usize,
            cols: tr_cols as usize,
            classes,
        })
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_batch_scales_to_unit_range() {
        let split = Split::new(vec![0, 255, 51, 102], vec![1, 0], 2);
        let mut m = Matrix::zeros(4, 2);
        let mut labels = Vec::new();
        split.fill_batch(&[1, 0], &mut m, &mut labels);
        assert_eq!(m.rows(), 2);
        assert_eq!(m.as_slice(), &[0.2, 0.4, 0.0, 1.0]);
        assert_eq!(labels, vec![0, 1]);
    }
}
