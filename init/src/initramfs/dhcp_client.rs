//! A minimal DHCP client for the boot interface: DISCOVER, OFFER, REQUEST,
//! ACK (RFC 2131 §3.1) with the broadcast bit set, since the interface has
//! no address to receive unicast on. Wire format by `dhcproto` (as the
//! server); the exchange goes through [`Sys::dhcp_exchange`].

use crate::sys::Sys;
use crate::{info, warn};
use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::Decodable;
use std::net::Ipv4Addr;
use std::time::Duration;

/// What the server's ACK says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub addr: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub router: Option<Ipv4Addr>,
    pub hostname: Option<String>,
    /// `siaddr` (next server), else the server identifier.
    pub next_server: Option<Ipv4Addr>,
    /// Option 17, `[server:]path[,options]` as for `nfsroot=`.
    pub root_path: Option<String>,
    pub server_id: Option<Ipv4Addr>,
}

pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let parts: Vec<&str> = text.trim().split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    for (o, p) in out.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

/// A BOOTREQUEST (RFC 2131 §2) with the broadcast bit, then options.
/// Emitted by hand: every dhcproto constructor draws a random xid, and
/// getrandom blocks in an initramfs until the kernel's CRNG is ready (a
/// minute or more under emulation).
fn emit(xid: u32, mac: &[u8; 6], kind: u8, extra: &[(u8, [u8; 4])]) -> Vec<u8> {
    let mut p = vec![1u8, 1, 6, 0];
    p.extend_from_slice(&xid.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x80, 0]); // secs, flags = broadcast
    p.extend_from_slice(&[0; 16]); // ciaddr, yiaddr, siaddr, giaddr
    p.extend_from_slice(mac);
    p.extend_from_slice(&[0; 10 + 64 + 128]); // chaddr padding, sname, file
    p.extend_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(&[53, 1, kind]);
    // Subnet mask, router, hostname, root path.
    p.extend_from_slice(&[55, 4, 1, 3, 12, 17]);
    let class = b"diskless-init";
    p.extend_from_slice(&[60, class.len() as u8]);
    p.extend_from_slice(class);
    for (code, v) in extra {
        p.extend_from_slice(&[*code, 4]);
        p.extend_from_slice(v);
    }
    p.push(255);
    p
}

pub fn discover(xid: u32, mac: &[u8; 6]) -> Vec<u8> {
    emit(xid, mac, 1, &[])
}

pub fn request(xid: u32, mac: &[u8; 6], offer: &Lease) -> Vec<u8> {
    let mut extra = vec![(50, offer.addr.octets())];
    if let Some(s) = offer.server_id {
        extra.push((54, s.octets()));
    }
    emit(xid, mac, 3, &extra)
}

/// The reply's type and lease if it answers `xid` for `mac`; `None` for
/// anything else (other clients' replies, garbage).
pub fn parse_reply(bytes: &[u8], xid: u32, mac: &[u8; 6]) -> Option<(MessageType, Lease)> {
    let m = Message::from_bytes(bytes).ok()?;
    if m.opcode() != Opcode::BootReply || m.xid() != xid || m.chaddr().get(..6)? != mac {
        return None;
    }
    let o = m.opts();
    let kind = o.msg_type()?;
    let server_id = match o.get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(s)) => Some(*s),
        _ => None,
    };
    let lease = Lease {
        addr: m.yiaddr(),
        mask: match o.get(OptionCode::SubnetMask) {
            Some(DhcpOption::SubnetMask(s)) => *s,
            _ => Ipv4Addr::new(255, 255, 255, 0),
        },
        router: match o.get(OptionCode::Router) {
            Some(DhcpOption::Router(r)) => r.first().copied(),
            _ => None,
        },
        hostname: match o.get(OptionCode::Hostname) {
            Some(DhcpOption::Hostname(h)) if !h.is_empty() => Some(h.clone()),
            _ => None,
        },
        next_server: Some(m.siaddr())
            .filter(|s| !s.is_unspecified())
            .or(server_id),
        root_path: match o.get(OptionCode::RootPath) {
            Some(DhcpOption::RootPath(p)) if !p.is_empty() => Some(p.clone()),
            _ => None,
        },
        server_id,
    };
    Some((kind, lease))
}

/// Waits for a reply of `want` to `packet`, resending with a doubling
/// timeout (1, 2, 4 s …, at most 8 s) until `deadline` (monotonic).
fn exchange(
    sys: &mut dyn Sys,
    ifname: &str,
    packet: &[u8],
    xid: u32,
    mac: &[u8; 6],
    want: MessageType,
    deadline: Duration,
) -> Result<Lease, String> {
    let mut wait = Duration::from_secs(1);
    loop {
        let now = sys.monotonic();
        if now >= deadline {
            return Err(format!("no DHCP {want:?} on {ifname}"));
        }
        let t = wait.min(deadline - now);
        match sys.dhcp_exchange(ifname, packet, t) {
            Ok(bytes) => match parse_reply(&bytes, xid, mac) {
                Some((k, l)) if k == want => return Ok(l),
                Some((MessageType::Nak, _)) => return Err("the DHCP server sent a NAK".into()),
                _ => continue,
            },
            Err(e)
                if e.raw_os_error() == Some(libc::EAGAIN)
                    || e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => {
                warn!("DHCP on {ifname}: {e}");
                sys.sleep(wait);
            }
        }
        wait = (wait * 2).min(Duration::from_secs(8));
    }
}

/// Runs DISCOVER/REQUEST until an ACK or `timeout`.
pub fn obtain(sys: &mut dyn Sys, ifname: &str, timeout: Duration) -> Result<Lease, String> {
    let mac = sys
        .read_file(&format!("/sys/class/net/{ifname}/address"))
        .ok()
        .and_then(|t| parse_mac(&t))
        .ok_or_else(|| format!("cannot read the MAC address of {ifname}"))?;
    let deadline = sys.monotonic() + timeout;
    // Unique enough per boot and per NIC; no randomness source is needed.
    let xid =
        u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]) ^ (sys.monotonic().as_nanos() as u32);
    loop {
        let offer = exchange(sys, ifname, &discover(xid, &mac), xid, &mac, MessageType::Offer, deadline)
            .map_err(|e| format!("{e} within {} s: is the DHCP server running, and does its inventory list this MAC ({})?", timeout.as_secs(), fmt_mac(&mac)))?;
        info!("DHCP offer {} from {:?}", offer.addr, offer.server_id);
        match exchange(
            sys,
            ifname,
            &request(xid, &mac, &offer),
            xid,
            &mac,
            MessageType::Ack,
            deadline,
        ) {
            Ok(l) => return Ok(l),
            Err(e) if sys.monotonic() < deadline => warn!("{e}; starting over"),
            Err(e) => return Err(format!("{e} within {} s", timeout.as_secs())),
        }
    }
}

/// The test DHCP server, for the stage tests.
#[cfg(test)]
pub(crate) fn tests_server(m: &[u8]) -> Option<Vec<u8>> {
    tests::server(m)
}

fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, FakeSys};
    use dhcproto::Encodable;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    /// A server answering DISCOVER with OFFER and REQUEST with ACK.
    pub(crate) fn server(m: &[u8]) -> Option<Vec<u8>> {
        let req = Message::from_bytes(m).ok()?;
        assert!(req.flags().broadcast());
        let kind = match req.opts().msg_type()? {
            MessageType::Discover => MessageType::Offer,
            MessageType::Request => {
                assert!(matches!(
                    req.opts().get(OptionCode::RequestedIpAddress),
                    Some(DhcpOption::RequestedIpAddress(a)) if *a == Ipv4Addr::new(172, 16, 1, 10)
                ));
                MessageType::Ack
            }
            _ => return None,
        };
        let mut r = Message::default();
        r.set_opcode(Opcode::BootReply)
            .set_xid(req.xid())
            .set_chaddr(&req.chaddr()[..6])
            .set_yiaddr(Ipv4Addr::new(172, 16, 1, 10))
            .set_siaddr(Ipv4Addr::new(172, 16, 1, 1));
        let o = r.opts_mut();
        o.insert(DhcpOption::MessageType(kind));
        o.insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(172, 16, 1, 1)));
        o.insert(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)));
        o.insert(DhcpOption::Router(vec![Ipv4Addr::new(172, 16, 1, 254)]));
        o.insert(DhcpOption::Hostname("cartman".into()));
        o.insert(DhcpOption::RootPath("172.16.1.1:/srv/root".into()));
        r.to_vec().ok()
    }

    fn nic() -> FakeSys {
        FakeSys::new().with_file("/sys/class/net/eth0/address", "52:54:00:12:34:56\n")
    }

    #[test]
    fn discover_offer_request_ack() {
        let mut s = nic();
        s.dhcp_reply = Some(Box::new(|m, _| server(m)));
        let l = obtain(&mut s, "eth0", Duration::from_secs(10)).unwrap();
        assert_eq!(l.addr, Ipv4Addr::new(172, 16, 1, 10));
        assert_eq!(l.router, Some(Ipv4Addr::new(172, 16, 1, 254)));
        assert_eq!(l.hostname.as_deref(), Some("cartman"));
        assert_eq!(l.next_server, Some(Ipv4Addr::new(172, 16, 1, 1)));
        assert_eq!(l.root_path.as_deref(), Some("172.16.1.1:/srv/root"));
        assert_eq!(
            s.calls
                .iter()
                .filter(|c| matches!(c, Call::Dhcp(_)))
                .count(),
            2
        );
    }

    #[test]
    fn silence_retries_with_backoff_then_names_the_mac() {
        let mut s = nic();
        let e = obtain(&mut s, "eth0", Duration::from_secs(20)).unwrap_err();
        assert!(e.contains("52:54:00:12:34:56"), "{e}");
        // 1 + 2 + 4 + 8 + 5 s.
        assert_eq!(
            s.calls
                .iter()
                .filter(|c| matches!(c, Call::Dhcp(_)))
                .count(),
            5
        );
    }

    #[test]
    fn foreign_and_garbage_replies_are_ignored() {
        assert!(parse_reply(b"\x02garbage", 1, &MAC).is_none());
        let mut other = Message::default();
        other
            .set_opcode(Opcode::BootReply)
            .set_xid(7)
            .set_chaddr(&MAC);
        other
            .opts_mut()
            .insert(DhcpOption::MessageType(MessageType::Offer));
        let b = other.to_vec().unwrap();
        assert!(parse_reply(&b, 8, &MAC).is_none(), "other xid");
        assert!(
            parse_reply(&b, 7, &[1, 2, 3, 4, 5, 6]).is_none(),
            "other MAC"
        );
        assert!(parse_reply(&b, 7, &MAC).is_some());
    }

    #[test]
    fn requests_carry_the_mac_and_broadcast_bit() {
        let m = Message::from_bytes(&discover(9, &MAC)).unwrap();
        assert_eq!(
            (m.xid(), &m.chaddr()[..6], m.flags().broadcast()),
            (9, &MAC[..], true)
        );
        assert_eq!(m.opcode(), Opcode::BootRequest);
        assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
        let offer = parse_reply(&server(&discover(9, &MAC)).unwrap(), 9, &MAC)
            .unwrap()
            .1;
        let r = Message::from_bytes(&request(9, &MAC, &offer)).unwrap();
        assert_eq!(r.opts().msg_type(), Some(MessageType::Request));
        assert!(matches!(
            r.opts().get(OptionCode::ServerIdentifier),
            Some(DhcpOption::ServerIdentifier(a)) if *a == Ipv4Addr::new(172, 16, 1, 1)
        ));
    }

    #[test]
    fn unreadable_mac_is_an_error() {
        let mut s = FakeSys::new().with_file("/sys/class/net/eth0/address", "zz\n");
        assert!(obtain(&mut s, "eth0", Duration::from_secs(1))
            .unwrap_err()
            .contains("MAC"));
    }

    #[test]
    fn mac_text() {
        assert_eq!(parse_mac("52:54:00:12:34:56\n"), Some(MAC));
        assert_eq!(parse_mac("52:54:00:12:34"), None);
    }
}
