//! READDIR and READDIRPLUS. Cookies are the filesystem's own `d_off`
//! values (stable on ext4/xfs), so the cookie verifier is always zero and
//! a listing can resume after a server restart.

use std::os::fd::AsFd;

use rustix::fs::{AtFlags, OFlags, RawDir, SeekFrom, Stat, Statx, StatxFlags};

use super::attr::post_stat;
use super::{fh_arg, Ctx, Status};
use crate::handle;
use crate::handle_cache::Identity;
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
            let sx = (!dot)
                .then(|| {
                    rustix::fs::statx(
                        &d.fd,
                        ent.file_name(),
                        AtFlags::SYMLINK_NOFOLLOW,
                        StatxFlags::BASIC_STATS | StatxFlags::BTIME,
                    )
                    .ok()
                })
                .flatten();
            let est = sx.as_ref().map(stat_of);
            post_stat(w, d.export, est.as_ref());
            let id = sx
                .as_ref()
                .filter(|x| x.stx_mask & StatxFlags::BTIME.bits() != 0)
                .map(|x| Identity {
                    export_id: d.export.id,
                    dev: libc::makedev(x.stx_dev_major, x.stx_dev_minor),
                    ino: x.stx_ino,
                    birth: (x.stx_btime.tv_sec, x.stx_btime.tv_nsec),
                });
            let cached = id.is_some_and(|id| {
                ctx.svc.handles.get(&id, &mut |h| {
                    w.bool(true);
                    w.opaque(h);
                })
            });
            if !cached {
                // Objects on another filesystem (a mount inside the export)
                // cannot be reopened through the export's mount fd: no handle.
                let h = sx
                    .is_some()
                    .then(|| handle::kernel_handle_of(d.fd.as_fd(), ent.file_name()).ok())
                    .flatten()
                    .filter(|k| k.mount_id == d.export.mount_id);
                match h {
                    Some(k) => {
                        let fh = handle::seal(&ctx.svc.key, d.export.id, k.kind, &k.bytes);
                        w.bool(true);
                        w.opaque(&fh);
                        if let Some(id) = id {
                            ctx.svc.handles.insert(id, &fh);
                        }
                    }
                    None => w.bool(false),
                }
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

/// `fattr3` wants a `stat`; READDIRPLUS gets a `statx` (for the birth time).
fn stat_of(x: &Statx) -> Stat {
    // SAFETY: `Stat` is a plain C struct of integers; all-zero is valid.
    let mut st: Stat = unsafe { std::mem::zeroed() };
    st.st_dev = libc::makedev(x.stx_dev_major, x.stx_dev_minor) as _;
    st.st_ino = x.stx_ino as _;
    st.st_mode = x.stx_mode as _;
    st.st_nlink = x.stx_nlink as _;
    st.st_uid = x.stx_uid as _;
    st.st_gid = x.stx_gid as _;
    st.st_rdev = libc::makedev(x.stx_rdev_major, x.stx_rdev_minor) as _;
    st.st_size = x.stx_size as _;
    st.st_blksize = x.stx_blksize as _;
    st.st_blocks = x.stx_blocks as _;
    st.st_atime = x.stx_atime.tv_sec as _;
    st.st_atime_nsec = x.stx_atime.tv_nsec as _;
    st.st_mtime = x.stx_mtime.tv_sec as _;
    st.st_mtime_nsec = x.stx_mtime.tv_nsec as _;
    st.st_ctime = x.stx_ctime.tv_sec as _;
    st.st_ctime_nsec = x.stx_ctime.tv_nsec as _;
    st
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_from_statx_matches_stat() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"12345").unwrap();
        let d = std::fs::File::open(dir.path()).unwrap();
        let a = rustix::fs::statat(&d, "f", AtFlags::SYMLINK_NOFOLLOW).unwrap();
        let x = rustix::fs::statx(
            &d,
            "f",
            AtFlags::SYMLINK_NOFOLLOW,
            StatxFlags::BASIC_STATS | StatxFlags::BTIME,
        )
        .unwrap();
        let b = stat_of(&x);
        assert_eq!(
            (a.st_dev, a.st_ino, a.st_mode, a.st_nlink, a.st_uid, a.st_gid),
            (b.st_dev, b.st_ino, b.st_mode, b.st_nlink, b.st_uid, b.st_gid)
        );
        assert_eq!(
            (a.st_size, a.st_blocks, a.st_rdev),
            (b.st_size, b.st_blocks, b.st_rdev)
        );
        assert_eq!(
            (a.st_mtime, a.st_mtime_nsec, a.st_ctime, a.st_ctime_nsec),
            (b.st_mtime, b.st_mtime_nsec, b.st_ctime, b.st_ctime_nsec)
        );
        assert_eq!((a.st_atime, a.st_atime_nsec), (b.st_atime, b.st_atime_nsec));
    }
}
