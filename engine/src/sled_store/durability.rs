//! Forcing sled's files to stable storage, and the file-level steps of recovering from a failed write.
//!
//! sled 0.34's `flush` writes its log with `sync_file_range`, which survives a process crash but not a
//! power cut (no fsync, the drive's cache is never flushed), and writes blob files (items over about
//! segment_size / 4) with no sync at all. So after every flush the writer calls [`DiskSync::sync`]:
//! `fdatasync` on each blob file created since the last sync and on the blob directory, then on `db`.
//! It runs once per group commit, so one sync covers every append of the group.
//!
//! Every sync goes through [`DiskSync::sync_file`], the seam where a test's [`DiskFaults`] can make it
//! fail instead of calling `fdatasync`.

use crate::faults::DiskFaults;
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub(crate) struct DiskSync {
    db_file: File,
    blobs_dir: PathBuf,
    /// Blob files already synced. A set, not a high-water mark: sled may create a lower-numbered blob
    /// (from another thread, or a rewrite) after a higher one.
    blobs_synced: HashSet<u64>,
    faults: DiskFaults,
}

impl DiskSync {
    /// Opens sled's files under `path` and makes what sled created at open durable (files and directory).
    pub(crate) fn open(path: &Path, faults: DiskFaults) -> io::Result<DiskSync> {
        let db_file = File::open(path.join("db"))?;
        let mut sync = DiskSync { db_file, blobs_dir: path.join("blobs"), blobs_synced: HashSet::new(), faults };
        sync.sync()?;
        if let Ok(conf) = File::open(path.join("conf")) {
            sync.sync_file(&conf)?;
        }
        File::open(path)?.sync_all()?;
        Ok(sync)
    }

    /// Makes everything sled has flushed durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.sync_new_blobs()?;
        self.sync_file(&self.db_file)
    }

    /// `fdatasync(file)`, unless a fault-injection test armed a failure.
    fn sync_file(&self, file: &File) -> io::Result<()> {
        if self.faults.take_sync_failure() {
            return Err(io::Error::other("injected fdatasync failure (fault-injection test)"));
        }
        file.sync_data()
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
                Ok(f) => self.sync_file(&f)?,
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

/// Before a failed store's files are opened again: write back what is still dirty, then drop the
/// file's pages from the page cache, so the reopened store reads what is really on the disk.
///
/// After a failed `fdatasync` the kernel may mark the pages it could not write as clean and keep
/// serving them from memory (the "fsyncgate" lesson): reading them back would show events the disk
/// does not hold. `POSIX_FADV_DONTNEED` evicts clean pages.
pub(crate) fn write_back_and_evict(path: &Path) -> io::Result<()> {
    let db = File::open(path.join("db"))?;
    db.sync_all()?;
    rustix::fs::fadvise(&db, 0, None, rustix::fs::Advice::DontNeed)?;
    Ok(())
}

/// Cuts a wedged sled instance off from the store's files: every descriptor of this process open on
/// `db_path` is replaced, atomically, by one on `/dev/null`.
///
/// sled 0.34 can hang forever dropping a database whose write failed (its flush waits on a condition
/// variable that the failed I/O thread never signals), and while it hangs it holds the descriptor that
/// carries the directory lock, so the store could never be opened again in this process. After the
/// fence the lock is released (the last descriptor of that open file is gone), and anything the wedged
/// instance still writes goes to `/dev/null`: for the files it is as if the process had been killed at
/// this instant, a case sled recovers from and the crash tests exercise. Returns how many descriptors
/// were replaced.
pub(crate) fn fence(db_path: &Path, dev_null: &File) -> io::Result<usize> {
    let db_path = std::fs::canonicalize(db_path)?;
    let mut fenced = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if fd == dev_null.as_raw_fd() || std::fs::read_link(entry.path()).ok().as_deref() != Some(&db_path) {
            continue;
        }
        // SAFETY: `fd` is open (listed just now) and stays open: `dup2` replaces the file it refers to
        // without closing the number, and `ManuallyDrop` keeps this borrowed handle from closing it, so
        // the wedged instance that owns the number never sees it closed or reused.
        let mut target = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(fd) });
        rustix::io::dup2(dev_null, &mut target)?;
        fenced += 1;
    }
    Ok(fenced)
}
