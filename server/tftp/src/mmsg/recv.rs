//! [`RecvBatch`]: preallocated buffers for one `recvmmsg`.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use super::raw::{from_raw, pktinfo_dst};
use super::{Ctrl, MAX_VLEN};

/// One received datagram of a [`RecvBatch`].
pub struct Datagram<'a> {
    pub data: &'a [u8],
    pub from: SocketAddr,
    /// Where it was sent to (with `IP_PKTINFO` enabled on the socket).
    pub to: Option<Ipv4Addr>,
}

/// Preallocated buffers for `recvmmsg`.
pub struct RecvBatch {
    bufs: Vec<u8>,
    slot: usize,
    iov: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_storage>,
    ctrl: Vec<Ctrl>,
    hdrs: Vec<libc::mmsghdr>,
    filled: usize,
}

// SAFETY: the raw pointers refer only to the struct's own heap buffers.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// `slots` datagrams of up to `slot_len` bytes (longer ones are cut).
    pub fn new(slots: usize, slot_len: usize) -> RecvBatch {
        let slots = slots.clamp(1, MAX_VLEN);
        let mut b = RecvBatch {
            bufs: vec![0u8; slots * slot_len],
            slot: slot_len,
            iov: Vec::with_capacity(slots),
            // SAFETY: all-zero is valid for these C structs.
            addrs: vec![unsafe { zeroed() }; slots],
            ctrl: vec![[0u64; 8]; slots],
            hdrs: Vec::with_capacity(slots),
            filled: 0,
        };
        for i in 0..slots {
            b.iov.push(libc::iovec {
                iov_base: b.bufs[i * slot_len..].as_mut_ptr().cast(),
                iov_len: slot_len,
            });
        }
        for i in 0..slots {
            // SAFETY: all-zero is a valid mmsghdr; pointers set below.
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name = (&mut b.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_iov = &mut b.iov[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = b.ctrl[i].as_mut_ptr().cast();
            b.hdrs.push(h);
        }
        b
    }

    /// Receives what is queued without blocking; `Ok(0)` when nothing is.
    pub fn recv(&mut self, sock: &impl AsFd) -> io::Result<usize> {
        for h in &mut self.hdrs {
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_controllen = size_of::<Ctrl>();
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_fd().as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        self.filled = 0;
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        self.filled = n as usize;
        Ok(self.filled)
    }

    pub fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// Datagram `i` of the last `recv` (`i < ` its result).
    pub fn get(&self, i: usize) -> Option<Datagram<'_>> {
        if i >= self.filled {
            return None;
        }
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(self.slot);
        let from = from_raw(&self.addrs[i])?;
        Some(Datagram {
            data: &self.bufs[i * self.slot..i * self.slot + len],
            from,
            to: pktinfo_dst(&h.msg_hdr),
        })
    }
}
