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
    let open = |slot: usize| {
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(format!("/tmp/diskless-qemu-slot{slot}.lock"))
    };
    for slot in 0..slots {
        if let Ok(f) = open(slot) {
            if let Ok(lock) = Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                return TestLock { _lock: lock };
            }
        }
    }
    eprintln!("diskless-qemu: waiting for a free QEMU slot (/tmp/diskless-qemu-slot*.lock)");
    // Block in the kernel rather than poll, so waiters are not starved by
    // newcomers that happen to poll at the right moment.
    let slot = std::process::id() as usize % slots;
    loop {
        match open(slot).map(|f| Flock::lock(f, FlockArg::LockExclusive)) {
            Ok(Ok(lock)) => return TestLock { _lock: lock },
            _ => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}
