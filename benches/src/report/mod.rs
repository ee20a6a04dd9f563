//! The results of a run and their four renderings: the terminal tables ([`terminal`]),
//! `bench-report.md` ([`markdown`]), `bench-report.svg` ([`svg`]) and `bench-report.json`
//! ([`json`]).

pub(crate) mod json;
pub(crate) mod markdown;
pub(crate) mod svg;
pub(crate) mod terminal;

use crate::runtimes::Runtime;
use crate::stats::Stats;
use crate::workloads::Metric;

/// One summarised row: a workload's metric for one runtime.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    /// The runtime measured.
    pub(crate) runtime: Runtime,
    /// What was measured.
    pub(crate) metric: Metric,
    /// The summary of its samples.
    pub(crate) stats: Stats,
}

/// The results of one workload.
#[derive(Clone, Debug)]
pub(crate) struct WorkloadResult {
    /// Stable name.
    pub(crate) name: &'static str,
    /// What is measured, with this run's sizes.
    pub(crate) description: String,
    /// Ideals and mechanism differences.
    pub(crate) notes: Vec<String>,
    /// Measured rounds (after one warm-up round).
    pub(crate) rounds: usize,
    /// Rows ordered by metric, then runtime.
    pub(crate) rows: Vec<Row>,
}

impl WorkloadResult {
    /// The row of `runtime` for `metric`, if that runtime has one.
    pub(crate) fn row(&self, runtime: Runtime, metric: Metric) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.runtime == runtime && r.metric == metric)
    }

    /// The metrics present, in order.
    pub(crate) fn metrics(&self) -> Vec<Metric> {
        let mut metrics: Vec<Metric> = self.rows.iter().map(|r| r.metric).collect();
        metrics.dedup();
        metrics
    }

    /// corral's median over `peer`'s for `metric`, if both have a row and the peer's is not 0.
    pub(crate) fn ratio(&self, metric: Metric, peer: Runtime) -> Option<f64> {
        let corral = self.row(Runtime::Corral, metric)?.stats.median;
        let peer = self.row(peer, metric)?.stats.median;
        (peer != 0.0).then(|| corral / peer)
    }
}

/// Everything a run measured.
#[derive(Clone, Debug)]
pub(crate) struct Report {
    /// Whether this was a `--quick` run.
    pub(crate) quick: bool,
    /// Worker threads of each runtime (corral's core pool size).
    pub(crate) workers: usize,
    /// `available_parallelism()` of the machine.
    pub(crate) cores: usize,
    /// Whether corral was built in (the `corral` feature).
    pub(crate) corral_built: bool,
    /// Seconds since the Unix epoch when the run started.
    pub(crate) started_unix: u64,
    /// Wall time of the whole run, in seconds.
    pub(crate) total_secs: f64,
    /// The workloads, in run order.
    pub(crate) workloads: Vec<WorkloadResult>,
}

/// Formats `value` of `metric` for people: times with a unit chosen by magnitude, counts
/// plainly.
pub(crate) fn format_value(metric: Metric, value: f64) -> String {
    match metric {
        Metric::Time | Metric::CpuTime | Metric::P99Latency => format_secs(value),
        Metric::BytesPerCoroutine
        | Metric::UsableBytesPerCoroutine
        | Metric::ResidentBytesPerCoroutine
        | Metric::UsableBytesAt(_)
        | Metric::ResidentBytesAt(_) => format!("{value:.1} B"),
        Metric::AllocationsPerCoroutine => format!("{value:.2}"),
        Metric::PeakThreads | Metric::MaxConcurrency | Metric::RequestsPerSec => {
            format!("{value:.0}")
        }
    }
}

/// Formats seconds with three significant digits and a unit from ns to s.
pub(crate) fn format_secs(secs: f64) -> String {
    let (value, unit) = if secs >= 1.0 {
        (secs, "s")
    } else if secs >= 1e-3 {
        (secs * 1e3, "ms")
    } else if secs >= 1e-6 {
        (secs * 1e6, "µs")
    } else {
        (secs * 1e9, "ns")
    };
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

/// `2026-08-21 14:03 UTC` for a Unix time (days-to-civil, proleptic Gregorian).
pub(crate) fn format_utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::{format_secs, format_utc};

    #[test]
    fn formats() {
        assert_eq!(format_secs(1.5), "1.50 s");
        assert_eq!(format_secs(0.0123), "12.3 ms");
        assert_eq!(format_secs(0.000_456_7), "457 µs");
        assert_eq!(format_secs(0.000_000_089), "89.0 ns");
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
