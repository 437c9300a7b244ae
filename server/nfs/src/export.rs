//! The export table: which directories are served, how, and to whom.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use diskless_common::inventory::{Access, Inventory};

use crate::handle::{self, HandleError, Key};

/// One export as configured (pure data, from the inventory or a test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    pub path: PathBuf,
    pub writable: bool,
    /// The nodes' root filesystem: always read-only, never root-squashed.
    pub root: bool,
    pub allowed: Vec<Ipv4Addr>,
}

impl ExportSpec {
    /// Export specs from the inventory: node names become their addresses,
    /// and the root export is forced read-only.
    pub fn from_inventory(inv: &Inventory) -> Vec<ExportSpec> {
        inv.exports
            .iter()
            .map(|e| ExportSpec {
                path: e.path.clone(),
                writable: e.access == Access::Rw && !e.root,
                root: e.root,
                allowed: e
                    .nodes
                    .iter()
                    .filter_map(|n| inv.node_by_name(n).map(|n| n.ip))
                    .collect(),
            })
            .collect()
    }
}

/// Stable export id: FNV-1a of the path (survives restarts, needs no state).
pub fn export_id(path: &Path) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in path.as_os_str().as_encoded_bytes() {
        h ^= *b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A served export with its open root directory.
#[derive(Debug)]
pub struct Export {
    pub id: u32,
    pub path: PathBuf,
    pub writable: bool,
    pub root: bool,
    allowed: HashSet<Ipv4Addr>,
    /// Read-only fd of the export root; also the mount fd for `open_by_handle_at`.
    pub root_fd: OwnedFd,
    /// Sealed handle of the export root (returned by MNT).
    pub root_handle: Vec<u8>,
    /// Mount the export lives on; handles are only made for objects on it.
    pub mount_id: i32,
}

impl Export {
    /// Whether the client at `peer` may use this export.
    pub fn allows(&self, peer: IpAddr) -> bool {
        match normalize(peer) {
            IpAddr::V4(v4) => self.allowed.contains(&v4),
            IpAddr::V6(_) => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (from dual-stack sockets) count as IPv4.
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why the export table could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("export {path}: {source}: create the directory or fix the inventory")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("export {path}: {source}: put it on ext4, xfs or btrfs")]
    Handles { path: PathBuf, source: HandleError },
    #[error("exports {0} and {1} have the same id: rename one of them")]
    Collision(PathBuf, PathBuf),
}

#[derive(Debug, Default)]
pub struct ExportTable {
    exports: Vec<Export>,
}

impl ExportTable {
    pub fn open(specs: &[ExportSpec], key: &Key) -> Result<ExportTable, ExportError> {
        let mut exports: Vec<Export> = Vec::new();
        for s in specs {
            let root_fd = rustix::fs::open(
                &s.path,
                // Not O_PATH: open_by_handle_at refuses an O_PATH mount fd.
                rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| ExportError::Open {
                path: s.path.clone(),
                source: e.into(),
            })?;
            let id = export_id(&s.path);
            if let Some(other) = exports.iter().find(|e| e.id == id) {
                return Err(ExportError::Collision(other.path.clone(), s.path.clone()));
            }
            let root_kernel =
                handle::kernel_handle(root_fd.as_fd()).map_err(|source| ExportError::Handles {
                    path: s.path.clone(),
                    source,
                })?;
            let root_handle = handle::seal(key, id, root_kernel.kind, &root_kernel.bytes);
            exports.push(Export {
                id,
                path: s.path.clone(),
                writable: s.writable,
                root: s.root,
                allowed: s.allowed.iter().copied().collect(),
                root_fd,
                root_handle,
                mount_id: root_kernel.mount_id,
            });
        }
        Ok(ExportTable { exports })
    }

    /// The ids of every export (handles name their export by id).
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.exports.iter().map(|e| e.id)
    }

    pub fn by_id(&self, id: u32) -> Option<&Export> {
        self.exports.iter().find(|e| e.id == id)
    }

    /// The export whose path is exactly `path` (MOUNT takes whole export paths).
    pub fn by_path(&self, path: &[u8]) -> Option<&Export> {
        let p = path
            .strip_suffix(b"/")
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        self.exports
            .iter()
            .find(|e| e.path.as_os_str().as_encoded_bytes() == p)
    }

    /// The export containing `path` and the rest of the path below it
    /// (MOUNT of a subdirectory, as libnfs does for `nfs://host/export/dir/file`).
    pub fn containing<'p>(&self, path: &'p [u8]) -> Option<(&Export, &'p [u8])> {
        self.exports
            .iter()
            .filter_map(|e| {
                let root = e.path.as_os_str().as_encoded_bytes();
                let rest = path.strip_prefix(root)?;
                (rest.is_empty() || rest[0] == b'/' || root == b"/").then_some((e, rest))
            })
            .max_by_key(|(e, _)| e.path.as_os_str().len())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Export> {
        self.exports.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &Path, allowed: &[[u8; 4]]) -> ExportSpec {
        ExportSpec {
            path: path.to_path_buf(),
            writable: true,
            root: false,
            allowed: allowed.iter().map(|a| Ipv4Addr::from(*a)).collect(),
        }
    }

    #[test]
    fn only_listed_nodes_are_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::from_bytes([1; 32]);
        let t = ExportTable::open(&[spec(dir.path(), &[[127, 0, 0, 2]])], &key).unwrap();
        let e = t
            .by_path(dir.path().as_os_str().as_encoded_bytes())
            .unwrap();
        assert!(e.allows("127.0.0.2".parse().unwrap()));
        assert!(e.allows("::ffff:127.0.0.2".parse().unwrap()));
        assert!(!e.allows("127.0.0.3".parse().unwrap()));
        assert!(!e.allows("::1".parse().unwrap()));
        assert!(t.by_id(e.id).is_some());
        assert!(t.by_path(b"/nonexistent").is_none());
    }

    #[test]
    fn missing_export_is_a_clear_error() {
        let key = Key::from_bytes([1; 32]);
        let err = ExportTable::open(&[spec(Path::new("/nonexistent/x"), &[])], &key).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x"));
    }

    #[test]
    fn ids_are_stable() {
        assert_eq!(export_id(Path::new("/a")), export_id(Path::new("/a")));
        assert_ne!(export_id(Path::new("/a")), export_id(Path::new("/b")));
    }
}
