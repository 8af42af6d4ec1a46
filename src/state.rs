//! An actor's own state as named values: the [`StateBag`] every actor fills on a snapshot and
//! reads back on a restore, and the [`StateError`] of a bag that does not fit. A base module:
//! it imports nothing of the crate, so the runtime, the maths and every model can use it.

use std::collections::BTreeMap;

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

    /// The tensors, by name.
    pub fn tensors(&self) -> impl Iterator<Item = (&str, &[f32])> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The scalars, by name.
    pub fn scalars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.scalars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A bag of the given scalars and no tensors (a checkpoint reader starts from this).
    pub fn with_scalars(scalars: BTreeMap<String, String>) -> Self {
        Self {
            tensors: BTreeMap::new(),
            scalars,
        }
    }

    /// Stores tensor `name` as read from a file, even an empty one (a reader keeps what the
    /// file holds; [`StateBag::tensor`] drops empty tensors at the writer).
    pub fn insert_tensor(&mut self, name: &str, values: Vec<f32>) {
        self.tensors.insert(name.to_owned(), values);
    }

    /// The scalars as a map, by name.
    pub fn scalar_map(&self) -> &BTreeMap<String, String> {
        &self.scalars
    }

    /// Bytes of tensor data (what the state message carries).
    pub fn bytes(&self) -> usize {
        self.tensors.values().map(|v| 4 * v.len()).sum::<usize>()
            + self.scalars.values().map(String::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bag_gives_back_what_it_holds_and_names_what_does_not_fit() {
        let scalars = BTreeMap::from([("step".to_owned(), "7".to_owned())]);
        let mut bag = StateBag::with_scalars(scalars);
        for (name, values) in [
            ("weight", vec![1.0, -2.5, f32::MIN_POSITIVE]),
            ("empty", vec![]),
        ] {
            bag.tensor(name, values);
        }
        let mut w = [0.0; 3];
        bag.fill("weight", &mut w).expect("fits");
        assert_eq!(w, [1.0, -2.5, f32::MIN_POSITIVE]);
        assert_eq!(bag.tensors().count(), 1, "empty tensors are not stored");
        assert_eq!(bag.scalar_map().len(), 1);
        assert_eq!(bag.parse::<i32>("step").expect("parses"), 7);
        assert_eq!(bag.bytes(), 12 + 1);
        assert!(matches!(
            bag.fill("weight", &mut [0.0; 2]),
            Err(StateError::Length {
                expected: 2,
                found: 3,
                ..
            })
        ));
        assert!(matches!(
            bag.parse::<i32>("nope"),
            Err(StateError::Missing { .. })
        ));
        bag.scalar("step", "x".to_owned());
        let e = bag.parse::<i32>("step").expect_err("not a number");
        assert_eq!(e.to_string(), "step = \"x\" does not parse");
    }
}
