//! Procedures that make names: CREATE (unchecked/guarded/exclusive),
//! MKDIR, SYMLINK, MKNOD, LINK. New objects belong to the caller.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, CWD};

use super::attr::{post, wcc, Sattr, SetTime};
use super::{component, fh_arg, name_arg, open_at, Ctx, Obj, Status};
use crate::xdr::{self, Reader, Writer};

/// A directory argument resolved and checked for adding an entry.
struct Target<'a> {
    dir: Obj<'a>,
    before: Stat,
}

fn target<'a>(ctx: &Ctx<'a>, dir: &Obj<'a>, name: &[u8]) -> Result<Stat, Status> {
    ctx.writable(dir.export)?;
    let st = dir.stat()?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Status::NotDir);
    }
    component(name)?;
    if !ctx.may(dir.export, &st, 3) {
        return Err(Status::Acces);
    }
    Ok(st)
}

/// Gives a new object to the caller: its uid, and the directory's group
/// when the directory is setgid, else the caller's gid.
fn own(ctx: &Ctx, dir_st: &Stat, fd: BorrowedFd<'_>) -> Result<(), Status> {
    let gid = if dir_st.st_mode & libc::S_ISGID != 0 {
        dir_st.st_gid
    } else {
        ctx.cred.gid
    };
    rustix::fs::chownat(
        fd,
        "",
        Some(rustix::fs::Uid::from_raw(ctx.cred.uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        AtFlags::EMPTY_PATH,
    )?;
    Ok(())
}

/// chmod ignoring the process umask (shared with the other services).
fn set_mode(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Status> {
    let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::chmodat(
        CWD,
        &p,
        Mode::from_raw_mode(mode & 0o7777),
        AtFlags::empty(),
    )?;
    Ok(())
}

/// Writes the common reply: handle + attributes of the new object and the
/// directory's wcc_data.
fn reply(ctx: &Ctx, w: &mut Writer, t: Result<(Target, OwnedFd), (Status, Option<Target>)>) {
    match t {
        Ok((t, fd)) => match ctx.handle_of(t.dir.export, fd.as_fd()) {
            Ok(h) => {
                w.u32(0);
                w.bool(true);
                w.opaque(&h);
                post(w, t.dir.export, fd.as_fd());
                wcc(
                    w,
                    Some(t.dir.export),
                    Some(&t.before),
                    Some(t.dir.fd.as_fd()),
                );
            }
            Err(s) => reply(ctx, w, Err((s, Some(t)))),
        },
        Err((s, t)) => {
            w.u32(s as u32);
            match t {
                Some(t) => wcc(
                    w,
                    Some(t.dir.export),
                    Some(&t.before),
                    Some(t.dir.fd.as_fd()),
                ),
                None => wcc(w, None, None, None),
            }
        }
    }
}

/// Resolves the directory, runs `make` (which returns the new object's
/// O_PATH fd), then owns it and applies the remaining attributes.
fn make_in(
    ctx: &Ctx,
    w: &mut Writer,
    fh: &[u8],
    name: &[u8],
    sattr: Option<Sattr>,
    make: impl FnOnce(BorrowedFd<'_>, &[u8]) -> Result<(OwnedFd, bool), Status>,
) {
    let dir = match ctx.resolve(fh, OFlags::PATH) {
        Ok(d) => d,
        Err(s) => return reply(ctx, w, Err((s, None))),
    };
    let before = match target(ctx, &dir, name) {
        Ok(b) => b,
        Err(s) => {
            let before = dir.stat().ok();
            w.u32(s as u32);
            return wcc(w, Some(dir.export), before.as_ref(), Some(dir.fd.as_fd()));
        }
    };
    let t = Target { dir, before };
    let res = make(t.dir.fd.as_fd(), name).and_then(|(fd, created)| {
        if created {
            own(ctx, &t.before, fd.as_fd())?;
        }
        if let Some(mut sa) = sattr {
            if created {
                if let Some(m) = sa.mode.take() {
                    set_mode(fd.as_fd(), m)?;
                }
            }
            if sa
                != (Sattr {
                    mode: None,
                    uid: None,
                    gid: None,
                    size: None,
                    atime: SetTime::Dont,
                    mtime: SetTime::Dont,
                })
            {
                let st = rustix::fs::fstat(&fd)?;
                sa.apply(ctx, t.dir.export, fd.as_fd(), &st)?;
            }
        }
        Ok(fd)
    });
    match res {
        Ok(fd) => reply(ctx, w, Ok((t, fd))),
        Err(s) => reply(ctx, w, Err((s, Some(t)))),
    }
}

pub fn create(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let name = name_arg(r)?;
    let how = r.u32()?;
    match how {
        0 | 1 => {
            let sattr = Sattr::parse(r)?;
            let excl = if how == 1 {
                OFlags::EXCL
            } else {
                OFlags::empty()
            };
            make_in(ctx, w, fh, name, Some(sattr), |dir, name| {
                let mode = sattr.mode.unwrap_or(0o644);
                // Try exclusive first so we know whether we created it.
                match rustix::fs::openat(
                    dir,
                    name,
                    OFlags::RDONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(mode & 0o777),
                ) {
                    Ok(_) => Ok((open_at(dir, name, OFlags::PATH)?, true)),
                    Err(rustix::io::Errno::EXIST) if excl.is_empty() => {
                        let fd = open_at(dir, name, OFlags::PATH)?;
                        let st = rustix::fs::fstat(&fd)?;
                        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                            return Err(Status::Exist);
                        }
                        Ok((fd, false))
                    }
                    Err(e) => Err(e.into()),
                }
            });
        }
        2 => {
            let verf = r.fixed(8)?;
            let (m, a) = (
                u32::from_be_bytes([verf[0], verf[1], verf[2], verf[3]]),
                u32::from_be_bytes([verf[4], verf[5], verf[6], verf[7]]),
            );
            // The verifier lives in mtime/atime seconds (as knfsd does); the
            // client sets the real attributes with SETATTR afterwards.
            let stamp = Sattr {
                mode: None,
                uid: None,
                gid: None,
                size: None,
                atime: SetTime::Client(a, 0),
                mtime: SetTime::Client(m, 0),
            };
            make_in(ctx, w, fh, name, None, |dir, name| {
                match rustix::fs::openat(
                    dir,
                    name,
                    OFlags::RDONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                ) {
                    Ok(_) => {
                        let fd = open_at(dir, name, OFlags::PATH)?;
                        set_times(fd.as_fd(), stamp)?;
                        Ok((fd, true))
                    }
                    Err(rustix::io::Errno::EXIST) => {
                        let fd = open_at(dir, name, OFlags::PATH)?;
                        let st = rustix::fs::fstat(&fd)?;
                        if (st.st_mtime as u32, st.st_atime as u32) == (m, a) {
                            Ok((fd, false)) // a retransmission of our create
                        } else {
                            Err(Status::Exist)
                        }
                    }
                    Err(e) => Err(e.into()),
                }
            });
        }
        _ => return Err(xdr::Error::Invalid),
    }
    Ok(())
}

fn set_times(fd: BorrowedFd<'_>, s: Sattr) -> Result<(), Status> {
    let ts = |t| match t {
        SetTime::Client(sec, ns) => rustix::fs::Timespec {
            tv_sec: sec as i64,
            tv_nsec: ns as _,
        },
        _ => rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
    };
    let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::utimensat(
        CWD,
        &p,
        &rustix::fs::Timestamps {
            last_access: ts(s.atime),
            last_modification: ts(s.mtime),
        },
        AtFlags::empty(),
    )?;
    Ok(())
}

pub fn mkdir(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let name = name_arg(r)?;
    let sattr = Sattr::parse(r)?;
    make_in(ctx, w, fh, name, Some(sattr), |dir, name| {
        rustix::fs::mkdirat(
            dir,
            name,
            Mode::from_raw_mode(sattr.mode.unwrap_or(0o755) & 0o7777),
        )?;
        Ok((open_at(dir, name, OFlags::PATH)?, true))
    });
    Ok(())
}

pub fn symlink(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let name = name_arg(r)?;
    let mut sattr = Sattr::parse(r)?;
    let target = r.opaque(4096)?;
    sattr.mode = None;
    make_in(ctx, w, fh, name, Some(sattr), |dir, name| {
        if target.is_empty() || target.contains(&0) {
            return Err(Status::Inval);
        }
        rustix::fs::symlinkat(target, dir, name)?;
        Ok((open_at(dir, name, OFlags::PATH)?, true))
    });
    Ok(())
}

pub fn mknod(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let name = name_arg(r)?;
    let kind = r.u32()?;
    let (ft, sattr, dev) = match kind {
        3 | 4 => {
            let sa = Sattr::parse(r)?;
            let (maj, min) = (r.u32()?, r.u32()?);
            let ft = if kind == 3 {
                FileType::BlockDevice
            } else {
                FileType::CharacterDevice
            };
            (ft, sa, rustix::fs::makedev(maj, min))
        }
        6 => (FileType::Socket, Sattr::parse(r)?, 0),
        7 => (FileType::Fifo, Sattr::parse(r)?, 0),
        _ => {
            // Regular files, directories and links have their own procedures.
            let dir = ctx.resolve(fh, OFlags::PATH);
            w.u32(Status::BadType as u32);
            match dir {
                Ok(d) => {
                    let st = d.stat().ok();
                    wcc(w, Some(d.export), st.as_ref(), Some(d.fd.as_fd()));
                }
                Err(_) => wcc(w, None, None, None),
            }
            return Ok(());
        }
    };
    make_in(ctx, w, fh, name, Some(sattr), |dir, name| {
        rustix::fs::mknodat(
            dir,
            name,
            ft,
            Mode::from_raw_mode(sattr.mode.unwrap_or(0o644) & 0o7777),
            dev,
        )?;
        Ok((open_at(dir, name, OFlags::PATH)?, true))
    });
    Ok(())
}

pub fn link(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let file_fh = fh_arg(r)?;
    let dir_fh = fh_arg(r)?;
    let name = name_arg(r)?;
    let file = match ctx.resolve(file_fh, OFlags::PATH) {
        Ok(f) => f,
        Err(s) => {
            w.u32(s as u32);
            w.bool(false);
            wcc(w, None, None, None);
            return Ok(());
        }
    };
    let dir = match ctx.resolve(dir_fh, OFlags::PATH) {
        Ok(d) => d,
        Err(s) => {
            w.u32(s as u32);
            post(w, file.export, file.fd.as_fd());
            wcc(w, None, None, None);
            return Ok(());
        }
    };
    let before = dir.stat().ok();
    let res = (|| {
        if dir.export.id != file.export.id {
            return Err(Status::XDev);
        }
        target(ctx, &dir, name)?;
        let st = file.stat()?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(Status::IsDir);
        }
        rustix::fs::linkat(&file.fd, "", &dir.fd, name, AtFlags::EMPTY_PATH)?;
        // The link count changes with no event to the file's directory.
        ctx.svc.dirs.invalidate_inode(st.st_ino);
        Ok(())
    })();
    w.u32(res.err().unwrap_or(Status::Ok) as u32);
    post(w, file.export, file.fd.as_fd());
    wcc(w, Some(dir.export), before.as_ref(), Some(dir.fd.as_fd()));
    Ok(())
}
