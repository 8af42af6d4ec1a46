//! IDX files and data folders on disk: round trips (raw and gzipped) and every malformed case.

mod common;

use std::io::Write;

use axon::data::dataset::{DataError, Dataset, LoadOptions, FILE_NAMES};
use axon::data::idx::{encode_idx, read_idx_file, IdxError};
use common::write_file;
use flate2::write::GzEncoder;
use proptest::prelude::*;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("in-memory write");
    enc.finish().expect("in-memory gzip")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Any byte array survives encode -> file (raw or gzipped) -> decode unchanged.
    #[test]
    fn idx_round_trips_through_files(n in 0u32..20, r in 1u32..6, c in 1u32..6, gz: bool, seed: u64) {
        let len = (n * r * c) as usize;
        let data: Vec<u8> = (0..len).map(|i| (seed.wrapping_mul(31).wrapping_add(i as u64 * 7) % 256) as u8).collect();
        let bytes = encode_idx(&[n, r, c], &data);
        let dir = tempfile::tempdir().expect("temp dir");
        let file = write_file(dir.path(), "x", &if gz { gzip(&bytes) } else { bytes });
        let back = read_idx_file(&file, 3, "images").expect("valid file");
        prop_assert_eq!(back.dims, vec![n, r, c]);
        prop_assert_eq!(back.data, data);
    }
}

/// A data folder of four small valid files, optionally altered.
struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    fn new(train: u32, test: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = Self { dir };
        f.put(
            0,
            &encode_idx(&[train, 3, 2], &vec![7; (train * 6) as usize]),
        );
        f.put(
            1,
            &encode_idx(
                &[train],
                &(0..train).map(|i| (i % 3) as u8).collect::<Vec<_>>(),
            ),
        );
        f.put(2, &encode_idx(&[test, 3, 2], &vec![9; (test * 6) as usize]));
        f.put(3, &encode_idx(&[test], &vec![1; test as usize]));
        f
    }
    fn put(&self, which: usize, bytes: &[u8]) {
        write_file(self.dir.path(), FILE_NAMES[which], bytes);
    }
    fn load(&self) -> Result<Dataset, DataError> {
        Dataset::load(self.dir.path(), &LoadOptions::default())
    }
}

#[test]
fn any_image_size_and_class_count_from_the_files() {
    let d = Folder::new(5, 2).load().expect("valid folder");
    assert_eq!((d.rows, d.cols, d.classes), (3, 2, 3));
    assert_eq!((d.train.len(), d.test.len()), (5, 2));
}

#[test]
fn gzipped_and_raw_files_mix() {
    let f = Folder::new(4, 2);
    let labels = encode_idx(&[4], &[0, 1, 2, 1]);
    std::fs::remove_file(f.dir.path().join(FILE_NAMES[1])).expect("exists");
    write_file(
        f.dir.path(),
        &format!("{}.gz", FILE_NAMES[1]),
        gzip(&labels),
    );
    assert_eq!(f.load().expect("valid").train.labels(), &[0, 1, 2, 1]);
}

#[test]
fn each_malformed_case_has_its_own_error() {
    let good = encode_idx(&[5, 3, 2], &[1; 30]);

    let f = Folder::new(5, 2);
    let mut bad = good.clone();
    bad[2] = 9;
    f.put(0, &bad);
    let e = f.load().expect_err("bad magic");
    assert!(
        matches!(e, DataError::Idx(IdxError::BadMagic { .. })),
        "{e}"
    );
    assert!(
        e.to_string().contains("train-images-idx3-ubyte") && e.to_string().contains("magic number"),
        "{e}"
    );

    let f = Folder::new(5, 2);
    f.put(0, &good[..good.len() - 3]);
    let e = f.load().expect_err("truncated");
    assert!(
        matches!(
            e,
            DataError::Idx(IdxError::Truncated {
                expected: 30,
                found: 27,
                ..
            })
        ),
        "{e}"
    );

    // truncated inside a gzip stream
    let f = Folder::new(5, 2);
    std::fs::remove_file(f.dir.path().join(FILE_NAMES[0])).expect("exists");
    write_file(
        f.dir.path(),
        &format!("{}.gz", FILE_NAMES[0]),
        gzip(&good[..20]),
    );
    let e = f.load().expect_err("truncated gz");
    assert!(
        matches!(e, DataError::Idx(IdxError::Truncated { .. })),
        "{e}"
    );

    let f = Folder::new(5, 2);
    let mut long = good.clone();
    long.extend_from_slice(&[0, 0]);
    f.put(0, &long);
    let e = f.load().expect_err("trailing");
    assert!(
        matches!(e, DataError::Idx(IdxError::TrailingBytes { .. })),
        "{e}"
    );

    let f = Folder::new(5, 2);
    f.put(1, &encode_idx(&[4], &[0, 1, 2, 0]));
    let e = f.load().expect_err("count mismatch");
    assert!(
        matches!(
            e,
            DataError::CountMismatch {
                image_count: 5,
                label_count: 4,
                ..
            }
        ),
        "{e}"
    );

    let f = Folder::new(5, 2);
    let e = Dataset::load(
        f.dir.path(),
        &LoadOptions {
            classes: Some(2),
            ..Default::default()
        },
    )
    .expect_err("label out of range");
    assert!(
        matches!(
            e,
            DataError::LabelOutOfRange {
                label: 2,
                classes: 2,
                index: 2,
                ..
            }
        ),
        "{e}"
    );

    // A header that claims 4 billion 28x28 images in a 1 KB file: an error, not an allocation.
    let f = Folder::new(5, 2);
    let mut absurd = encode_idx(&[0, 28, 28], &[]);
    absurd[4..8].copy_from_slice(&4_000_000_000u32.to_be_bytes());
    absurd.resize(1024, 0);
    f.put(0, &absurd);
    let e = f.load().expect_err("absurd header");
    assert!(
        matches!(e, DataError::Idx(IdxError::ImplausibleHeader { .. })),
        "{e}"
    );

    let f = Folder::new(5, 2);
    std::fs::remove_file(f.dir.path().join(FILE_NAMES[3])).expect("exists");
    let e = f.load().expect_err("missing");
    assert!(matches!(e, DataError::MissingFile { .. }), "{e}");
    assert!(e.to_string().contains("t10k-labels-idx1-ubyte"), "{e}");
}

#[test]
fn shipped_mnist_is_complete() {
    let d =
        Dataset::load(&common::mnist_dir(), &LoadOptions::default()).expect("shipped MNIST loads");
    assert_eq!(
        (d.train.len(), d.test.len(), d.rows, d.cols, d.classes),
        (60_000, 10_000, 28, 28, 10)
    );
    // first training labels of MNIST: 5 0 4 1 9 2 1 3 1 4
    assert_eq!(&d.train.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    // first test labels: 7 2 1 0 4 1 4 9 5 9
    assert_eq!(&d.test.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
}
