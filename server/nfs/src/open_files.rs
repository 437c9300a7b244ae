//! A bounded cache of open regular files keyed by the sealed handle, so
//! READ and WRITE skip the MAC check and `open_by_handle_at` (a dentry
//! lookup and a permission walk in the kernel) on every call.
//!
//! An entry only proves that these exact handle bytes were verified once;
//! the export and the caller are still checked on every call. A file
//! whose last link is gone (`st_nlink == 0`) is evicted by the caller, so
//! a removed file's handle turns stale as it does without the cache; and
//! at most once per [`SWEEP`] any use of the cache closes every file
//! removed behind the server's back, so its space is freed.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries kept; the least recently used one goes first.
pub const CAPACITY: usize = 256;
/// How often cached files are checked for having been removed.
pub const SWEEP: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    fh: Vec<u8>,
    write: bool,
}

struct Entry {
    export_id: u32,
    fd: Arc<OwnedFd>,
    used: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<CacheKey, Entry>,
    tick: u64,
    swept: Option<Instant>,
}

impl Inner {
    /// Closes files whose last name is gone (one `fstat` per entry).
    fn sweep(&mut self) {
        let now = Instant::now();
        if self.swept.is_some_and(|t| now.duration_since(t) < SWEEP) {
            return;
        }
        self.swept = Some(now);
        let mut gone = Vec::new();
        self.map.retain(|_, e| {
            let keep = rustix::fs::fstat(&*e.fd).is_ok_and(|st| st.st_nlink > 0);
            if !keep {
                gone.push(e.fd.clone());
            }
            keep
        });
        close_later(gone);
    }
}

/// Closes files on a thread of their own: the last close of a removed
/// file frees its blocks (≈ 50 ms for 64 MiB on ext4 here), which must
/// not stall the call that happened to trigger the sweep, nor every other
/// call waiting for the cache lock.
fn close_later(fds: Vec<Arc<OwnedFd>>) {
    if fds.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("nfs-close".into())
        .spawn(move || drop(fds));
    if let Err(e) = spawned {
        tracing::debug!("closing removed files inline: {e}");
    }
}

/// Open files by (handle, opened for writing).
pub struct OpenFiles {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Default for OpenFiles {
    fn default() -> Self {
        OpenFiles::new(CAPACITY)
    }
}

impl OpenFiles {
    pub fn new(capacity: usize) -> OpenFiles {
        OpenFiles {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.sweep();
        g
    }

    /// The export id and fd cached for `fh`, if any.
    pub fn get(&self, fh: &[u8], write: bool) -> Option<(u32, Arc<OwnedFd>)> {
        let mut g = self.lock();
        g.tick += 1;
        let tick = g.tick;
        let key = CacheKey {
            fh: fh.to_vec(),
            write,
        };
        let e = g.map.get_mut(&key)?;
        e.used = tick;
        Some((e.export_id, e.fd.clone()))
    }

    pub fn insert(&self, fh: &[u8], write: bool, export_id: u32, fd: Arc<OwnedFd>) {
        let mut g = self.lock();
        g.tick += 1;
        let used = g.tick;
        if g.map.len() >= self.capacity {
            // A scan of at most CAPACITY entries, only on a miss when full.
            if let Some(oldest) = g
                .map
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            {
                g.map.remove(&oldest);
            }
        }
        let key = CacheKey {
            fh: fh.to_vec(),
            write,
        };
        g.map.insert(
            key,
            Entry {
                export_id,
                fd,
                used,
            },
        );
    }

    pub fn remove(&self, fh: &[u8], write: bool) {
        let key = CacheKey {
            fh: fh.to_vec(),
            write,
        };
        self.lock().map.remove(&key);
    }

    /// Drops every entry (the export table changed).
    pub fn clear(&self) {
        self.lock().map.clear();
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd() -> Arc<OwnedFd> {
        Arc::new(std::fs::File::open("/dev/null").unwrap().into())
    }

    #[test]
    fn bounded_and_least_recently_used_goes_first() {
        let c = OpenFiles::new(2);
        c.insert(b"a", false, 1, fd());
        c.insert(b"b", false, 1, fd());
        assert!(c.get(b"a", false).is_some());
        c.insert(b"c", false, 2, fd());
        assert_eq!(c.len(), 2);
        assert!(c.get(b"b", false).is_none(), "b was least recently used");
        assert_eq!(c.get(b"c", false).unwrap().0, 2);
        assert!(c.get(b"a", true).is_none(), "read and write fds are apart");
        c.remove(b"a", false);
        assert!(c.get(b"a", false).is_none());
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn a_file_removed_behind_our_back_is_closed_by_the_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let f: Arc<OwnedFd> = Arc::new(std::fs::File::open(&p).unwrap().into());
        let c = OpenFiles::new(4);
        c.insert(b"f", false, 1, f.clone());
        std::fs::remove_file(&p).unwrap();
        c.inner.lock().unwrap().swept = None;
        assert!(c.get(b"f", false).is_none(), "swept from the cache");
        // The cache's reference is dropped on the closing thread.
        for _ in 0..500 {
            if Arc::strong_count(&f) == 1 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the cache still holds the removed file");
    }
}
