//! Address resolution for `bind`, `connect` and `send_to`.
//!
//! Resolution uses std's [`ToSocketAddrs`], on the calling thread, inside
//! [`corral_scheduler::block_in_place`]: a literal address (`"127.0.0.1:0"`, a `SocketAddr`)
//! resolves without a system call, and a host name, which blocks in the system resolver, gives
//! the worker's CPU permit back while it does, so the pool's other coroutines keep running.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Every address `addr` names, in order.
pub(crate) fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    corral_scheduler::block_in_place(|| addr.to_socket_addrs().map(Iterator::collect))
}

/// The first address `addr` names.
pub(crate) fn resolve_one(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    resolve(addr)?.into_iter().next().ok_or_else(no_addresses)
}

/// Tries `attempt` on each address in turn; the last error if all fail.
pub(crate) async fn each_addr<T, Fut>(
    addr: impl ToSocketAddrs,
    mut attempt: impl FnMut(SocketAddr) -> Fut,
) -> io::Result<T>
where
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last_error = None;
    for address in resolve(addr)? {
        match attempt(address).await {
            Ok(value) => return Ok(value),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(no_addresses))
}

fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any address",
    )
}
