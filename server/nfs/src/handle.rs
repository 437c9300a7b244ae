//! NFS file handles that survive a server restart and cannot be forged.
//!
//! A handle is the kernel's own file handle (`name_to_handle_at`, stable
//! across reboots on ext4/xfs/btrfs) plus the export id, sealed with a
//! truncated HMAC-SHA256 under a key kept on disk. The MAC covers the
//! export id, so a handle minted in one export cannot be replayed into
//! another, and only files we looked up inside an export ever get one.
//!
//! Two layouts, told apart by the first byte (at most 58 of NFSv3's 64
//! bytes):
//! - compact, issued whenever the kernel's handle type fits 7 bits (ext4,
//!   btrfs): `0x80 | handle_type:1 | export_id_low24:3 | f_handle | mac:16`,
//!   20 + n bytes: 28 on ext4 (Ganesha's VFS handles are 24). Short
//!   handles matter because READDIRPLUS carries one per entry and clients
//!   cap the reply (libnfs: 8 KiB): 51 entries per reply instead of 49.
//!   The MAC still covers the full 32-bit export id: the low 24 bits only
//!   pick the candidate exports, and each candidate's full id is tried.
//! - full (version 1, any handle type; still accepted from earlier
//!   servers): `1 | export_id:4 | handle_type:4 | len:1 | f_handle | mac:16`.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

const VERSION: u8 = 1;
/// First byte of a compact handle: this bit plus the kernel handle type.
const COMPACT: u8 = 0x80;
const COMPACT_HEADER: usize = 4;
const MAC_LEN: usize = 16;
/// Kernel handles longer than this do not fit in NFSv3's 64 bytes with our header.
pub const MAX_KERNEL_HANDLE: usize = 32;
const HEADER: usize = 10;

/// Why a handle was refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("file handle is malformed or was not issued by this server")]
    Bad,
    #[error("file no longer exists")]
    Stale,
    #[error("filesystem cannot export file handles: {0}")]
    Unsupported(std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The MAC key, with HMAC's keyed state prepared once (two SHA-256
/// blocks saved per handle).
#[derive(Clone)]
pub struct Key(Hmac<Sha256>);

impl Key {
    /// Reads the key at `path`, creating it (mode 0600, 32 random bytes) on
    /// first start. A key readable by group or others is refused.
    pub fn load_or_create(path: &Path) -> std::io::Result<Key> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut f) => {
                let mut k = [0u8; 32];
                File::open("/dev/urandom")?.read_exact(&mut k)?;
                f.write_all(&k)?;
                f.sync_all()?;
                tracing::info!(path = %path.display(), "created NFS handle key");
                Ok(Key::from_bytes(k))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let meta = std::fs::metadata(path)?;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        format!(
                            "NFS handle key {} is readable by others: run `chmod 600 {}`",
                            path.display(),
                            path.display()
                        ),
                    ));
                }
                let bytes = std::fs::read(path)?;
                let k: [u8; 32] = bytes.try_into().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "NFS handle key {} is not 32 bytes: delete it to make a new one \
                             (clients will see stale handles once)",
                            path.display()
                        ),
                    )
                })?;
                Ok(Key::from_bytes(k))
            }
            Err(e) => Err(e),
        }
    }

    pub fn from_bytes(k: [u8; 32]) -> Key {
        let prepared = <Hmac<Sha256> as Mac>::new_from_slice(&k).expect("any key length");
        Key(prepared)
    }

    fn mac(&self, data: &[u8]) -> [u8; MAC_LEN] {
        let mut m = self.0.clone();
        m.update(data);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }
}

/// A decoded, authenticated handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub export_id: u32,
    pub handle_type: i32,
    pub f_handle: &'a [u8],
}

/// Seals a kernel handle into an NFS handle (compact layout when the
/// handle type fits 7 bits).
pub fn seal(key: &Key, export_id: u32, handle_type: i32, f_handle: &[u8]) -> Vec<u8> {
    debug_assert!(f_handle.len() <= MAX_KERNEL_HANDLE);
    if (0..COMPACT as i32).contains(&handle_type) {
        let tag = COMPACT | handle_type as u8;
        let mut out = Vec::with_capacity(COMPACT_HEADER + f_handle.len() + MAC_LEN);
        out.push(tag);
        out.extend_from_slice(&export_id.to_be_bytes()[1..]);
        out.extend_from_slice(f_handle);
        let mac = compact_mac(key, tag, export_id, f_handle);
        out.extend_from_slice(&mac);
        return out;
    }
    let mut out = Vec::with_capacity(HEADER + f_handle.len() + MAC_LEN);
    out.push(VERSION);
    out.extend_from_slice(&export_id.to_be_bytes());
    out.extend_from_slice(&handle_type.to_be_bytes());
    out.push(f_handle.len() as u8);
    out.extend_from_slice(f_handle);
    let mac = key.mac(&out);
    out.extend_from_slice(&mac);
    out
}

/// The MAC of a compact handle: over its first byte, the full export id
/// and the kernel handle (never equal to a version-1 MAC input, whose
/// first byte is 1).
fn compact_mac(key: &Key, tag: u8, export_id: u32, f_handle: &[u8]) -> [u8; MAC_LEN] {
    let mut body = [0u8; 5 + MAX_KERNEL_HANDLE];
    body[0] = tag;
    body[1..5].copy_from_slice(&export_id.to_be_bytes());
    body[5..5 + f_handle.len()].copy_from_slice(f_handle);
    key.mac(&body[..5 + f_handle.len()])
}

fn same_mac(a: &[u8], b: &[u8]) -> bool {
    // Constant time: no early exit on the first differing byte.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks length, layout and MAC (constant-time comparison). `exports`
/// are the ids of the served exports: a compact handle names its export
/// by the low 24 bits only, so each export with those bits is tried. A
/// version-1 handle carries its full export id, which may be one no
/// longer served (the caller then answers `Stale`).
pub fn open_seal<'a>(
    key: &Key,
    fh: &'a [u8],
    exports: impl IntoIterator<Item = u32>,
) -> Result<Decoded<'a>, HandleError> {
    match fh.first() {
        Some(&VERSION) => open_full(key, fh),
        Some(&tag) if tag & COMPACT != 0 => {
            let n = fh
                .len()
                .checked_sub(COMPACT_HEADER + MAC_LEN)
                .filter(|n| *n <= MAX_KERNEL_HANDLE)
                .ok_or(HandleError::Bad)?;
            let low = u32::from_be_bytes([0, fh[1], fh[2], fh[3]]);
            let f_handle = &fh[COMPACT_HEADER..COMPACT_HEADER + n];
            let mac = &fh[COMPACT_HEADER + n..];
            exports
                .into_iter()
                .filter(|id| id & 0x00ff_ffff == low)
                .find(|id| same_mac(&compact_mac(key, tag, *id, f_handle), mac))
                .map(|export_id| Decoded {
                    export_id,
                    handle_type: (tag & !COMPACT) as i32,
                    f_handle,
                })
                .ok_or(HandleError::Bad)
        }
        _ => Err(HandleError::Bad),
    }
}

fn open_full<'a>(key: &Key, fh: &'a [u8]) -> Result<Decoded<'a>, HandleError> {
    if fh.len() < HEADER + MAC_LEN {
        return Err(HandleError::Bad);
    }
    let n = fh[9] as usize;
    if n > MAX_KERNEL_HANDLE || fh.len() != HEADER + n + MAC_LEN {
        return Err(HandleError::Bad);
    }
    let (body, mac) = fh.split_at(HEADER + n);
    if !same_mac(&key.mac(body), mac) {
        return Err(HandleError::Bad);
    }
    Ok(Decoded {
        export_id: u32::from_be_bytes([fh[1], fh[2], fh[3], fh[4]]),
        handle_type: i32::from_be_bytes([fh[5], fh[6], fh[7], fh[8]]),
        f_handle: &fh[HEADER..HEADER + n],
    })
}

#[repr(C)]
struct RawHandle {
    bytes: u32,
    kind: i32,
    data: [u8; 128],
}

/// A kernel file handle and the mount it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelHandle {
    pub kind: i32,
    pub bytes: Vec<u8>,
    /// Objects on another mount (a filesystem mounted inside an export)
    /// cannot be reopened through the export's mount fd.
    pub mount_id: i32,
}

/// The kernel handle of the object `fd` refers to (an `O_PATH` fd is fine).
pub fn kernel_handle(fd: BorrowedFd<'_>) -> Result<KernelHandle, HandleError> {
    kernel_handle_at(fd, &CString::default(), libc::AT_EMPTY_PATH)
}

/// The kernel handle of `name` in directory `dir`, not following symlinks.
pub fn kernel_handle_of(
    dir: BorrowedFd<'_>,
    name: &std::ffi::CStr,
) -> Result<KernelHandle, HandleError> {
    kernel_handle_at(dir, name, 0)
}

fn kernel_handle_at(
    fd: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    flags: libc::c_int,
) -> Result<KernelHandle, HandleError> {
    let mut h = RawHandle {
        bytes: 128,
        kind: 0,
        data: [0; 128],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `h` is a file_handle with room for 128 bytes, as declared in `bytes`.
    let rc = unsafe {
        libc::name_to_handle_at(
            fd.as_raw_fd(),
            name.as_ptr(),
            &mut h as *mut RawHandle as *mut libc::file_handle,
            &mut mount_id,
            flags,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::EOVERFLOW) => HandleError::Unsupported(e),
            _ => HandleError::Io(e),
        });
    }
    let n = h.bytes as usize;
    if n > MAX_KERNEL_HANDLE {
        return Err(HandleError::Unsupported(std::io::Error::other(format!(
            "kernel file handle of {n} bytes does not fit an NFSv3 handle"
        ))));
    }
    Ok(KernelHandle {
        kind: h.kind,
        bytes: h.data[..n].to_vec(),
        mount_id,
    })
}

/// Opens the object a kernel handle names, on the filesystem of `mount_fd`.
/// Needs CAP_DAC_READ_SEARCH (we run as root).
pub fn open_kernel_handle(
    mount_fd: BorrowedFd<'_>,
    handle_type: i32,
    f_handle: &[u8],
    flags: libc::c_int,
) -> Result<OwnedFd, HandleError> {
    let mut h = RawHandle {
        bytes: f_handle.len() as u32,
        kind: handle_type,
        data: [0; 128],
    };
    h.data[..f_handle.len()].copy_from_slice(f_handle);
    // SAFETY: `h` is a valid file_handle; the kernel only reads it.
    let fd = unsafe {
        libc::open_by_handle_at(
            mount_fd.as_raw_fd(),
            &mut h as *mut RawHandle as *mut libc::file_handle,
            flags | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ESTALE) | Some(libc::ENOENT) => HandleError::Stale,
            Some(libc::EINVAL) => HandleError::Bad,
            _ => HandleError::Io(e),
        });
    }
    // SAFETY: fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// Round trip, then every bit flip, truncation, extension and another
    /// key refused, for a handle of `kind` in export 42.
    fn check_layout(kind: i32, len: usize) {
        let key = Key::from_bytes([7; 32]);
        let ids = [7, 42, 0x0100_0000 | 42];
        let fh = seal(&key, 42, kind, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(fh.len(), len);
        let d = open_seal(&key, &fh, ids).unwrap();
        assert_eq!((d.export_id, d.handle_type), (42, kind));
        assert_eq!(d.f_handle, &[1, 2, 3, 4, 5, 6, 7, 8]);
        // Every single-bit flip is refused.
        for i in 0..fh.len() * 8 {
            let mut f = fh.clone();
            f[i / 8] ^= 1 << (i % 8);
            assert!(open_seal(&key, &f, ids).is_err(), "bit {i}");
        }
        // Every truncation and an extension are refused.
        for n in 0..fh.len() {
            assert!(open_seal(&key, &fh[..n], ids).is_err());
        }
        let mut longer = fh.clone();
        longer.push(0);
        assert!(open_seal(&key, &longer, ids).is_err());
        // Another key refuses it.
        assert!(open_seal(&Key::from_bytes([8; 32]), &fh, ids).is_err());
    }

    #[test]
    fn seal_round_trip_and_forgeries() {
        // ext4's FILEID_INO32_GEN: compact, 28 bytes.
        check_layout(1, 28);
        // XFS' 64-bit inode type does not fit 7 bits: full layout.
        check_layout(0x81, 34);
    }

    #[test]
    fn compact_handles_are_bound_to_the_full_export_id() {
        let key = Key::from_bytes([7; 32]);
        // Two exports whose ids share the low 24 bits.
        let (a, b) = (0x0100_0005, 0x0200_0005);
        let fh = seal(&key, a, 1, &[9; 8]);
        assert_eq!(open_seal(&key, &fh, [b, a]).unwrap().export_id, a);
        assert!(
            open_seal(&key, &fh, [b]).is_err(),
            "not into the other export"
        );
        assert!(open_seal(&key, &fh, []).is_err(), "export no longer served");
        // Relabelled to the other export's low bits: refused too.
        let mut moved = seal(&key, 0x0300_0006, 1, &[9; 8]);
        moved[1..4].copy_from_slice(&fh[1..4]);
        assert!(open_seal(&key, &moved, [a, 0x0300_0006]).is_err());
    }

    #[test]
    fn full_layout_handles_of_earlier_servers_are_accepted() {
        let key = Key::from_bytes([7; 32]);
        let mut old = vec![VERSION];
        old.extend_from_slice(&42u32.to_be_bytes());
        old.extend_from_slice(&1i32.to_be_bytes());
        old.push(8);
        old.extend_from_slice(&[1; 8]);
        let mac = key.mac(&old);
        old.extend_from_slice(&mac);
        // Carries its full export id: decoded even when not served (Stale).
        let d = open_seal(&key, &old, []).unwrap();
        assert_eq!(
            (d.export_id, d.handle_type, d.f_handle),
            (42, 1, &[1u8; 8][..])
        );
    }

    #[test]
    fn key_is_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/key");
        let k1 = Key::load_or_create(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let k2 = Key::load_or_create(&p).unwrap();
        assert_eq!(k1.mac(b"x"), k2.mac(b"x"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Key::load_or_create(&p).is_err());
    }

    #[test]
    fn kernel_handle_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let root = File::open(dir.path()).unwrap();
        let f = File::open(dir.path().join("f")).unwrap();
        let k = kernel_handle(f.as_fd()).unwrap();
        assert_eq!(k.mount_id, kernel_handle(root.as_fd()).unwrap().mount_id);
        let g = open_kernel_handle(root.as_fd(), k.kind, &k.bytes, libc::O_RDONLY).unwrap();
        let mut s = String::new();
        File::from(g).read_to_string(&mut s).unwrap();
        assert_eq!(s, "x");
    }
}
