//! Batched UDP: `recvmmsg`/`sendmmsg` so one system call moves many
//! datagrams. A boot storm is hundreds of lockstep transfers, each a
//! 4-byte ACK in and one DATA out; per-datagram syscalls (and the wakeups
//! between them) were most of the server's cost.
//!
//! Optional `IP_PKTINFO`: a receive reports the address a datagram was
//! sent *to*, a send can choose its source address. The benchmark client
//! uses that to simulate hundreds of clients (one loopback address each)
//! on a single socket.
//!
//! The only `unsafe` in the crate lives here: raw `mmsghdr` arrays whose
//! pointers refer to buffers owned by the same struct (heap storage that
//! never reallocates after construction).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};

use bytes::Bytes;

/// Room for one `in_pktinfo` control message, 8-byte aligned.
type Ctrl = [u64; 8];

/// Most datagrams per syscall (the kernel's UIO_MAXIOV cap on `vlen`).
const MAX_VLEN: usize = 1024;

/// Asks the kernel for `IP_PKTINFO` on receive (IPv4 sockets).
pub fn enable_pktinfo(sock: &impl AsFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    setsockopt(sock, libc::IPPROTO_IP, libc::IP_PKTINFO, one)
}

/// Sets DF on every datagram (`IP_PMTUDISC_DO`). The kernel then skips
/// its hashed IP-ID generator, a measurable per-datagram cost on
/// unconnected sockets; sends larger than the path MTU fail with
/// `EMSGSIZE` instead of being fragmented, so use it only where datagrams
/// are known to fit (ACKs, the benchmark's loopback client).
pub fn set_dont_fragment(sock: &impl AsFd) -> io::Result<()> {
    setsockopt(
        sock,
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_DO,
    )
}

/// Grows a socket buffer, past `rmem_max`/`wmem_max` when we are root
/// (the `*FORCE` options), else as far as the limit allows.
pub fn set_buffer(sock: &impl AsFd, send: bool, bytes: usize) {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    let (force, plain) = if send {
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)
    } else {
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF)
    };
    if setsockopt(sock, libc::SOL_SOCKET, force, v).is_err() {
        let _ = setsockopt(sock, libc::SOL_SOCKET, plain, v);
    }
}

fn setsockopt(sock: &impl AsFd, level: i32, name: i32, v: libc::c_int) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to a live c_int of the given size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_fd().as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `SocketAddr` → `sockaddr_storage` + length.
pub fn to_raw(a: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut s: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe {
                (&mut s as *mut libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe {
                (&mut s as *mut libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (s, len as libc::socklen_t)
}

/// `sockaddr_storage` → `SocketAddr` (IPv4 and IPv6 only).
pub fn from_raw(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

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

fn pktinfo_dst(m: &libc::msghdr) -> Option<Ipv4Addr> {
    if m.msg_controllen == 0 {
        return None;
    }
    // SAFETY: the kernel filled msg_control up to msg_controllen; the CMSG
    // macros stay within it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(m);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let info = libc::CMSG_DATA(c)
                    .cast::<libc::in_pktinfo>()
                    .read_unaligned();
                return Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
            }
            c = libc::CMSG_NXTHDR(m, c);
        }
    }
    None
}

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

fn write_pktinfo(c: &mut Ctrl, src: Ipv4Addr) {
    // SAFETY: Ctrl is 64 bytes, 8-aligned: room for one cmsghdr plus an
    // in_pktinfo (CMSG_SPACE(12) = 32 on 64-bit Linux).
    unsafe {
        let mut m: libc::msghdr = zeroed();
        m.msg_control = c.as_mut_ptr().cast();
        m.msg_controllen = libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as usize;
        let cm = libc::CMSG_FIRSTHDR(&m);
        (*cm).cmsg_level = libc::IPPROTO_IP;
        (*cm).cmsg_type = libc::IP_PKTINFO;
        (*cm).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(src).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        libc::CMSG_DATA(cm)
            .cast::<libc::in_pktinfo>()
            .write_unaligned(info);
    }
}

/// Blocks until the socket can take another datagram.
pub fn wait_writable(sock: &impl AsFd) -> io::Result<()> {
    wait(sock, libc::POLLOUT, -1).map(|_| ())
}

/// Waits up to `timeout_ms` (-1: forever) for `events` on one socket.
fn wait(sock: &impl AsFd, events: libc::c_short, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: sock.as_fd().as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    match r {
        r if r < 0 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// Waits until any of `fds` (at most 8) is readable or `timeout_ms`
/// passes (-1: forever); returns the readable ones as bits (`1 << index`).
pub fn poll_readable(fds: &[std::os::fd::BorrowedFd<'_>], timeout_ms: i32) -> io::Result<u8> {
    let mut p = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 8];
    let n = fds.len().min(8);
    for (slot, f) in p.iter_mut().zip(&fds[..n]) {
        slot.fd = f.as_raw_fd();
        slot.events = libc::POLLIN;
    }
    // SAFETY: `n` valid pollfds on the stack.
    let r = unsafe { libc::poll(p.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(p[..n]
        .iter()
        .enumerate()
        .filter(|(_, q)| q.revents != 0)
        .fold(0u8, |acc, (i, _)| acc | (1 << i)))
}

#[cfg(test)]
mod tests;
