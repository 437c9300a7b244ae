//! Sealed handles of directory entries, remembered by the inode's identity
//! so READDIRPLUS makes one `statx` per entry instead of `statx` +
//! `name_to_handle_at` + a MAC.
//!
//! The identity is (export, device, inode, birth time): an inode number
//! reused for a new file has a new birth time, so it never meets the old
//! file's handle. Filesystems that report no birth time are not cached.

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept; when full the cache starts over (cheap, and a listing
/// refills it in one pass).
pub const CAPACITY: usize = 32 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub export_id: u32,
    pub dev: u64,
    pub ino: u64,
    pub birth: (i64, u32),
}

#[derive(Default)]
pub struct HandleCache {
    map: Mutex<HashMap<Identity, Box<[u8]>>>,
}

impl HandleCache {
    pub fn get(&self, id: &Identity, out: &mut impl FnMut(&[u8])) -> bool {
        let g = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match g.get(id) {
            Some(h) => {
                out(h);
                true
            }
            None => false,
        }
    }

    pub fn insert(&self, id: Identity, fh: &[u8]) {
        let mut g = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() >= CAPACITY {
            g.clear();
        }
        g.insert(id, fh.into());
    }

    pub fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_inode_number_with_a_new_birth_time_misses() {
        let c = HandleCache::default();
        let id = Identity {
            export_id: 1,
            dev: 2,
            ino: 3,
            birth: (100, 5),
        };
        c.insert(id, b"handle");
        let mut got = Vec::new();
        assert!(c.get(&id, &mut |h| got = h.to_vec()));
        assert_eq!(got, b"handle");
        let reborn = Identity {
            birth: (101, 0),
            ..id
        };
        assert!(!c.get(&reborn, &mut |_| {}));
        assert!(!c.get(&Identity { export_id: 9, ..id }, &mut |_| {}));
        c.clear();
        assert!(c.is_empty());
    }
}
