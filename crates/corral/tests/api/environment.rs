//! API contract: Configuration from the environment (read once at first use: checked in a child
//! process).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use corral::prelude::*;

use crate::helpers::*;

/// Runs `env_child_probe` in a fresh process of this test binary with `vars` set.
fn run_child(mode: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        // The probe's full test name: this binary's tests are named by their module path.
        .args([
            "--exact",
            "environment::env_child_probe",
            "--ignored",
            "--nocapture",
        ])
        .env("CORRAL_API_CONTRACT_CHILD", mode);
    for name in [
        "CORRAL_CORE_POOL_SIZE",
        "CORRAL_MAX_POOL_SIZE",
        "CORRAL_KEEP_ALIVE_SECS",
        "CORRAL_IO_PARALLELISM",
    ] {
        command.env_remove(name);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
#[ignore = "run by configuration_comes_from_the_environment in a child process"]
fn env_child_probe() {
    match std::env::var("CORRAL_API_CONTRACT_CHILD").as_deref() {
        Ok("malformed") => {
            let _ = Dispatchers::default();
        }
        Ok("configured") => {
            let default = Dispatchers::default();
            assert!(
                default.limited_parallelism(3) == default,
                "core pool size 3"
            );
            assert!(default.limited_parallelism(2) != default);
            let running = Arc::new(AtomicUsize::new(0));
            let max = Arc::new(AtomicUsize::new(0));
            let (r, m) = (running.clone(), max.clone());
            run_blocking(|scope| async move {
                let (running, max) = (r, m);
                for _ in 0..12 {
                    let (running, max) = (running.clone(), max.clone());
                    scope.launch_with(Dispatchers::io(), CoroutineStart::Default, |_| async move {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(now, Ordering::SeqCst);
                        thread::sleep(ms(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            })
            .unwrap();
            let max = max.load(Ordering::SeqCst);
            assert!((1..=4).contains(&max), "CORRAL_IO_PARALLELISM=4, saw {max}");
            println!("CHILD CONFIGURED OK");
        }
        _ => {}
    }
}

#[test]
fn configuration_comes_from_the_environment() {
    let (ok, text) = run_child(
        "configured",
        &[
            ("CORRAL_CORE_POOL_SIZE", "3"),
            ("CORRAL_IO_PARALLELISM", "4"),
        ],
    );
    assert!(ok && text.contains("CHILD CONFIGURED OK"), "{text}");

    for (name, value) in [
        ("CORRAL_CORE_POOL_SIZE", "four"),
        ("CORRAL_MAX_POOL_SIZE", "-1"),
        ("CORRAL_KEEP_ALIVE_SECS", "soon"),
        ("CORRAL_IO_PARALLELISM", "0"),
    ] {
        let (ok, text) = run_child("malformed", &[(name, value)]);
        assert!(!ok, "{name}={value} was accepted:\n{text}");
        assert!(
            text.contains(name) && text.contains(value),
            "the panic must name {name} and {value:?}:\n{text}"
        );
    }
}
