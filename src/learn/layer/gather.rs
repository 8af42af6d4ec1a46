//! [`Gather`]: the pieces of a neighbouring layer's activity or errors, one per sender shard,
//! put together by column.

use std::ops::Range;

use crate::math::matrix::{MatView, Matrix};
use crate::message::Signal;

/// Pieces of a layer's activity or errors, one per sender shard, put together by column.
#[derive(Debug)]
pub(crate) struct Gather {
    ranges: Vec<Range<usize>>,
    width: usize,
    pieces: Vec<Option<Signal>>,
    count: usize,
    buf: Matrix,
}

impl Gather {
    pub(crate) fn new(ranges: Vec<Range<usize>>) -> Self {
        let width = ranges.last().map_or(0, |r| r.end);
        Self {
            pieces: vec![None; ranges.len()],
            ranges,
            width,
            count: 0,
            buf: Matrix::zeros(0, width),
        }
    }

    pub(crate) fn put(&mut self, shard: usize, s: Signal) {
        assert!(
            shard < self.pieces.len() && s.cols() == self.ranges[shard].len(),
            "piece from shard {shard} has {} columns; expected shard < {} of the right width",
            s.cols(),
            self.pieces.len()
        );
        if self.pieces[shard].replace(s).is_none() {
            self.count += 1;
        }
    }

    pub(crate) fn complete(&self) -> bool {
        self.count == self.pieces.len()
    }

    pub(crate) fn clear(&mut self) {
        self.pieces.iter_mut().for_each(|p| *p = None);
        self.count = 0;
    }

    /// Copies the pieces into one matrix (nothing to do for a single piece).
    pub(crate) fn assemble(&mut self) {
        if self.pieces.len() == 1 {
            return;
        }
        let rows = self.pieces[0].as_ref().map_or(0, Signal::rows);
        self.buf.set_rows(rows);
        for (p, range) in self.pieces.iter().zip(&self.ranges) {
            let p = p.as_ref().expect("assemble only complete gathers");
            let w = range.len();
            for r in 0..rows {
                self.buf.row_mut(r)[range.clone()].copy_from_slice(&p.values()[r * w..(r + 1) * w]);
            }
        }
    }

    pub(crate) fn view(&self) -> MatView<'_> {
        if self.pieces.len() == 1 {
            let p = self.pieces[0].as_ref().expect("view only complete gathers");
            MatView::new(p.values(), p.rows(), self.width)
        } else {
            self.buf.view()
        }
    }

    /// Whether any piece held has a non-zero value.
    pub(crate) fn any_nonzero(&self) -> bool {
        self.pieces
            .iter()
            .flatten()
            .any(|p| p.values().iter().any(|&v| v != 0.0))
    }
}
