//! The sending side of one TCP connection: replies go out as their calls
//! finish (in completion order; RPC matches them by xid), READ data
//! straight from the page cache with `sendfile` after the reply head. The
//! answering thread sends, so a cold READ that makes `sendfile` wait for
//! the disk stalls that thread only, never the reactor.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;

use tokio::sync::OwnedSemaphorePermit;

use crate::nfs3::FileRange;

/// A client that reads nothing for this long loses its connection.
const STALL_MS: i32 = 60_000;

/// One reply: record mark + XDR in `buf`, then optional file bytes and
/// their padding. The permit is the connection's in-flight slot.
pub struct Outgoing {
    pub buf: Vec<u8>,
    pub file: Option<FileRange>,
    pub permit: Option<OwnedSemaphorePermit>,
}

/// The XDR padding after `n` opaque bytes.
pub fn pad(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// Reused record and reply buffers of one connection (bounded, so a burst
/// of 1 MiB WRITEs does not stay resident).
#[derive(Default)]
pub struct BufPool(Mutex<Vec<Vec<u8>>>);

impl BufPool {
    const KEEP: usize = 6;

    pub fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default()
    }

    pub fn put(&self, mut b: Vec<u8>) {
        if b.capacity() > 2 << 20 {
            return;
        }
        b.clear();
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() < Self::KEEP {
            g.push(b);
        }
    }
}

/// The sending half of one connection, shared by the threads answering
/// its calls: each writes its own reply as soon as it is ready, whole,
/// under the lock (no hand-off to a writer thread).
pub struct Sink {
    sock: Mutex<OwnedFd>,
}

impl Sink {
    pub fn new(sock: OwnedFd) -> Sink {
        Sink {
            sock: Mutex::new(sock),
        }
    }

    /// Sends one reply; on failure shuts the socket down so the reading
    /// side ends too.
    pub fn send(&self, o: &Outgoing) {
        let sock = self.sock.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = send_one(sock.as_fd(), o) {
            tracing::debug!("NFS reply not sent, closing the connection: {e}");
            // SAFETY: plain shutdown(2) on a socket fd we own.
            unsafe { libc::shutdown(sock.as_raw_fd(), libc::SHUT_RDWR) };
        }
    }
}

fn send_one(sock: BorrowedFd<'_>, o: &Outgoing) -> io::Result<()> {
    let Some(f) = &o.file else {
        return write_all(sock, &[&o.buf]);
    };
    // The head waits for the file data (MSG_MORE), so both leave in the
    // same segments instead of a small packet first.
    send_more(sock, &o.buf)?;
    send_file(sock, f)?;
    if pad(f.len) > 0 {
        write_all(sock, &[&[0u8; 3][..pad(f.len)]])?;
    }
    Ok(())
}

fn send_more(sock: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::net::send(sock, buf, rustix::net::SendFlags::MORE) {
            Ok(n) => buf = &buf[n..],
            Err(rustix::io::Errno::AGAIN) => wait_writable(sock)?,
            Err(rustix::io::Errno::INTR) => {}
            // Not a socket (tests use pipes and socketpairs alike).
            Err(rustix::io::Errno::NOTSOCK) => return write_all(sock, &[buf]),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Waits until the (non-blocking) socket takes more bytes.
fn wait_writable(sock: BorrowedFd<'_>) -> io::Result<()> {
    let mut p = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, STALL_MS) };
        match n {
            0 => return Err(io::Error::new(io::ErrorKind::TimedOut, "client stalled")),
            n if n > 0 => return Ok(()),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

fn write_all(sock: BorrowedFd<'_>, parts: &[&[u8]]) -> io::Result<()> {
    let (mut idx, mut off) = (0usize, 0usize);
    while idx < parts.len() {
        let slices: Vec<IoSlice> = std::iter::once(&parts[idx][off..])
            .chain(parts[idx + 1..].iter().copied())
            .take(64)
            .map(IoSlice::new)
            .collect();
        match rustix::io::writev(sock, &slices) {
            Ok(mut n) => {
                while idx < parts.len() && n >= parts[idx].len() - off {
                    n -= parts[idx].len() - off;
                    idx += 1;
                    off = 0;
                }
                off += n;
            }
            Err(rustix::io::Errno::AGAIN) => wait_writable(sock)?,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn send_file(sock: BorrowedFd<'_>, f: &FileRange) -> io::Result<()> {
    let mut offset = f.offset;
    let mut left = f.len;
    while left > 0 {
        match rustix::fs::sendfile(sock, &*f.fd, Some(&mut offset), left) {
            Ok(0) => {
                // The file shrank after the reply head promised `len`
                // bytes: zeros keep the record framed.
                static ZEROS: [u8; 4096] = [0; 4096];
                while left > 0 {
                    let n = left.min(ZEROS.len());
                    write_all(sock, &[&ZEROS[..n]])?;
                    left -= n;
                }
            }
            Ok(n) => left -= n.min(left),
            Err(rustix::io::Errno::AGAIN) => wait_writable(sock)?,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;

    fn file(bytes: &[u8]) -> (tempfile::TempDir, Arc<OwnedFd>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), bytes).unwrap();
        let fd: OwnedFd = std::fs::File::open(dir.path().join("f")).unwrap().into();
        (dir, Arc::new(fd))
    }

    fn sent(replies: Vec<Outgoing>) -> Vec<u8> {
        let (a, mut b) = UnixStream::pair().unwrap();
        let sink = Sink::new(a.into());
        for o in &replies {
            sink.send(o);
        }
        drop(sink);
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        got
    }

    #[test]
    fn replies_with_file_data_and_padding_arrive_in_order() {
        let (_d, fd) = file(b"0123456789");
        let got = sent(vec![
            Outgoing {
                buf: b"head1".to_vec(),
                file: Some(FileRange {
                    fd,
                    offset: 2,
                    len: 5,
                }),
                permit: None,
            },
            Outgoing {
                buf: b"small".to_vec(),
                file: None,
                permit: None,
            },
        ]);
        assert_eq!(got, b"head123456\0\0\0small");
    }

    #[test]
    fn a_shrunk_file_is_padded_with_zeros() {
        let (_d, fd) = file(b"abc");
        let got = sent(vec![Outgoing {
            buf: vec![],
            file: Some(FileRange {
                fd,
                offset: 1,
                len: 6,
            }),
            permit: None,
        }]);
        assert_eq!(got, b"bc\0\0\0\0\0\0");
    }

    #[test]
    fn pool_keeps_a_few_small_buffers() {
        let pool = BufPool::default();
        for _ in 0..10 {
            pool.put(Vec::with_capacity(100));
        }
        pool.put(Vec::with_capacity(4 << 20));
        let kept: Vec<_> = (0..10).map(|_| pool.take().capacity()).collect();
        assert_eq!(kept.iter().filter(|c| **c >= 100).count(), BufPool::KEEP);
    }
}
