//! A machine-wide lock so QEMU-heavy tests do not oversubscribe 2 cores.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;

/// Held while a QEMU-heavy test runs; released on drop.
pub struct TestLock {
    _lock: Flock<File>,
}

/// Blocks until one of the `$DISKLESS_QEMU_SLOTS` (default 1) slots is free.
///
/// The lock files live in `/tmp`, so test binaries run by different cargo
/// processes (and different helpers' test runs) share them.
pub fn test_lock() -> TestLock {
    let slots: usize = std::env::var("DISKLESS_QEMU_SLOTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let mut announced = false;
    loop {
        for slot in 0..slots {
            let path = format!("/tmp/diskless-qemu-slot{slot}.lock");
            let Ok(f) = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
            else {
                continue;
            };
            if let Ok(lock) = Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                return TestLock { _lock: lock };
            }
        }
        if !announced {
            eprintln!(
                "diskless-qemu: waiting for a free QEMU slot (/tmp/diskless-qemu-slot*.lock)"
            );
            announced = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
