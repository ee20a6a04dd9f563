//! `tokio_compat`: the [`echo`](super::echo) row with `tokio::net` sockets inside corral
//! coroutines, through the facade's `tokio` feature (no `Compat` wrapper, no tokio runtime
//! of the user's), next to the same code on tokio's own runtime: what running tokio-based
//! futures in coroutines costs.
//!
//! With the feature, tokio's reactor is driven by corral's background tokio thread
//! (`corral-tokio`), so every readiness event reaches its coroutine through a wake from that
//! thread; compare with the `echo` row's corral side, where corral's own reactor runs on idle
//! workers.

use crate::runtimes::Runtime;
use crate::workloads::{corral_side, Env, Sample, Workload};

use super::echo::{client, serve, sizes, MESSAGE};

pub(in crate::workloads) fn workload() -> Workload {
    Workload::new(
        "tokio_compat",
        |quick| {
            let (n, trips) = sizes(quick);
            format!(
                "echo with tokio::net: {n} loopback connections × {trips} round trips of \
                 {MESSAGE} B, in corral coroutines (facade feature `tokio`) and on tokio; \
                 requests/s and p99 latency"
            )
        },
        |_| {
            vec!["corral column: tokio::net in corral coroutines; compare with echo's corral row (corral::net)".to_owned()]
        },
        Some(5),
        &[
            (Runtime::Corral, corral_side!(corral)),
            (Runtime::Tokio, Some(tokio)),
        ],
    )
}

#[cfg(feature = "corral")]
fn corral(env: &Env<'_>) -> Sample {
    let (connections, trips) = sizes(env.quick);
    super::on_corral::<super::TokioNet, _, _, _, _>(
        env,
        "tokio_compat",
        connections,
        move |stream, _| client(stream, trips),
        serve,
    )
}

fn tokio(env: &Env<'_>) -> Sample {
    let (connections, trips) = sizes(env.quick);
    super::on_tokio(
        env,
        "tokio_compat",
        connections,
        move |stream, _| client(stream, trips),
        serve,
    )
}
