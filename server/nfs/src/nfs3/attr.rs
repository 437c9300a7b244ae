//! Attributes: `fattr3` / `wcc_data` emit, `sattr3` parse and SETATTR.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use rustix::fs::{AtFlags, Mode, OFlags, Stat, Timespec, Timestamps, CWD};

use super::{fh_arg, Ctx, Status};
use crate::export::Export;
use crate::xdr::{self, Reader, Writer};

/// `ftype3` from `st_mode`.
fn ftype(mode: u32) -> u32 {
    match mode & libc::S_IFMT {
        libc::S_IFREG => 1,
        libc::S_IFDIR => 2,
        libc::S_IFBLK => 3,
        libc::S_IFCHR => 4,
        libc::S_IFLNK => 5,
        libc::S_IFSOCK => 6,
        _ => 7,
    }
}

pub fn fattr(w: &mut Writer, export: &Export, st: &Stat) {
    w.u32(ftype(st.st_mode));
    w.u32(st.st_mode & 0o7777);
    w.u32(st.st_nlink as u32);
    w.u32(st.st_uid);
    w.u32(st.st_gid);
    w.u64(st.st_size as u64);
    w.u64(st.st_blocks as u64 * 512);
    w.u32(libc::major(st.st_rdev));
    w.u32(libc::minor(st.st_rdev));
    w.u64(export.id as u64);
    w.u64(st.st_ino);
    for (s, ns) in [
        (st.st_atime, st.st_atime_nsec),
        (st.st_mtime, st.st_mtime_nsec),
        (st.st_ctime, st.st_ctime_nsec),
    ] {
        w.u32(s as u32);
        w.u32(ns as u32);
    }
}

/// `post_op_attr` of an fd (absent if stat fails).
pub fn post(w: &mut Writer, export: &Export, fd: BorrowedFd<'_>) {
    match rustix::fs::fstat(fd) {
        Ok(st) => {
            w.bool(true);
            fattr(w, export, &st);
        }
        Err(_) => w.bool(false),
    }
}

pub fn post_stat(w: &mut Writer, export: &Export, st: Option<&Stat>) {
    match st {
        Some(st) => {
            w.bool(true);
            fattr(w, export, st);
        }
        None => w.bool(false),
    }
}

/// `pre_op_attr`.
pub fn pre(w: &mut Writer, st: Option<&Stat>) {
    match st {
        Some(st) => {
            w.bool(true);
            w.u64(st.st_size as u64);
            w.u32(st.st_mtime as u32);
            w.u32(st.st_mtime_nsec as u32);
            w.u32(st.st_ctime as u32);
            w.u32(st.st_ctime_nsec as u32);
        }
        None => w.bool(false),
    }
}

/// `wcc_data` of an object (`pre` taken before the change).
pub fn wcc(
    w: &mut Writer,
    export: Option<&Export>,
    before: Option<&Stat>,
    fd: Option<BorrowedFd<'_>>,
) {
    pre(w, before);
    match (export, fd) {
        (Some(e), Some(fd)) => post(w, e, fd),
        _ => w.bool(false),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTime {
    Dont,
    Server,
    Client(u32, u32),
}

/// `sattr3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sattr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: SetTime,
    pub mtime: SetTime,
}

fn opt_u32(r: &mut Reader) -> xdr::Result<Option<u32>> {
    Ok(if r.bool()? { Some(r.u32()?) } else { None })
}

fn set_time(r: &mut Reader) -> xdr::Result<SetTime> {
    Ok(match r.u32()? {
        0 => SetTime::Dont,
        1 => SetTime::Server,
        2 => SetTime::Client(r.u32()?, r.u32()?),
        _ => return Err(xdr::Error::Invalid),
    })
}

impl Sattr {
    pub fn parse(r: &mut Reader) -> xdr::Result<Sattr> {
        Ok(Sattr {
            mode: opt_u32(r)?,
            uid: opt_u32(r)?,
            gid: opt_u32(r)?,
            size: if r.bool()? { Some(r.u64()?) } else { None },
            atime: set_time(r)?,
            mtime: set_time(r)?,
        })
    }

    /// Applies the attributes to the object `fd` (any open mode), checking
    /// the caller's rights first on exports that enforce them.
    pub fn apply(
        &self,
        ctx: &Ctx,
        export: &Export,
        fd: BorrowedFd<'_>,
        st: &Stat,
    ) -> Result<(), Status> {
        let c = &ctx.cred;
        let owner = c.uid == 0 || c.uid == st.st_uid;
        if ctx.checks(export) {
            let client_time = matches!(self.atime, SetTime::Client(..))
                || matches!(self.mtime, SetTime::Client(..));
            let server_time = self.atime == SetTime::Server || self.mtime == SetTime::Server;
            if (self.mode.is_some() || client_time) && !owner
                || self.uid.is_some_and(|u| u != st.st_uid && c.uid != 0)
                || self
                    .gid
                    .is_some_and(|g| g != st.st_gid && c.uid != 0 && !(owner && c.in_group(g)))
                || (self.size.is_some() || server_time) && !owner && !super::allowed(c, st, 2)
            {
                return Err(Status::Perm);
            }
        }
        let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        if self.uid.is_some() || self.gid.is_some() {
            rustix::fs::chownat(
                fd,
                "",
                self.uid.map(rustix::fs::Uid::from_raw),
                self.gid.map(rustix::fs::Gid::from_raw),
                AtFlags::EMPTY_PATH,
            )?;
        }
        if let Some(mode) = self.mode {
            if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
                rustix::fs::chmodat(
                    CWD,
                    &proc_path,
                    Mode::from_raw_mode(mode & 0o7777),
                    AtFlags::empty(),
                )?;
            }
        }
        if let Some(size) = self.size {
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    Status::IsDir
                } else {
                    Status::Inval
                });
            }
            let f = rustix::fs::open(&proc_path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
            rustix::fs::ftruncate(&f, size)?;
        }
        if self.atime != SetTime::Dont || self.mtime != SetTime::Dont {
            let ts = |t: SetTime| match t {
                SetTime::Dont => Timespec {
                    tv_sec: 0,
                    tv_nsec: rustix::fs::UTIME_OMIT,
                },
                SetTime::Server => Timespec {
                    tv_sec: 0,
                    tv_nsec: rustix::fs::UTIME_NOW,
                },
                SetTime::Client(s, ns) => Timespec {
                    tv_sec: s as i64,
                    tv_nsec: ns.min(999_999_999) as _,
                },
            };
            let times = Timestamps {
                last_access: ts(self.atime),
                last_modification: ts(self.mtime),
            };
            rustix::fs::utimensat(CWD, &proc_path, &times, AtFlags::empty())?;
        }
        Ok(())
    }
}

/// SETATTR: fh, sattr3, guard (optional ctime) → wcc_data.
pub fn setattr(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let sattr = Sattr::parse(r)?;
    let guard = if r.bool()? {
        Some((r.u32()?, r.u32()?))
    } else {
        None
    };
    let obj = match ctx.resolve(fh, OFlags::PATH) {
        Ok(o) => o,
        Err(s) => {
            w.u32(s as u32);
            wcc(w, None, None, None);
            return Ok(());
        }
    };
    let before = obj.stat().ok();
    let res = (|| {
        ctx.writable(obj.export)?;
        let st = before.ok_or(Status::Stale)?;
        if let Some((s, ns)) = guard {
            if (st.st_ctime as u32, st.st_ctime_nsec as u32) != (s, ns) {
                return Err(Status::NotSync);
            }
        }
        let res = sattr.apply(ctx, obj.export, obj.fd.as_fd(), &st);
        // Changed through a handle: inotify may not see it (dir_cache.rs).
        ctx.svc.dirs.invalidate_inode(st.st_ino);
        res
    })();
    w.u32(res.err().unwrap_or(Status::Ok) as u32);
    wcc(w, Some(obj.export), before.as_ref(), Some(obj.fd.as_fd()));
    Ok(())
}
