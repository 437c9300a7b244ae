//! Hot files in memory: every node fetches the same kernel and initrd, so
//! each is read from disk once and then served as shared `Bytes` slices.
//! Entries are keyed by (device, inode, size, mtime): a replaced file is a
//! new key, so a stale copy is never served.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use bytes::Bytes;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Key {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_ns: i64,
}

pub struct FileCache {
    inner: Mutex<Inner>,
    capacity: u64,
}

struct Inner {
    map: HashMap<Key, (Bytes, u64)>,
    used: u64,
    tick: u64,
}

impl FileCache {
    /// `capacity` bytes in total; files larger than a quarter of it are
    /// read per request and not kept.
    pub fn new(capacity: u64) -> FileCache {
        FileCache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                used: 0,
                tick: 0,
            }),
            capacity,
        }
    }

    pub fn cached_bytes(&self) -> u64 {
        self.inner.lock().map(|i| i.used).unwrap_or(0)
    }

    /// Returns the file's contents, from memory when it is unchanged.
    pub fn read(&self, mut file: File, meta: &std::fs::Metadata) -> std::io::Result<Bytes> {
        let key = Key {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: meta.mtime(),
            mtime_ns: meta.mtime_nsec(),
        };
        if let Ok(mut inner) = self.inner.lock() {
            inner.tick += 1;
            let tick = inner.tick;
            if let Some((b, used)) = inner.map.get_mut(&key) {
                *used = tick;
                return Ok(b.clone());
            }
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut buf)?;
        let bytes = Bytes::from(buf);
        if key.size <= self.capacity / 4 {
            if let Ok(mut inner) = self.inner.lock() {
                while inner.used + key.size > self.capacity {
                    // Evict the least recently used entry.
                    let Some(old) = inner.map.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| *k)
                    else {
                        break;
                    };
                    if let Some((b, _)) = inner.map.remove(&old) {
                        inner.used -= b.len() as u64;
                    }
                }
                let tick = inner.tick;
                if inner.map.insert(key, (bytes.clone(), tick)).is_none() {
                    inner.used += key.size;
                }
            }
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_from_memory_until_file_changes() {
        let p = std::env::temp_dir().join(format!("diskless-cache-{}", std::process::id()));
        std::fs::write(&p, b"one").unwrap();
        let c = FileCache::new(1 << 20);
        let f = File::open(&p).unwrap();
        let m = f.metadata().unwrap();
        assert_eq!(&c.read(f, &m).unwrap()[..], b"one");
        assert_eq!(c.cached_bytes(), 3);
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"three").unwrap();
        let f = File::open(&p).unwrap();
        let m = f.metadata().unwrap();
        assert_eq!(&c.read(f, &m).unwrap()[..], b"three");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn evicts_to_capacity() {
        let c = FileCache::new(16);
        let dir = std::env::temp_dir();
        for i in 0..5 {
            let p = dir.join(format!("diskless-cache-ev-{}-{i}", std::process::id()));
            std::fs::write(&p, b"abcd").unwrap();
            let f = File::open(&p).unwrap();
            let m = f.metadata().unwrap();
            c.read(f, &m).unwrap();
            std::fs::remove_file(&p).unwrap();
        }
        assert!(c.cached_bytes() <= 16);
    }
}
