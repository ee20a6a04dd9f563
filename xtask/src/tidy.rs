//! `cargo xtask tidy`: source checks that rustc and clippy don't make.
//!
//! It is also a `#[test]` ([`tests::tidy`]), so plain `cargo test --workspace` enforces it.
//! Over every `.rs` file under `crates/`, `xtask/` and `benches/` that git tracks or would
//! track (`git ls-files --cached --others --exclude-standard`):
//!
//! 1. the first line starts with `//!`: every module says what it is for;
//! 2. every line with an unsafe block or an unsafe impl has a `SAFETY:` comment on the line or
//!    within the [`SAFETY_WINDOW`] non-blank lines above it (a comment block that ends there
//!    counts as a whole, however long);
//! 3. no `dbg!` calls;
//! 4. no trailing whitespace;
//! 5. no `todo!` or `unimplemented!` calls outside tests (files under a `tests` or `*_tests`
//!    directory, `tests.rs`/`test.rs`, and everything after a `#[cfg(test)]` module).
//!
//! Checks 2, 3 and 5 look at code only: lines starting with `//` are prose. All violations are
//! reported, as `path:line: message`, before the check fails.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd::Cmd;
use crate::workspace::{project_root, rust_files};
use crate::DynError;

/// The directories whose Rust files are checked, relative to the project root.
const DIRS: [&str; 3] = ["crates", "xtask", "benches"];

/// How many non-blank lines above an unsafe line may hold its `SAFETY:` comment.
const SAFETY_WINDOW: usize = 3;

// The patterns are assembled so that this file does not match them itself.
const UNSAFE_BLOCK: &str = concat!("unsafe", " {");
const UNSAFE_IMPL: &str = concat!("unsafe", " impl");
const DBG: &str = concat!("dbg", "!(");
const TODO: &str = concat!("todo", "!(");
const UNIMPLEMENTED: &str = concat!("unimplemented", "!(");

/// Runs the checks, printing every violation; fails if there is any.
pub(crate) fn run() -> Result<(), DynError> {
    let root = project_root();
    let files = files(&root)?;
    let mut violations = Vec::new();
    for file in &files {
        let text =
            fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let relative = file.strip_prefix(&root).unwrap_or(file);
        for (line, message) in check(relative, &text) {
            violations.push(format!("{}:{line}: {message}", relative.display()));
        }
    }
    for violation in &violations {
        println!("{violation}");
    }
    if violations.is_empty() {
        println!("tidy: {} files ok", files.len());
        Ok(())
    } else {
        Err(format!(
            "tidy found {} violation(s) in {} files (listed above)",
            violations.len(),
            files.len()
        )
        .into())
    }
}

/// The `.rs` files to check, from git, or from a directory walk when this is not a git checkout.
fn files(root: &Path) -> Result<Vec<PathBuf>, DynError> {
    let listed = Cmd::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
        ])
        .args(DIRS)
        .read();
    let mut files = match listed {
        Ok(out) => out
            .lines()
            .filter(|path| path.ends_with(".rs"))
            .map(|path| root.join(path))
            // `--cached` still lists files deleted from the work tree.
            .filter(|path| path.is_file())
            .collect(),
        Err(error) => {
            println!("tidy: git unavailable ({error}); walking {DIRS:?} instead");
            let mut files = Vec::new();
            for dir in DIRS {
                rust_files(&root.join(dir), &mut files);
            }
            files.retain(|file| !file.components().any(|c| c.as_os_str() == "target"));
            files
        }
    };
    files.sort();
    files.dedup();
    Ok(files)
}

/// Checks one file, returning `(line number, message)` per violation.
fn check(path: &Path, text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    if !lines.first().is_some_and(|first| first.starts_with("//!")) {
        out.push((1, "the file must start with a `//!` doc comment".to_owned()));
    }
    let mut in_tests = is_test_path(path);
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        if line.ends_with(char::is_whitespace) {
            out.push((n, "trailing whitespace".to_owned()));
        }
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        if let Some(rest) = code.strip_prefix("#[cfg(test)]") {
            // An inline test module; by convention it ends the file.
            let item = match rest.trim() {
                "" => next_item_line(&lines[i + 1..]),
                rest => rest,
            };
            in_tests |= item.contains("mod ") && item.ends_with('{');
        }
        if (code.contains(UNSAFE_BLOCK) || code.contains(UNSAFE_IMPL)) && !has_safety(&lines[..=i])
        {
            out.push((
                n,
                format!("unsafe without a `SAFETY:` comment on the line or the {SAFETY_WINDOW} non-blank lines above"),
            ));
        }
        if code.contains(DBG) {
            out.push((n, format!("`{DBG}` left in")));
        }
        for banned in [TODO, UNIMPLEMENTED] {
            if !in_tests && code.contains(banned) {
                out.push((n, format!("`{banned}` outside tests")));
            }
        }
    }
    out
}

/// Whether the last of `lines` (the unsafe one) is covered by a `SAFETY:` comment.
fn has_safety(lines: &[&str]) -> bool {
    let Some((unsafe_line, above)) = lines.split_last() else {
        return false;
    };
    if unsafe_line.contains("SAFETY:") {
        return true;
    }
    let mut in_comment_block = false;
    let non_blank = above.iter().rev().filter(|l| !l.trim().is_empty());
    for (seen, line) in non_blank.enumerate() {
        let is_comment = line.trim_start().starts_with("//");
        // Past the window, only a comment block that reaches into it is still read.
        if seen >= SAFETY_WINDOW && !(in_comment_block && is_comment) {
            return false;
        }
        if line.contains("SAFETY:") {
            return true;
        }
        in_comment_block = is_comment;
    }
    false
}

/// The first line of `lines` that is neither blank nor an attribute, trimmed, or `""`.
fn next_item_line<'a>(lines: &[&'a str]) -> &'a str {
    lines
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !l.starts_with("#["))
        .unwrap_or("")
}

/// Whether `path` holds tests only: under a `tests` or `*_tests` directory, or `tests.rs`/`test.rs`.
fn is_test_path(path: &Path) -> bool {
    let dirs = path.parent().into_iter().flat_map(Path::components);
    let in_test_dir = dirs
        .filter_map(|c| c.as_os_str().to_str())
        .any(|dir| dir == "tests" || dir.ends_with("_tests"));
    let stem = path.file_stem().and_then(|s| s.to_str());
    in_test_dir || matches!(stem, Some("tests" | "test"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tidy check itself, so that `cargo test --workspace` enforces it.
    #[test]
    fn tidy() {
        if let Err(error) = run() {
            panic!("{error}\nfix the violations printed above (see xtask/src/tidy.rs)");
        }
    }

    fn messages(path: &str, text: &str) -> Vec<(usize, String)> {
        check(Path::new(path), text)
    }

    #[test]
    fn requires_a_module_doc() {
        assert_eq!(messages("crates/a/src/x.rs", "//! Doc.\n").len(), 0);
        assert_eq!(messages("crates/a/src/x.rs", "// Not a doc.\n")[0].0, 1);
        assert_eq!(messages("crates/a/src/x.rs", "").len(), 1);
    }

    #[test]
    fn requires_safety_comments_near_unsafe() {
        let block = format!("{UNSAFE_BLOCK} f() }}");
        let ok = format!("//! D.\n// SAFETY: fine.\n#[allow(x)]\n\nlet a = 1;\n{block}\n");
        assert_eq!(messages("a.rs", &ok), []);
        let far = format!("//! D.\n// SAFETY: fine.\na;\nb;\nc;\n{block}\n");
        assert_eq!(messages("a.rs", &far)[0].0, 6);
        let long = format!("//! D.\n// SAFETY: one,\n// two,\n// three,\n// four.\n{block}\n");
        assert_eq!(messages("a.rs", &long), []);
        let inline = format!("//! D.\nlet x = {block} // SAFETY: fine.\n");
        assert_eq!(messages("a.rs", &inline), []);
        let mixed = format!("//! D.\n// SAFETY: fine.\na;\n// Not it.\n{block}\n");
        assert_eq!(messages("a.rs", &mixed), []);
        let imp = format!("//! D.\n{UNSAFE_IMPL} Send for X {{}}\n");
        assert_eq!(messages("a.rs", &imp)[0].0, 2);
    }

    #[test]
    fn bans_dbg_trailing_space_and_todo_outside_tests() {
        let text = format!("//! D.\nlet x = {DBG}1);\nlet y = 2; \n{TODO})\n");
        let lines: Vec<usize> = messages("crates/a/src/x.rs", &text)
            .iter()
            .map(|m| m.0)
            .collect();
        assert_eq!(lines, [2, 3, 4]);
        let text = format!("//! D.\n{TODO})\n");
        assert_eq!(messages("crates/a/tests/x.rs", &text), []);
        assert_eq!(messages("crates/a/src/loom_tests/x.rs", &text), []);
        let text = format!("//! D.\n#[cfg(test)]\nmod tests {{\n{UNIMPLEMENTED})\n}}\n");
        assert_eq!(messages("crates/a/src/x.rs", &text), []);
        let text = format!("//! D.\n#[cfg(test)]\nmod tests;\n{TODO})\n");
        assert_eq!(messages("crates/a/src/x.rs", &text)[0].0, 4);
        let text = format!("//! D.\n// {TODO}) in prose\n");
        assert_eq!(messages("crates/a/src/x.rs", &text), []);
    }
}
