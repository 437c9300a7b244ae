//! READDIR and READDIRPLUS. Cookies are the filesystem's own `d_off`
//! values (stable on ext4/xfs), so the cookie verifier is always zero and
//! a listing can resume after a server restart.

use std::os::fd::AsFd;

use rustix::fs::{AtFlags, OFlags, RawDir, SeekFrom};

use super::attr::post_stat;
use super::{fh_arg, Ctx, Status};
use crate::handle;
use crate::xdr::{self, Reader, Writer};

struct Args<'a> {
    fh: &'a [u8],
    cookie: u64,
    /// Budget for names + fileids + cookies (READDIRPLUS' dircount).
    dircount: usize,
    /// Budget for the whole reply.
    maxcount: usize,
}

fn run(ctx: &Ctx, mut a: Args, plus: bool, w: &mut Writer) {
    if ctx.udp {
        a.maxcount = a.maxcount.min(super::query::UDP_IO_MAX as usize);
    }
    let start = w.len();
    let res = ctx
        .resolve(a.fh, OFlags::RDONLY | OFlags::DIRECTORY)
        .and_then(|d| {
            let st = d.stat()?;
            if !ctx.may(d.export, &st, if plus { 5 } else { 4 }) {
                return Err(Status::Acces);
            }
            if a.cookie != 0 {
                rustix::fs::seek(&d.fd, SeekFrom::Start(a.cookie))
                    .map_err(|_| Status::BadCookie)?;
            }
            Ok((d, st))
        });
    let (d, st) = match res {
        Ok(x) => x,
        Err(s) => {
            w.u32(s as u32);
            w.bool(false);
            return;
        }
    };
    w.u32(0);
    post_stat(w, d.export, Some(&st));
    w.fixed(&[0; 8]);
    // Room for the terminating `false` + eof, and RPC header slack.
    let limit = start + a.maxcount.saturating_sub(8 + 32);
    let mut dir_bytes = 0usize;
    let mut n = 0usize;
    let mut eof = true;
    let mut buf = Vec::with_capacity(32 * 1024);
    let mut iter = RawDir::new(d.fd.as_fd(), buf.spare_capacity_mut());
    while let Some(ent) = iter.next() {
        let ent = match ent {
            Ok(e) => e,
            Err(e) => {
                w.buf.truncate(start);
                w.u32(Status::from(e) as u32);
                post_stat(w, d.export, Some(&st));
                return;
            }
        };
        let name = ent.file_name().to_bytes();
        let mark = w.len();
        w.bool(true);
        w.u64(ent.ino());
        w.opaque(name);
        w.u64(ent.next_entry_cookie());
        let entry_dir_bytes = w.len() - mark;
        if plus {
            let dot = name == b"." || name == b"..";
            let est = (!dot)
                .then(|| rustix::fs::statat(&d.fd, ent.file_name(), AtFlags::SYMLINK_NOFOLLOW).ok())
                .flatten();
            post_stat(w, d.export, est.as_ref());
            // Objects on another filesystem (a mount inside the export)
            // cannot be reopened through the export's mount fd: no handle.
            let h = (!dot)
                .then(|| handle::kernel_handle_of(d.fd.as_fd(), ent.file_name()).ok())
                .flatten()
                .filter(|k| k.mount_id == d.export.mount_id);
            match h {
                Some(k) => {
                    w.bool(true);
                    w.opaque(&handle::seal(&ctx.svc.key, d.export.id, k.kind, &k.bytes));
                }
                None => w.bool(false),
            }
        }
        if w.len() > limit || dir_bytes + entry_dir_bytes > a.dircount {
            w.buf.truncate(mark);
            eof = false;
            break;
        }
        dir_bytes += entry_dir_bytes;
        n += 1;
    }
    if n == 0 && !eof {
        w.buf.truncate(start);
        w.u32(Status::TooSmall as u32);
        post_stat(w, d.export, Some(&st));
        return;
    }
    w.bool(false);
    w.bool(eof);
}

pub fn readdir(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let cookie = r.u64()?;
    let _verf = r.fixed(8)?;
    let count = r.u32()? as usize;
    let count = count.min(super::query::TCP_IO_MAX as usize);
    run(
        ctx,
        Args {
            fh,
            cookie,
            dircount: count,
            maxcount: count,
        },
        false,
        w,
    );
    Ok(())
}

pub fn readdirplus(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let cookie = r.u64()?;
    let _verf = r.fixed(8)?;
    let dircount = r.u32()? as usize;
    let maxcount = (r.u32()? as usize).min(super::query::TCP_IO_MAX as usize);
    run(
        ctx,
        Args {
            fh,
            cookie,
            dircount,
            maxcount,
        },
        true,
        w,
    );
    Ok(())
}
