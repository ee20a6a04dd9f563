//! Address resolution for `bind`, `connect` and `send_to`.
//!
//! Resolution uses std's [`ToSocketAddrs`], on the calling thread. A value that is already an
//! address (a `SocketAddr`, an `(IpAddr, u16)` pair, a slice of addresses) converts inline;
//! anything else (a string, which may name a host) resolves inside
//! [`corral_scheduler::block_in_place`], so a lookup that blocks in the system resolver gives
//! the worker's CPU permit back while it does and the pool's other coroutines keep running.
//! The hand-off is not free (the pool may add a thread to make up for the permit), which is
//! why a server connecting to a `SocketAddr` per connection skips it.
//!
//! Which is which is told by the value's iterator type: std's impls for addresses yield
//! through `option::IntoIter` or a cloned slice iterator, its impls for strings through a
//! `Vec`. A user type that looked a name up behind one of the former would resolve inline.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Every address `addr` names, in order.
pub(crate) fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    if is_address::<A>() {
        return addr.to_socket_addrs().map(Iterator::collect);
    }
    corral_scheduler::block_in_place(|| addr.to_socket_addrs().map(Iterator::collect))
}

/// `true` if `A` is an address already, whose conversion makes no system call (see the module
/// docs).
fn is_address<A: ToSocketAddrs>() -> bool {
    use std::any::type_name;
    let iter = type_name::<A::Iter>();
    iter == type_name::<std::option::IntoIter<SocketAddr>>()
        || iter == type_name::<std::iter::Cloned<std::slice::Iter<'static, SocketAddr>>>()
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

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

    use super::*;

    #[test]
    fn addresses_convert_inline_and_strings_do_not() {
        let address = SocketAddr::from(([127, 0, 0, 1], 80));
        assert!(is_address::<SocketAddr>());
        assert!(is_address::<SocketAddrV4>());
        assert!(is_address::<&SocketAddr>());
        assert!(is_address::<(IpAddr, u16)>());
        assert!(is_address::<(Ipv4Addr, u16)>());
        assert!(is_address::<&[SocketAddr]>());
        assert!(!is_address::<&str>());
        assert!(!is_address::<String>());
        assert!(!is_address::<(&str, u16)>());
        assert_eq!(resolve(address).unwrap(), [address]);
        assert_eq!(resolve("127.0.0.1:80").unwrap(), [address]);
    }
}
