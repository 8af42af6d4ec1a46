//! `[data]`: where the images come from, and how many of them a run uses.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ScenarioError};

/// `[data]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// Folder holding the four IDX files (optionally `.gz`). Relative paths are taken from the
    /// current directory. Default `data/mnist`.
    pub dir: PathBuf,
    /// Use only the first N training examples, >= 1. Default: all.
    pub train_limit: Option<usize>,
    /// Use only the first N test examples, >= 1. Default: all.
    pub test_limit: Option<usize>,
    /// Number of classes, 2..=256. Default: largest label + 1.
    pub classes: Option<usize>,
}

impl DataSection {
    /// What [`crate::data::dataset::Dataset::load`] takes from this section besides the folder.
    pub fn load_options(&self) -> crate::data::dataset::LoadOptions {
        crate::data::dataset::LoadOptions {
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            classes: self.classes,
        }
    }

    /// Checks the limits and the class count.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        for (key, v) in [
            ("data.train_limit", self.train_limit),
            ("data.test_limit", self.test_limit),
        ] {
            if v == Some(0) {
                return Err(invalid(
                    key,
                    0,
                    "must be >= 1 (leave it out to use all examples)",
                ));
            }
        }
        if let Some(c) = self.classes {
            if !(2..=256).contains(&c) {
                return Err(invalid(
                    "data.classes",
                    c,
                    "must be between 2 and 256 (labels are bytes)",
                ));
            }
        }
        Ok(())
    }
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data/mnist"),
            train_limit: None,
            test_limit: None,
            classes: None,
        }
    }
}
