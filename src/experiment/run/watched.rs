//! The observer of a watched run ([`LiveObserver`]): progress goes to the wrapped observer
//! and, as [`LiveEvent`]s, to the live view.

use super::Observer;
use crate::experiment::live::{LiveEvent, LiveSender};
use crate::experiment::results::EpochRecord;

/// An observer that shows progress through `inner` and tells the live view.
pub struct LiveObserver<'a> {
    /// The observer it wraps (progress bars).
    pub inner: &'a mut dyn Observer,
    /// The live view.
    pub live: LiveSender,
    /// The run's name and kind, for the page's title.
    pub name: String,
    /// See `name`.
    pub kind: String,
    /// The run folder, once it exists.
    pub dir: Option<std::path::PathBuf>,
}

impl Observer for LiveObserver<'_> {
    fn data_loaded(&mut self, data: &crate::data::dataset::Dataset) {
        self.inner.data_loaded(data);
    }
    fn run_dir(&mut self, path: &std::path::Path) {
        self.dir = Some(path.to_owned());
        self.inner.run_dir(path);
        self.live.send(LiveEvent::Started {
            name: self.name.clone(),
            kind: self.kind.clone(),
            dir: path.to_owned(),
        });
    }
    fn epoch_start(&mut self, label: &str, epoch: usize, epochs: usize, batches: usize) {
        self.inner.epoch_start(label, epoch, epochs, batches);
        self.live.send(LiveEvent::EpochStart {
            label: label.to_owned(),
            epoch,
            epochs,
            batches,
        });
    }
    fn batch_done(&mut self, done: usize) {
        self.inner.batch_done(done);
        self.live.send(LiveEvent::BatchDone(done));
    }
    fn epoch_end(&mut self, label: &str, record: &EpochRecord) {
        self.inner.epoch_end(label, record);
        self.live
            .send(LiveEvent::EpochEnd(label.to_owned(), Box::new(*record)));
    }
}

impl LiveObserver<'_> {
    /// Tells the live view how the run ended: its results, or, for a run that failed or was
    /// interrupted in its folder, the results.json that says so (else the error).
    pub fn finish(&self, outcome: &Result<super::RunSummary, super::RunError>) {
        let recorded = || {
            let text = std::fs::read_to_string(self.dir.as_ref()?.join("results.json")).ok()?;
            serde_json::from_str::<serde_json::Value>(&text).ok()
        };
        let end = match outcome {
            Ok(s) => Ok(serde_json::from_str(&s.results.to_json()).unwrap_or_default()),
            Err(e) => recorded().ok_or_else(|| super::error_chain(e)),
        };
        self.live.send(LiveEvent::Finished(end));
    }
}
