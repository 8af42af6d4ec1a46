//! The sweep's tables: a row per combination in `sweep.json`, and `sweep.md`'s markdown
//! table with a row per combination and model.

use std::collections::BTreeMap;

use super::{toml_to_json, value_label, Combination, ModelRow, RowStatus, SweepError, SweepRow};
use crate::experiment::run::RunSummary;
use crate::experiment::run_dir::RunDir;

pub(super) fn sanitise(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '=' | ',' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub(super) fn pending_row(c: &Combination) -> SweepRow {
    SweepRow {
        combination: c.number,
        folder: c.folder.clone(),
        values: c
            .values
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
        status: RowStatus::Pending,
        error: None,
        algorithm: c.scenario.kind().name().to_owned(),
        models: BTreeMap::new(),
        weight_transport_bytes: None,
        messages: None,
        bytes: None,
        run_s: None,
    }
}

pub(super) fn fill_row(row: &mut SweepRow, summary: &RunSummary) {
    let r = &summary.results;
    row.status = RowStatus::Complete;
    row.models = r
        .models
        .iter()
        .map(|(label, m)| {
            (
                label.clone(),
                ModelRow {
                    test_accuracy: m.final_.map(|f| f.test_accuracy),
                    epochs: m.epochs.len(),
                    wall_s: m.epochs.iter().map(|e| e.wall_s).sum(),
                },
            )
        })
        .collect();
    // Built without the `counters` feature, nothing was counted: the row leaves them blank.
    if let Some(t) = r.traffic.as_ref().filter(|t| t.counters) {
        row.weight_transport_bytes = Some(t.weight_transport_bytes);
        row.messages = Some(t.totals.messages);
        row.bytes = Some(t.totals.bytes);
    }
}

pub(super) fn fail_row(row: &mut SweepRow, error: String) {
    row.status = RowStatus::Failed;
    row.error = Some(error);
}

pub(super) fn write_tables(
    dir: &RunDir,
    keys: &[String],
    rows: &[SweepRow],
) -> Result<(), SweepError> {
    let json = serde_json::to_string_pretty(rows).expect("sweep rows always serialise");
    dir.write("sweep.json", json.as_bytes())?;
    dir.write("sweep.md", markdown(keys, rows).as_bytes())?;
    Ok(())
}

fn human_bytes(b: u64) -> String {
    let b = b as f64;
    match b {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b:.0} B"),
    }
}

/// A table cell: no `|` or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `sweep.md`: a markdown table with one row per combination and model, in combination order:
/// the swept values, the model, its final test accuracy, epochs and training seconds, the
/// run's traffic (on the row of the model that sent it: weight transport, messages, bytes) and
/// the status (`failed: <error>` for a failed combination).
pub fn markdown(keys: &[String], rows: &[SweepRow]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut header = vec!["#".to_owned()];
    header.extend(keys.iter().map(|k| cell(k)));
    header.extend(
        [
            "model",
            "test acc",
            "epochs",
            "train s",
            "weight transport",
            "messages",
            "bytes",
            "status",
        ]
        .map(str::to_owned),
    );
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = header
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i == 0 || i > keys.len() + 1 && i < header.len() - 1 {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for row in rows {
        for cells in row_cells(keys, row) {
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    out
}

/// The table rows of one combination: one per model (the traffic on the row of the model
/// that sent it), or one row of dashes when it has no model yet.
fn row_cells(keys: &[String], row: &SweepRow) -> Vec<Vec<String>> {
    let mut lead = vec![row.combination.to_string()];
    lead.extend(keys.iter().map(|k| {
        cell(
            &row.values
                .get(k)
                .map_or_else(|| "-".to_owned(), value_label),
        )
    }));
    let status = match (&row.status, &row.error) {
        (RowStatus::Failed, Some(e)) => cell(&format!("failed: {e}")),
        (s, _) => s.name().to_owned(),
    };
    let traffic = [
        row.weight_transport_bytes.map(human_bytes),
        row.messages.map(|m| m.to_string()),
        row.bytes.map(human_bytes),
    ]
    .map(|v| v.unwrap_or_else(|| "-".to_owned()));
    let dash = || "-".to_owned();
    if row.models.is_empty() {
        let mut cells = lead;
        cells.extend(["-", "-", "-", "-"].map(str::to_owned));
        cells.extend(traffic);
        cells.push(status);
        return vec![cells];
    }
    // The traffic belongs to the model of `algorithm.kind` (or the first, if none is).
    let owner = if row.models.contains_key(&row.algorithm) {
        row.algorithm.clone()
    } else {
        row.models.keys().next().cloned().unwrap_or_default()
    };
    let mut lines = Vec::new();
    for (label, m) in &row.models {
        let mut cells = lead.clone();
        cells.push(cell(label));
        cells.push(m.test_accuracy.map_or_else(dash, |a| format!("{a:.4}")));
        cells.push(m.epochs.to_string());
        cells.push(format!("{:.2}", m.wall_s));
        if *label == owner {
            cells.extend(traffic.clone());
        } else {
            cells.extend([dash(), dash(), dash()]);
        }
        cells.push(status.clone());
        lines.push(cells);
    }
    lines
}
