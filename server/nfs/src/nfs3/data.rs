//! READ, WRITE (unstable + stable) and COMMIT.
//!
//! Files come from the open-file cache, so a warm READ is fstat plus, over
//! TCP, a `sendfile` by the socket writer (no copy through our memory);
//! over UDP a pread straight into the reply buffer. Unstable WRITEs
//! land in the page cache and their writeback starts at once
//! (`sync_file_range`), so COMMIT's `fdatasync` finds little left to do. The write verifier is drawn at
//! start, so a client that wrote unstable data before a restart sees a new
//! verifier and resends it.

use std::os::fd::{AsFd, AsRawFd};

use rustix::fs::OFlags;

use super::attr::{fattr, wcc};
use super::query::{TCP_IO_MAX, UDP_IO_MAX};
use super::{fh_arg, Ctx, FileRange, Status};
use crate::xdr::{self, Reader, Writer};

/// Whether a READ call's whole range is in the page cache of a file the
/// open-file cache holds: then `sendfile` will not wait for the disk and
/// the call may be answered on the thread that read it. Unsure = `false`.
pub fn read_is_warm(svc: &crate::service::Service, args: &mut Reader) -> bool {
    let (Ok(fh), Ok(offset), Ok(count)) = (fh_arg(args), args.u64(), args.u32()) else {
        return false;
    };
    let Some((_, fd)) = svc.open_files.get(fh, false) else {
        return false;
    };
    cached(&fd, offset, count.min(TCP_IO_MAX) as u64)
}

/// `cachestat(2)` (Linux 6.5): are all pages of the range cached?
fn cached(fd: &std::os::fd::OwnedFd, offset: u64, len: u64) -> bool {
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    const SYS_CACHESTAT: libc::c_long = 451;
    const PAGE: u64 = 4096;
    if len == 0 {
        return true;
    }
    let range = Range { off: offset, len };
    let mut st = Stat::default();
    // SAFETY: both structs are laid out as the kernel's; flags must be 0.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            fd.as_raw_fd(),
            &range as *const Range,
            &mut st as *mut Stat,
            0,
        )
    };
    let pages = (offset + len - 1) / PAGE - offset / PAGE + 1;
    rc == 0 && st.nr_cache >= pages
}

pub fn read(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let offset = r.u64()?;
    let max = if ctx.udp { UDP_IO_MAX } else { TCP_IO_MAX };
    let count = r.u32()?.min(max) as usize;
    let res = ctx.open_file(fh, false).and_then(|(export, fd, st)| {
        if !ctx.may(export, &st, 4) && ctx.cred.uid != st.st_uid {
            return Err(Status::Acces);
        }
        Ok((export, fd, st))
    });
    let (export, fd, st) = match res {
        Ok(x) => x,
        Err(s) => {
            w.u32(s as u32);
            w.bool(false);
            return Ok(());
        }
    };
    let size = st.st_size as u64;
    if ctx.zero_copy {
        // The socket writer sends the bytes from the page cache after this
        // head; a file that shrinks meanwhile is padded with zeros there.
        let n = size.saturating_sub(offset).min(count as u64) as usize;
        w.u32(0);
        w.bool(true);
        fattr(w, export, &st);
        w.u32(n as u32);
        w.bool(offset.saturating_add(n as u64) >= size);
        w.u32(n as u32);
        if n > 0 {
            ctx.deferred.set(Some(FileRange { fd, offset, len: n }));
        }
        return Ok(());
    }
    let start = w.len();
    w.u32(0);
    w.bool(true);
    fattr(w, export, &st);
    let count_at = w.len();
    w.u32(0); // count, patched below
    w.bool(false); // eof, patched below
    w.u32(0); // opaque length, patched below
    let data_at = w.len();
    w.buf.reserve(count + 3);
    let mut got = 0usize;
    while got < count {
        let spare = &mut w.buf.spare_capacity_mut()[..count - got];
        match rustix::io::pread(&*fd, spare, offset + got as u64) {
            Ok(([], _)) => break,
            Ok((init, _)) => {
                let n = init.len();
                // SAFETY: pread initialised these `n` bytes of spare capacity.
                unsafe { w.buf.set_len(w.buf.len() + n) };
                got += n;
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                w.buf.truncate(start);
                w.u32(Status::from(e) as u32);
                w.bool(false);
                return Ok(());
            }
        }
    }
    let eof = offset.saturating_add(got as u64) >= size;
    w.buf.truncate(data_at + got);
    let pad = (4 - got % 4) % 4;
    w.buf.extend_from_slice(&[0u8; 3][..pad]);
    w.buf[count_at..count_at + 4].copy_from_slice(&(got as u32).to_be_bytes());
    w.buf[count_at + 4..count_at + 8].copy_from_slice(&(eof as u32).to_be_bytes());
    w.buf[count_at + 8..count_at + 12].copy_from_slice(&(got as u32).to_be_bytes());
    Ok(())
}

pub fn write(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let offset = r.u64()?;
    let count = r.u32()? as usize;
    let stable = r.u32()?;
    let data = r.opaque(crate::rpc::MAX_RECORD)?;
    if stable > 2 {
        return Err(xdr::Error::Invalid);
    }
    let data = &data[..count.min(data.len())];
    let (export, fd, before) = match ctx.open_file(fh, true) {
        Ok(x) => x,
        Err(s) => {
            w.u32(s as u32);
            // Attributes when the object exists (a directory, a read-only
            // export): clients refresh their cache from them.
            match ctx.resolve(fh, OFlags::PATH) {
                Ok(o) => {
                    let st = o.stat().ok();
                    wcc(w, Some(o.export), st.as_ref(), Some(o.fd.as_fd()));
                }
                Err(_) => wcc(w, None, None, None),
            }
            return Ok(());
        }
    };
    let res = (|| {
        if !ctx.may(export, &before, 2) && ctx.cred.uid != before.st_uid {
            return Err(Status::Acces);
        }
        let mut done = 0;
        while done < data.len() {
            match rustix::io::pwrite(&*fd, &data[done..], offset + done as u64) {
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match stable {
            // Start writing back now rather than all at COMMIT: the disk
            // works while the client sends the next chunk.
            0 => start_writeback(&fd, offset, done),
            1 => rustix::fs::fdatasync(&*fd)?,
            _ => rustix::fs::fsync(&*fd)?,
        }
        Ok(done)
    })();
    match res {
        Ok(n) => {
            // The file may be open through a disconnected dentry that
            // inotify cannot tie to its directory.
            ctx.svc.dirs.invalidate_inode(before.st_ino);
            w.u32(0);
            wcc(w, Some(export), Some(&before), Some(fd.as_fd()));
            w.u32(n as u32);
            w.u32(stable);
            w.fixed(&ctx.svc.verifier);
        }
        Err(s) => {
            w.u32(s as u32);
            wcc(w, Some(export), Some(&before), Some(fd.as_fd()));
        }
    }
    Ok(())
}

/// Asks the kernel to begin writing `len` bytes at `offset` to disk
/// without waiting for it (a hint: errors surface at COMMIT's fsync).
fn start_writeback(fd: &std::os::fd::OwnedFd, offset: u64, len: usize) {
    // SAFETY: plain syscall on a valid fd.
    unsafe {
        libc::sync_file_range(
            fd.as_raw_fd(),
            offset as i64,
            len as i64,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
}

pub fn commit(ctx: &Ctx, r: &mut Reader, w: &mut Writer) -> xdr::Result<()> {
    let fh = fh_arg(r)?;
    let _offset = r.u64()?;
    let _count = r.u32()?;
    let (export, fd, before) = match ctx.open_file(fh, true) {
        Ok(x) => x,
        Err(s) => {
            w.u32(s as u32);
            match ctx.resolve(fh, OFlags::PATH) {
                Ok(o) => {
                    let st = o.stat().ok();
                    wcc(w, Some(o.export), st.as_ref(), Some(o.fd.as_fd()));
                }
                Err(_) => wcc(w, None, None, None),
            }
            return Ok(());
        }
    };
    // Data and the size needed to read it back; other metadata (times)
    // need not be stable (RFC 1813 COMMIT).
    let res = rustix::fs::fdatasync(&*fd).map_err(Status::from);
    w.u32(res.err().unwrap_or(Status::Ok) as u32);
    wcc(w, Some(export), Some(&before), Some(fd.as_fd()));
    if res.is_ok() {
        w.fixed(&ctx.svc.verifier);
    }
    Ok(())
}
