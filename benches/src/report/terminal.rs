//! The terminal rendering: a table per workload as it finishes, and a summary at the end.

use std::fmt::Write as _;

use super::{format_secs, format_value, Report, WorkloadResult};
use crate::runtimes::Runtime;
use crate::workloads::Metric;

/// The ratio column for `peer`'s row of `metric`: `0.82x`, with `(corral behind)` when a
/// lower-is-better metric's ratio is above 1, or a higher-is-better one's (requests per second)
/// below 1.
pub(crate) fn ratio_cell(result: &WorkloadResult, metric: Metric, peer: Runtime) -> String {
    match result.ratio(metric, peer) {
        Some(ratio) if metric.lower_is_better() == (ratio > 1.0) && ratio != 1.0 => {
            format!("{ratio:.2}x (corral behind)")
        }
        Some(ratio) => format!("{ratio:.2}x"),
        None => String::new(),
    }
}

/// One workload's table.
pub(crate) fn workload_table(result: &WorkloadResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", result.name, result.description);
    let _ = writeln!(
        out,
        "  {} rounds after 1 warm-up round; corral/peer is the ratio of medians",
        result.rounds
    );
    let _ = writeln!(
        out,
        "  {:<26} {:<15} {:>11} {:>11} {:>11} {:>7}  corral/peer",
        "metric", "runtime", "median", "min", "max", "spread"
    );
    for row in &result.rows {
        let ratio = if row.runtime == Runtime::Corral {
            String::new()
        } else {
            ratio_cell(result, row.metric, row.runtime)
        };
        let _ = writeln!(
            out,
            "  {:<26} {:<15} {:>11} {:>11} {:>11} {:>6.1}%  {}",
            row.metric.name(),
            row.runtime.name(),
            format_value(row.metric, row.stats.median),
            format_value(row.metric, row.stats.min),
            format_value(row.metric, row.stats.max),
            row.stats.spread() * 100.0,
            ratio
        );
    }
    for note in &result.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    out
}

/// The summary of every workload: one line per workload and metric, medians side by side.
pub(crate) fn summary(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "summary (medians; corral/peer < 1 means corral is faster or leaner), {} worker threads each, {} cores, total {}",
        report.workers,
        report.cores,
        format_secs(report.total_secs)
    );
    let _ = writeln!(
        out,
        "  {:<24} {:<26} {:>11} {:>11} {:>15} {:>13} {:>16}",
        "workload",
        "metric",
        "corral",
        "tokio",
        "async-executor",
        "corral/tokio",
        "corral/async-ex"
    );
    for result in &report.workloads {
        for metric in result.metrics() {
            let cell = |rt: Runtime| {
                result
                    .row(rt, metric)
                    .map(|r| format_value(metric, r.stats.median))
                    .unwrap_or_else(|| "-".to_owned())
            };
            let ratio = |rt: Runtime| {
                result
                    .ratio(metric, rt)
                    .map(|r| format!("{r:.2}x"))
                    .unwrap_or_else(|| "-".to_owned())
            };
            let _ = writeln!(
                out,
                "  {:<24} {:<26} {:>11} {:>11} {:>15} {:>13} {:>16}",
                result.name,
                metric.name(),
                cell(Runtime::Corral),
                cell(Runtime::Tokio),
                cell(Runtime::AsyncExecutor),
                ratio(Runtime::Tokio),
                ratio(Runtime::AsyncExecutor)
            );
        }
    }
    out
}
