//! Progress bars for `axon run` on a terminal: an [`Observer`] of the run.

use axon::data::dataset::Dataset;
use axon::experiment::results::EpochRecord;
use axon::experiment::run::Observer;
use indicatif::{ProgressBar, ProgressStyle};

/// Progress bars on a terminal; nothing otherwise.
pub(crate) struct Bars {
    pub(crate) enabled: bool,
    pub(crate) bar: Option<ProgressBar>,
}

impl Observer for Bars {
    fn data_loaded(&mut self, data: &Dataset) {
        if self.enabled {
            eprintln!(
                "data: {} train, {} test images of {}x{}, {} classes",
                data.train.len(),
                data.test.len(),
                data.rows,
                data.cols,
                data.classes
            );
        }
    }
    fn run_dir(&mut self, path: &std::path::Path) {
        if self.enabled {
            eprintln!("run folder: {}", path.display());
        }
    }
    fn epoch_start(&mut self, label: &str, epoch: usize, epochs: usize, batches: usize) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:32.cyan/blue}] {pos}/{len} batches {elapsed_precise} eta {eta}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{label} epoch {epoch}/{epochs}"));
        self.bar = Some(bar);
    }
    fn batch_done(&mut self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }
    fn epoch_end(&mut self, label: &str, r: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            eprintln!(
                "{label} epoch {}: train loss {:.4} acc {:.4} | test loss {:.4} acc {:.4} | {:.2} s",
                r.epoch, r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.wall_s
            );
        }
    }
}
