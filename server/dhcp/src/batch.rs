//! Batched UDP for the DHCP hot path: one `recvmmsg` takes every request
//! already queued (blocking only for the first), one `sendmmsg` sends all
//! the replies of a batch. Under load this turns two system calls per
//! packet into two per batch; at low rates a batch is one packet and
//! nothing changes.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Largest DHCP message we accept (Ethernet MTU).
pub const PACKET: usize = 1500;

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn from_sockaddr(s: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
        u16::from_be(s.sin_port),
    )
}

/// Preallocated buffers for up to `cap` datagrams per `recvmmsg`.
pub struct RecvBatch {
    bufs: Vec<[u8; PACKET]>,
    addrs: Vec<libc::sockaddr_in>,
    lens: Vec<usize>,
    count: usize,
}

impl RecvBatch {
    pub fn new(cap: usize) -> RecvBatch {
        let cap = cap.max(1);
        RecvBatch {
            bufs: vec![[0; PACKET]; cap],
            addrs: vec![sockaddr(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); cap],
            lens: vec![0; cap],
            count: 0,
        }
    }

    /// Blocks for one datagram, then takes whatever else is queued.
    /// Returns how many arrived.
    pub fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        let cap = self.bufs.len();
        let mut iov: Vec<libc::iovec> = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: PACKET,
            })
            .collect();
        // SAFETY: mmsghdr is plain data; all-zero is a valid value.
        let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; cap];
        for (i, m) in msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_in).cast();
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            m.msg_hdr.msg_iov = &mut iov[i];
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every pointer in `msgs` refers to `iov`, `self.bufs` or
        // `self.addrs`, all alive and unmoved for the call; `cap` entries.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                cap as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.count = 0;
            return Err(io::Error::last_os_error());
        }
        self.count = n as usize;
        for (len, m) in self.lens.iter_mut().zip(&msgs).take(self.count) {
            *len = m.msg_len as usize;
        }
        Ok(self.count)
    }

    /// The datagrams of the last `recv` with their IPv4 sources.
    pub fn packets(&self) -> impl Iterator<Item = (&[u8], SocketAddrV4)> {
        (0..self.count).map(|i| (&self.bufs[i][..self.lens[i]], from_sockaddr(&self.addrs[i])))
    }
}

/// Sends every reply, as few `sendmmsg` calls as the kernel allows. A
/// reply the kernel refuses (unreachable relay, full buffer) is logged
/// and skipped; the rest still go. Returns how many were sent.
pub fn send_all(fd: BorrowedFd<'_>, replies: &[(Vec<u8>, SocketAddrV4)]) -> usize {
    let mut sent = 0;
    let mut start = 0;
    while start < replies.len() {
        let chunk = &replies[start..];
        let mut addrs: Vec<libc::sockaddr_in> = chunk.iter().map(|(_, a)| sockaddr(*a)).collect();
        let mut iov: Vec<libc::iovec> = chunk
            .iter()
            .map(|(b, _)| libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: mmsghdr is plain data; all-zero is a valid value.
        let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; chunk.len()];
        for (i, m) in msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_in).cast();
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            m.msg_hdr.msg_iov = &mut iov[i];
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the pointers refer to `addrs`, `iov` and the reply
        // buffers, alive for the call; the kernel only reads them.
        let n = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                msgs.len() as libc::c_uint,
                0,
            )
        };
        if n > 0 {
            sent += n as usize;
            start += n as usize;
            continue;
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // The first message failed: skip it, carry on with the rest.
        tracing::debug!(to = %chunk[0].1, "DHCP send failed: {e}");
        start += 1;
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    #[test]
    fn batches_round_trip_on_loopback() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = match rx.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let replies: Vec<(Vec<u8>, SocketAddrV4)> =
            (0..5u8).map(|i| (vec![i; 10 + i as usize], to)).collect();
        assert_eq!(send_all(tx.as_fd(), &replies), 5);
        let mut batch = RecvBatch::new(8);
        let mut got = Vec::new();
        while got.len() < 5 {
            batch.recv(rx.as_fd()).unwrap();
            got.extend(batch.packets().map(|(p, from)| (p.to_vec(), from)));
        }
        let from = match tx.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        for (i, (p, f)) in got.iter().enumerate() {
            assert_eq!(p, &vec![i as u8; 10 + i]);
            assert_eq!(*f, from);
        }
        // A reply to an address the kernel refuses is skipped, not fatal.
        let bad = vec![
            (vec![1], SocketAddrV4::new(Ipv4Addr::new(0, 0, 0, 0), 0)),
            (vec![2], to),
        ];
        assert_eq!(send_all(tx.as_fd(), &bad), 1);
    }
}
