//! IPv6 router advertisements answering router solicitations, so iPXE stops
//! waiting ~13 s for IPv6 autoconfiguration, plus the periodic unsolicited
//! ones RFC 4861 §6.2.4 asks of an advertising interface (see
//! [`Schedule`]). Router lifetime 0 (we are not a default router) and no
//! prefix unless one is configured.
//!
//! Wire (RFC 4861 §4.1/4.2/4.6) is built here by hand — two small fixed
//! layouts; the kernel fills in the ICMPv6 checksum on raw sockets.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::Duration;

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

/// RFC 4861 §6.2.1 bounds of MaxRtrAdvInterval, seconds.
pub const MAX_INTERVAL_RANGE: std::ops::RangeInclusive<u32> = 4..=1800;
/// §10: the first few unsolicited advertisements come faster.
const MAX_INITIAL_RTR_ADVERTISEMENTS: u32 = 3;
const MAX_INITIAL_RTR_ADVERT_INTERVAL: Duration = Duration::from_secs(16);

/// When the next unsolicited advertisement is due (RFC 4861 §6.2.4): a
/// uniformly random interval in [MinRtrAdvInterval, MaxRtrAdvInterval]
/// (min = max/3, at least 3 s, as §6.2.1's defaults), capped at 16 s for
/// the first three. Pure: the caller owns the clock.
#[derive(Clone, Debug)]
pub struct Schedule {
    min_ms: u64,
    max_ms: u64,
    sent: u32,
    rng: u64,
}

impl Schedule {
    /// `max_secs` is clamped into [`MAX_INTERVAL_RANGE`]; `seed` varies
    /// the jitter between servers (any value but 0 works).
    pub fn new(max_secs: u32, seed: u64) -> Schedule {
        let max = u64::from(max_secs.clamp(*MAX_INTERVAL_RANGE.start(), *MAX_INTERVAL_RANGE.end()));
        let min = (max / 3).max(3);
        Schedule {
            min_ms: min * 1000,
            max_ms: max * 1000,
            sent: 0,
            rng: seed | 1,
        }
    }

    /// The wait before the next unsolicited advertisement (call once per
    /// advertisement sent).
    pub fn next_interval(&mut self) -> Duration {
        // xorshift64: jitter only, no security role.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let span = self.max_ms - self.min_ms + 1;
        let mut d = Duration::from_millis(self.min_ms + self.rng % span);
        if self.sent < MAX_INITIAL_RTR_ADVERTISEMENTS {
            d = d.min(MAX_INITIAL_RTR_ADVERT_INTERVAL);
        }
        self.sent = self.sent.saturating_add(1);
        d
    }
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

/// Answers router solicitations on `iface` until the future is dropped,
/// and multicasts unsolicited advertisements on the [`Schedule`] (the
/// first right at start).
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
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut schedule = Schedule::new(cfg.max_interval_secs, seed);
    let mut next = tokio::time::Instant::now();
    tracing::info!(%iface, "answering IPv6 router solicitations");
    tracing::info!(
        %iface,
        max_interval_secs = cfg.max_interval_secs,
        "sending periodic router advertisements"
    );
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    loop {
        let readable = tokio::select! {
            r = sock.readable() => Some(r?),
            _ = tokio::time::sleep_until(next) => None,
        };
        let Some(mut guard) = readable else {
            if let Err(e) = sock.get_ref().send_to(&ra, &all_nodes) {
                tracing::debug!("unsolicited router advertisement not sent: {e}");
            }
            next = tokio::time::Instant::now() + schedule.next_interval();
            continue;
        };
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
    fn schedule_follows_rfc4861_bounds() {
        let mut s = Schedule::new(600, 42);
        let first: Vec<Duration> = (0..3).map(|_| s.next_interval()).collect();
        for d in &first {
            assert!(
                *d >= Duration::from_secs(16) && *d <= Duration::from_secs(16),
                "{d:?}"
            );
        }
        for _ in 0..1000 {
            let d = s.next_interval();
            assert!(
                d >= Duration::from_secs(200) && d <= Duration::from_secs(600),
                "{d:?}"
            );
        }
        // Out-of-range settings are clamped: 4..=1800 s, min at least 3 s.
        let mut short = Schedule::new(1, 7);
        for _ in 0..1000 {
            let d = short.next_interval();
            assert!(
                d >= Duration::from_secs(3) && d <= Duration::from_secs(4),
                "{d:?}"
            );
        }
        let mut long = Schedule::new(100_000, 9);
        for _ in 0..3 {
            long.next_interval();
        }
        for _ in 0..1000 {
            let d = long.next_interval();
            assert!(
                d >= Duration::from_secs(600) && d <= Duration::from_secs(1800),
                "{d:?}"
            );
        }
        // Jitter: not every interval is the same.
        let mut j = Schedule::new(30, 5);
        let v: std::collections::HashSet<Duration> = (0..50).map(|_| j.next_interval()).collect();
        assert!(v.len() > 10);
    }

    #[test]
    fn solicitation_recognised() {
        assert!(is_solicitation(&[133, 0, 0, 0, 0, 0, 0, 0]));
        assert!(!is_solicitation(&[133, 0, 0]));
        assert!(!is_solicitation(&[134, 0, 0, 0, 0, 0, 0, 0]));
    }
}
