//! The real tools tests run (on the deployment files, the OpenAPI
//! document, the dashboards): found on `PATH`
//! (`just test` puts `target/tools/bin` first), else in `target/tools/bin`,
//! where scripts/tools.sh installs them. A missing tool fails the test that
//! needs it, naming the script: a check that skips itself when its tool is
//! absent would pass on every machine that cannot run it.

use std::{
    env, fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicUsize, Ordering},
};

use crate::repo::root;

/// Where scripts/tools.sh links the tools it installs, from the root.
pub const TOOLS_BIN: &str = "target/tools/bin";

/// The path of the executable `name`; panics, naming scripts/tools.sh, when
/// it is on neither `PATH` nor [`TOOLS_BIN`].
pub fn tool(name: &str) -> PathBuf {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain([root().join(TOOLS_BIN)])
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: it is on neither PATH nor {TOOLS_BIN}. \
                 Run scripts/tools.sh (`just test` does), which installs the checkers \
                 these tests run{}",
                if name == "kubectl" {
                    "; kubectl itself (with its built-in kustomize) comes with the machine \
                     or from your Kubernetes tooling"
                } else {
                    ""
                }
            )
        })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `command` to completion and returns its standard output; panics
/// with the command line, its exit status and everything it printed unless
/// it succeeded.
pub fn run(command: &mut Command) -> String {
    let line = format!("{command:?}");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("starting {line}: {e}"));
    if !output.status.success() {
        panic!("{line} failed ({}):\n{}", output.status, printed(&output));
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard output and standard error, for failure messages.
pub fn printed(output: &Output) -> String {
    format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A directory of its own under the system's temporary directory, removed
/// when dropped (kept when the test panics, for a look at what failed).
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new empty directory whose name starts with `label`.
    pub fn new(label: &str) -> Self {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let dir = env::temp_dir().join(format!("{label}-{}-{n}", std::process::id()));
        // A leftover of an earlier process with the same id.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Copies the directory tree `from` into `to` (created), files and
/// directories only.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    let entries = fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_tree(&source, &target);
        } else {
            fs::copy(&source, &target)
                .unwrap_or_else(|e| panic!("copying {}: {e}", source.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tool;

    #[test]
    #[should_panic(expected = "Run scripts/tools.sh")]
    fn a_missing_tool_fails_and_names_the_script_that_installs_it() {
        tool("no-such-checker-anywhere");
    }
}
