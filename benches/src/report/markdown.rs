//! `bench-report.md`: the run's conditions, a summary table, and a section per workload with
//! its description, every row and its notes.

use std::fmt::Write as _;

use super::terminal::ratio_cell;
use super::{format_secs, format_utc, format_value, Report};
use crate::runtimes::Runtime;

/// Renders the report as Markdown.
pub(crate) fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# corral benchmark report\n");
    let _ = writeln!(
        out,
        "Run {} by `cargo xtask bench{}` in {}. Machine: {} cores; every runtime has {} worker \
         threads (corral's core pool size; tokio `worker_threads`; async-executor threads). \
         Each workload ran one warm-up round, then its rounds, the runtimes alternating within \
         each round. Medians, min and max are over the rounds; `corral/peer` is the ratio of \
         medians (below 1: corral is faster or leaner). Workloads and sizes: `benches/README.md`.\n",
        format_utc(report.started_unix),
        if report.quick { " --quick" } else { "" },
        format_secs(report.total_secs),
        report.cores,
        report.workers,
    );
    if report.quick {
        let _ = writeln!(
            out,
            "**Quick mode**: reduced sizes and 2 rounds, a smoke test; do not read speed into it.\n"
        );
    }
    if !report.corral_built {
        let _ = writeln!(
            out,
            "**corral was not built in** (`--no-default-features`): peers only.\n"
        );
    }
    let _ = writeln!(out, "## Summary\n");
    let _ = writeln!(
        out,
        "| workload | metric | corral | tokio | async-executor | corral/tokio | corral/async-executor |"
    );
    let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for result in &report.workloads {
        for metric in result.metrics() {
            let cell = |rt: Runtime| {
                result
                    .row(rt, metric)
                    .map(|r| format_value(metric, r.stats.median))
                    .unwrap_or_else(|| "—".to_owned())
            };
            let ratio = |rt: Runtime| {
                let text = ratio_cell(result, metric, rt);
                if text.is_empty() {
                    "—".to_owned()
                } else {
                    text
                }
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} |",
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
    let _ = writeln!(out, "\n![ratios](bench-report.svg)\n");
    let _ = writeln!(out, "## Workloads\n");
    for result in &report.workloads {
        let _ = writeln!(out, "### `{}`\n", result.name);
        let _ = writeln!(out, "{} ({} rounds).\n", result.description, result.rounds);
        let _ = writeln!(
            out,
            "| metric | runtime | median | min | max | spread | corral/peer |"
        );
        let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: | --- |");
        for row in &result.rows {
            let ratio = if row.runtime == Runtime::Corral {
                String::new()
            } else {
                ratio_cell(result, row.metric, row.runtime)
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.1}% | {} |",
                row.metric.name(),
                row.runtime.name(),
                format_value(row.metric, row.stats.median),
                format_value(row.metric, row.stats.min),
                format_value(row.metric, row.stats.max),
                row.stats.spread() * 100.0,
                ratio
            );
        }
        if !result.notes.is_empty() {
            let _ = writeln!(out);
            for note in &result.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        let _ = writeln!(out);
    }
    out
}
