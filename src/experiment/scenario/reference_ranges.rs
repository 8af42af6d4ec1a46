//! The ranges of the scenario reference (`docs/scenarios.md`) against validation: every
//! documented range is the one validation enforces, at its bounds, and the range notation is
//! read as written.

use super::reference_tests::{resolve, rows};
use super::*;

/// A range at the start of an "allowed" cell: `[a, b)` and the like, `a..b` (both ends
/// included), or `>= a`.
#[derive(Debug, PartialEq)]
struct Range {
    low: f64,
    low_closed: bool,
    high: Option<(f64, bool)>,
}

/// A number as the reference writes it: `1,000,000`, `1e9`, `-9`, `0.001`.
fn number(text: &str) -> Option<f64> {
    text.trim()
        .trim_end_matches([',', '.'])
        .replace(',', "")
        .parse()
        .ok()
}

/// The leading number of `text` (digits, `,`, `.`, `-`, `e`), and the rest.
fn leading_number(text: &str) -> Option<(f64, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, ',' | '.' | '-' | 'e')))
        .unwrap_or(text.len());
    // `a..b`: the number ends at "..".
    let end = text[..end].find("..").unwrap_or(end);
    Some((number(&text[..end])?, &text[end..]))
}

/// The range an "allowed" cell starts with, if any.
fn leading_range(allowed: &str) -> Option<Range> {
    let text = allowed.trim();
    if let Some(rest) = text.strip_prefix(">= ") {
        let (low, _) = leading_number(rest)?;
        return Some(Range {
            low,
            low_closed: true,
            high: None,
        });
    }
    if let Some(open) = text.strip_prefix(['[', '(']) {
        let low_closed = text.starts_with('[');
        let close = open.find([']', ')'])?;
        let (low, high) = open[..close].split_once(", ")?;
        return Some(Range {
            low: number(low)?,
            low_closed,
            high: Some((number(high)?, open[close..].starts_with(']'))),
        });
    }
    let (low, rest) = leading_number(text)?;
    let (high, _) = leading_number(rest.strip_prefix("..")?)?;
    Some(Range {
        low,
        low_closed: true,
        high: Some((high, true)),
    })
}

/// Overrides a key's range check needs, so that only the key itself decides: message faults
/// need the asynchronous schedule (and so `pc`), and the most CUBA neurons need a sparse
/// network to stay under 1e9 expected synapses, and the shortest microcircuit run no
/// transient.
const RANGE_CONTEXT: &[(&str, &[&str])] = &[
    (
        "faults.",
        &["algorithm.kind=\"pc\"", "runtime.schedule=\"async\""],
    ),
    ("cuba.neurons", &["cuba.p_connect=1e-6"]),
    ("plasticity.", &["algorithm.kind=\"stdp-mnist\""]),
    (
        "spc.",
        &[
            "algorithm.kind=\"spc\"",
            "algorithm.feedback=\"kolen-pollack\"",
        ],
    ),
    ("plasticity.a_", &["plasticity.rule=\"pair\""]),
    ("plasticity.tau_plus", &["plasticity.rule=\"pair\""]),
    ("plasticity.tau_minus", &["plasticity.rule=\"pair\""]),
    ("plasticity.eta", &["plasticity.rule=\"presynaptic\""]),
    ("plasticity.x_target", &["plasticity.rule=\"presynaptic\""]),
    ("plasticity.tau_pre", &["plasticity.rule=\"presynaptic\""]),
    ("plasticity.mu", &["plasticity.dependence=\"power-law\""]),
    ("microcircuit.duration_ms", &["microcircuit.transient_ms=0"]),
];

/// Whether `key = value` parses as the key's type (validation aside).
fn parses(key: &str, value: &str) -> bool {
    let mut t = toml::Table::new();
    apply_override(&mut t, &format!("{key}={value}")).expect("a dotted key");
    toml::Value::Table(t).try_into::<ScenarioFile>().is_ok()
}

/// What is wrong, if anything, when `key = v` (with the `context` settings that make the key
/// apply) is resolved: accepted where the reference (`allowed`) refuses it, refused where it
/// allows it, or refused for another key.
fn bound_problem(
    key: &str,
    integer: bool,
    context: &[String],
    allowed: &str,
    v: f64,
    accept: bool,
) -> Option<String> {
    let text = if integer {
        format!("{}", v as i128)
    } else if v.is_nan() {
        "nan".to_owned()
    } else {
        format!("{v:?}")
    };
    let mut sets = context.to_vec();
    sets.push(format!("{key}={text}"));
    match resolve(&sets) {
        Ok(_) if !accept => Some(format!(
            "{key} = {text} is accepted; the reference says {allowed}"
        )),
        // In range, but more than this machine's memory holds (the microcircuit at scale 10
        // under its own kind): the range is what is checked here.
        Err(e) if accept && e.to_string().contains("this machine has") => None,
        Err(e) if accept => Some(format!("{key} = {text} is rejected: {e}")),
        Err(e)
            if !e
                .to_string()
                .contains(key.rsplit('.').next().expect("a key")) =>
        {
            Some(format!("{key} = {text} is rejected for another key: {e}"))
        }
        _ => None,
    }
}

#[test]
fn documented_ranges_are_enforced_at_their_bounds() {
    let mut checked = 0;
    let problems = std::cell::RefCell::new(Vec::<String>::new());
    for row in rows() {
        let key = row.key.as_str();
        let integer = parses(key, "1") && !parses(key, "0.5");
        let float = parses(key, "0.5");
        if !integer && !float {
            continue; // not a number
        }
        let Some(range) = leading_range(&row.allowed) else {
            problems.borrow_mut().push(format!(
                "{key}: a number whose allowed cell does not start with its range ([a, b), \
                 a..b or >= a): {}",
                row.allowed
            ));
            continue;
        };
        let context: Vec<String> = RANGE_CONTEXT
            .iter()
            .filter(|(prefix, _)| key.starts_with(prefix))
            .flat_map(|(_, sets)| sets.iter().map(|s| (*s).to_owned()))
            .collect();
        let check = |v: f64, accept: bool| {
            let problem = bound_problem(key, integer, &context, &row.allowed, v, accept);
            problems.borrow_mut().extend(problem);
        };
        // One step beyond or inside a bound: 1 for integers, a relative 1e-9 for floats.
        let step = |b: f64| {
            if integer {
                1.0
            } else {
                1e-9 * b.abs().max(1.0)
            }
        };
        let low = range.low;
        check(low, range.low_closed);
        if range.low_closed {
            check(low - step(low), false);
        } else {
            check(low + step(low), true);
        }
        if let Some((high, closed)) = range.high {
            check(high, closed);
            if closed {
                check(high + step(high), false);
            } else {
                check(high - step(high), true);
            }
        }
        if float {
            check(f64::NAN, false);
        }
        checked += 1;
    }
    let problems = problems.into_inner();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 30, "only {checked} numeric rows");
}

#[test]
fn range_notation_is_read_as_written() {
    let r = |low, low_closed, high| Range {
        low,
        low_closed,
        high,
    };
    assert_eq!(
        leading_range("[0, 1): used"),
        Some(r(0.0, true, Some((1.0, false))))
    );
    assert_eq!(
        leading_range("(0, 1e9]"),
        Some(r(0.0, false, Some((1e9, true))))
    );
    assert_eq!(
        leading_range("1..1,000,000 (the last batch"),
        Some(r(1.0, true, Some((1e6, true))))
    );
    assert_eq!(
        leading_range("0.1..3,600,000: simulated"),
        Some(r(0.1, true, Some((3.6e6, true))))
    );
    assert_eq!(
        leading_range("5..10,000,000, and at most"),
        Some(r(5.0, true, Some((1e7, true))))
    );
    assert_eq!(leading_range(">= 1: use"), Some(r(1.0, true, None)));
    assert_eq!(
        leading_range("(-1000, 1000): mV"),
        Some(r(-1000.0, false, Some((1000.0, false))))
    );
    assert_eq!(leading_range("`relu`, `tanh`"), None);
    assert_eq!(leading_range("widths, input"), None);
}
