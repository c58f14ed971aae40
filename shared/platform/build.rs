//! Records the compiler's version for the `build_info` metric
//! (`src/metrics/process.rs`). Cargo builds every crate of a binary with the
//! same rustc (and rebuilds everything when it changes), so the one that
//! compiles this crate is the one that built the binary.

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        // "rustc 1.95.0 (<hash> <date>)": the version alone.
        .and_then(|line| line.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PLATFORM_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
