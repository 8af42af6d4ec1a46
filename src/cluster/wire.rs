//! The wire format of messages between ranks: every [`Message`] a layer-actor network sends
//! (activities, errors, phase words, labels, reports, weight copies, snapshots and states)
//! as little-endian bytes behind the id of the actor it goes to, and the rank's own
//! end-of-run word. Decoding builds signals from a [`SignalPool`], so a steady stream from
//! another rank allocates no matrices; a short or malformed frame is an error, never a panic.

use crate::math::matrix::Matrix;
use crate::message::{Message, Phase, ReportData, Signal, SignalPool, Spikes, WeightCopy};
use crate::state::StateBag;

/// What a frame between ranks carries.
#[derive(Debug)]
pub enum Frame {
    /// A message for actor `to` (an id of the shared network description).
    Deliver {
        /// The receiving actor.
        to: usize,
        /// The message.
        msg: Message,
    },
    /// The sender's run is over: it sends nothing more (MPI keeps a pair's messages in order,
    /// so nothing from it follows this).
    Done,
}

/// A frame that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("malformed message from another rank: {0}")]
pub struct WireError(String);

mod put;
use put::*;

const DONE: u8 = 0xff;

/// Appends the frame of `msg` for actor `to` to `out`.
pub fn encode(to: usize, msg: &Message, out: &mut Vec<u8>) {
    out.push(0);
    put_u32(out, to as u32);
    match msg {
        Message::Activity {
            step,
            shard,
            changed,
            signal,
        } => {
            head(out, 0, *step, *shard);
            out.push(u8::from(*changed));
            put_signal(out, signal);
        }
        Message::ActivityDown {
            step,
            shard,
            signal,
        } => {
            head(out, 1, *step, *shard);
            put_signal(out, signal);
        }
        Message::Error {
            step,
            shard,
            learned,
            signal,
        } => {
            head(out, 2, *step, *shard);
            out.push(u8::from(*learned));
            put_signal(out, signal);
        }
        Message::Spike { tick, fired } => {
            head(out, 3, *tick, 0);
            put_u32s(out, fired);
        }
        Message::Tick { tick } => head(out, 4, *tick, 0),
        Message::Phase { step, phase } => {
            head(out, 5, *step, 0);
            put_phase(out, *phase);
        }
        Message::Clamp { step, labels } => {
            head(out, 6, *step, 0);
            put_signal(out, labels);
        }
        Message::Report { step, data } => {
            head(out, 7, *step, 0);
            put_report(out, data);
        }
        Message::WeightTransport { step, shard, copy } => {
            head(out, 8, *step, *shard);
            put_copy(out, copy);
        }
        Message::Poll => head(out, 9, 0, 0),
        Message::Input {
            presentation,
            window,
        } => {
            head(out, 10, *presentation, 0);
            put_u32s(out, window);
        }
        Message::SpikeBatch { step, shard, bits } => {
            head(out, 11, *step, *shard);
            put_u32(out, bits.rows);
            put_u32(out, bits.cols);
            out.push(bits.planes);
            put_u32(out, bits.words.len() as u32);
            for w in bits.words.iter() {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        Message::Probe { step, chunk } => put_probe(out, *step, chunk),
    }
}

/// Appends the end-of-run frame to `out`.
pub fn encode_done(out: &mut Vec<u8>) {
    out.push(DONE);
}

/// Decodes one frame; signals come from `pool`.
pub fn decode(bytes: &[u8], pool: &mut SignalPool) -> Result<Frame, WireError> {
    let mut r = Reader { bytes, at: 0 };
    match r.u8()? {
        DONE => return Ok(Frame::Done),
        0 => {}
        t => return Err(WireError(format!("unknown frame type {t}"))),
    }
    let to = r.u32()? as usize;
    let (tag, step, shard) = (r.u8()?, r.u64()?, r.u32()?);
    let msg = match tag {
        0 => Message::Activity {
            step,
            shard,
            changed: r.u8()? != 0,
            signal: r.signal(pool)?,
        },
        1 => Message::ActivityDown {
            step,
            shard,
            signal: r.signal(pool)?,
        },
        2 => Message::Error {
            step,
            shard,
            learned: r.u8()? != 0,
            signal: r.signal(pool)?,
        },
        3 => Message::Spike {
            tick: step,
            fired: Spikes::from(r.u32s()?),
        },
        4 => Message::Tick { tick: step },
        5 => Message::Phase {
            step,
            phase: r.phase()?,
        },
        6 => Message::Clamp {
            step,
            labels: r.signal(pool)?,
        },
        7 => Message::Report {
            step,
            data: r.report(pool)?,
        },
        8 => Message::WeightTransport {
            step,
            shard,
            copy: r.copy()?,
        },
        9 => Message::Poll,
        10 => Message::Input {
            presentation: step,
            window: Spikes::from(r.u32s()?),
        },
        11 => Message::SpikeBatch {
            step,
            shard,
            bits: r.spike_bits()?,
        },
        12 => Message::Probe {
            step,
            chunk: r.probe_chunk(shard)?,
        },
        t => return Err(WireError(format!("unknown message tag {t}"))),
    };
    if r.at != bytes.len() {
        return Err(WireError(format!(
            "{} bytes left after a message",
            bytes.len() - r.at
        )));
    }
    Ok(Frame::Deliver { to, msg })
}

/// A cursor over a frame; every read checks the length.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], WireError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            WireError(format!(
                "frame of {} bytes ends inside a field (at byte {}, {n} more needed)",
                self.bytes.len(),
                self.at
            ))
        })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    /// A length prefix of items of `size` bytes, checked against what is left.
    fn len(&mut self, size: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(size) > self.bytes.len() - self.at {
            return Err(WireError(format!(
                "a length of {n} items runs past the frame's end"
            )));
        }
        Ok(n)
    }
    fn f32s_into(&mut self, out: &mut [f32]) -> Result<(), WireError> {
        let raw = self.take(4 * out.len())?;
        if cfg!(target_endian = "little") {
            bytemuck::cast_slice_mut::<f32, u8>(out).copy_from_slice(raw);
        } else {
            for (o, b) in out.iter_mut().zip(raw.chunks_exact(4)) {
                *o = f32::from_le_bytes(b.try_into().expect("4 bytes"));
            }
        }
        Ok(())
    }
    fn f32s(&mut self) -> Result<Vec<f32>, WireError> {
        let mut v = vec![0.0; self.len(4)?];
        self.f32s_into(&mut v)?;
        Ok(v)
    }
    fn string(&mut self) -> Result<String, WireError> {
        let n = self.len(1)?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|e| WireError(e.to_string()))
    }
    fn signal(&mut self, pool: &mut SignalPool) -> Result<Signal, WireError> {
        let (rows, cols) = (self.u32()? as usize, self.u32()? as usize);
        let n = self.len(4)?;
        if rows.checked_mul(cols) != Some(n) {
            return Err(WireError(format!(
                "a {rows} x {cols} signal with {n} values"
            )));
        }
        let mut result = Ok(());
        let s = pool.signal(rows, cols, |out| result = self.f32s_into(out));
        result.map(|()| s)
    }
    fn copy(&mut self) -> Result<WeightCopy, WireError> {
        let (rows, cols) = (self.u32()? as usize, self.u32()? as usize);
        let values = self.f32s()?;
        if rows.checked_mul(cols) != Some(values.len()) {
            return Err(WireError(format!(
                "a {rows} x {cols} weight copy with {} values",
                values.len()
            )));
        }
        let bias = self.f32s()?;
        Ok(WeightCopy::from_wire(
            Matrix::from_vec(rows, cols, values),
            bias,
        ))
    }
    /// A tick's spike bits: shape, planes, and the words (none, or all of them).
    fn spike_bits(&mut self) -> Result<crate::message::SpikeBits, WireError> {
        let (rows, cols, planes) = (self.u32()?, self.u32()?, self.u8()?);
        let n = self.u32()? as usize;
        let per = (rows as usize * cols as usize).div_ceil(64);
        if n != 0 && n != usize::from(planes) * per || planes == 0 || planes > 2 {
            return Err(WireError(format!(
                "{n} words of spike bits for {planes} planes of {rows} x {cols}"
            )));
        }
        let words = (0..n)
            .map(|_| self.u64())
            .collect::<Result<Vec<u64>, _>>()?;
        Ok(crate::message::SpikeBits {
            rows,
            cols,
            planes,
            words: std::sync::Arc::new(words),
        })
    }

    /// A probe chunk of probe `probe` (its header's shard word).
    fn probe_chunk(&mut self, probe: u32) -> Result<crate::message::ProbeChunk, WireError> {
        let last = self.u8()? != 0;
        let columns = std::sync::Arc::new(self.u32s()?);
        let n = self.len(8)?;
        let times = std::sync::Arc::new((0..n).map(|_| self.u64()).collect::<Result<Vec<_>, _>>()?);
        let probe = u16::try_from(probe).map_err(|_| WireError(format!("probe {probe}")))?;
        Ok(crate::message::ProbeChunk {
            probe,
            columns,
            times,
            values: std::sync::Arc::new(self.f32s()?),
            last,
        })
    }

    fn u32s(&mut self) -> Result<Vec<u32>, WireError> {
        let n = self.len(4)?;
        (0..n).map(|_| self.u32()).collect()
    }
    fn phase(&mut self) -> Result<Phase, WireError> {
        Ok(match self.u8()? {
            0 => Phase::Train { rows: self.u32()? },
            1 => Phase::Evaluate { rows: self.u32()? },
            2 => Phase::Snapshot,
            3 => Phase::Save,
            4 => Phase::Learn,
            5 => Phase::Exhausted,
            6 => Phase::Nudge {
                negative: self.u8()? != 0,
            },
            7 => Phase::Present {
                pattern: self.u32()?,
                intensity: self.u32()?,
                learn: self.u8()? != 0,
            },
            t => return Err(WireError(format!("unknown phase tag {t}"))),
        })
    }
    fn report(&mut self, pool: &mut SignalPool) -> Result<ReportData, WireError> {
        let (tag, a, b) = (self.u8()?, self.u32()?, self.u32()?);
        Ok(match tag {
            0 => ReportData::Predictions(self.signal(pool)?),
            1 => ReportData::Energy(f64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            2 => ReportData::SpikeCounts {
                spikes: self.u64()?,
                events: self.u64()?,
            },
            3 => ReportData::Settled {
                layer: a,
                shard: b,
                settled: self.u8()? != 0,
            },
            4 => ReportData::Fault {
                layer: a,
                shard: b,
                // A fault ends the run: the few bytes of its name are kept for good.
                what: Box::leak(self.string()?.into_boxed_str()),
                value: f32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")),
            },
            5 => ReportData::Energies {
                layer: a,
                values: self.signal(pool)?,
            },
            6 => ReportData::Snapshot {
                layer: a,
                offset: b,
                copy: self.copy()?,
            },
            7 => ReportData::Feedback {
                layer: a,
                offset: b,
                copy: self.copy()?,
            },
            8 => ReportData::State {
                layer: a,
                shard: b,
                state: std::sync::Arc::new(self.state()?),
            },
            9 => ReportData::Gradient {
                layer: a,
                offset: b,
                weight: self.signal(pool)?,
                bias: self.signal(pool)?,
            },
            10 => ReportData::Responses {
                offset: a,
                counts: std::sync::Arc::new(self.u32s()?),
                spikes: self.u64()?,
                events: self.u64()?,
            },
            11 => ReportData::TickCounts {
                layer: a,
                counts: std::sync::Arc::new(self.u32s()?),
            },
            12 => ReportData::Raster {
                layer: a,
                events: std::sync::Arc::new(self.u32s()?),
            },
            t => return Err(WireError(format!("unknown report tag {t}"))),
        })
    }
    fn state(&mut self) -> Result<StateBag, WireError> {
        let mut bag = StateBag::default();
        for _ in 0..self.len(8)? {
            let name = self.string()?;
            bag.tensor(&name, self.f32s()?);
        }
        for _ in 0..self.len(8)? {
            let name = self.string()?;
            bag.scalar(&name, self.string()?);
        }
        Ok(bag)
    }
}

#[cfg(test)]
mod tests;
