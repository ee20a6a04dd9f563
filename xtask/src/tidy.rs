//! `cargo xtask tidy`: the source checks that rustc and clippy cannot make.
//!
//! It is also a `#[test]` (`tests::tidy`), so plain `cargo test --workspace` enforces it.
//! What the workspace's clippy lints (`[workspace.lints.clippy]` of the root manifest, run by
//! verify as `cargo clippy --workspace --all-targets -- -D warnings`, so tests, examples and
//! benches included) enforce is not repeated here: a `SAFETY:` comment on every unsafe block and
//! unsafe impl (`undocumented_unsafe_blocks`), no `dbg!` (`dbg_macro`), no `todo!` or
//! `unimplemented!` (`todo`, `unimplemented`). Over the files git tracks or would track
//! (`git ls-files --cached --others --exclude-standard`):
//!
//! 1. every `.rs` file under `crates/`, `xtask/` and `benches/` starts with a `//!` line: every
//!    module says what it is for (rustc's `missing_docs` asks it of public modules only);
//! 2. no line of those `.rs` files ends in whitespace;
//! 3. no file under `crates/`, `docs/`, `xtask/` or `benches/`, nor `README.md`, refers to a
//!    document outside the repository: the names in [`EXTERNAL_DOCS`], or a numbered rule of the
//!    old reference (`rule` followed by `N.M`; the rules are now R1-R12 and the traps T1-T5 of
//!    `docs/conformance.md`). Prose counts: that is where such references live;
//! 4. the loom models (`.rs` files under a `loom_tests` directory) are compiled only with
//!    `--cfg corral_loom`, which clippy's run does not set, so there tidy applies the clippy
//!    lints above by hand, to code only (lines starting with `//` are prose): every line with an
//!    unsafe block or an unsafe impl has a `SAFETY:` comment on the line or within the
//!    [`SAFETY_WINDOW`] non-blank lines above it (a comment block that ends there counts as a
//!    whole, however long), and no `dbg!`, `todo!` or `unimplemented!` calls.
//!
//! All violations are reported, as `path:line: message`, before the check fails.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd::Cmd;
use crate::workspace::project_root;
use crate::DynError;

/// The directories whose Rust files are checked, relative to the project root.
const DIRS: [&str; 3] = ["crates", "xtask", "benches"];

/// The directories and files checked for references to documents outside the repository.
const DOC_SCOPE: [&str; 5] = ["crates", "docs", "xtask", "benches", "README.md"];

/// How many non-blank lines above an unsafe line may hold its `SAFETY:` comment.
const SAFETY_WINDOW: usize = 3;

// The patterns are assembled so that this file does not match them itself.
const UNSAFE_BLOCK: &str = concat!("unsafe", " {");
const UNSAFE_IMPL: &str = concat!("unsafe", " impl");
const DBG: &str = concat!("dbg", "!(");
const TODO: &str = concat!("todo", "!(");
const UNIMPLEMENTED: &str = concat!("unimplemented", "!(");

/// Names of documents that live outside the repository (the design notes the project was
/// written from), matched case-sensitively: `docs/semantics.md` is the repository's own.
const EXTERNAL_DOCS: [&str; 8] = [
    concat!("SEMANTICS", ".md"),
    concat!("API", ".md"),
    concat!("kotlinx", "-scenarios"),
    concat!("rust", "-anchors"),
    concat!("kotlinx", "-scheduler.md"),
    concat!("style", "-exemplars"),
    concat!("../", "shared"),
    concat!("reference", " doc"),
];

/// The word before a numbered rule of the old reference (`rule` and `N.M`).
const RULE: &str = concat!("rule", " ");

/// Runs the checks, printing every violation; fails if there is any.
pub(crate) fn run() -> Result<(), DynError> {
    let root = project_root();
    let files = files(&root)?;
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let bytes = fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        // A file that is not UTF-8 (an image, say) has no lines to check.
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        checked += 1;
        let relative = file.strip_prefix(&root).unwrap_or(file);
        for (line, message) in check(relative, &text) {
            violations.push(format!("{}:{line}: {message}", relative.display()));
        }
    }
    for violation in &violations {
        println!("{violation}");
    }
    if violations.is_empty() {
        println!("tidy: {checked} files ok");
        Ok(())
    } else {
        Err(format!(
            "tidy found {} violation(s) in {checked} files (listed above)",
            violations.len(),
        )
        .into())
    }
}

/// The files of [`DOC_SCOPE`] (a superset of [`DIRS`]), from git, or from a directory walk when
/// this is not a git checkout.
fn files(root: &Path) -> Result<Vec<PathBuf>, DynError> {
    let listed = Cmd::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
        ])
        .args(DOC_SCOPE)
        .read();
    let mut files = match listed {
        Ok(out) => out
            .lines()
            .map(|path| root.join(path))
            // `--cached` still lists files deleted from the work tree.
            .filter(|path| path.is_file())
            .collect(),
        Err(error) => {
            println!("tidy: git unavailable ({error}); walking {DOC_SCOPE:?} instead");
            let mut files = Vec::new();
            for entry in DOC_SCOPE {
                walk(&root.join(entry), &mut files);
            }
            files
        }
    };
    files.sort();
    files.dedup();
    Ok(files)
}

/// Every file at or under `path`, except under `target` directories.
fn walk(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_owned());
        return;
    }
    if path.file_name().is_some_and(|name| name == "target") {
        return;
    }
    let Ok(entries) = fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        walk(&entry.path(), out);
    }
}

/// Checks one file (`path` is relative to the project root), returning `(line number,
/// message)` per violation.
fn check(path: &Path, text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let rust = is_checked_rust(path);
    let loom_model = rust && is_loom_model(path);
    if rust && !lines.first().is_some_and(|first| first.starts_with("//!")) {
        out.push((1, "the file must start with a `//!` doc comment".to_owned()));
    }
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        if rust && line.ends_with(char::is_whitespace) {
            out.push((n, "trailing whitespace".to_owned()));
        }
        for reference in external_references(line) {
            out.push((
                n,
                format!("`{reference}` refers to a document outside the repository; say it here or point into docs/"),
            ));
        }
        let code = line.trim_start();
        if !loom_model || code.starts_with("//") {
            continue;
        }
        if (code.contains(UNSAFE_BLOCK) || code.contains(UNSAFE_IMPL)) && !has_safety(&lines[..=i])
        {
            out.push((
                n,
                format!("unsafe without a `SAFETY:` comment on the line or the {SAFETY_WINDOW} non-blank lines above (clippy does not see loom models)"),
            ));
        }
        for banned in [DBG, TODO, UNIMPLEMENTED] {
            if code.contains(banned) {
                out.push((
                    n,
                    format!("`{banned}` left in (clippy does not see loom models)"),
                ));
            }
        }
    }
    out
}

/// The references on `line` to documents outside the repository: each name of
/// [`EXTERNAL_DOCS`] it contains (a name written in lower case in any case, the others exactly)
/// and each numbered rule of the old reference ([`RULE`] then `N.M`, in any case).
fn external_references(line: &str) -> Vec<String> {
    let lower = line.to_ascii_lowercase();
    let mut found: Vec<String> = EXTERNAL_DOCS
        .iter()
        .filter(|name| {
            let any_case = name.to_ascii_lowercase() == **name;
            line.contains(*name) || (any_case && lower.contains(*name))
        })
        .map(|name| (*name).to_owned())
        .collect();
    // ASCII lower-casing keeps byte offsets, and RULE is ASCII: `at + RULE.len()` is a boundary.
    for (at, _) in lower.match_indices(RULE) {
        let number: String = lower[at + RULE.len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let number = number.trim_end_matches('.');
        let parts: Vec<&str> = number.split('.').collect();
        if parts.len() >= 2 && parts.iter().all(|part| !part.is_empty()) {
            found.push(format!("{RULE}{number}"));
        }
    }
    found
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

/// Whether `path` is a `.rs` file under one of [`DIRS`] (checks 1, 2 and 4).
fn is_checked_rust(path: &Path) -> bool {
    let top = path
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str());
    path.extension().is_some_and(|ext| ext == "rs") && top.is_some_and(|top| DIRS.contains(&top))
}

/// Whether `path` is a loom model: under a `loom_tests` directory, compiled only with
/// `--cfg corral_loom`, which clippy's run does not set.
fn is_loom_model(path: &Path) -> bool {
    let mut dirs = path.parent().into_iter().flat_map(Path::components);
    dirs.any(|dir| dir.as_os_str() == "loom_tests")
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

    fn lines_of(path: &str, text: &str) -> Vec<usize> {
        messages(path, text).iter().map(|m| m.0).collect()
    }

    #[test]
    fn requires_a_module_doc_in_rust_files() {
        assert_eq!(messages("crates/a/src/x.rs", "//! Doc.\n").len(), 0);
        assert_eq!(messages("crates/a/src/x.rs", "// Not a doc.\n")[0].0, 1);
        assert_eq!(messages("crates/a/src/x.rs", "").len(), 1);
        assert_eq!(messages("xtask/src/x.rs", "fn f() {}\n").len(), 1);
        assert_eq!(messages("docs/x.md", "# Title\n"), []);
        assert_eq!(messages("crates/a/Cargo.toml", "[package]\n"), []);
    }

    #[test]
    fn bans_trailing_whitespace_in_rust_files() {
        let text = "//! D.\nlet y = 2; \n// prose\t\nlet z = 3;\n";
        assert_eq!(lines_of("crates/a/src/x.rs", text), [2, 3]);
        assert_eq!(lines_of("benches/src/x.rs", text), [2, 3]);
        // Markdown ends lines with two spaces on purpose.
        assert_eq!(messages("docs/x.md", "a line break  \nhere\n"), []);
    }

    #[test]
    fn leaves_what_clippy_lints_to_clippy() {
        let text = format!(
            "//! D.\nlet x = {UNSAFE_BLOCK} f() }};\n{UNSAFE_IMPL} Send for X {{}}\n{DBG}1);\n{TODO});\n{UNIMPLEMENTED});\n"
        );
        assert_eq!(messages("crates/a/src/x.rs", &text), []);
        assert_eq!(messages("crates/a/tests/x.rs", &text), []);
        assert_eq!(
            lines_of("crates/a/src/loom_tests/x.rs", &text),
            [2, 3, 4, 5, 6]
        );
    }

    #[test]
    fn requires_safety_comments_near_unsafe_in_loom_models() {
        let at = |text: &str| messages("crates/a/src/loom_tests/x.rs", text);
        let block = format!("{UNSAFE_BLOCK} f() }}");
        let ok = format!("//! D.\n// SAFETY: fine.\n#[allow(x)]\n\nlet a = 1;\n{block}\n");
        assert_eq!(at(&ok), []);
        let far = format!("//! D.\n// SAFETY: fine.\na;\nb;\nc;\n{block}\n");
        assert_eq!(at(&far)[0].0, 6);
        let long = format!("//! D.\n// SAFETY: one,\n// two,\n// three,\n// four.\n{block}\n");
        assert_eq!(at(&long), []);
        let inline = format!("//! D.\nlet x = {block} // SAFETY: fine.\n");
        assert_eq!(at(&inline), []);
        let mixed = format!("//! D.\n// SAFETY: fine.\na;\n// Not it.\n{block}\n");
        assert_eq!(at(&mixed), []);
        let imp = format!("//! D.\n{UNSAFE_IMPL} Send for X {{}}\n");
        assert_eq!(at(&imp)[0].0, 2);
        let prose = format!("//! D.\n// {DBG}1) and {TODO}) in prose\n");
        assert_eq!(at(&prose), []);
    }

    #[test]
    fn bans_references_to_documents_outside_the_repository() {
        for name in EXTERNAL_DOCS {
            let text = format!("//! D.\n//! As {name} says.\nfn f() {{}}\n");
            assert_eq!(lines_of("crates/a/src/x.rs", &text), [2], "{name}");
            let text = format!("# Doc\n\nSee {name}.\n");
            assert_eq!(lines_of("docs/x.md", &text), [3], "{name}");
            assert_eq!(lines_of("README.md", &text), [3], "{name}");
            assert_eq!(lines_of("crates/a/Cargo.toml", &text), [3], "{name}");
        }
        // The repository's own documents are fine, and upper-case names match exactly.
        let own = "See docs/semantics.md and docs/conformance.md, rule R7 and trap T1.\n";
        assert_eq!(messages("docs/x.md", own), []);
        // Lower-case names and numbered rules match in any case.
        let capital = format!(
            "{} §2, R{}19.1, {RULE}2.7.3; {RULE}3.\n",
            concat!("Reference", " doc"),
            &RULE[1..]
        );
        let found: Vec<String> = messages("README.md", &capital)
            .into_iter()
            .map(|(_, message)| message)
            .collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[1].contains(&format!("`{RULE}19.1`")), "{found:?}");
        assert!(found[2].contains(&format!("`{RULE}2.7.3`")), "{found:?}");
    }
}
