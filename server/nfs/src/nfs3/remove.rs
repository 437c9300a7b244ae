//! Procedures that drop or move names: REMOVE, RMDIR, RENAME.

use std::os::fd::AsFd;

use rustix::fs::{AtFlags, OFlags, Stat};

use super::attr::wcc;
use super::{component, fh_arg, name_arg, Ctx, Obj, Status};
use crate::xdr::{self, Reader, Writer};

/// Checks that the caller may remove `name` from `dir` (w+x on the
/// directory, and the sticky-bit rule).
fn may_unlink(ctx: &Ctx, dir: &Obj, dir_st: &Stat, name: &[u8]) -> Result<(), Status> {
    ctx.writable(dir.export)?;
    if dir_st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Status::NotDir);
    }
    component(name)?;
    if !ctx.may(dir.export, dir_st, 3) {
        return Err(Status::Acces);
    }
    let uid = ctx.cred.uid;
    if ctx.checks(dir.export)
        && dir_st.st_mode & libc::S_ISVTX != 0
        && uid != 0
        && uid != dir_st.st_uid
    {
        let st = rustix::fs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
        if st.st_uid != uid {
            return Err(Status::Acces);
        }
    }
    Ok(())
}

fn unlink(ctx: &Ctx, r: &mut Reader, w: &mut Writer, flags: AtFlags) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let name = name_arg(r)?;
    let dir = match ctx.resolve(fh, OFlags::PATH) {
        Ok(d) => d,
        Err(s) => {
            w.u32(s as u32);
            wcc(w, None, None, None);
            return Ok(());
        }
    };
    let before = dir.stat().ok();
    let res = before.ok_or(Status::Stale).and_then(|st| {
        may_unlink(ctx, &dir, &st, name)?;
        if flags.is_empty() {
            ctx.forget(&dir, name);
        }
        Ok(rustix::fs::unlinkat(&dir.fd, name, flags)?)
    });
    w.u32(res.err().unwrap_or(Status::Ok) as u32);
    wcc(w, Some(dir.export), before.as_ref(), Some(dir.fd.as_fd()));
    Ok(())
}

pub fn remove(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    unlink(ctx, r, w, AtFlags::empty())
}

pub fn rmdir(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    unlink(ctx, r, w, AtFlags::REMOVEDIR)
}

pub fn rename(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let from_fh = fh_arg(r)?;
    let from_name = name_arg(r)?;
    let to_fh = fh_arg(r)?;
    let to_name = name_arg(r)?;
    let from = ctx.resolve(from_fh, OFlags::PATH);
    let to = ctx.resolve(to_fh, OFlags::PATH);
    let (from, to) = match (from, to) {
        (Ok(f), Ok(t)) => (f, t),
        (f, t) => {
            let s = f
                .as_ref()
                .err()
                .or(t.as_ref().err())
                .copied()
                .unwrap_or(Status::Stale);
            w.u32(s as u32);
            for o in [f.ok(), t.ok()] {
                match o {
                    Some(o) => {
                        let st = o.stat().ok();
                        wcc(w, Some(o.export), st.as_ref(), Some(o.fd.as_fd()));
                    }
                    None => wcc(w, None, None, None),
                }
            }
            return Ok(());
        }
    };
    let from_before = from.stat().ok();
    let to_before = to.stat().ok();
    let res = (|| {
        if from.export.id != to.export.id {
            return Err(Status::XDev);
        }
        let fst = from_before.ok_or(Status::Stale)?;
        let tst = to_before.ok_or(Status::Stale)?;
        may_unlink(ctx, &from, &fst, from_name)?;
        may_unlink(ctx, &to, &tst, to_name).or_else(|e| match e {
            // The target need not exist; only the sticky check looks at it.
            Status::NoEnt => Ok(()),
            e => Err(e),
        })?;
        ctx.forget(&to, to_name);
        Ok(rustix::fs::renameat(&from.fd, from_name, &to.fd, to_name)?)
    })();
    w.u32(res.err().unwrap_or(Status::Ok) as u32);
    wcc(
        w,
        Some(from.export),
        from_before.as_ref(),
        Some(from.fd.as_fd()),
    );
    wcc(w, Some(to.export), to_before.as_ref(), Some(to.fd.as_fd()));
    Ok(())
}
