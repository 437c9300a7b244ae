//! newc cpio: a reproducible writer and a reader for one archive.
//!
//! Reproducibility comes from the writer owning every header field: entries
//! are kept in a sorted map (so parents precede children), inode numbers are
//! the entry's rank, owners are root and every mtime is the one given.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use ::cpio::newc;

use crate::error::{Error, Result};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;
const S_IFMT: u32 = 0o170000;

/// What an entry is, with its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    CharDev { major: u32, minor: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    perm: u32,
    kind: Kind,
}

/// An archive under construction. Paths are relative (`lib/modules`), and a
/// leading `/` is accepted and dropped.
#[derive(Clone, Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Node>,
    mtime: u32,
}

impl Archive {
    /// `mtime` goes into every header: SOURCE_DATE_EPOCH or 0.
    pub fn new(mtime: u32) -> Self {
        Archive {
            entries: BTreeMap::new(),
            mtime,
        }
    }

    /// Add a directory (and its missing parents). Adding an existing
    /// directory again is fine.
    pub fn dir(&mut self, path: &str, perm: u32) -> Result<()> {
        let path = clean(path)?;
        self.parents(&path)?;
        match self.entries.get(&path) {
            Some(Node {
                kind: Kind::Dir, ..
            }) => Ok(()),
            Some(_) => Err(Error::Duplicate { path }),
            None => {
                self.entries.insert(
                    path,
                    Node {
                        perm,
                        kind: Kind::Dir,
                    },
                );
                Ok(())
            }
        }
    }

    pub fn file(&mut self, path: &str, perm: u32, data: Vec<u8>) -> Result<()> {
        if u32::try_from(data.len()).is_err() {
            return Err(Error::TooLarge { path: path.into() });
        }
        self.leaf(path, perm, Kind::File(data))
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.leaf(path, 0o777, Kind::Symlink(target.into()))
    }

    pub fn char_dev(&mut self, path: &str, perm: u32, major: u32, minor: u32) -> Result<()> {
        self.leaf(path, perm, Kind::CharDev { major, minor })
    }

    /// Paths in archive order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    fn leaf(&mut self, path: &str, perm: u32, kind: Kind) -> Result<()> {
        let path = clean(path)?;
        self.parents(&path)?;
        if self.entries.contains_key(&path) {
            return Err(Error::Duplicate { path });
        }
        self.entries.insert(path, Node { perm, kind });
        Ok(())
    }

    fn parents(&mut self, path: &str) -> Result<()> {
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            let parent = &path[..end + i];
            match self.entries.get(parent) {
                Some(Node {
                    kind: Kind::Dir, ..
                }) => {}
                Some(_) => {
                    return Err(Error::BadPath {
                        path: path.into(),
                        reason: "a parent is not a directory",
                    })
                }
                None => {
                    self.entries.insert(
                        parent.to_string(),
                        Node {
                            perm: 0o755,
                            kind: Kind::Dir,
                        },
                    );
                }
            }
            end += i + 1;
        }
        Ok(())
    }

    /// Write the archive, trailer included.
    pub fn write_to<W: Write>(&self, w: W) -> Result<W> {
        let all: Vec<_> = self.entries.iter().collect();
        self.write_run(&all, 0, w)
    }

    /// The archive as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.write_to(Vec::new())
    }

    /// The entries as `parts` consecutive archives of similar size, each
    /// with its own trailer, so they can be compressed in parallel. The
    /// kernel unpacks such a sequence like one archive; the split points
    /// depend only on the entries, so the result stays reproducible.
    pub fn to_parts(&self, parts: usize) -> Result<Vec<Vec<u8>>> {
        let all: Vec<_> = self.entries.iter().collect();
        let total: usize = all.iter().map(|(p, n)| weight(p, n)).sum();
        let share = total / parts.max(1) + 1;
        let mut out = Vec::new();
        let (mut start, mut acc, mut rank) = (0, 0, 0);
        for (i, (p, n)) in all.iter().enumerate() {
            acc += weight(p, n);
            if acc >= share && out.len() + 1 < parts {
                out.push(self.write_run(&all[start..=i], rank, Vec::new())?);
                rank += i + 1 - start;
                start = i + 1;
                acc = 0;
            }
        }
        out.push(self.write_run(&all[start..], rank, Vec::new())?);
        Ok(out)
    }

    /// Write `run` (entries in archive order) plus a trailer; inode numbers
    /// continue from `first_rank` so they stay unique across parts.
    fn write_run<W: Write>(
        &self,
        run: &[(&String, &Node)],
        first_rank: usize,
        mut w: W,
    ) -> Result<W> {
        for (i, (path, node)) in run.iter().enumerate() {
            let (mode, nlink, body): (u32, u32, &[u8]) = match &node.kind {
                Kind::Dir => (S_IFDIR | node.perm, 2, &[]),
                Kind::File(data) => (S_IFREG | node.perm, 1, data),
                Kind::Symlink(t) => (S_IFLNK | node.perm, 1, t.as_bytes()),
                Kind::CharDev { .. } => (S_IFCHR | node.perm, 1, &[]),
            };
            let mut b = newc::Builder::new(path)
                .ino((first_rank + i) as u32 + 1)
                .mode(mode)
                .uid(0)
                .gid(0)
                .nlink(nlink)
                .mtime(self.mtime);
            if let Kind::CharDev { major, minor } = node.kind {
                b = b.rdev_major(major).rdev_minor(minor);
            }
            let mut writer = b.write(w, body.len() as u32);
            writer.write_all(body)?;
            w = writer.finish()?;
        }
        Ok(newc::trailer(w)?)
    }
}

/// Roughly the bytes an entry takes in the archive.
fn weight(path: &str, node: &Node) -> usize {
    let body = match &node.kind {
        Kind::File(d) => d.len(),
        Kind::Symlink(t) => t.len(),
        _ => 0,
    };
    112 + path.len() + body
}

/// Normalise an image path: no leading `/`, no empty, `.` or `..` parts.
fn clean(path: &str) -> Result<String> {
    let p = path.trim_start_matches('/').trim_end_matches('/');
    let bad = |reason| Error::BadPath {
        path: path.into(),
        reason,
    };
    if p.is_empty() {
        return Err(bad("empty path"));
    }
    if p.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(bad("empty, `.` or `..` component"));
    }
    Ok(p.to_string())
}

/// One entry as found in an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    pub ino: u32,
    pub nlink: u32,
    pub size: u32,
    pub rdev: (u32, u32),
    /// Symlink target.
    pub target: Option<String>,
}

impl Listed {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    /// `ls -l` style type and permission string: `drwxr-xr-x`.
    pub fn mode_string(&self) -> String {
        let t = match self.mode & S_IFMT {
            S_IFDIR => 'd',
            S_IFREG => '-',
            S_IFLNK => 'l',
            S_IFCHR => 'c',
            0o060000 => 'b',
            0o010000 => 'p',
            0o140000 => 's',
            _ => '?',
        };
        let mut s = String::with_capacity(10);
        s.push(t);
        for shift in [6, 3, 0] {
            let bits = (self.mode >> shift) & 7;
            s.push(if bits & 4 != 0 { 'r' } else { '-' });
            s.push(if bits & 2 != 0 { 'w' } else { '-' });
            s.push(if bits & 1 != 0 { 'x' } else { '-' });
        }
        s
    }
}

/// Read one newc archive from the start of `data`, up to and including its
/// trailer. Returns the entries and how many bytes the archive used.
pub fn read_archive(data: &[u8], base_offset: u64) -> Result<(Vec<Listed>, usize)> {
    let mut cursor = Cursor::new(data);
    let mut out = Vec::new();
    loop {
        let at = cursor.position();
        let fail = |e: std::io::Error| Error::Format {
            offset: base_offset + at,
            message: format!("bad cpio entry ({e})"),
        };
        let mut reader = newc::Reader::new(cursor).map_err(fail)?;
        let e = reader.entry();
        if e.is_trailer() {
            cursor = reader.finish().map_err(fail)?;
            return Ok((out, cursor.position() as usize));
        }
        let mut item = Listed {
            name: e.name().to_string(),
            mode: e.mode(),
            uid: e.uid(),
            gid: e.gid(),
            mtime: e.mtime(),
            ino: e.ino(),
            nlink: e.nlink(),
            size: e.file_size(),
            rdev: (e.rdev_major(), e.rdev_minor()),
            target: None,
        };
        if item.mode & S_IFMT == S_IFLNK && item.size <= 4096 {
            let mut t = Vec::new();
            (&mut reader)
                .take(item.size as u64)
                .read_to_end(&mut t)
                .map_err(fail)?;
            item.target = Some(String::from_utf8_lossy(&t).into_owned());
        }
        cursor = reader.finish().map_err(fail)?;
        out.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Archive {
        let mut a = Archive::new(1_700_000_000);
        a.file("/init", 0o755, b"#!static".to_vec()).unwrap();
        a.file("lib/modules/6.1/kernel/a.ko", 0o644, vec![7; 5])
            .unwrap();
        a.dir("proc", 0o755).unwrap();
        a.char_dev("dev/console", 0o600, 5, 1).unwrap();
        a.symlink("bin", "usr/bin").unwrap();
        a
    }

    #[test]
    fn parents_come_first_and_order_is_sorted() {
        let paths: Vec<_> = sample().paths().map(str::to_owned).collect();
        assert_eq!(
            paths,
            [
                "bin",
                "dev",
                "dev/console",
                "init",
                "lib",
                "lib/modules",
                "lib/modules/6.1",
                "lib/modules/6.1/kernel",
                "lib/modules/6.1/kernel/a.ko",
                "proc"
            ]
        );
    }

    #[test]
    fn same_entries_in_any_order_give_same_bytes() {
        let a = sample().to_bytes().unwrap();
        let mut b = Archive::new(1_700_000_000);
        b.symlink("bin", "usr/bin").unwrap();
        b.dir("proc", 0o755).unwrap();
        b.char_dev("dev/console", 0o600, 5, 1).unwrap();
        b.file("lib/modules/6.1/kernel/a.ko", 0o644, vec![7; 5])
            .unwrap();
        b.file("init", 0o755, b"#!static".to_vec()).unwrap();
        assert_eq!(a, b.to_bytes().unwrap());
    }

    #[test]
    fn round_trip_keeps_fields() {
        let bytes = sample().to_bytes().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let (list, used) = read_archive(&bytes, 0).unwrap();
        assert_eq!(used, bytes.len());
        let console = list.iter().find(|e| e.name == "dev/console").unwrap();
        assert_eq!(console.rdev, (5, 1));
        assert_eq!(console.mode_string(), "crw-------");
        let init = list.iter().find(|e| e.name == "init").unwrap();
        assert_eq!((init.size, init.uid, init.gid), (8, 0, 0));
        assert_eq!(init.mtime, 1_700_000_000);
        let link = list.iter().find(|e| e.name == "bin").unwrap();
        assert_eq!(link.target.as_deref(), Some("usr/bin"));
        let inos: std::collections::BTreeSet<_> = list.iter().map(|e| e.ino).collect();
        assert_eq!(inos.len(), list.len(), "inode numbers are unique");
    }

    #[test]
    fn parts_hold_every_entry_once_with_unique_inodes() {
        let mut a = sample();
        for i in 0..20 {
            a.file(&format!("m/{i:02}.ko"), 0o644, vec![i; 1000])
                .unwrap();
        }
        let parts = a.to_parts(4).unwrap();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts, a.to_parts(4).unwrap(), "deterministic");
        let mut names = Vec::new();
        let mut inos = std::collections::BTreeSet::new();
        for p in &parts {
            let (list, used) = read_archive(p, 0).unwrap();
            assert_eq!(used, p.len());
            for e in list {
                assert!(inos.insert(e.ino));
                names.push(e.name);
            }
        }
        assert_eq!(names, a.paths().collect::<Vec<_>>());
        assert_eq!(a.to_parts(1).unwrap(), vec![a.to_bytes().unwrap()]);
    }

    #[test]
    fn hostile_paths_are_refused() {
        let mut a = Archive::new(0);
        for p in ["", "/", "a/../b", "./x", "a//b", "a\0b"] {
            assert!(
                matches!(a.file(p, 0o644, vec![]), Err(Error::BadPath { .. })),
                "{p:?}"
            );
        }
    }

    #[test]
    fn duplicates_and_file_parents_are_refused() {
        let mut a = Archive::new(0);
        a.file("x", 0o644, vec![]).unwrap();
        assert!(matches!(
            a.file("x", 0o644, vec![]),
            Err(Error::Duplicate { .. })
        ));
        assert!(matches!(
            a.file("x/y", 0o644, vec![]),
            Err(Error::BadPath { .. })
        ));
        a.dir("d", 0o755).unwrap();
        a.dir("d", 0o755).unwrap();
    }

    #[test]
    fn truncated_archive_is_an_error_not_a_panic() {
        let bytes = sample().to_bytes().unwrap();
        for cut in [0, 5, 110, 200, bytes.len() - 1] {
            assert!(read_archive(&bytes[..cut], 0).is_err(), "cut at {cut}");
        }
        assert!(read_archive(b"garbage garbage garbage", 0).is_err());
    }
}
