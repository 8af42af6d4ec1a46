//! The IDX file format (MNIST's): decoding with every check a user's file needs, and encoding.
//!
//! An IDX file is a big-endian `u32` magic number `0x0000_08DD` (`08`: unsigned bytes, `DD`:
//! the number of dimensions), one big-endian `u32` per dimension, then the data, row-major.
//! Files may be gzipped (`.gz`); [`read_idx_file`] detects that from the gzip signature.
//!
//! Decoding never allocates more than the data actually present: the declared size is
//! checked against what the file can hold *before* any buffer is sized from it, so a header
//! that claims four billion images in a 1 KB file is an [`IdxError::ImplausibleHeader`],
//! not an out-of-memory abort.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// The most that DEFLATE can expand: 1032 output bytes per input byte. No file of `n` bytes,
/// gzipped or raw, holds more than `1032 * n` bytes of data; a header that declares more is
/// [`IdxError::ImplausibleHeader`], a file that holds less than its header declares is
/// [`IdxError::Truncated`].
pub const MAX_EXPANSION: u64 = 1032;

/// What went wrong reading an IDX file. Each variant names the file and says what was
/// expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The gzip stream is corrupt.
    #[error("{path}: corrupt gzip data: {source}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The first four bytes are not an IDX magic number of the expected kind.
    #[error("{path}: magic number is {found:#010x}, expected {expected:#010x} ({what})")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number read.
        found: u32,
        /// The magic number an IDX file of this kind has.
        expected: u32,
        /// What kind of file was expected.
        what: &'static str,
    },
    /// The magic number is an unsigned-byte IDX file's, but with another dimension count.
    #[error(
        "{path}: has {found} dimensions (magic {magic:#010x}), expected {expected} for {what}"
    )]
    WrongDimensions {
        /// The file.
        path: PathBuf,
        /// The magic number read.
        magic: u32,
        /// Dimensions it declares.
        found: u8,
        /// Dimensions a file of this kind has.
        expected: u8,
        /// What kind of file was expected.
        what: &'static str,
    },
    /// The header ends before its dimensions do.
    #[error("{path}: header is {found} bytes, expected {expected} (4 magic + 4 per dimension)")]
    ShortHeader {
        /// The file.
        path: PathBuf,
        /// Header bytes needed.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The header declares more data than a file of this size could ever hold.
    #[error(
        "{path}: header declares dimensions {dims:?} = {declared} bytes of data, but a {file_bytes}-byte \
         file can hold at most {capacity}; the header is corrupt"
    )]
    ImplausibleHeader {
        /// The file.
        path: PathBuf,
        /// The dimensions declared.
        dims: Vec<u32>,
        /// Bytes of data declared (saturating).
        declared: u64,
        /// Size of the file on disk.
        file_bytes: u64,
        /// The most data a file of that size can hold.
        capacity: u64,
    },
    /// The data ends before the header's dimensions are filled.
    #[error("{path}: truncated: header declares {expected} bytes of data, found only {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes of data declared.
        expected: u64,
        /// Bytes of data present.
        found: u64,
    },
    /// Bytes follow the declared data.
    #[error("{path}: trailing bytes: header declares {expected} bytes of data, found more")]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes of data declared.
        expected: u64,
    },
}

/// The contents of an IDX file of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first (for images: count, rows, cols).
    pub dims: Vec<u32>,
    /// The data, row-major; `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// The magic number of an unsigned-byte IDX file with `ndims` dimensions.
pub fn magic_for(ndims: u8) -> u32 {
    0x0000_0800 | u32::from(ndims)
}

/// Encodes an IDX file of unsigned bytes (uncompressed).
///
/// # Panics
/// If `data.len()` is not the product of `dims` (a programming error).
pub fn encode_idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let n: u64 = dims.iter().map(|&d| u64::from(d)).product();
    assert_eq!(
        n,
        data.len() as u64,
        "data length must be the product of dims"
    );
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&magic_for(dims.len() as u8).to_be_bytes());
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Reads an IDX file of unsigned bytes with exactly `ndims` dimensions, gzipped or raw.
///
/// `what` names the kind of file in errors ("images", "labels").
pub fn read_idx_file(path: &Path, ndims: u8, what: &'static str) -> Result<IdxArray, IdxError> {
    let io = |source| IdxError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let file_bytes = file.metadata().map_err(io)?.len();
    let mut reader = BufReader::new(file);
    let mut signature = [0u8; 2];
    let peeked = read_up_to(&mut reader, &mut signature).map_err(io)?;
    let prefix = &signature[..peeked];
    let chained = prefix.chain(reader);
    if prefix == [0x1f, 0x8b] {
        decode_stream(path, GzDecoder::new(chained), ndims, what, file_bytes, true)
    } else {
        decode_stream(path, chained, ndims, what, file_bytes, false)
    }
}

/// Decodes an in-memory IDX file, gzipped or raw, with the same checks as [`read_idx_file`]
/// (the fuzz target's entry point). `name` labels errors.
pub fn decode_idx_bytes(
    name: &Path,
    bytes: &[u8],
    ndims: u8,
    what: &'static str,
) -> Result<IdxArray, IdxError> {
    let n = bytes.len() as u64;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        decode_stream(name, GzDecoder::new(bytes), ndims, what, n, true)
    } else {
        decode_stream(name, bytes, ndims, what, n, false)
    }
}

/// Decodes an in-memory, uncompressed IDX file. `name` labels errors.
pub fn decode_idx(
    name: &Path,
    bytes: &[u8],
    ndims: u8,
    what: &'static str,
) -> Result<IdxArray, IdxError> {
    decode_stream(name, bytes, ndims, what, bytes.len() as u64, false)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads and checks the header (magic number for `ndims` unsigned-byte dimensions, then the
/// dimensions); returns the dimensions.
fn read_dims(
    path: &Path,
    r: &mut impl Read,
    ndims: u8,
    what: &'static str,
    read_err: impl Fn(std::io::Error) -> IdxError,
) -> Result<Vec<u32>, IdxError> {
    let header_len = 4 + 4 * usize::from(ndims);
    let mut header = vec![0u8; header_len];
    let got = read_up_to(r, &mut header).map_err(read_err)?;
    if got < 4 {
        return Err(IdxError::ShortHeader {
            path: path.to_owned(),
            expected: header_len,
            found: got,
        });
    }
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let expected_magic = magic_for(ndims);
    if magic & 0xFFFF_FF00 == 0x0000_0800 && magic != expected_magic {
        return Err(IdxError::WrongDimensions {
            path: path.to_owned(),
            magic,
            found: (magic & 0xFF) as u8,
            expected: ndims,
            what,
        });
    }
    if magic != expected_magic {
        return Err(IdxError::BadMagic {
            path: path.to_owned(),
            found: magic,
            expected: expected_magic,
            what,
        });
    }
    if got < header_len {
        return Err(IdxError::ShortHeader {
            path: path.to_owned(),
            expected: header_len,
            found: got,
        });
    }
    Ok(header[4..]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Decodes an IDX stream of `file_bytes` bytes on disk (`gzipped`: through a decoder): the
/// header, a plausibility bound on the declared size, then exactly the declared data.
fn decode_stream(
    path: &Path,
    mut r: impl Read,
    ndims: u8,
    what: &'static str,
    file_bytes: u64,
    gzipped: bool,
) -> Result<IdxArray, IdxError> {
    // Neither a raw nor a gzipped file of `file_bytes` bytes can hold more than this.
    let capacity = file_bytes.saturating_mul(MAX_EXPANSION);
    let read_err = |source: std::io::Error| {
        if gzipped {
            IdxError::Gzip {
                path: path.to_owned(),
                source,
            }
        } else {
            IdxError::Io {
                path: path.to_owned(),
                source,
            }
        }
    };
    let dims = read_dims(path, &mut r, ndims, what, read_err)?;
    let declared = dims
        .iter()
        .fold(1u64, |acc, &d| acc.saturating_mul(u64::from(d)));
    if declared > capacity {
        return Err(IdxError::ImplausibleHeader {
            path: path.to_owned(),
            dims,
            declared,
            file_bytes,
            capacity,
        });
    }
    // Read at most one byte past the declared data; the buffer grows with what arrives,
    // never with what the header claims.
    let mut data = Vec::new();
    r.by_ref()
        .take(declared)
        .read_to_end(&mut data)
        .map_err(read_err)?;
    if (data.len() as u64) < declared {
        return Err(IdxError::Truncated {
            path: path.to_owned(),
            expected: declared,
            found: data.len() as u64,
        });
    }
    let mut extra = [0u8; 1];
    if read_up_to(&mut r, &mut extra).map_err(read_err)? > 0 {
        return Err(IdxError::TrailingBytes {
            path: path.to_owned(),
            expected: declared,
        });
    }
    Ok(IdxArray { dims, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PathBuf {
        PathBuf::from("mem.idx")
    }

    #[test]
    fn round_trip() {
        let data: Vec<u8> = (0..24).collect();
        let bytes = encode_idx(&[2, 3, 4], &data);
        let back = decode_idx(&p(), &bytes, 3, "images").expect("valid file");
        assert_eq!(back.dims, vec![2, 3, 4]);
        assert_eq!(back.data, data);
    }

    #[test]
    fn malformed_files_each_get_their_own_error() {
        let good = encode_idx(&[3, 2, 2], &[0; 12]);
        let labels_as_images = encode_idx(&[3], &[0; 3]);
        assert!(matches!(
            decode_idx(&p(), &labels_as_images, 3, "images"),
            Err(IdxError::WrongDimensions {
                found: 1,
                expected: 3,
                ..
            })
        ));
        let mut bad_magic = good.clone();
        bad_magic[2] = 0x0D; // an IDX file of f32 values
        assert!(matches!(
            decode_idx(&p(), &bad_magic, 3, "images"),
            Err(IdxError::BadMagic {
                found: 0xD03,
                expected: 0x803,
                ..
            })
        ));
        assert!(matches!(
            decode_idx(&p(), &good[..good.len() - 1], 3, "images"),
            Err(IdxError::Truncated {
                expected: 12,
                found: 11,
                ..
            })
        ));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            decode_idx(&p(), &trailing, 3, "images"),
            Err(IdxError::TrailingBytes { expected: 12, .. })
        ));
        assert!(matches!(
            decode_idx(&p(), &good[..9], 3, "images"),
            Err(IdxError::ShortHeader {
                expected: 16,
                found: 9,
                ..
            })
        ));
        // four billion 28x28 images in a 1 KB file
        let mut absurd = encode_idx(&[0, 28, 28], &[]);
        absurd[4..8].copy_from_slice(&4_000_000_000u32.to_be_bytes());
        absurd.resize(1024, 0);
        let err = decode_idx(&p(), &absurd, 3, "images").expect_err("absurd header");
        assert!(matches!(err, IdxError::ImplausibleHeader { .. }), "{err}");
        assert!(err.to_string().contains("4000000000"), "{err}");
    }
}
