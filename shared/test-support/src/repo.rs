//! The repository the tests read: its root, its files, its workspace
//! members — one answer for the deployment checks, the docs checks, the
//! module check and the system tests.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// The workspace's root directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("shared/test-support sits two levels below the workspace root")
        .to_owned()
}

/// A file of the repository, by its path from the root (an absolute path
/// is taken as it is); panics naming the file when it cannot be read.
pub fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every file below `dir` whose name ends with `extension`, sorted; hidden
/// directories, `target` and `node_modules` are not entered.
pub fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    collect(dir, extension, &mut found);
    found.sort();
    found
}

fn collect(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                collect(&path, extension, found);
            }
        } else if name.ends_with(extension) {
            found.push(path);
        }
    }
}

/// The workspace's members, as the root Cargo.toml lists them
/// (`shared/messaging`, `api-gateway`, …).
pub fn workspace_members() -> Vec<String> {
    let manifest: toml::Table = read("Cargo.toml")
        .parse()
        .expect("Cargo.toml is valid TOML");
    manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members is a list")
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect()
}
