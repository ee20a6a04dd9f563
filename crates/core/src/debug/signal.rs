//! The signal dump: with `CORRAL_DEBUG` set, `SIGQUIT` (`kill -QUIT <pid>`, or Ctrl-\ in a
//! terminal) writes a [`Dump`](super::Dump) to stderr, as the JVM prints its thread dump.
//!
//! The handler only writes one byte to a pipe (`write` is async-signal-safe); a dumper thread
//! blocked on the pipe's other end takes the dump and prints it, so no lock or allocation
//! happens in the handler.

use std::io::Write as _;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

/// The signal that asks for a dump.
pub(super) const DUMP_SIGNAL: libc::c_int = libc::SIGQUIT;

/// The pipe's write end, for the handler (-1 before it is installed).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = 1u8;
        // `write` is async-signal-safe; a full pipe means a dump is already owed, so a failed
        // write loses nothing.
        // SAFETY: `byte` is a live one-byte buffer and `fd` an open pipe end never closed.
        unsafe { libc::write(fd, std::ptr::from_ref(&byte).cast(), 1) };
    }
}

/// Installs the handler and starts the dumper thread (once).
pub(super) fn install_dump_on_signal() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if let Err(error) = install() {
            tracing::warn!(target: "corral::debug", %error, "cannot install the dump signal handler");
        }
    });
}

fn install() -> std::io::Result<()> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a writable array of two descriptors, as `pipe` requires.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    // The handler must never block the interrupted thread.
    // SAFETY: `write_end` is the pipe's open descriptor; F_SETFL only changes its flags.
    unsafe {
        let flags = libc::fcntl(write_end, libc::F_GETFL);
        libc::fcntl(write_end, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    PIPE_WRITE.store(write_end, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("corral-debug-dump".into())
        .spawn(move || dumper(read_end))?;
    // An all-zero `sigaction` has an empty mask and no flags; it is filled in before use.
    // SAFETY: all-zero bytes are a valid value of the plain C struct `sigaction`.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // The handler makes only an async-signal-safe call (`write` to a non-blocking pipe).
    // SAFETY: `action` is an initialised sigaction and a null old action is allowed.
    if unsafe { libc::sigaction(DUMP_SIGNAL, &action, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn dumper(read_end: libc::c_int) {
    let mut buffer = [0u8; 16];
    loop {
        // `read_end` is the pipe's open read end, owned by this thread.
        // SAFETY: `buffer` is writable for its whole length and `read_end` is an open descriptor.
        let read = unsafe { libc::read(read_end, buffer.as_mut_ptr().cast(), buffer.len()) };
        if read < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if read <= 0 {
            return;
        }
        let dump = super::dump();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "{dump}");
        let _ = stderr.flush();
    }
}
