//! Socket options and readiness waits for the batched sockets.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd};

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
