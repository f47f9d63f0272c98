//! Helpers shared by the bench binaries (included with `#[path]`; not a bench target itself).

#![allow(dead_code)]

pub mod demo_log;

use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Bytes of every file under `path` (0 for what cannot be read).
pub fn disk_bytes(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        total += if meta.is_dir() { disk_bytes(&entry.path()) } else { meta.len() };
    }
    total
}

/// Peak resident memory of this process so far (VmHWM), in bytes; 0 where /proc cannot be read.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1));
    kb.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// CPU time (user + system) the kernel has charged to the calling thread: steadier than wall time on a
/// shared machine. Zero where /proc cannot be read.
pub fn cpu_of_this_thread() -> Duration {
    cpu_from_stat(Path::new("/proc/thread-self"))
}

/// CPU time (user + system) charged to this process's live threads whose name starts with `prefix`
/// (`redress-writer`, `sled-io`), or to the whole process, exited threads included, for `""`.
pub fn cpu_of_threads(prefix: &str) -> Duration {
    if prefix.is_empty() {
        return cpu_from_stat(Path::new("/proc/self"));
    }
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten();
    tasks
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.starts_with(prefix)))
        .map(|task| cpu_from_stat(&task.path()))
        .sum()
}

/// utime + stime of `<task>/stat`: fields 14 and 15, after the parenthesised name, in ticks of 10 ms (Linux's
/// USER_HZ).
fn cpu_from_stat(task: &Path) -> Duration {
    let stat = std::fs::read_to_string(task.join("stat")).unwrap_or_default();
    let fields = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = fields.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}
