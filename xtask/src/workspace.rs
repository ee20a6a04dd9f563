//! Where things are: the project root, the target directory, the `crates/*` packages and their
//! Rust sources.
//!
//! Lists that other tasks derive from the tree (which crates have loom models, which contain
//! `unsafe`) are computed here from the sources, so they maintain themselves.

use std::fs;
use std::path::{Path, PathBuf};

use crate::DynError;

/// The workspace root: the parent of this crate's directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// cargo's target directory: `$CARGO_TARGET_DIR` if set (relative to the root if relative),
/// otherwise `target/` in the root. Loom and Miri builds go to subdirectories of it.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => project_root().join(dir),
        _ => project_root().join("target"),
    }
}

/// A package under `crates/`.
#[derive(Debug)]
pub(crate) struct Package {
    /// The package name from its `Cargo.toml`, as passed to `cargo -p`.
    pub(crate) name: String,
    /// Its directory, e.g. `<root>/crates/core`.
    pub(crate) dir: PathBuf,
}

impl Package {
    /// The package called `name`, or an error naming the packages that exist.
    pub(crate) fn find(name: &str) -> Result<Package, DynError> {
        let mut packages = packages()?;
        match packages.iter().position(|p| p.name == name) {
            Some(i) => Ok(packages.swap_remove(i)),
            None => {
                let names: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
                Err(format!(
                    "no package `{name}` under crates/ (found: {})",
                    names.join(", ")
                )
                .into())
            }
        }
    }

    /// The `.rs` files under the package's `src/` and `tests/`.
    pub(crate) fn sources(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for dir in ["src", "tests"] {
            rust_files(&self.dir.join(dir), &mut files);
        }
        files
    }

    /// Whether any of [`Package::sources`] contains `needle`.
    pub(crate) fn mentions(&self, needle: &str) -> bool {
        self.sources()
            .iter()
            .any(|file| fs::read_to_string(file).is_ok_and(|text| text.contains(needle)))
    }

    /// Whether the package's `src/` uses the `unsafe` keyword in code (comments don't count).
    pub(crate) fn has_unsafe(&self) -> bool {
        let mut files = Vec::new();
        rust_files(&self.dir.join("src"), &mut files);
        files.iter().any(|file| {
            fs::read_to_string(file).is_ok_and(|text| text.lines().any(line_uses_unsafe))
        })
    }
}

/// Every package under `crates/`, sorted by directory.
pub(crate) fn packages() -> Result<Vec<Package>, DynError> {
    let crates = project_root().join("crates");
    let entries =
        fs::read_dir(&crates).map_err(|e| format!("cannot list {}: {e}", crates.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let manifest = dir.join("Cargo.toml");
            let text = fs::read_to_string(&manifest)
                .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
            let name = package_name(&text)
                .ok_or_else(|| format!("no `[package] name` in {}", manifest.display()))?;
            Ok(Package { name, dir })
        })
        .collect()
}

/// The `name = "..."` of the `[package]` table of a manifest (a line scan, not a TOML parser:
/// enough for the workspace's own manifests).
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            let Some(value) = line.strip_prefix("name") else {
                continue;
            };
            let value = value.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_owned());
        }
    }
    None
}

/// Appends the `.rs` files under `dir` (recursively; a missing `dir` adds nothing).
pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Whether a source line uses `unsafe` as a word outside a `//` comment.
fn line_uses_unsafe(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices("unsafe").any(|(at, word)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_package_name() {
        let manifest =
            "[workspace]\nname = \"no\"\n[package]\nversion = \"1\"\nname = \"corral-core\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("corral-core"));
    }

    #[test]
    fn finds_unsafe_as_a_word_in_code_only() {
        // Split so that tidy doesn't take these for unsafe code without a SAFETY comment.
        assert!(line_uses_unsafe(concat!("    unsafe", " { ptr.read() }")));
        assert!(line_uses_unsafe(concat!("unsafe", " impl Send for X {}")));
        assert!(!line_uses_unsafe("#![deny(unsafe_op_in_unsafe_fn)]"));
        assert!(!line_uses_unsafe("let cell = UnsafeCell::new(0);"));
        assert!(!line_uses_unsafe("//! This crate has no unsafe code."));
    }

    #[test]
    fn finds_the_facade() {
        let facade = Package::find("corral-rt").unwrap();
        assert!(facade.dir.ends_with("crates/corral"));
    }
}
