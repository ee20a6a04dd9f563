//! With `CORRAL_DEBUG=1`, `SIGQUIT` makes the process write a coroutine dump to stderr.
//!
//! The test re-runs its own binary as the process to dump (this test with
//! `CORRAL_SIGNAL_CHILD` set), signals it, and reads the dump from its stderr.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use corral::prelude::*;

const CHILD_ENV: &str = "CORRAL_SIGNAL_CHILD";
const NAME: &str = "waiting-for-a-signal";
/// Bounds each step of the parent, and the child's whole life.
const STEP: Duration = Duration::from_secs(20);

/// Lines of `reader`, sent as they come, so the parent can wait with a timeout.
fn lines(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

fn wait_for(lines: &mpsc::Receiver<String>, wanted: &str) -> String {
    loop {
        match lines.recv_timeout(STEP) {
            Ok(line) if line.contains(wanted) => return line,
            Ok(_) => {}
            Err(error) => panic!("no line containing {wanted:?}: {error}"),
        }
    }
}

#[test]
fn sigquit_writes_a_dump_to_stderr() {
    if std::env::var_os(CHILD_ENV).is_some() {
        // The process to dump: one suspended coroutine, then wait to be killed.
        let job =
            GlobalScope::launch_with(CoroutineName::new(NAME), CoroutineStart::Lazy, |_| async {});
        println!("ready {}", job.id());
        std::thread::sleep(STEP);
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "sigquit_writes_a_dump_to_stderr",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env("CORRAL_DEBUG", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child runs");
    let stdout = lines(child.stdout.take().expect("piped"));
    let stderr = lines(child.stderr.take().expect("piped"));
    let ready = wait_for(&stdout, "ready ");
    // libtest may have printed the test's name on the same line.
    let id = ready
        .rsplit("ready ")
        .next()
        .expect("a split")
        .trim()
        .to_owned();
    let signalled = Command::new("kill")
        .args(["-QUIT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let header = wait_for(&stderr, "Coroutines dump");
    let line = wait_for(&stderr, NAME);
    let _ = child.kill();
    let _ = child.wait();
    assert!(header.contains("1 live"), "{header}");
    assert!(
        line.contains(&format!("id={id} ")) && line.contains("New"),
        "{line}"
    );
}
