//! READDIR and READDIRPLUS. Cookies are the filesystem's own `d_off`
//! values (stable on ext4/xfs), so the cookie verifier is always zero and
//! a listing can resume after a server restart.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, OFlags, RawDir, SeekFrom, Stat, Statx, StatxFlags};

use super::attr::post_stat;
use super::{fh_arg, Ctx, Status};
use crate::dir_cache::{self, Entry, Listing};
use crate::export::Export;
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
    let want = if plus { 5 } else { 4 };
    if let Some(l) = ctx.svc.dirs.get(a.fh) {
        let from = l.start(a.cookie);
        match ctx.export_for(l.export_id) {
            Err(s) => {
                w.u32(s as u32);
                w.bool(false);
                return;
            }
            Ok(export) if !ctx.may(export, &l.attr, want) => {
                w.u32(Status::Acces as u32);
                post_stat(w, export, Some(&l.attr));
                return;
            }
            Ok(export) => {
                if let Some(from) = from {
                    emit(ctx, export, &l, from, plus, &a, w);
                    return;
                }
                // A cookie from before the listing changed: straight from
                // the directory, which says whether it is still good.
            }
        }
    }
    let res = ctx
        .resolve(a.fh, OFlags::RDONLY | OFlags::DIRECTORY)
        .and_then(|d| {
            let st = d.stat()?;
            if !ctx.may(d.export, &st, want) {
                return Err(Status::Acces);
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
    if plus {
        if let Some(l) = build(ctx, &d, a.fh) {
            if let Some(from) = l.start(a.cookie) {
                emit(ctx, d.export, &l, from, plus, &a, w);
                return;
            }
        }
    }
    // (A build that gave up may have moved the offset: always seek.)
    if rustix::fs::seek(&d.fd, SeekFrom::Start(a.cookie)).is_err() {
        w.u32(Status::BadCookie as u32);
        post_stat(w, d.export, Some(&st));
        return;
    }
    w.u32(0);
    post_stat(w, d.export, Some(&st));
    w.fixed(&[0; 8]);
    let mut budget = Budget::new(start, &a);
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
            let (attr, fh) = if name == b"." || name == b".." {
                dot_entry(ctx, &d, a.fh, &st, name)
            } else {
                let sx = statx_of(&d, ent.file_name());
                let fh = sx
                    .as_ref()
                    .and_then(|sx| handle_for(ctx, &d, ent.file_name(), sx));
                (sx.as_ref().map(stat_of), fh)
            };
            post_stat(w, d.export, attr.as_ref());
            match fh {
                Some(fh) => {
                    w.bool(true);
                    w.opaque(&fh);
                }
                None => w.bool(false),
            }
        }
        if !budget.take(w, mark, entry_dir_bytes) {
            break;
        }
    }
    budget.finish(d.export, &st, w);
}

/// READDIR's two limits: the whole reply, and names + cookies.
struct Budget {
    start: usize,
    limit: usize,
    dircount: usize,
    dir_bytes: usize,
    n: usize,
    eof: bool,
}

impl Budget {
    fn new(start: usize, a: &Args) -> Budget {
        Budget {
            start,
            // The status and the whole resok (directory attributes, verifier,
            // entries, terminating `false` + eof) within maxcount: RFC 1813
            // bounds the resok alone, and the Linux client sizes the pages
            // that take the entries by maxcount.
            limit: start + a.maxcount.saturating_sub(8),
            dircount: a.dircount,
            dir_bytes: 0,
            n: 0,
            eof: true,
        }
    }

    /// Keeps the entry written since `mark`, or takes it back and stops.
    fn take(&mut self, w: &mut Writer, mark: usize, entry_dir_bytes: usize) -> bool {
        if w.len() > self.limit || self.dir_bytes + entry_dir_bytes > self.dircount {
            w.buf.truncate(mark);
            self.eof = false;
            return false;
        }
        self.dir_bytes += entry_dir_bytes;
        self.n += 1;
        true
    }

    fn finish(self, export: &Export, dir: &Stat, w: &mut Writer) {
        if self.n == 0 && !self.eof {
            w.buf.truncate(self.start);
            w.u32(Status::TooSmall as u32);
            post_stat(w, export, Some(dir));
            return;
        }
        w.bool(false);
        w.bool(self.eof);
    }
}

/// Answers from a cached listing, from entry `from` on.
fn emit(
    ctx: &Ctx,
    export: &Export,
    l: &Listing,
    from: usize,
    plus: bool,
    a: &Args,
    w: &mut Writer,
) {
    let start = w.len();
    w.u32(0);
    post_stat(w, export, Some(&l.attr));
    w.fixed(&[0; 8]);
    let mut budget = Budget::new(start, a);
    // Opened only if an entry's attributes must be read again.
    let mut dir: Option<Option<super::Obj>> = None;
    for e in &l.entries[from..] {
        let mark = w.len();
        w.bool(true);
        w.u64(e.ino);
        w.opaque(&e.name);
        w.u64(e.cookie);
        let entry_dir_bytes = w.len() - mark;
        if plus {
            if e.recheck {
                let d = dir.get_or_insert_with(|| ctx.resolve(a.fh, OFlags::PATH).ok());
                let sx = d.as_ref().and_then(|d| {
                    let name = std::ffi::CString::new(&*e.name).ok()?;
                    statx_of(d, &name)
                });
                post_stat(w, export, sx.as_ref().map(stat_of).as_ref());
            } else {
                post_stat(w, export, e.attr.as_ref());
            }
            match &e.fh {
                Some(fh) => {
                    w.bool(true);
                    w.opaque(fh);
                }
                None => w.bool(false),
            }
        }
        if !budget.take(w, mark, entry_dir_bytes) {
            break;
        }
    }
    budget.finish(export, &l.attr, w);
}

fn at_export_root(d: &super::Obj, st: &Stat) -> bool {
    rustix::fs::fstat(&d.export.root_fd)
        .is_ok_and(|r| (r.st_dev, r.st_ino) == (st.st_dev, st.st_ino))
}

/// Attributes and handle of `.` or `..` in `d` (handle `fh`, attributes
/// `st`), so clients need no LOOKUP for them. `..` of the export root is
/// the root itself: no handle leads out of the export.
fn dot_entry(
    ctx: &Ctx,
    d: &super::Obj,
    fh: &[u8],
    st: &Stat,
    name: &[u8],
) -> (Option<Stat>, Option<Box<[u8]>>) {
    if name == b"." {
        return (Some(*st), Some(fh.into()));
    }
    if at_export_root(d, st) {
        return (Some(*st), Some(d.export.root_handle.as_slice().into()));
    }
    let sx = statx_of(d, c"..");
    let fh = sx.as_ref().and_then(|sx| handle_for(ctx, d, c"..", sx));
    (sx.as_ref().map(stat_of), fh)
}

fn statx_of(d: &super::Obj, name: &CStr) -> Option<Statx> {
    rustix::fs::statx(
        &d.fd,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS | StatxFlags::BTIME,
    )
    .ok()
}

/// The sealed handle of `name` in `d` (whose `statx` is `sx`), from the
/// handle cache when the inode's identity is known. Objects on another
/// filesystem (a mount inside the export) cannot be reopened through the
/// export's mount fd: no handle.
fn handle_for(ctx: &Ctx, d: &super::Obj, name: &CStr, sx: &Statx) -> Option<Box<[u8]>> {
    let id = (sx.stx_mask & StatxFlags::BTIME.bits() != 0).then(|| Identity {
        export_id: d.export.id,
        dev: libc::makedev(sx.stx_dev_major, sx.stx_dev_minor),
        ino: sx.stx_ino,
        birth: (sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec),
    });
    let mut found = None;
    if let Some(id) = &id {
        ctx.svc.handles.get(id, &mut |h| found = Some(h.into()));
    }
    if found.is_some() {
        return found;
    }
    let k = handle::kernel_handle_of(d.fd.as_fd(), name)
        .ok()
        .filter(|k| k.mount_id == d.export.mount_id)?;
    let fh = handle::seal(&ctx.svc.key, d.export.id, k.kind, &k.bytes);
    if let Some(id) = id {
        ctx.svc.handles.insert(id, &fh);
    }
    Some(fh.into())
}

/// Reads the whole directory into a listing and offers it to the cache
/// (watches first, then entries and attributes, so a change made during
/// the build is either seen or voids it). `None` when the cache is off or
/// the directory is too big.
fn build(ctx: &Ctx, d: &super::Obj, fh: &[u8]) -> Option<Arc<Listing>> {
    let cache = &ctx.svc.dirs;
    let ticket = cache.begin()?;
    let proc_dir = format!("/proc/self/fd/{}", d.fd.as_raw_fd());
    let mut wds = vec![cache.watch(&CString::new(proc_dir.clone()).ok()?, true)?];
    let attr = d.stat().ok()?;
    rustix::fs::seek(&d.fd, SeekFrom::Start(0)).ok()?;
    let mut raw = Vec::new();
    let mut buf = Vec::with_capacity(32 * 1024);
    let mut iter = RawDir::new(d.fd.as_fd(), buf.spare_capacity_mut());
    while let Some(ent) = iter.next() {
        let ent = ent.ok()?;
        if raw.len() >= dir_cache::MAX_DIR_ENTRIES {
            return None;
        }
        raw.push((
            ent.ino(),
            ent.file_name().to_owned(),
            ent.next_entry_cookie(),
            ent.file_type(),
        ));
    }
    let mut entries = Vec::with_capacity(raw.len());
    for (ino, name, cookie, ftype) in raw {
        let bytes = name.as_bytes();
        if bytes == b"." || bytes == b".." {
            // `..` changes with its own directory: watched too.
            if bytes == b".." && !at_export_root(d, &attr) {
                wds.push(cache.watch(&CString::new(format!("{proc_dir}/..")).ok()?, true)?);
            }
            let (attr, fh) = dot_entry(ctx, d, fh, &attr, bytes);
            entries.push(Entry {
                ino,
                name: bytes.into(),
                cookie,
                attr,
                fh,
                recheck: false,
            });
            continue;
        }
        let watch_sub = |name: &CStr| {
            let mut p = proc_dir.clone().into_bytes();
            p.push(b'/');
            p.extend_from_slice(name.to_bytes());
            cache.watch(&CString::new(p).ok()?, false)
        };
        let mut sx = statx_of(d, &name);
        let is_dir = |sx: &Option<Statx>| {
            sx.as_ref()
                .is_some_and(|x| x.stx_mode as u32 & libc::S_IFMT == libc::S_IFDIR)
        };
        if ftype == FileType::Directory || (ftype == FileType::Unknown && is_dir(&sx)) {
            // The watch goes first; then attributes read after it.
            wds.push(watch_sub(&name)?);
            sx = statx_of(d, &name);
        }
        let attr = sx.as_ref().map(stat_of);
        let recheck = attr
            .as_ref()
            .is_none_or(|a| a.st_mode & libc::S_IFMT != libc::S_IFDIR && a.st_nlink > 1);
        let fh = sx.and_then(|sx| handle_for(ctx, d, &name, &sx));
        entries.push(Entry {
            ino,
            name: bytes.into(),
            cookie,
            attr,
            fh,
            recheck,
        });
    }
    let l = Arc::new(Listing::new(d.export.id, attr, entries));
    cache.insert(ticket, fh, l.clone(), &wds);
    Some(l)
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
