//! Forcing sled's files to stable storage.
//!
//! sled 0.34's `flush` writes its log with `sync_file_range`, which survives a process crash but not a
//! power cut (no fsync, the drive's cache is never flushed), and writes blob files (items over about
//! segment_size / 4) with no sync at all. So after every flush the writer calls [`DiskSync::sync`]:
//! `fdatasync` on each blob file created since the last sync and on the blob directory, then on `db`.
//! It runs once per group commit, so one sync covers every append of the group.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub(crate) struct DiskSync {
    db_file: File,
    blobs_dir: PathBuf,
    /// Blob files already synced. A set, not a high-water mark: sled may create a lower-numbered blob
    /// (from another thread, or a rewrite) after a higher one.
    blobs_synced: HashSet<u64>,
}

impl DiskSync {
    /// Opens sled's files under `path` and makes what sled created at open durable (files and directory).
    pub(crate) fn open(path: &Path) -> io::Result<DiskSync> {
        let db_file = File::open(path.join("db"))?;
        let mut sync = DiskSync { db_file, blobs_dir: path.join("blobs"), blobs_synced: HashSet::new() };
        sync.sync()?;
        for file in ["conf", "db"] {
            if let Ok(f) = File::open(path.join(file)) {
                f.sync_all()?;
            }
        }
        File::open(path)?.sync_all()?;
        Ok(sync)
    }

    /// Makes everything sled has flushed durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.sync_new_blobs()?;
        self.db_file.sync_data()
    }

    fn sync_new_blobs(&mut self) -> io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut present = HashSet::with_capacity(self.blobs_synced.len());
        let mut synced_any = false;
        for entry in entries {
            let entry = entry?;
            let Some(lsn) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else { continue };
            present.insert(lsn);
            if self.blobs_synced.contains(&lsn) {
                continue;
            }
            match File::open(entry.path()) {
                Ok(f) => f.sync_data()?,
                // sled may have collected it already; a removed blob needs no sync.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            synced_any = true;
        }
        if synced_any {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        // Forget blobs sled has removed, so the set stays as small as the directory.
        self.blobs_synced = present;
        Ok(())
    }
}
