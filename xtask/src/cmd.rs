//! `Cmd`: the one way xtask runs a program.
//!
//! Every command is printed (as `$ KEY=value program args`) before it runs, runs in the project
//! root with stdin closed (CI has none, and no task is interactive), and turns a non-zero exit
//! into an error that quotes the command.

use std::ffi::OsString;
use std::fmt;
use std::process::{Command, Stdio};

use crate::workspace::project_root;
use crate::DynError;

/// A program, its arguments and extra environment variables, shown before it runs.
pub(crate) struct Cmd {
    /// What is executed: `$CARGO` for [`Cmd::cargo`].
    program: OsString,
    /// What is printed in place of `program`: `cargo` rather than a toolchain path.
    shown: String,
    args: Vec<OsString>,
    envs: Vec<(String, OsString)>,
}

impl Cmd {
    /// A command running `program`, looked up on `PATH`.
    pub(crate) fn new(program: &str) -> Cmd {
        Cmd {
            program: program.into(),
            shown: program.to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
        }
    }

    /// A command running the cargo that runs xtask (the `CARGO` variable cargo sets), so the
    /// toolchain pinned in `rust-toolchain.toml` is used; plain `cargo` outside cargo.
    pub(crate) fn cargo() -> Cmd {
        let mut cmd = Cmd::new("cargo");
        if let Some(cargo) = std::env::var_os("CARGO") {
            cmd.program = cargo;
        }
        cmd
    }

    /// Appends one argument.
    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    /// Appends several arguments.
    pub(crate) fn args<I>(mut self, args: I) -> Cmd
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the command only.
    pub(crate) fn env(mut self, key: &str, value: impl Into<OsString>) -> Cmd {
        self.envs.push((key.to_owned(), value.into()));
        self
    }

    /// Prints the command, runs it with inherited stdout and stderr, and fails unless it exits
    /// successfully.
    pub(crate) fn run(self) -> Result<(), DynError> {
        println!("$ {self}");
        let status = self
            .command()
            .status()
            .map_err(|e| format!("could not start `{self}`: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{self}` failed ({status})").into())
        }
    }

    /// Prints the command, runs it and returns its stdout; its stderr is passed through.
    pub(crate) fn read(self) -> Result<String, DynError> {
        println!("$ {self}");
        let output = self
            .command()
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("could not start `{self}`: {e}"))?;
        if !output.status.success() {
            return Err(format!("`{self}` failed ({})", output.status).into());
        }
        String::from_utf8(output.stdout)
            .map_err(|_| format!("`{self}` printed output that is not UTF-8").into())
    }

    /// Prints the command, runs it with all output discarded, and says whether it succeeded
    /// (a program that cannot be started counts as failing).
    pub(crate) fn probe(self) -> bool {
        println!("$ {self}");
        self.command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Runs the command without printing it, with stderr discarded, and returns its stdout if
    /// it succeeded: for questions about the machine (which toolchain is installed), whose
    /// failure is an answer rather than an error.
    pub(crate) fn query(self) -> Option<String> {
        let output = self.command().stderr(Stdio::null()).output().ok()?;
        if output.status.success() {
            String::from_utf8(output.stdout).ok()
        } else {
            None
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .current_dir(project_root())
            .stdin(Stdio::null());
        command
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in &self.envs {
            write!(f, "{key}={} ", quote(&value.to_string_lossy()))?;
        }
        f.write_str(&self.shown)?;
        for arg in &self.args {
            write!(f, " {}", quote(&arg.to_string_lossy()))?;
        }
        Ok(())
    }
}

/// Quotes `word` the way a POSIX shell would need it, so a printed command can be pasted.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=+:,@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_env_program_and_quoted_args() {
        let cmd = Cmd::new("cargo")
            .env("RUSTFLAGS", "--cfg corral_loom")
            .args(["test", "-p", "corral-core"])
            .arg("it's");
        assert_eq!(
            cmd.to_string(),
            r"RUSTFLAGS='--cfg corral_loom' cargo test -p corral-core 'it'\''s'"
        );
    }

    #[test]
    fn cargo_is_shown_as_cargo() {
        assert!(Cmd::cargo().arg("fmt").to_string().starts_with("cargo fmt"));
    }
}
