//! The two network calls of the root stage: loopback up and the SNTP/report
//! UDP exchange.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// `SIOCSIFFLAGS` |= IFF_UP on an AF_INET datagram socket.
pub fn link_up(ifname: &str) -> io::Result<()> {
    if ifname.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    // SAFETY: ifreq is plain data, zeroed then filled; the fd is closed below.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in ifname.bytes().enumerate() {
            req.ifr_name[i] = b as libc::c_char;
        }
        let mut res = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if res == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            res = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let err = io::Error::last_os_error();
        libc::close(fd);
        if res != 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// Sends `request` to `server` and returns the first datagram back within
/// `timeout`.
pub fn udp_exchange(server: SocketAddr, request: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    sock.send(request)?;
    let mut buf = vec![0u8; 512];
    let n = sock.recv(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}
