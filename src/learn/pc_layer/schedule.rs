//! How a predictive-coding layer's training batches are scheduled: [`PcSchedule`], with
//! [`Lockstep`] here and [`super::asynchronous::AsyncState`] beside it.

use crate::state::{StateBag, StateError};

/// How a predictive-coding layer's training batches are scheduled.
pub(crate) trait PcSchedule {
    /// Training batches run asynchronously (else in lockstep).
    const ASYNC: bool;
    /// A training batch begins.
    fn begin_training(&mut self) {}
    /// Adds what the schedule carries from batch to batch to `bag`.
    fn save(&self, _bag: &mut StateBag) {}
    /// Restores what [`PcSchedule::save`] wrote.
    fn restore(&mut self, _bag: &StateBag) -> Result<(), StateError> {
        Ok(())
    }
}

/// The lockstep schedule: every message carries its step, and a step waits for all of them.
pub(crate) struct Lockstep;

impl PcSchedule for Lockstep {
    const ASYNC: bool = false;
}
