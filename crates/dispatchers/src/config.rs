//! The environment configuration of the shared scheduler, read once.
//!
//! | variable                 | meaning                                   | default              |
//! |--------------------------|-------------------------------------------|----------------------|
//! | `CORRAL_CORE_POOL_SIZE`  | CPU permits of `Dispatchers::default()`   | `max(2, cores)`      |
//! | `CORRAL_MAX_POOL_SIZE`   | most threads of the shared scheduler      | core + 512           |
//! | `CORRAL_KEEP_ALIVE_SECS` | idle time before an extra thread retires  | 60                   |
//! | `CORRAL_IO_PARALLELISM`  | parallelism of `Dispatchers::io()`        | `max(64, cores)`     |
//! | `CORRAL_STALL_MS`        | poll time after which a CPU worker is reported stalled (0: off) | 100 |
//! | `CORRAL_STALL_HANDOFF`   | `1`: a stalled worker's CPU permit goes to another worker meanwhile | off |
//! | `CORRAL_THREAD_STACK_SIZE` | stack size in bytes of the shared pool's and executors' threads | the standard library's (2 MiB) |
//!
//! A malformed value (not a positive integer, out of range, or inconsistent with the others)
//! panics at the first use of a shared dispatcher with a message naming the variable and the
//! value: a typo in deployment configuration must not silently fall back to a default.
//! Ranges: the pool sizes at most [`MAX_POOL_SIZE`]; the keep-alive any number of seconds (one
//! too long for the clock, up to `u64::MAX`, means extra threads never retire); the stack
//! size at least [`MIN_THREAD_STACK_SIZE`] bytes. The core pool size costs nothing up front:
//! threads are created as work arrives.

use std::time::Duration;

use corral_scheduler::{
    default_core_pool_size, DEFAULT_EXTRA_THREADS, MAX_POOL_SIZE, MIN_THREAD_STACK_SIZE,
};

/// The parallelism of `Dispatchers::io()` at least (kotlinx's `IO_PARALLELISM_PROPERTY`
/// default, 64).
pub const DEFAULT_IO_PARALLELISM: usize = 64;

/// The shared scheduler's settings after reading the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedConfig {
    /// CPU permits.
    pub core_pool_size: usize,
    /// Most threads.
    pub max_pool_size: usize,
    /// Keep-alive of threads above the core pool size.
    pub keep_alive: Duration,
    /// Parallelism of `Dispatchers::io()`.
    pub io_parallelism: usize,
    /// Stack size in bytes of the worker threads of the shared pool and of executors (`None`:
    /// the standard library's default).
    pub thread_stack_size: Option<usize>,
}

impl SharedConfig {
    /// Reads the configuration through `lookup` (the environment in production, a map in
    /// tests). Errors name the variable and the offending value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<SharedConfig, String> {
        let positive_u64 = |name: &str| -> Result<Option<u64>, String> {
            match lookup(name) {
                None => Ok(None),
                Some(raw) => match raw.trim().parse::<u64>() {
                    Ok(0) => Err(format!("{name}={raw:?} is invalid: it must be at least 1")),
                    Ok(value) => Ok(Some(value)),
                    Err(_) => Err(format!(
                        "{name}={raw:?} is not a positive integer (at most {})",
                        u64::MAX
                    )),
                },
            }
        };
        let positive = |name: &str| -> Result<Option<usize>, String> {
            positive_u64(name)?
                .map(|value| {
                    usize::try_from(value).map_err(|_| {
                        format!("{name}=\"{value}\" is invalid: the limit is {}", usize::MAX)
                    })
                })
                .transpose()
        };
        let core_pool_size = match positive("CORRAL_CORE_POOL_SIZE")? {
            Some(core) if core > MAX_POOL_SIZE => {
                return Err(format!(
                    "CORRAL_CORE_POOL_SIZE=\"{core}\" is invalid: the limit is {MAX_POOL_SIZE}"
                ))
            }
            Some(core) => core,
            None => default_core_pool_size(),
        };
        let max_pool_size = match positive("CORRAL_MAX_POOL_SIZE")? {
            Some(max) if max < core_pool_size => {
                return Err(format!(
                    "CORRAL_MAX_POOL_SIZE=\"{max}\" is invalid: it is below the core pool size {core_pool_size}"
                ))
            }
            Some(max) if max > MAX_POOL_SIZE => {
                return Err(format!(
                    "CORRAL_MAX_POOL_SIZE=\"{max}\" is invalid: the limit is {MAX_POOL_SIZE}"
                ))
            }
            Some(max) => max,
            None => (core_pool_size + DEFAULT_EXTRA_THREADS).min(MAX_POOL_SIZE),
        };
        // Any number of seconds is valid: the scheduler takes one too long for the clock as
        // "never retire".
        let keep_alive = positive_u64("CORRAL_KEEP_ALIVE_SECS")?
            .map_or(corral_scheduler::DEFAULT_KEEP_ALIVE, Duration::from_secs);
        let io_parallelism = positive("CORRAL_IO_PARALLELISM")?
            .unwrap_or_else(|| DEFAULT_IO_PARALLELISM.max(available_cores()));
        let thread_stack_size = match positive("CORRAL_THREAD_STACK_SIZE")? {
            Some(bytes) if bytes < MIN_THREAD_STACK_SIZE => {
                return Err(format!(
                    "CORRAL_THREAD_STACK_SIZE=\"{bytes}\" is invalid: it is in bytes and must be \
                     at least {MIN_THREAD_STACK_SIZE}"
                ))
            }
            bytes => bytes,
        };
        Ok(SharedConfig {
            core_pool_size,
            max_pool_size,
            keep_alive,
            io_parallelism,
            thread_stack_size,
        })
    }

    /// Reads the process environment; panics with the message of
    /// [`from_lookup`](SharedConfig::from_lookup) on a malformed value.
    /// The stall settings (`CORRAL_STALL_MS`, `CORRAL_STALL_HANDOFF`, read by
    /// `corral_core::debug`) are checked here too, so a malformed one fails at the same place.
    pub fn from_env() -> SharedConfig {
        if let Err(error) =
            corral_core::debug::stall_threshold().and_then(|_| corral_core::debug::stall_handoff())
        {
            panic!("corral configuration error: {error}");
        }
        SharedConfig::from_lookup(|name| std::env::var(name).ok())
            .unwrap_or_else(|message| panic!("corral configuration error: {message}"))
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<SharedConfig, String> {
        SharedConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn defaults_follow_kotlinx() {
        let config = config(&[]).unwrap();
        assert_eq!(config.core_pool_size, default_core_pool_size());
        assert_eq!(config.io_parallelism, 64.max(available_cores()));
        assert_eq!(config.keep_alive, Duration::from_secs(60));
    }

    #[test]
    fn values_are_read() {
        let config = config(&[
            ("CORRAL_CORE_POOL_SIZE", "3"),
            ("CORRAL_MAX_POOL_SIZE", "10"),
            ("CORRAL_KEEP_ALIVE_SECS", "5"),
            ("CORRAL_IO_PARALLELISM", " 8 "),
        ])
        .unwrap();
        assert_eq!(
            config,
            SharedConfig {
                core_pool_size: 3,
                max_pool_size: 10,
                keep_alive: Duration::from_secs(5),
                io_parallelism: 8,
                thread_stack_size: None,
            }
        );
    }

    #[test]
    fn malformed_values_name_the_variable_and_value() {
        let error = config(&[("CORRAL_CORE_POOL_SIZE", "four")]).unwrap_err();
        assert!(
            error.contains("CORRAL_CORE_POOL_SIZE") && error.contains("four"),
            "{error}"
        );
        let error = config(&[("CORRAL_IO_PARALLELISM", "0")]).unwrap_err();
        assert!(
            error.contains("CORRAL_IO_PARALLELISM") && error.contains("at least 1"),
            "{error}"
        );
        let error = config(&[
            ("CORRAL_CORE_POOL_SIZE", "4"),
            ("CORRAL_MAX_POOL_SIZE", "2"),
        ])
        .unwrap_err();
        assert!(
            error.contains("CORRAL_MAX_POOL_SIZE") && error.contains("below"),
            "{error}"
        );
    }

    /// Finding 9: the largest keep-alive is valid (extra threads never retire), and sizes
    /// beyond what the pool can count are a clear error, never an overflow.
    #[test]
    fn finding_09_extreme_values_are_accepted_or_named() {
        let forever = config(&[("CORRAL_KEEP_ALIVE_SECS", "18446744073709551615")]).unwrap();
        assert_eq!(forever.keep_alive, Duration::from_secs(u64::MAX));
        for (name, value) in [
            ("CORRAL_CORE_POOL_SIZE", "18446744073709551615"),
            ("CORRAL_CORE_POOL_SIZE", "2097151"),
            ("CORRAL_MAX_POOL_SIZE", "18446744073709551615"),
            ("CORRAL_KEEP_ALIVE_SECS", "18446744073709551616"),
            ("CORRAL_THREAD_STACK_SIZE", "0"),
            ("CORRAL_THREAD_STACK_SIZE", "4096"),
            ("CORRAL_THREAD_STACK_SIZE", "8M"),
        ] {
            let error = config(&[(name, value)]).unwrap_err();
            assert!(error.contains(name) && error.contains(value), "{error}");
        }
        let large = config(&[
            ("CORRAL_CORE_POOL_SIZE", "100000"),
            ("CORRAL_IO_PARALLELISM", "18446744073709551615"),
            ("CORRAL_THREAD_STACK_SIZE", "16777216"),
        ])
        .unwrap();
        assert_eq!(large.core_pool_size, 100_000);
        assert_eq!(large.max_pool_size, 100_000 + DEFAULT_EXTRA_THREADS);
        assert_eq!(large.io_parallelism, usize::MAX);
        assert_eq!(large.thread_stack_size, Some(16 << 20));
    }
}
