//! [`SpikeBits`]: a batch's spikes at one tick packed one bit per (example, neuron), the
//! payload of spiking predictive coding's messages, and [`BitPool`], a sender's reusable
//! buffers for them.

/// A batch's spikes at one tick, one bit per (example, neuron), row-major, in `planes` planes:
/// one for value neurons, two (positive, then negative population) for signed error neurons.
/// No words: nobody fired. Shared by reference counting.
#[derive(Clone, Debug)]
pub struct SpikeBits {
    /// Examples in the batch.
    pub rows: u32,
    /// Neurons per example.
    pub cols: u32,
    /// 1 (value neurons) or 2 (error neurons: positive, negative).
    pub planes: u8,
    /// The bits, `planes x ceil(rows cols / 64)` words; empty when nobody fired.
    pub words: std::sync::Arc<Vec<u64>>,
}

impl SpikeBits {
    /// Payload bytes: the shape, and the words when anybody fired.
    pub fn bytes(&self) -> usize {
        9 + 8 * self.words.len()
    }

    /// Whether anybody fired.
    pub fn any(&self) -> bool {
        !self.words.is_empty()
    }

    /// Writes the spikes as numbers into `out` (`rows x cols`): 1 where a value neuron fired;
    /// +1 / -1 where the positive / negative error neuron did; 0 elsewhere.
    pub fn unpack(&self, out: &mut [f32]) {
        out.fill(0.0);
        if self.words.is_empty() {
            return;
        }
        let n = self.rows as usize * self.cols as usize;
        let per = n.div_ceil(64);
        for (plane, sign) in [(0usize, 1.0f32), (1, -1.0)]
            .into_iter()
            .take(self.planes as usize)
        {
            let words = &self.words[plane * per..(plane + 1) * per];
            for (w, &word) in words.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let i = w * 64 + bits.trailing_zeros() as usize;
                    if let Some(o) = out.get_mut(i) {
                        *o = sign;
                    }
                    bits &= bits - 1;
                }
            }
        }
    }
}

/// A sender's reusable spike-bit buffers (as [`SignalPool`](super::SignalPool) for signals).
#[derive(Debug, Default)]
pub struct BitPool {
    buffers: Vec<std::sync::Arc<Vec<u64>>>,
    empty: Option<std::sync::Arc<Vec<u64>>>,
}

impl BitPool {
    /// Packs `spikes` (`rows x cols`: 1 or, signed, +1 / -1 where a neuron fired, 0
    /// elsewhere) into bits: one plane, or two when `signed`.
    pub fn pack(&mut self, rows: usize, cols: usize, signed: bool, spikes: &[f32]) -> SpikeBits {
        let planes = 1 + usize::from(signed);
        let bits = |words: std::sync::Arc<Vec<u64>>| SpikeBits {
            rows: rows as u32,
            cols: cols as u32,
            planes: planes as u8,
            words,
        };
        if spikes.iter().all(|&x| x == 0.0) {
            return bits(self.empty.get_or_insert_with(Default::default).clone());
        }
        let per = (rows * cols).div_ceil(64);
        let slot = self
            .buffers
            .iter_mut()
            .position(|b| std::sync::Arc::get_mut(b).is_some());
        let idx = slot.unwrap_or_else(|| {
            self.buffers.push(std::sync::Arc::new(Vec::new()));
            self.buffers.len() - 1
        });
        let buf = std::sync::Arc::get_mut(&mut self.buffers[idx]).expect("free buffer");
        buf.clear();
        buf.resize(planes * per, 0);
        for (i, &x) in spikes.iter().enumerate() {
            if x > 0.0 {
                buf[i / 64] |= 1 << (i % 64);
            } else if x < 0.0 && signed {
                buf[per + i / 64] |= 1 << (i % 64);
            }
        }
        bits(self.buffers[idx].clone())
    }
}
