//! Helpers shared by the bench binaries (included with `#[path]`; not a bench target itself).

#![allow(dead_code)]

use std::path::PathBuf;

/// Where scenario temp dirs go: the target dir's tmp (same filesystem as the repo).
pub fn bench_root() -> PathBuf {
    let root = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CARGO_TARGET_TMPDIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("tmp"));
    std::fs::create_dir_all(&root).expect("create the bench root");
    root
}

pub fn fresh_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("redress-bench-").tempdir_in(bench_root()).expect("temp dir")
}

pub fn fmt_rate(x: f64) -> String {
    let whole = x.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
