//! Whole directory listings (names, cookies, attributes and handles of
//! every entry) kept between calls, so a repeated READDIRPLUS, LOOKUP or
//! GETATTR of a directory costs no `getdents`, `statx` or
//! `open_by_handle_at` at all.
//!
//! Consistency comes from inotify, not from a timeout: a listing's
//! directory and each of its subdirectories carry a watch, and any event
//! on them (a child created, removed, renamed, written, chmod'ed, or a
//! subdirectory's own contents changing) drops the listing before the
//! next answer. The queue is drained under the cache lock before every
//! use, and the kernel queues an event before the changing syscall
//! returns, so a change that finished before a call is always seen.
//! What inotify cannot see is handled apart:
//! - a file with several links can change through a name in another
//!   directory: such entries are marked [`Entry::recheck`] and
//!   `statx`'ed at every answer;
//! - WRITE, SETATTR and LINK go through a file opened by handle, which
//!   inotify may not tie to its directory (a disconnected dentry): they
//!   drop every listing that shows that inode
//!   ([`DirCache::invalidate_inode`]). Directories opened by handle are
//!   always connected, so the namespace calls need nothing extra;
//! - a new hard link made behind the server's back changes the file's
//!   link count without an event to its directory; listings therefore
//!   live at most [`MAX_AGE`], which bounds that case (and mmap writes);
//! - a listing built while anything changed is not kept (a sequence
//!   number taken before the build must still hold at insert).
//!
//! Not tracked: atime (reads would otherwise drop every listing) and
//! `st_blocks` growing later when delayed allocation reaches the disk
//! (both within [`MAX_AGE`]).
//!
//! Keyed by the sealed handle bytes, as the open-file cache is: a hit
//! proves these bytes were verified once; the caller's export and rights
//! are still checked on every call.

use std::collections::HashMap;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::fs::Stat;

/// Listings bigger than this are served straight from the directory.
pub const MAX_DIR_ENTRIES: usize = 16 * 1024;
/// Entries in all listings; beyond it the cache starts over.
pub const CAPACITY: usize = 64 * 1024;
/// inotify watches held; beyond it the cache starts over (watches are a
/// per-user kernel resource shared with every other program).
pub const MAX_WATCHES: usize = 16 * 1024;
/// A listing older than this is read again (changes inotify cannot see).
pub const MAX_AGE: Duration = Duration::from_secs(10);

const MASK: u32 = libc::IN_ATTRIB
    | libc::IN_MODIFY
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// One directory entry as READDIRPLUS returns it.
#[derive(Debug)]
pub struct Entry {
    pub ino: u64,
    pub name: Box<[u8]>,
    /// The filesystem's cookie for the entry after this one.
    pub cookie: u64,
    pub attr: Option<Stat>,
    pub fh: Option<Box<[u8]>>,
    /// Attributes must be read again at every answer (several links).
    pub recheck: bool,
}

/// A directory's attributes and all its entries in `getdents` order.
pub struct Listing {
    pub export_id: u32,
    pub attr: Stat,
    pub entries: Vec<Entry>,
    /// Cookie → index of the entry that follows it.
    next: HashMap<u64, usize>,
    by_name: HashMap<Box<[u8]>, usize>,
    built: Instant,
}

impl Listing {
    pub fn new(export_id: u32, attr: Stat, entries: Vec<Entry>) -> Listing {
        let next = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.cookie, i + 1))
            .collect();
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        Listing {
            export_id,
            attr,
            entries,
            next,
            by_name,
            built: Instant::now(),
        }
    }

    /// Where a READDIR(PLUS) with `cookie` resumes; `None` for a cookie
    /// this listing never handed out.
    pub fn start(&self, cookie: u64) -> Option<usize> {
        if cookie == 0 {
            Some(0)
        } else {
            self.next.get(&cookie).copied()
        }
    }

    pub fn find(&self, name: &[u8]) -> Option<&Entry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }
}

/// Proof that a build started at a known point of the event stream.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

#[derive(Default)]
struct Inner {
    notify: Option<OwnedFd>,
    /// inotify could not be set up: cache off.
    broken: bool,
    dirs: HashMap<Box<[u8]>, Arc<Listing>>,
    /// Watch → listings that depend on what it watches.
    watches: HashMap<i32, Vec<Box<[u8]>>>,
    /// Inode number → listings that show it (the directory's own included).
    inodes: HashMap<u64, Vec<Box<[u8]>>>,
    entries: usize,
    /// Bumped by every event and every invalidation.
    seq: u64,
}

#[derive(Default)]
pub struct DirCache {
    inner: Mutex<Inner>,
}

impl DirCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.drain();
        g
    }

    /// The listing cached for the directory handle `fh`.
    pub fn get(&self, fh: &[u8]) -> Option<Arc<Listing>> {
        let mut g = self.lock();
        let l = g.dirs.get(fh)?;
        if l.built.elapsed() < MAX_AGE {
            return Some(l.clone());
        }
        g.remove(fh);
        None
    }

    /// Starts a build: `None` when the cache is off.
    pub fn begin(&self) -> Option<Ticket> {
        let mut g = self.lock();
        g.ensure_notify()?;
        Some(Ticket(g.seq))
    }

    /// Watches the directory at `path` (a `/proc/self/fd/N[/name]` path;
    /// a symlink as last component is followed only with `follow`, which
    /// the `/proc/self/fd/N` form needs); must be called before its
    /// attributes or entries are read.
    pub fn watch(&self, path: &CStr, follow: bool) -> Option<i32> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.watches.len() >= MAX_WATCHES {
            g.reset();
        }
        let fd = g.ensure_notify()?;
        // SAFETY: valid inotify fd and NUL-terminated path.
        let mask = if follow {
            MASK
        } else {
            MASK | libc::IN_DONT_FOLLOW
        };
        let wd = unsafe { libc::inotify_add_watch(fd, path.as_ptr(), mask) };
        if wd < 0 {
            return None;
        }
        g.watches.entry(wd).or_default();
        Some(wd)
    }

    /// Keeps `listing` for `fh` if nothing changed since `t`; `wds` are
    /// the watches (the directory's and its subdirectories') it depends on.
    pub fn insert(&self, t: Ticket, fh: &[u8], listing: Arc<Listing>, wds: &[i32]) {
        let mut g = self.lock();
        if g.seq != t.0 || g.notify.is_none() {
            return;
        }
        if g.entries + listing.entries.len() > CAPACITY {
            g.dirs.clear();
            g.inodes.clear();
            g.entries = 0;
        }
        g.entries += listing.entries.len();
        let key: Box<[u8]> = fh.into();
        for wd in wds {
            if let Some(deps) = g.watches.get_mut(wd) {
                if !deps.contains(&key) {
                    deps.push(key.clone());
                }
            }
        }
        let inos = listing.entries.iter().filter_map(|e| e.attr.as_ref());
        for ino in inos.map(|a| a.st_ino).chain([listing.attr.st_ino]) {
            let deps = g.inodes.entry(ino).or_default();
            if !deps.contains(&key) {
                deps.push(key.clone());
            }
        }
        if let Some(old) = g.dirs.insert(key, listing) {
            g.entries -= old.entries.len();
        }
    }

    /// Drops every listing that shows inode `ino` (our own call changed it).
    pub fn invalidate_inode(&self, ino: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.seq += 1;
        for key in g.inodes.remove(&ino).unwrap_or_default() {
            g.remove(&key);
        }
    }

    /// Drops everything, watches included (the export table changed).
    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).reset();
    }

    pub fn len(&self) -> usize {
        self.lock().dirs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn ensure_notify(&mut self) -> Option<i32> {
        if self.broken {
            return None;
        }
        if self.notify.is_none() {
            // SAFETY: plain syscall; the fd is owned below.
            let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            if fd < 0 {
                tracing::warn!(
                    "NFS directory cache off: inotify: {}",
                    std::io::Error::last_os_error()
                );
                self.broken = true;
                return None;
            }
            // SAFETY: fd was just returned by the kernel and is owned by nobody else.
            self.notify = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        self.notify.as_ref().map(|f| f.as_raw_fd())
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(l) = self.dirs.remove(key) {
            self.entries -= l.entries.len();
        }
    }

    /// Closing the inotify fd drops all its watches at once.
    fn reset(&mut self) {
        self.notify = None;
        self.dirs.clear();
        self.inodes.clear();
        self.watches.clear();
        self.entries = 0;
        self.seq += 1;
    }

    /// Applies every queued event: each drops the listings its watch
    /// guards; an overflowed queue drops everything.
    fn drain(&mut self) {
        let Some(fd) = self.notify.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        let mut buf = [0u64; 512];
        loop {
            // SAFETY: reading into a local buffer of the given size.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), std::mem::size_of_val(&buf)) };
            if n <= 0 {
                return;
            }
            // SAFETY: the buffer is plain bytes; `n` of them were written.
            let bytes =
                unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
            let mut at = 0;
            while at + 16 <= bytes.len() {
                let word = |i: usize| {
                    let b = &bytes[at + i..at + i + 4];
                    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
                };
                let (wd, mask, len) = (word(0) as i32, word(4), word(12) as usize);
                at += 16 + len;
                self.seq += 1;
                if mask & libc::IN_Q_OVERFLOW != 0 {
                    self.reset();
                    return;
                }
                let deps = if mask & libc::IN_IGNORED != 0 {
                    self.watches.remove(&wd).unwrap_or_default()
                } else {
                    self.watches
                        .get_mut(&wd)
                        .map(std::mem::take)
                        .unwrap_or_default()
                };
                for key in deps {
                    self.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    fn stat_of(p: &std::path::Path) -> Stat {
        rustix::fs::stat(p).unwrap()
    }

    fn listing(dir: &std::path::Path, names: &[&str]) -> Arc<Listing> {
        let entries = names
            .iter()
            .enumerate()
            .map(|(i, n)| Entry {
                ino: i as u64,
                name: n.as_bytes().into(),
                cookie: 100 + i as u64,
                attr: Some({
                    let mut a = stat_of(dir);
                    a.st_ino = i as u64;
                    a
                }),
                fh: None,
                recheck: false,
            })
            .collect();
        Arc::new(Listing::new(1, stat_of(dir), entries))
    }

    fn cpath(p: &std::path::Path) -> CString {
        CString::new(p.as_os_str().as_bytes()).unwrap()
    }

    #[test]
    fn cookies_and_names_index_the_entries() {
        let dir = tempfile::tempdir().unwrap();
        let l = listing(dir.path(), &["a", "b", "c"]);
        assert_eq!(l.start(0), Some(0));
        assert_eq!(l.start(100), Some(1));
        assert_eq!(l.start(102), Some(3));
        assert_eq!(l.start(7), None);
        assert_eq!(l.find(b"b").unwrap().ino, 1);
        assert!(l.find(b"z").is_none());
    }

    #[test]
    fn a_change_in_the_directory_or_a_subdirectory_drops_the_listing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("f"), b"1").unwrap();
        let c = DirCache::default();
        let build = |c: &DirCache| {
            let t = c.begin().unwrap();
            let d = std::fs::File::open(dir.path()).unwrap();
            let via_fd = format!("/proc/self/fd/{}", d.as_raw_fd());
            let wds = [
                c.watch(&CString::new(via_fd.clone()).unwrap(), true)
                    .unwrap(),
                c.watch(&CString::new(via_fd + "/sub").unwrap(), false)
                    .unwrap(),
            ];
            c.insert(t, b"fh", listing(dir.path(), &["f", "sub"]), &wds);
            assert!(c.get(b"fh").is_some());
        };
        build(&c);
        std::fs::write(dir.path().join("f"), b"22").unwrap();
        assert!(c.get(b"fh").is_none(), "a write to a child");
        build(&c);
        std::fs::write(dir.path().join("sub/new"), b"").unwrap();
        assert!(c.get(b"fh").is_none(), "a create inside a subdirectory");
        build(&c);
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        assert!(c.get(b"fh").is_none(), "the directory's own mode");
        build(&c);
        c.invalidate_inode(12345);
        assert!(c.get(b"fh").is_some(), "an inode it does not show");
        c.invalidate_inode(1);
        assert!(c.get(b"fh").is_none(), "an inode it shows");
    }

    #[test]
    fn a_listing_built_across_a_change_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let c = DirCache::default();
        let t = c.begin().unwrap();
        let wd = c.watch(&cpath(dir.path()), false).unwrap();
        std::fs::write(dir.path().join("late"), b"").unwrap();
        c.insert(t, b"fh", listing(dir.path(), &[]), &[wd]);
        assert!(c.get(b"fh").is_none());
        let t = c.begin().unwrap();
        c.invalidate_inode(9);
        c.insert(t, b"fh", listing(dir.path(), &[]), &[wd]);
        assert!(c.get(b"fh").is_none(), "an invalidation during the build");
        c.clear();
        assert!(c.is_empty());
    }
}
