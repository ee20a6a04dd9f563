//! `bench-report.json`: a JSON array of rows, one per workload, runtime and metric:
//! `{"workload", "runtime", "metric", "unit", "median", "min", "max", "samples"}`. Written by
//! hand (every string is a fixed ASCII identifier; numbers are finite).

use std::fmt::Write as _;

use super::Report;

/// Renders the report's rows as JSON (metrics outside the schema are left out).
pub(crate) fn render(report: &Report) -> String {
    let mut rows = Vec::new();
    for result in &report.workloads {
        for row in result.rows.iter().filter(|r| r.metric.in_json()) {
            let mut line = String::new();
            let _ = write!(
                line,
                "  {{\"workload\": {}, \"runtime\": {}, \"metric\": {}, \"unit\": {}, \
                 \"median\": {}, \"min\": {}, \"max\": {}, \"samples\": {}}}",
                string(result.name),
                string(row.runtime.name()),
                string(&row.metric.name()),
                string(row.metric.unit()),
                number(row.stats.median),
                number(row.stats.min),
                number(row.stats.max),
                row.stats.samples
            );
            rows.push(line);
        }
    }
    if rows.is_empty() {
        "[]\n".to_owned()
    } else {
        format!("[\n{}\n]\n", rows.join(",\n"))
    }
}

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number (`null` for a non-finite value, which the workloads never produce).
fn number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::{number, string};

    #[test]
    fn literals() {
        assert_eq!(string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        assert_eq!(number(0.000_001_5), "0.0000015");
        assert_eq!(number(128.0), "128");
        assert_eq!(number(f64::NAN), "null");
    }
}
