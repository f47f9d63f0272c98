//! Fault injection: switches a test turns on to make the store's own I/O fail on purpose.
//!
//! Faults are inputs, not accidents: "the store recovers by itself" and "nothing acknowledged is lost"
//! are only proven for the failures a test can cause. Full disks and exhausted descriptors are real
//! (a small tmpfs, a low `RLIMIT_NOFILE`); a failing `fdatasync` cannot be had on demand from a real
//! disk, so it comes from here. Production code never arms a switch; an unarmed switch costs one
//! atomic load per sync.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Shared switches for one store's disk faults. Cloning shares them; `Default` is unarmed.
#[derive(Debug, Clone, Default)]
pub struct DiskFaults {
    /// How many of the next syncs fail (`u64::MAX`: all of them, until [`DiskFaults::clear`]).
    failing_syncs: Arc<AtomicU64>,
    /// Syncs that failed because of this switch.
    injected: Arc<AtomicU64>,
    /// While set, every sync waits (a disk that stops answering).
    stalled: Arc<AtomicBool>,
}

impl DiskFaults {
    /// Unarmed switches.
    pub fn new() -> DiskFaults {
        DiskFaults::default()
    }

    /// Makes the next `count` file syncs fail with an I/O error instead of calling `fdatasync`.
    pub fn fail_next_syncs(&self, count: u64) {
        self.failing_syncs.store(count, Ordering::SeqCst);
    }

    /// Makes every file sync fail until [`DiskFaults::clear`].
    pub fn fail_all_syncs(&self) {
        self.failing_syncs.store(u64::MAX, Ordering::SeqCst);
    }

    /// Makes every file sync wait until [`DiskFaults::clear`]: a device that stops answering.
    pub fn stall_syncs(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Disarms every switch (and lets stalled syncs go on).
    pub fn clear(&self) {
        self.failing_syncs.store(0, Ordering::SeqCst);
        self.stalled.store(false, Ordering::SeqCst);
    }

    /// How many syncs have failed because of these switches.
    pub fn injected_failures(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// Whether this sync must fail; counts it when it must. Waits first while syncs are stalled.
    pub(crate) fn take_sync_failure(&self) -> bool {
        while self.stalled.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let fail = self
            .failing_syncs
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| match left {
                0 => None,
                u64::MAX => Some(u64::MAX),
                n => Some(n - 1),
            })
            .is_ok();
        if fail {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        fail
    }
}
