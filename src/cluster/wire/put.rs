//! The writing half of the wire format: each part of a frame as little-endian bytes (the
//! header, numbers, signals, weight copies, phase words, reports, states, probe chunks).

use super::*;

pub(super) fn head(out: &mut Vec<u8>, tag: u8, step: u64, shard: u32) {
    out.push(tag);
    out.extend_from_slice(&step.to_le_bytes());
    put_u32(out, shard);
}

/// A probe chunk: the header (its probe in the shard word), the last flag, the columns, the
/// times and the values.
pub(super) fn put_probe(out: &mut Vec<u8>, step: u64, chunk: &crate::message::ProbeChunk) {
    head(out, 12, step, u32::from(chunk.probe));
    out.push(u8::from(chunk.last));
    put_u32s(out, &chunk.columns);
    put_u32(out, chunk.times.len() as u32);
    chunk
        .times
        .iter()
        .for_each(|t| out.extend_from_slice(&t.to_le_bytes()));
    put_f32s(out, &chunk.values);
}

pub(super) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(super) fn put_f32s(out: &mut Vec<u8>, v: &[f32]) {
    put_u32(out, v.len() as u32);
    if cfg!(target_endian = "little") {
        // The values' own bytes are their little-endian form: one copy.
        out.extend_from_slice(bytemuck::cast_slice(v));
    } else {
        v.iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
    }
}

pub(super) fn put_u32s(out: &mut Vec<u8>, v: &[u32]) {
    put_u32(out, v.len() as u32);
    v.iter().for_each(|&i| put_u32(out, i));
}

pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

pub(super) fn put_signal(out: &mut Vec<u8>, s: &Signal) {
    put_u32(out, s.rows() as u32);
    put_u32(out, s.cols() as u32);
    put_f32s(out, s.values());
}

pub(super) fn put_copy(out: &mut Vec<u8>, c: &WeightCopy) {
    let w = c.weights();
    put_u32(out, w.rows() as u32);
    put_u32(out, w.cols() as u32);
    put_f32s(out, c.weight_values());
    put_f32s(out, c.bias());
}

pub(super) fn put_phase(out: &mut Vec<u8>, p: Phase) {
    match p {
        Phase::Train { rows } => {
            out.push(0);
            put_u32(out, rows);
        }
        Phase::Evaluate { rows } => {
            out.push(1);
            put_u32(out, rows);
        }
        Phase::Snapshot => out.push(2),
        Phase::Save => out.push(3),
        Phase::Learn => out.push(4),
        Phase::Exhausted => out.push(5),
        Phase::Nudge { negative } => {
            out.push(6);
            out.push(u8::from(negative));
        }
        Phase::Present {
            pattern,
            intensity,
            learn,
        } => {
            out.push(7);
            put_u32(out, pattern);
            put_u32(out, intensity);
            out.push(u8::from(learn));
        }
    }
}

/// A report's head: its tag and two words (which layer, shard or offset, as it needs).
pub(super) fn who(out: &mut Vec<u8>, tag: u8, a: u32, b: u32) {
    out.push(tag);
    put_u32(out, a);
    put_u32(out, b);
}

pub(super) fn put_report(out: &mut Vec<u8>, d: &ReportData) {
    match d {
        ReportData::Predictions(s) => {
            who(out, 0, 0, 0);
            put_signal(out, s);
        }
        ReportData::Energy(e) => {
            who(out, 1, 0, 0);
            out.extend_from_slice(&e.to_le_bytes());
        }
        ReportData::SpikeCounts { spikes, events } => {
            who(out, 2, 0, 0);
            out.extend_from_slice(&spikes.to_le_bytes());
            out.extend_from_slice(&events.to_le_bytes());
        }
        ReportData::Settled {
            layer,
            shard,
            settled,
        } => {
            who(out, 3, *layer, *shard);
            out.push(u8::from(*settled));
        }
        ReportData::Fault {
            layer,
            shard,
            what,
            value,
        } => {
            who(out, 4, *layer, *shard);
            put_str(out, what);
            out.extend_from_slice(&value.to_le_bytes());
        }
        ReportData::Energies { layer, values } => {
            who(out, 5, *layer, 0);
            put_signal(out, values);
        }
        ReportData::Snapshot {
            layer,
            offset,
            copy,
        } => {
            who(out, 6, *layer, *offset);
            put_copy(out, copy);
        }
        ReportData::Feedback {
            layer,
            offset,
            copy,
        } => {
            who(out, 7, *layer, *offset);
            put_copy(out, copy);
        }
        ReportData::State {
            layer,
            shard,
            state,
        } => {
            who(out, 8, *layer, *shard);
            put_state(out, state);
        }
        ReportData::Gradient {
            layer,
            offset,
            weight,
            bias,
        } => {
            who(out, 9, *layer, *offset);
            put_signal(out, weight);
            put_signal(out, bias);
        }
        ReportData::Responses { .. }
        | ReportData::TickCounts { .. }
        | ReportData::Raster { .. } => put_counts(out, d),
    }
}

/// The reports of counts: `Responses` (tag 10: its offset as the first word, counts, spikes,
/// events), `TickCounts` (11) and `Raster` (12) (the layer as the first word, the counts).
pub(super) fn put_counts(out: &mut Vec<u8>, d: &ReportData) {
    let (tag, first, counts) = match d {
        ReportData::Responses { offset, counts, .. } => (10, offset, counts),
        ReportData::TickCounts { layer, counts } => (11, layer, counts),
        ReportData::Raster { layer, events } => (12, layer, events),
        _ => return,
    };
    who(out, tag, *first, 0);
    put_u32s(out, counts);
    if let ReportData::Responses { spikes, events, .. } = d {
        out.extend_from_slice(&spikes.to_le_bytes());
        out.extend_from_slice(&events.to_le_bytes());
    }
}

pub(super) fn put_state(out: &mut Vec<u8>, state: &StateBag) {
    put_u32(out, state.tensors().count() as u32);
    for (name, v) in state.tensors() {
        put_str(out, name);
        put_f32s(out, v);
    }
    put_u32(out, state.scalars().count() as u32);
    for (name, v) in state.scalars() {
        put_str(out, name);
        put_str(out, v);
    }
}
