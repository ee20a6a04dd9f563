//! Wall time and the process's CPU time of a timed section.
//!
//! On a shared machine wall time alone misleads: a sample that lost a core to another process
//! looks slow. CPU time (`CLOCK_PROCESS_CPUTIME_ID`: user plus system time of every thread of
//! the process, the sum `getrusage(RUSAGE_SELF)` reports, at nanosecond resolution) counts
//! the work the runtime did, including its workers' spinning and parking, whatever else ran on
//! the machine. Both are reported per iteration.

use std::time::{Duration, Instant};

/// A started measurement of wall and CPU time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch {
    wall: Instant,
    cpu: Option<Duration>,
}

/// What a [`Stopwatch`] measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Elapsed {
    /// Wall time.
    pub(crate) wall: Duration,
    /// CPU time of the whole process, if the platform has a process CPU clock.
    pub(crate) cpu: Option<Duration>,
}

impl Stopwatch {
    /// Starts both clocks.
    pub(crate) fn start() -> Stopwatch {
        Stopwatch {
            cpu: process_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// Both clocks' time since [`start`](Stopwatch::start).
    pub(crate) fn elapsed(&self) -> Elapsed {
        let wall = self.wall.elapsed();
        let cpu = self
            .cpu
            .zip(process_cpu_time())
            .map(|(start, now)| now.saturating_sub(start));
        Elapsed { wall, cpu }
    }
}

/// The CPU time consumed so far by every thread of the process.
fn process_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the duration of the call, and
    // `CLOCK_PROCESS_CPUTIME_ID` is a clock id every supported Unix accepts.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}
