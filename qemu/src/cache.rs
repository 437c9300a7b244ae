//! The cache directory and its keys.
//!
//! Everything slow (kernel builds, debootstrap, downloads) lives under
//! [`dir()`], in a sub-directory named after a hash of its inputs, so a changed
//! input builds a new entry and an unchanged one is reused.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `~/.cache/diskless`, or `$DISKLESS_CACHE` when set.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DISKLESS_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/diskless")
}

/// First 16 hex digits of the SHA-256 of `parts`, concatenated.
pub fn key(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let d = h.finalize();
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A `DIR/sub` path, created if missing.
pub fn subdir(sub: &str) -> std::io::Result<PathBuf> {
    let p = dir().join(sub);
    std::fs::create_dir_all(&p)?;
    Ok(p)
}

/// Prints what a slow step is doing, and how long it took when dropped.
///
/// Goes to stderr so the output of `bench` stays machine-readable.
pub struct Step {
    what: String,
    start: Instant,
}

impl Step {
    pub fn new(what: impl Into<String>) -> Step {
        let what = what.into();
        eprintln!("==> {what} ...");
        Step {
            what,
            start: Instant::now(),
        }
    }

    /// A progress line for a step in flight.
    pub fn progress(&self, msg: &str) {
        eprintln!("    [{:>5.0}s] {}", self.start.elapsed().as_secs_f64(), msg);
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            eprintln!(
                "<== {} ({:.1}s)",
                self.what,
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}

/// Total size in bytes of everything under `path` (not following symlinks).
pub fn size_of(path: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(md) = std::fs::symlink_metadata(p) else {
            return 0;
        };
        if md.is_dir() {
            std::fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0)
        } else {
            md.len()
        }
    }
    walk(path)
}

/// An exclusive lock on `DIR/locks/<name>.lock`, so two processes filling the
/// same cache entry wait for each other instead of racing.
pub fn lock(name: &str) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
    let p = subdir("locks")?.join(format!("{name}.lock"));
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p)?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_stable_and_input_sensitive() {
        assert_eq!(key(&[b"a", b"b"]), key(&[b"ab"]));
        assert_ne!(key(&[b"a"]), key(&[b"b"]));
        assert_eq!(key(&[b"a"]).len(), 16);
    }
}
