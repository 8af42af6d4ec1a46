//! Data sets: the IDX file format with every check a user's file needs, and the train / test
//! splits loaded from a folder of IDX files.

pub mod dataset;
pub mod idx;
