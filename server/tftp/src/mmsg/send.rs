//! [`SendBatch`]: datagrams queued for one `sendmmsg`.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use bytes::Bytes;

use super::raw::{to_raw, write_pktinfo};
use super::sockopt::wait_writable;
use super::{Ctrl, MAX_VLEN};

struct Entry {
    to: libc::sockaddr_storage,
    to_len: libc::socklen_t,
    from: Option<Ipv4Addr>,
    head: [u8; 8],
    head_len: u8,
    payload: Bytes,
}

/// Datagrams queued for one `sendmmsg`. Each is a short inline header
/// (a DATA opcode and block number) plus a shared payload slice, so the
/// file bytes are never copied in user space.
pub struct SendBatch {
    entries: Vec<Entry>,
    iov: Vec<[libc::iovec; 2]>,
    ctrl: Vec<Ctrl>,
    hdrs: Vec<libc::mmsghdr>,
    /// Datagrams the kernel refused (e.g. no route); dropped, not retried.
    pub dropped: u64,
}

// SAFETY: raw pointers exist only during `flush`, into owned buffers.
unsafe impl Send for SendBatch {}

impl Default for SendBatch {
    fn default() -> Self {
        SendBatch::new()
    }
}

impl SendBatch {
    pub fn new() -> SendBatch {
        SendBatch {
            entries: Vec::with_capacity(256),
            iov: Vec::with_capacity(256),
            ctrl: Vec::with_capacity(256),
            hdrs: Vec::with_capacity(256),
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queues `head` (at most 8 bytes) followed by `payload` to `to`,
    /// optionally from source address `from` (needs a socket bound to a
    /// wildcard or that address).
    pub fn push(&mut self, to: &SocketAddr, from: Option<Ipv4Addr>, head: &[u8], payload: Bytes) {
        let (to, to_len) = to_raw(to);
        let mut h = [0u8; 8];
        let n = head.len().min(8);
        h[..n].copy_from_slice(&head[..n]);
        self.entries.push(Entry {
            to,
            to_len,
            from,
            head: h,
            head_len: n as u8,
            payload,
        });
    }

    /// Sends everything queued (blocking sockets wait for buffer space).
    pub fn flush(&mut self, sock: &impl AsFd) -> io::Result<()> {
        let fd = sock.as_fd().as_raw_fd();
        let mut start = 0;
        while start < self.entries.len() {
            let end = (start + MAX_VLEN).min(self.entries.len());
            self.build(start, end);
            // SAFETY: headers point into self.entries/iov/ctrl, untouched
            // until the call returns.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    self.hdrs.len() as libc::c_uint,
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        wait_writable(sock)?;
                        continue;
                    }
                    // This datagram cannot go (unreachable, refused…):
                    // drop it and carry on with the rest.
                    _ => {
                        self.dropped += 1;
                        start += 1;
                        continue;
                    }
                }
            }
            start += n.max(0) as usize;
        }
        self.entries.clear();
        Ok(())
    }

    fn build(&mut self, start: usize, end: usize) {
        self.iov.clear();
        self.ctrl.clear();
        self.hdrs.clear();
        for e in &self.entries[start..end] {
            self.iov.push([
                libc::iovec {
                    iov_base: e.head.as_ptr() as *mut libc::c_void,
                    iov_len: e.head_len as usize,
                },
                libc::iovec {
                    iov_base: e.payload.as_ptr() as *mut libc::c_void,
                    iov_len: e.payload.len(),
                },
            ]);
            let mut c: Ctrl = [0; 8];
            if let Some(src) = e.from {
                write_pktinfo(&mut c, src);
            }
            self.ctrl.push(c);
        }
        for (i, e) in self.entries[start..end].iter().enumerate() {
            // SAFETY: all-zero is a valid mmsghdr.
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name = (&e.to as *const libc::sockaddr_storage) as *mut libc::c_void;
            h.msg_hdr.msg_namelen = e.to_len;
            h.msg_hdr.msg_iov = self.iov[i].as_mut_ptr();
            h.msg_hdr.msg_iovlen = 2;
            if e.from.is_some() {
                h.msg_hdr.msg_control = self.ctrl[i].as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE is a pure size computation.
                h.msg_hdr.msg_controllen =
                    unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as usize;
            }
            self.hdrs.push(h);
        }
    }
}
