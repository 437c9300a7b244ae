//! NFSv3 (RFC 1813) procedures over the export table. Each file owns a
//! group of procedures; this one owns dispatch, status codes, handle
//! resolution and the permission rules shared by all of them.

mod attr;
mod create;
mod data;
pub use data::read_is_warm;
mod query;
mod readdir;
mod remove;

use std::cell::Cell;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, Stat};

use crate::export::{Export, ExportTable};
use crate::handle::{self, Decoded, HandleError};
use crate::rpc::Cred;
use crate::service::Service;
use crate::xdr::{self, Reader, Writer};

pub const PROGRAM: u32 = 100003;
pub const VERSION: u32 = 3;

/// `nfsstat3` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    Perm = 1,
    NoEnt = 2,
    Io = 5,
    NxIo = 6,
    Acces = 13,
    Exist = 17,
    XDev = 18,
    NotDir = 20,
    IsDir = 21,
    Inval = 22,
    FBig = 27,
    NoSpc = 28,
    RoFs = 30,
    MLink = 31,
    NameTooLong = 63,
    NotEmpty = 66,
    DQuot = 69,
    Stale = 70,
    BadHandle = 10001,
    NotSync = 10002,
    BadCookie = 10003,
    NotSupp = 10004,
    TooSmall = 10005,
    ServerFault = 10006,
    BadType = 10007,
}

impl From<rustix::io::Errno> for Status {
    fn from(e: rustix::io::Errno) -> Status {
        use rustix::io::Errno as E;
        match e {
            E::PERM => Status::Perm,
            E::NOENT => Status::NoEnt,
            E::NXIO => Status::NxIo,
            E::ACCESS => Status::Acces,
            E::EXIST => Status::Exist,
            E::XDEV => Status::XDev,
            E::NOTDIR => Status::NotDir,
            E::ISDIR => Status::IsDir,
            E::INVAL => Status::Inval,
            E::FBIG => Status::FBig,
            E::NOSPC => Status::NoSpc,
            E::ROFS => Status::RoFs,
            E::MLINK => Status::MLink,
            E::NAMETOOLONG => Status::NameTooLong,
            E::NOTEMPTY => Status::NotEmpty,
            E::DQUOT => Status::DQuot,
            E::STALE => Status::Stale,
            E::LOOP => Status::Inval,
            E::OPNOTSUPP => Status::NotSupp,
            _ => Status::Io,
        }
    }
}

impl From<std::io::Error> for Status {
    fn from(e: std::io::Error) -> Status {
        e.raw_os_error().map_or(Status::Io, |n| {
            rustix::io::Errno::from_raw_os_error(n).into()
        })
    }
}

/// File bytes that follow a reply on the wire: the socket writer sends
/// them straight from the page cache (`sendfile`), then the XDR padding.
#[derive(Debug)]
pub struct FileRange {
    pub fd: Arc<OwnedFd>,
    pub offset: u64,
    pub len: usize,
}

/// One call's context: who asks, over what.
pub struct Ctx<'a> {
    pub svc: &'a Service,
    /// The export table this call sees (a reload swaps in a new one).
    pub exports: &'a ExportTable,
    pub peer: IpAddr,
    /// `None` for AUTH_NONE: treated as nobody (65534).
    pub cred: Cred,
    pub udp: bool,
    /// The transport can send READ data from the file after the reply
    /// head (TCP); READ then leaves the data in `deferred`.
    pub zero_copy: bool,
    pub deferred: Cell<Option<FileRange>>,
}

/// A resolved handle: the export it belongs to and an fd on the object.
pub struct Obj<'a> {
    pub export: &'a Export,
    pub fd: OwnedFd,
}

impl Obj<'_> {
    pub fn stat(&self) -> Result<Stat, Status> {
        Ok(rustix::fs::fstat(&self.fd)?)
    }
}

impl<'a> Ctx<'a> {
    /// Verifies and opens a handle. `flags` is `O_PATH` for metadata work,
    /// `O_RDONLY`/`O_WRONLY` for data. Refuses callers the export does not list.
    pub fn resolve(&self, fh: &[u8], flags: OFlags) -> Result<Obj<'a>, Status> {
        let (export, d) = self.verify(fh)?;
        let fd = Self::open(export, &d, flags)?;
        // An unlinked inode stays reachable by handle while the open-file
        // cache holds it: its handle is stale all the same.
        if !self.svc.open_files.is_empty() && rustix::fs::fstat(&fd)?.st_nlink == 0 {
            return Err(Status::Stale);
        }
        Ok(Obj { export, fd })
    }

    /// Drops `name` in `dir` from the open-file cache before it is removed
    /// or replaced, so its space is freed at once.
    pub fn forget(&self, dir: &Obj, name: &[u8]) {
        if self.svc.open_files.is_empty() {
            return;
        }
        let Ok(name) = std::ffi::CString::new(name) else {
            return;
        };
        if let Ok(k) = handle::kernel_handle_of(dir.fd.as_fd(), &name) {
            let fh = handle::seal(&self.svc.key, dir.export.id, k.kind, &k.bytes);
            self.svc.open_files.remove(&fh, false);
            self.svc.open_files.remove(&fh, true);
        }
    }

    /// Authenticates a handle and finds its export, refusing callers the
    /// export does not list.
    fn verify<'h>(&self, fh: &'h [u8]) -> Result<(&'a Export, Decoded<'h>), Status> {
        let d = handle::open_seal(&self.svc.key, fh, self.exports.ids())
            .map_err(|_| Status::BadHandle)?;
        let export = self.export_for(d.export_id)?;
        Ok((export, d))
    }

    fn export_for(&self, id: u32) -> Result<&'a Export, Status> {
        let export = self.exports.by_id(id).ok_or(Status::Stale)?;
        if !export.allows(self.peer) {
            tracing::warn!(peer = %self.peer, export = %export.path.display(), "NFS call refused: node not in export list");
            return Err(Status::Acces);
        }
        Ok(export)
    }

    fn open(export: &Export, d: &Decoded, flags: OFlags) -> Result<OwnedFd, Status> {
        handle::open_kernel_handle(
            export.root_fd.as_fd(),
            d.handle_type,
            d.f_handle,
            (flags | OFlags::NOFOLLOW).bits() as i32,
        )
        .map_err(|e| match e {
            HandleError::Stale => Status::Stale,
            HandleError::Bad => Status::BadHandle,
            HandleError::Io(e) => e.into(),
            HandleError::Unsupported(_) => Status::ServerFault,
        })
    }

    /// A regular file for READ (`write` false) or WRITE, from the open-file
    /// cache when possible, with fresh attributes. Read-only exports never
    /// get a file opened for writing.
    pub fn open_file(
        &self,
        fh: &[u8],
        write: bool,
    ) -> Result<(&'a Export, Arc<OwnedFd>, Stat), Status> {
        let cache = &self.svc.open_files;
        if let Some((id, fd)) = cache.get(fh, write) {
            let export = self.export_for(id)?;
            let st = rustix::fs::fstat(&*fd)?;
            if st.st_nlink > 0 {
                return Ok((export, fd, st));
            }
            // The last name is gone: stale, as without the cache.
            cache.remove(fh, write);
        }
        let (export, d) = self.verify(fh)?;
        if write {
            self.writable(export)?;
        }
        // Look before opening for data: a FIFO would block and a device
        // node would open the server's own device.
        let path = Self::open(export, &d, OFlags::PATH)?;
        regular(&rustix::fs::fstat(&path)?)?;
        let flags = if write {
            OFlags::WRONLY
        } else {
            OFlags::RDONLY
        };
        let fd = Self::open(export, &d, flags | OFlags::NONBLOCK)?;
        let st = rustix::fs::fstat(&fd)?;
        regular(&st)?;
        let fd = Arc::new(fd);
        if st.st_nlink > 0 {
            cache.insert(fh, write, export.id, fd.clone());
        }
        Ok((export, fd, st))
    }

    /// The sealed handle of an object inside `export`.
    pub fn handle_of(&self, export: &Export, fd: BorrowedFd<'_>) -> Result<Vec<u8>, Status> {
        let k = handle::kernel_handle(fd).map_err(|e| match e {
            HandleError::Io(e) => Status::from(e),
            _ => Status::ServerFault,
        })?;
        if k.mount_id != export.mount_id {
            // A filesystem mounted inside the export: not served.
            return Err(Status::Acces);
        }
        Ok(handle::seal(&self.svc.key, export.id, k.kind, &k.bytes))
    }

    /// Whether the export enforces the caller's AUTH_SYS identity.
    fn checks(&self, export: &Export) -> bool {
        export.writable
    }

    /// Mode-bit permission check (`want` is a mask of 4=r, 2=w, 1=x).
    pub fn may(&self, export: &Export, st: &Stat, want: u32) -> bool {
        !self.checks(export) || allowed(&self.cred, st, want)
    }

    /// Refuses modification on read-only exports.
    pub fn writable(&self, export: &Export) -> Result<(), Status> {
        if export.writable {
            Ok(())
        } else {
            Err(Status::RoFs)
        }
    }
}

/// Only regular files carry data: a directory is `IsDir`, anything else `Inval`.
fn regular(st: &Stat) -> Result<(), Status> {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Ok(()),
        libc::S_IFDIR => Err(Status::IsDir),
        _ => Err(Status::Inval),
    }
}

/// POSIX mode-bit check for `cred` against `st`; root may do anything
/// except execute a file no one may execute.
pub fn allowed(cred: &Cred, st: &Stat, want: u32) -> bool {
    let mode = st.st_mode;
    if cred.uid == 0 {
        let is_dir = mode & libc::S_IFMT == libc::S_IFDIR;
        return want & 1 == 0 || is_dir || mode & 0o111 != 0;
    }
    let bits = if cred.uid == st.st_uid {
        (mode >> 6) & 7
    } else if cred.in_group(st.st_gid) {
        (mode >> 3) & 7
    } else {
        mode & 7
    };
    bits & want == want
}

/// A file name from the wire: one path component, not `.`, `..` or empty.
pub fn component(name: &[u8]) -> Result<&[u8], Status> {
    if name.len() > 255 {
        return Err(Status::NameTooLong);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(Status::Inval);
    }
    Ok(name)
}

pub fn name_arg<'r>(r: &mut Reader<'r>) -> xdr::Result<&'r [u8]> {
    r.opaque(4096)
}

pub fn fh_arg<'r>(r: &mut Reader<'r>) -> xdr::Result<&'r [u8]> {
    r.opaque(64)
}

pub fn open_at(dir: BorrowedFd<'_>, name: &[u8], flags: OFlags) -> Result<OwnedFd, Status> {
    Ok(rustix::fs::openat(
        dir,
        name,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

type Proc = fn(&Ctx, &mut Reader, &mut Writer) -> xdr::Result<()>;

/// The procedure table; `None` = PROC_UNAVAIL.
pub fn procedure(n: u32) -> Option<Proc> {
    Some(match n {
        0 => |_, _, _| Ok(()),
        1 => query::getattr,
        2 => attr::setattr,
        3 => query::lookup,
        4 => query::access,
        5 => query::readlink,
        6 => data::read,
        7 => data::write,
        8 => create::create,
        9 => create::mkdir,
        10 => create::symlink,
        11 => create::mknod,
        12 => remove::remove,
        13 => remove::rmdir,
        14 => remove::rename,
        15 => create::link,
        16 => readdir::readdir,
        17 => readdir::readdirplus,
        18 => query::fsstat,
        19 => query::fsinfo,
        20 => query::pathconf,
        21 => data::commit,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components() {
        assert!(component(b"a").is_ok());
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0"] {
            assert!(component(bad).is_err());
        }
        assert_eq!(component(&[b'a'; 256]), Err(Status::NameTooLong));
    }
}
