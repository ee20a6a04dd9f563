//! The `package` step of `cargo xtask verify`: every published crate would be accepted by
//! crates.io as it stands.
//!
//! The published crates are the workspace members whose manifest does not say
//! `publish = false` (so `benches/` and `xtask/` are left out). For them, in order:
//!
//! 1. **metadata**: each declares every field of [`REQUIRED_FIELDS`] in its `[package]` table,
//!    itself or as `field.workspace = true` with the field set in `[workspace.package]`, and at
//!    most [`MAX_KEYWORDS`] keywords. `cargo package` only warns about missing metadata and
//!    crates.io rejects some of it only at upload, so this check is what fails.
//! 2. **files**: `cargo package --list` of each crate holds every file of [`REQUIRED_FILES`]
//!    (the crate's README and both license texts, which are symlinks to the root's).
//! 3. **package**: `cargo package` of all of them at once, verification included: each `.crate`
//!    is unpacked under `target/package/` and its library built from there, so a crate whose
//!    code needs a file the package leaves out fails here. Cargo packages path dependencies
//!    between workspace crates together (a local registry overlay in `target/package/`), so the
//!    crates resolve against each other's new `.crate` files, not against crates.io.
//!    `--allow-dirty` checks the working tree as it is, uncommitted edits included.
//!
//! Verification costs about half a minute: it builds the library of each crate (and of the
//! crates it depends on) once more, in the normal target directory, so the registry
//! dependencies it compiles are the test step's, already built.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd::Cmd;
use crate::workspace::{project_root, target_dir};
use crate::DynError;

/// The `[package]` fields every published crate must have: what crates.io requires
/// (`description`, `license`) and what it shows on the crate's page.
const REQUIRED_FIELDS: [&str; 7] = [
    "description",
    "license",
    "repository",
    "documentation",
    "readme",
    "keywords",
    "categories",
];

/// crates.io's limit on `keywords`.
const MAX_KEYWORDS: usize = 5;

/// The target directory of the packaging check, under the workspace's (see [`run`]).
const CHECK_DIR: &str = "package-check";

/// The files every published `.crate` must contain, at its root.
const REQUIRED_FILES: [&str; 3] = ["README.md", "LICENSE-MIT", "LICENSE-APACHE"];

/// A workspace member that is published.
#[derive(Debug)]
pub(crate) struct Published {
    /// The package name, as passed to `cargo -p`.
    pub(crate) name: String,
    manifest: PathBuf,
    /// The `[package]` table's keys (`version.workspace` counts as `version`) with their values
    /// as written on the key's line.
    fields: BTreeMap<String, String>,
}

/// The `package` step.
pub(crate) fn run() -> Result<(), DynError> {
    let root = project_root();
    let workspace = fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("cannot read the root Cargo.toml: {e}"))?;
    let inherited = table(&workspace, "workspace.package");
    let crates = published(&root, &workspace)?;
    if crates.is_empty() {
        return Err("no workspace member is published; nothing to package".into());
    }
    let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
    println!("package: published crates: {}", names.join(", "));

    let mut problems = Vec::new();
    for krate in &crates {
        problems.extend(metadata_problems(krate, &inherited));
    }
    if !problems.is_empty() {
        return Err(format!(
            "published crates lack the metadata crates.io needs or shows:\n  {}",
            problems.join("\n  ")
        )
        .into());
    }

    for krate in &crates {
        let listing = Cmd::cargo()
            .args(["package", "--list", "--allow-dirty", "--quiet", "-p"])
            .arg(&krate.name)
            .read()?;
        let missing: Vec<&str> = REQUIRED_FILES
            .into_iter()
            .filter(|file| !listing.lines().any(|line| line.trim() == *file))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{}: the package would not contain {} (add the file to {}, a symlink for the \
                 licenses)",
                krate.name,
                missing.join(", "),
                krate.manifest.parent().unwrap_or(Path::new(".")).display()
            ));
        }
    }
    if !problems.is_empty() {
        return Err(format!("published crates lack files:\n  {}", problems.join("\n  ")).into());
    }

    // Verification builds the packaged crates as if they came from a registry, and cargo
    // takes a registry crate of the same version to be unchanged: in a reused target directory
    // it would check today's crate against yesterday's build of its dependencies. So it gets
    // a directory of its own, emptied first.
    let check_dir = target_dir().join(CHECK_DIR);
    if check_dir.exists() {
        fs::remove_dir_all(&check_dir)
            .map_err(|e| format!("cannot empty {}: {e}", check_dir.display()))?;
    }
    forget_unpacked_overlays(&names)?;
    let mut cmd = Cmd::cargo()
        .env("CARGO_TARGET_DIR", &check_dir)
        .args(["package", "--allow-dirty"]);
    for name in &names {
        cmd = cmd.args(["-p", name]);
    }
    cmd.run().map_err(|e| {
        format!("{e}\na published crate would not package; cargo's error above names it").into()
    })
}

/// Cargo unpacks the overlay's `.crate` files into `$CARGO_HOME/registry/src/-<hash>/`, the
/// hash naming the overlay's path, and never unpacks a crate again whose directory is already
/// there: a second run from the same checkout would verify against the first run's sources.
/// So the unpacked copies of the published crates in local sources (the directories whose
/// name starts with `-`; crates.io's are named after its index) are removed first.
fn forget_unpacked_overlays(names: &[&str]) -> Result<(), DynError> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let Some(sources) = cargo_home.map(|home| home.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(local_sources) = fs::read_dir(&sources) else {
        return Ok(()); // nothing was ever unpacked
    };
    for source in local_sources.flatten() {
        if !source.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for unpacked in fs::read_dir(source.path())?.flatten() {
            let file_name = unpacked.file_name();
            let file_name = file_name.to_string_lossy();
            let ours = names.iter().any(|name| {
                file_name
                    .strip_prefix(*name)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
            });
            if ours {
                fs::remove_dir_all(unpacked.path())
                    .map_err(|e| format!("cannot remove {}: {e}", unpacked.path().display()))?;
            }
        }
    }
    Ok(())
}

/// The problems with `krate`'s metadata, one line each, naming the crate.
fn metadata_problems(krate: &Published, inherited: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for field in REQUIRED_FIELDS {
        match krate.fields.get(field) {
            None => problems.push(format!(
                "{}: no `{field}` in [package] of {}",
                krate.name,
                krate.manifest.display()
            )),
            Some(value) if value == "workspace" && !inherited.contains_key(field) => {
                problems.push(format!(
                    "{}: `{field}.workspace = true` but [workspace.package] sets no `{field}`",
                    krate.name
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(keywords) = krate.fields.get("keywords") {
        let count = keywords.matches('"').count() / 2;
        if count > MAX_KEYWORDS {
            problems.push(format!(
                "{}: {count} keywords, crates.io takes at most {MAX_KEYWORDS}",
                krate.name
            ));
        }
    }
    problems
}

/// The workspace members that are published, in the order of `members`.
pub(crate) fn published(root: &Path, workspace: &str) -> Result<Vec<Published>, DynError> {
    let mut out = Vec::new();
    for member in members(workspace) {
        if member.contains('*') {
            return Err(format!("workspace member `{member}`: globs are not supported").into());
        }
        let manifest = root.join(&member).join("Cargo.toml");
        let text = fs::read_to_string(&manifest)
            .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
        let fields = table(&text, "package");
        if fields.get("publish").is_some_and(|v| v == "false") {
            continue;
        }
        let name = fields
            .get("name")
            .map(|name| name.trim_matches('"').to_owned())
            .ok_or_else(|| format!("no `[package] name` in {}", manifest.display()))?;
        out.push(Published {
            name,
            manifest,
            fields,
        });
    }
    Ok(out)
}

/// The paths of the root manifest's `[workspace] members` array.
fn members(workspace: &str) -> Vec<String> {
    let mut in_workspace = false;
    let mut in_members = false;
    let mut out = Vec::new();
    for line in workspace.lines().map(str::trim) {
        if line.starts_with('[') && !in_members {
            in_workspace = line == "[workspace]";
            continue;
        }
        if in_workspace && !in_members {
            if let Some(rest) = line.strip_prefix("members") {
                if let Some(rest) = rest.trim_start().strip_prefix('=') {
                    out.extend(quoted(rest));
                    in_members = !rest.contains(']');
                }
            }
        } else if in_members {
            out.extend(quoted(line));
            in_members = !line.contains(']');
        }
    }
    out
}

/// The `"…"` strings of a line, in order.
fn quoted(line: &str) -> Vec<String> {
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The keys of table `[name]` of a manifest, each with the rest of its line after `=`
/// (`"workspace"` for `key.workspace = true`). A line scan, not a TOML parser: enough for the
/// workspace's own manifests, where each key starts a line.
pub(crate) fn table(manifest: &str, name: &str) -> BTreeMap<String, String> {
    let header = format!("[{name}]");
    let mut inside = false;
    let mut keys = BTreeMap::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') && !line.starts_with("[\"") {
            inside = line == header;
            continue;
        }
        if !inside {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            continue;
        }
        let (key, value) = match key.strip_suffix(".workspace") {
            Some(key) => (key, "workspace"),
            None => (key, value.trim()),
        };
        keys.insert(key.to_owned(), value.to_owned());
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "\
[workspace]
resolver = \"2\"
members = [
    \"crates/a\",
    \"xtask\",
]

[workspace.package]
license = \"MIT OR Apache-2.0\"
repository = \"https://example.invalid\"
";

    fn krate(manifest: &str) -> Published {
        Published {
            name: "a".to_owned(),
            manifest: PathBuf::from("crates/a/Cargo.toml"),
            fields: table(manifest, "package"),
        }
    }

    #[test]
    fn reads_members_and_inherited_fields() {
        assert_eq!(members(ROOT), ["crates/a", "xtask"]);
        assert_eq!(
            members("[workspace]\nmembers = [\"a\", \"b\"]\n"),
            ["a", "b"]
        );
        let inherited = table(ROOT, "workspace.package");
        assert!(inherited.contains_key("license") && !inherited.contains_key("resolver"));
    }

    #[test]
    fn complete_metadata_passes() {
        let manifest = "\
[package]
name = \"a\"
description = \"A.\"
license.workspace = true
repository.workspace = true
documentation = \"https://docs.rs/a\"
readme = \"README.md\"
keywords = [\"async\", \"b\"]
categories = [\"asynchronous\"]

[dependencies]
keywords = \"not the package's\"
";
        let inherited = table(ROOT, "workspace.package");
        assert_eq!(
            metadata_problems(&krate(manifest), &inherited),
            Vec::<String>::new()
        );
    }

    #[test]
    fn missing_metadata_is_named() {
        let manifest = "\
[package]
name = \"a\"
documentation.workspace = true
keywords = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]
";
        let inherited = table(ROOT, "workspace.package");
        let problems = metadata_problems(&krate(manifest), &inherited).join("\n");
        for needle in [
            "no `description`",
            "no `license`",
            "no `readme`",
            "no `categories`",
            "`documentation.workspace = true` but",
            "6 keywords",
        ] {
            assert!(problems.contains(needle), "{needle} not in:\n{problems}");
        }
    }

    #[test]
    fn the_workspace_publishes_its_crates_only() {
        let root = project_root();
        let workspace = fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let names: Vec<String> = published(&root, &workspace)
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert!(names.iter().any(|n| n == "corral-rt"), "{names:?}");
        assert!(!names.iter().any(|n| n == "xtask" || n == "corral-benches"));
    }
}
