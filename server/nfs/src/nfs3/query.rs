//! Read-only metadata procedures: GETATTR, LOOKUP, ACCESS, READLINK,
//! FSSTAT, FSINFO, PATHCONF.

use std::os::fd::AsFd;

use rustix::fs::{OFlags, Stat};

use super::attr::{fattr, post, post_stat};
use super::{component, fh_arg, name_arg, open_at, Ctx, Obj, Status};
use crate::xdr::{self, Reader, Writer};

fn is_dir(st: &Stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

pub fn getattr(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    if let Some(l) = ctx.svc.dirs.get(fh) {
        if let Ok(export) = ctx.export_for(l.export_id) {
            w.u32(0);
            fattr(w, export, &l.attr);
            return Ok(());
        }
    }
    match ctx
        .resolve(fh, OFlags::PATH)
        .and_then(|o| Ok((o.stat()?, o)))
    {
        Ok((st, o)) => {
            w.u32(0);
            fattr(w, o.export, &st);
        }
        Err(s) => w.u32(s as u32),
    }
    Ok(())
}

/// Looks `name` up in directory `dir`; `..` at the export root is the root.
pub fn lookup_in<'a>(
    ctx: &Ctx<'a>,
    dir: &Obj<'a>,
    dir_st: &Stat,
    name: &[u8],
) -> Result<Obj<'a>, Status> {
    if !is_dir(dir_st) {
        return Err(Status::NotDir);
    }
    if !ctx.may(dir.export, dir_st, 1) {
        return Err(Status::Acces);
    }
    let fd = match name {
        b"." => open_at(dir.fd.as_fd(), b".", OFlags::PATH)?,
        b".." => {
            let root = rustix::fs::fstat(&dir.export.root_fd)?;
            let at_root = (root.st_dev, root.st_ino) == (dir_st.st_dev, dir_st.st_ino);
            open_at(
                if at_root {
                    dir.export.root_fd.as_fd()
                } else {
                    dir.fd.as_fd()
                },
                if at_root { b"." } else { b".." },
                OFlags::PATH,
            )?
        }
        n => open_at(dir.fd.as_fd(), component(n)?, OFlags::PATH)?,
    };
    Ok(Obj {
        export: dir.export,
        fd,
    })
}

/// LOOKUP answered from the directory's cached listing: a name it does
/// not hold does not exist. `false` leaves the call to the filesystem
/// (errors, `.`/`..`, entries without handle or with unsure attributes).
fn cached_lookup(ctx: &Ctx, fh: &[u8], name: &[u8], w: &mut Writer) -> bool {
    let Some(l) = ctx.svc.dirs.get(fh) else {
        return false;
    };
    let Ok(export) = ctx.export_for(l.export_id) else {
        return false;
    };
    if component(name).is_err() || !ctx.may(export, &l.attr, 1) {
        return false;
    }
    match l.find(name) {
        None => w.u32(Status::NoEnt as u32),
        Some(e) => match (&e.fh, &e.attr) {
            (Some(h), Some(st)) if !e.recheck => {
                w.u32(0);
                w.opaque(h);
                post_stat(w, export, Some(st));
            }
            _ => return false,
        },
    }
    post_stat(w, export, Some(&l.attr));
    true
}

pub fn lookup(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let name = name_arg(r)?;
    if cached_lookup(ctx, fh, name, w) {
        return Ok(());
    }
    let dir = match ctx.resolve(fh, OFlags::PATH) {
        Ok(d) => d,
        Err(s) => {
            w.u32(s as u32);
            w.bool(false);
            return Ok(());
        }
    };
    let dir_st = dir.stat().ok();
    let res = dir_st
        .ok_or(Status::Stale)
        .and_then(|st| lookup_in(ctx, &dir, &st, name))
        .and_then(|o| Ok((ctx.handle_of(o.export, o.fd.as_fd())?, o)));
    match res {
        Ok((h, o)) => {
            w.u32(0);
            w.opaque(&h);
            post(w, o.export, o.fd.as_fd());
        }
        Err(s) => w.u32(s as u32),
    }
    post_stat(w, dir.export, dir_st.as_ref());
    Ok(())
}

const READ: u32 = 1;
const LOOKUP: u32 = 2;
const MODIFY: u32 = 4;
const EXTEND: u32 = 8;
const DELETE: u32 = 0x10;
const EXECUTE: u32 = 0x20;

/// ACCESS result bits the caller has, from mode bits; write bits never on
/// read-only exports.
pub fn access_bits(cred: &crate::rpc::Cred, st: &Stat, writable: bool) -> u32 {
    let can = |m| super::allowed(cred, st, m);
    let mut bits = 0;
    if can(4) {
        bits |= READ;
    }
    if is_dir(st) {
        if can(1) {
            bits |= LOOKUP;
        }
        if writable && can(3) {
            bits |= MODIFY | EXTEND | DELETE;
        }
    } else {
        if writable && can(2) {
            bits |= MODIFY | EXTEND;
        }
        if can(1) {
            bits |= EXECUTE;
        }
    }
    bits
}

pub fn access(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let want = r.u32()?;
    if let Some(l) = ctx.svc.dirs.get(fh) {
        if let Ok(export) = ctx.export_for(l.export_id) {
            w.u32(0);
            post_stat(w, export, Some(&l.attr));
            w.u32(want & access_bits(&ctx.cred, &l.attr, export.writable));
            return Ok(());
        }
    }
    match ctx
        .resolve(fh, OFlags::PATH)
        .and_then(|o| Ok((o.stat()?, o)))
    {
        Ok((st, o)) => {
            w.u32(0);
            post_stat(w, o.export, Some(&st));
            w.u32(want & access_bits(&ctx.cred, &st, o.export.writable));
        }
        Err(s) => {
            w.u32(s as u32);
            w.bool(false);
        }
    }
    Ok(())
}

pub fn readlink(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let o = match ctx.resolve(fh, OFlags::PATH) {
        Ok(o) => o,
        Err(s) => {
            w.u32(s as u32);
            w.bool(false);
            return Ok(());
        }
    };
    let st = o.stat().ok();
    let res = match &st {
        Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
            rustix::fs::readlinkat(&o.fd, "", Vec::new()).map_err(Status::from)
        }
        Some(_) => Err(Status::Inval),
        None => Err(Status::Stale),
    };
    match res {
        Ok(target) => {
            w.u32(0);
            post_stat(w, o.export, st.as_ref());
            w.opaque(target.as_bytes());
        }
        Err(s) => {
            w.u32(s as u32);
            post_stat(w, o.export, st.as_ref());
        }
    }
    Ok(())
}

pub fn fsstat(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let res = ctx
        .resolve(fh, OFlags::PATH)
        .and_then(|o| Ok((rustix::fs::fstatvfs(&o.fd)?, o)));
    match res {
        Ok((vfs, o)) => {
            w.u32(0);
            post(w, o.export, o.fd.as_fd());
            let f = vfs.f_frsize;
            for v in [
                vfs.f_blocks * f,
                vfs.f_bfree * f,
                vfs.f_bavail * f,
                vfs.f_files,
                vfs.f_ffree,
                vfs.f_favail,
            ] {
                w.u64(v);
            }
            w.u32(0);
        }
        Err(s) => {
            w.u32(s as u32);
            w.bool(false);
        }
    }
    Ok(())
}

/// Largest READ/WRITE over TCP; UDP replies must fit one datagram.
pub const TCP_IO_MAX: u32 = 1 << 20;
pub const UDP_IO_MAX: u32 = 32 * 1024;

pub fn fsinfo(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    match ctx.resolve(fh, OFlags::PATH) {
        Ok(o) => {
            let max = if ctx.udp { UDP_IO_MAX } else { TCP_IO_MAX };
            w.u32(0);
            post(w, o.export, o.fd.as_fd());
            for v in [
                max,
                max,
                4096,
                max,
                max,
                4096,
                if ctx.udp { 8192 } else { 65536 },
            ] {
                w.u32(v);
            }
            w.u64(i64::MAX as u64);
            w.u32(0);
            w.u32(1);
            // LINK | SYMLINK | HOMOGENEOUS | CANSETTIME
            w.u32(0x1 | 0x2 | 0x8 | 0x10);
        }
        Err(s) => {
            w.u32(s as u32);
            w.bool(false);
        }
    }
    Ok(())
}

pub fn pathconf(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    match ctx.resolve(fh, OFlags::PATH) {
        Ok(o) => {
            w.u32(0);
            post(w, o.export, o.fd.as_fd());
            w.u32(32000);
            w.u32(255);
            w.bool(true); // no_trunc
            w.bool(true); // chown_restricted
            w.bool(false); // case_insensitive
            w.bool(true); // case_preserving
        }
        Err(s) => {
            w.u32(s as u32);
            w.bool(false);
        }
    }
    Ok(())
}
