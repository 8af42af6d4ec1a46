//! The run folder: where a run's files go, and how each is written (atomically).
//!
//! Layout: `scenario.toml` (resolved), `results.json`, `accuracy.png` and
//! `checkpoints/MODEL/epoch-N.safetensors`. Every file is written to a temporary name in the
//! same folder and renamed into place, so a reader (or a crash) never sees half a file, and a
//! run stopped at any point keeps everything it finished.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::io::{write_atomic, FileError};

/// What went wrong writing a run's files.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// A file or folder could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The chosen folder already holds files.
    #[error("{path} already exists and is not empty; choose another --out or remove it (axon never overwrites a finished run)")]
    NotEmpty {
        /// The folder.
        path: PathBuf,
    },
}

/// A run's output folder.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

/// `YYYYMMDD-HHMMSS` in UTC for a Unix time (civil-from-days, Howard Hinnant's algorithm).
pub fn timestamp(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunDirError + '_ {
    move |source| RunDirError::Io {
        path: path.to_owned(),
        source,
    }
}

impl RunDir {
    /// Creates the folder: `out` if given (it must not exist or be empty), otherwise
    /// `runs/NAME-TIMESTAMP` (with `-2`, `-3`, … appended if that exists).
    pub fn create(out: Option<&Path>, name: &str) -> Result<Self, RunDirError> {
        let path = match out {
            Some(p) => {
                if p.exists() {
                    let mut entries = std::fs::read_dir(p).map_err(io(p))?;
                    if entries.next().is_some() {
                        return Err(RunDirError::NotEmpty { path: p.to_owned() });
                    }
                }
                p.to_owned()
            }
            None => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let base = PathBuf::from("runs").join(format!("{name}-{}", timestamp(now)));
                let mut candidate = base.clone();
                let mut n = 2;
                while candidate.exists() {
                    candidate = PathBuf::from(format!("{}-{n}", base.display()));
                    n += 1;
                }
                candidate
            }
        };
        std::fs::create_dir_all(&path).map_err(io(&path))?;
        Ok(Self { path })
    }

    /// Opens an existing run folder (to resume the run in it).
    pub fn open(path: &Path) -> Result<Self, RunDirError> {
        if !path.is_dir() {
            return Err(RunDirError::Io {
                path: path.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such run folder (give the folder a run wrote, e.g. runs/NAME-TIMESTAMP)",
                ),
            });
        }
        Ok(Self {
            path: path.to_owned(),
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to `rel` (relative to the folder) atomically, creating parent folders.
    pub fn write(&self, rel: impl AsRef<Path>, bytes: &[u8]) -> Result<PathBuf, RunDirError> {
        let target = self.path.join(rel);
        write_atomic(&target, bytes)?;
        Ok(target)
    }
}

impl From<FileError> for RunDirError {
    fn from(e: FileError) -> Self {
        Self::Io {
            path: e.path,
            source: e.source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "19700101-000000");
        // 2026-11-27 23:39:15 UTC
        assert_eq!(timestamp(1_795_822_755), "20261127-233915");
        // a leap day
        assert_eq!(timestamp(951_782_400), "20000229-000000");
    }

    #[test]
    fn refuses_non_empty_out_and_writes_atomically() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join("run");
        let dir = RunDir::create(Some(&out), "x").expect("new folder");
        let p = dir.write("a/b.json", b"{}").expect("written");
        assert_eq!(std::fs::read(&p).expect("readable"), b"{}");
        assert!(matches!(
            RunDir::create(Some(&out), "x"),
            Err(RunDirError::NotEmpty { .. })
        ));
    }
}
