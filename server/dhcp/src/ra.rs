//! IPv6 router advertisements answering router solicitations, so iPXE stops
//! waiting ~13 s for IPv6 autoconfiguration. Router lifetime 0 (we are not
//! a default router) and no prefix unless one is configured.
//!
//! Wire (RFC 4861 §4.1/4.2/4.6) is built here by hand — two small fixed
//! layouts; the kernel fills in the ICMPv6 checksum on raw sockets.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use crate::config::RaConfig;

pub const ROUTER_SOLICITATION: u8 = 133;
pub const ROUTER_ADVERTISEMENT: u8 = 134;

/// A router solicitation: type 133, code 0, at least 8 bytes.
pub fn is_solicitation(icmp: &[u8]) -> bool {
    icmp.len() >= 8 && icmp[0] == ROUTER_SOLICITATION && icmp[1] == 0
}

/// The advertisement body (ICMPv6 message, checksum left 0).
pub fn advertisement(mac: Option<[u8; 6]>, prefix: Option<(Ipv6Addr, u8)>) -> Vec<u8> {
    let mut v = vec![
        ROUTER_ADVERTISEMENT,
        0,
        0,
        0,  // checksum (kernel)
        64, // cur hop limit
        0,  // M/O flags: no DHCPv6
        0,
        0, // router lifetime 0: not a default router
        0,
        0,
        0,
        0, // reachable time: unspecified
        0,
        0,
        0,
        0, // retrans timer: unspecified
    ];
    if let Some(m) = mac {
        v.extend_from_slice(&[1, 1]);
        v.extend_from_slice(&m);
    }
    if let Some((p, len)) = prefix {
        v.extend_from_slice(&[3, 4, len, 0xc0]); // on-link + autonomous
        v.extend_from_slice(&86_400u32.to_be_bytes()); // valid
        v.extend_from_slice(&14_400u32.to_be_bytes()); // preferred
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&p.octets());
    }
    v
}

/// The interface's MAC from sysfs, for the source link-layer option.
fn interface_mac(iface: &str) -> Option<[u8; 6]> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{iface}/address")).ok()?;
    let m: diskless_common::inventory::Mac = s.trim().parse().ok()?;
    Some(m.0)
}

fn open(iface: &str) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    s.bind_device(Some(iface.as_bytes()))?;
    // RFC 4861: RAs are sent, and RSs accepted, only with hop limit 255.
    s.set_multicast_hops_v6(255)?;
    s.set_unicast_hops_v6(255)?;
    // Pass only router solicitations up to us (ICMP6_FILTER, option 1).
    let mut filter = [u32::MAX; 8];
    filter[(ROUTER_SOLICITATION >> 5) as usize] &= !(1u32 << (ROUTER_SOLICITATION & 31));
    // SAFETY: `filter` is a valid 32-byte icmp6_filter for the call's duration.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_ICMPV6,
            1,
            filter.as_ptr().cast(),
            std::mem::size_of_val(&filter) as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!("ICMP6_FILTER not set: {}", io::Error::last_os_error());
    }
    let idx = nix::net::if_::if_nametoindex(iface).map_err(io::Error::from)?;
    s.set_multicast_if_v6(idx)?;
    // Solicitations go to all-routers (ff02::2), which a host that does not
    // forward never joins on its own.
    s.join_multicast_v6(&Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2), idx)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Answers router solicitations on `iface` until the future is dropped;
/// also sends one unsolicited advertisement at start.
pub async fn run(iface: &str, cfg: &RaConfig) -> io::Result<()> {
    // SAFETY: the AsyncFd owns the socket, so the fd stays open and is not
    // reused while registered.
    let sock = unsafe { AsyncFd::register(open(iface)?) }.map_err(|e| e.into_parts().1)?;
    let ra = advertisement(interface_mac(iface), cfg.prefix);
    let all_nodes = SockAddr::from(SocketAddrV6::new(
        Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
        0,
        0,
        0,
    ));
    if let Err(e) = sock.get_ref().send_to(&ra, &all_nodes) {
        tracing::debug!("initial router advertisement not sent: {e}");
    }
    tracing::info!(%iface, "answering IPv6 router solicitations");
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    loop {
        let mut guard = sock.readable().await?;
        let res = guard.try_io(|s| s.get_ref().recv_from(&mut buf));
        let (n, from) = match res {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::debug!("RA socket receive error: {e}");
                continue;
            }
            Err(_would_block) => continue,
        };
        // SAFETY: recv_from initialised the first `n` bytes.
        let pkt: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n) };
        if !is_solicitation(pkt) {
            continue;
        }
        // Unicast to a soliciter with an address, multicast for `::`.
        let to = match from.as_socket_ipv6() {
            Some(a) if !a.ip().is_unspecified() => SockAddr::from(a),
            _ => all_nodes.clone(),
        };
        if let Err(e) = sock.get_ref().send_to(&ra, &to) {
            tracing::debug!("router advertisement not sent: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertisement_bytes() {
        let ra = advertisement(Some([2, 0, 0, 0, 0, 1]), None);
        assert_eq!(
            ra,
            [134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 1]
        );
        let with_prefix = advertisement(None, Some(("fd00:1::".parse().unwrap(), 64)));
        assert_eq!(with_prefix.len(), 16 + 32);
        assert_eq!(&with_prefix[16..20], &[3, 4, 64, 0xc0]);
        assert_eq!(&with_prefix[32..34], &[0xfd, 0x00]);
    }

    #[test]
    fn solicitation_recognised() {
        assert!(is_solicitation(&[133, 0, 0, 0, 0, 0, 0, 0]));
        assert!(!is_solicitation(&[133, 0, 0]));
        assert!(!is_solicitation(&[134, 0, 0, 0, 0, 0, 0, 0]));
    }
}
