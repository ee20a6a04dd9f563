//! `bench-report.svg`: a horizontal bar chart of corral/peer ratios (medians), drawn by hand.
//!
//! One bar per workload, lower-is-better metric (time, bytes per coroutine, peak threads) and
//! peer; a vertical line marks 1.0. Green bars (below 1) are where corral is faster or
//! leaner, red ones where it is behind. Bars longer than the axis are cut and labelled with
//! their value. `max_concurrency` is a correctness check, not a ratio, and is left out.

use std::fmt::Write as _;

use super::Report;
use crate::runtimes::Runtime;
use crate::workloads::Metric;

const WIDTH: f64 = 960.0;
const LABEL_WIDTH: f64 = 360.0;
const RIGHT_MARGIN: f64 = 90.0;
const ROW_HEIGHT: f64 = 22.0;
const BAR_HEIGHT: f64 = 14.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 40.0;
/// The axis never ends below this ratio, so that 1.0 is never at the right edge.
const MIN_AXIS: f64 = 2.0;
/// Nor beyond this one: longer bars are cut.
const MAX_AXIS: f64 = 5.0;

/// The metrics charted.
const CHARTED: [Metric; 3] = [
    Metric::Time,
    Metric::UsableBytesPerCoroutine,
    Metric::PeakThreads,
];

struct Bar {
    label: String,
    ratio: f64,
}

/// Renders the chart.
pub(crate) fn render(report: &Report) -> String {
    let mut bars = Vec::new();
    for result in &report.workloads {
        for metric in CHARTED {
            for peer in [Runtime::Tokio, Runtime::AsyncExecutor] {
                if let Some(ratio) = result.ratio(metric, peer) {
                    bars.push(Bar {
                        label: format!("{} · {} vs {}", result.name, metric.name(), peer.name()),
                        ratio,
                    });
                }
            }
        }
    }
    let largest = bars.iter().map(|b| b.ratio).fold(0.0, f64::max);
    let axis = largest.ceil().clamp(MIN_AXIS, MAX_AXIS);
    let plot = WIDTH - LABEL_WIDTH - RIGHT_MARGIN;
    let x = |ratio: f64| LABEL_WIDTH + plot * ratio.min(axis) / axis;
    let height = TOP + ROW_HEIGHT * bars.len().max(1) as f64 + BOTTOM;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" font-size="16" font-weight="bold">corral / peer (ratio of medians)</text>"#,
        10
    );
    let mode = if report.quick {
        ", --quick (smoke run, sizes reduced)"
    } else {
        ""
    };
    let _ = writeln!(
        svg,
        r#"<text x="10" y="44">below 1.0 (green): corral faster or leaner; above (red): corral behind. {} worker threads each{}</text>"#,
        report.workers,
        escape(mode)
    );
    // Grid: a line per 0.5 up to the axis end, labelled at the bottom.
    let bottom = height - BOTTOM;
    let mut tick = 0.0;
    while tick <= axis + 1e-9 {
        let tx = x(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{tx:.1}" y1="{}" x2="{tx:.1}" y2="{bottom:.1}" stroke="#dddddd" stroke-width="1"/>"##,
            TOP - 8.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{tx:.1}" y="{:.1}" text-anchor="middle">{tick:.1}</text>"#,
            bottom + 16.0
        );
        tick += 0.5;
    }
    if bars.is_empty() {
        let _ = writeln!(
            svg,
            r#"<text x="{LABEL_WIDTH}" y="{:.1}">no ratios: corral was not measured</text>"#,
            TOP + 14.0
        );
    }
    for (i, bar) in bars.iter().enumerate() {
        let y = TOP + ROW_HEIGHT * i as f64;
        let colour = if bar.ratio <= 1.0 {
            "#2e7d32"
        } else {
            "#c62828"
        };
        let end = x(bar.ratio);
        let cut = if bar.ratio > axis { " ›" } else { "" };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8.0,
            y + BAR_HEIGHT - 3.0,
            escape(&bar.label)
        );
        let _ = writeln!(
            svg,
            r#"<rect x="{LABEL_WIDTH}" y="{y:.1}" width="{:.1}" height="{BAR_HEIGHT}" fill="{colour}"/>"#,
            (end - LABEL_WIDTH).max(1.0)
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{:.2}x{cut}</text>"#,
            end + 4.0,
            y + BAR_HEIGHT - 3.0,
            bar.ratio
        );
    }
    // The 1.0 line, over the bars.
    let one = x(1.0);
    let _ = writeln!(
        svg,
        r##"<line x1="{one:.1}" y1="{}" x2="{one:.1}" y2="{bottom:.1}" stroke="#000000" stroke-width="2"/>"##,
        TOP - 8.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{one:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">1.0</text>"#,
        TOP - 12.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// Escapes text for an SVG text node or attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
