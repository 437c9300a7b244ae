//! Building replies (dhcproto `Message`s) and choosing where they go.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::Encodable;

use crate::config::{DhcpConfig, SubnetConfig};
use crate::request::ClientInfo;

pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;
pub const PXE_PORT: u16 = 4011;
/// BOOTP clients (and some PXE ROMs) want at least this many bytes.
const MIN_REPLY_LEN: usize = 300;

/// Where a reply is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// To a relay agent, server port.
    Relay(Ipv4Addr),
    /// To a client that has an address, client port.
    Unicast(Ipv4Addr),
    /// 255.255.255.255:68 on the serving interface.
    Broadcast,
    /// Back to the sender (PXE port 4011 requests).
    Source(SocketAddrV4),
}

impl Dest {
    pub fn socket_addr(&self) -> SocketAddrV4 {
        match *self {
            Dest::Relay(ip) => SocketAddrV4::new(ip, SERVER_PORT),
            Dest::Unicast(ip) => SocketAddrV4::new(ip, CLIENT_PORT),
            Dest::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
            Dest::Source(a) => a,
        }
    }
}

/// RFC 2131 §4.1: relay first, NAKs broadcast, then `ciaddr`, then the
/// broadcast bit. The last case (no address, no broadcast bit) asks for a
/// unicast to `yiaddr`/`chaddr`, which needs an ARP entry the client cannot
/// answer for yet; from a plain UDP socket we broadcast instead, which every
/// client accepts (the RFC allows it when unicast is impossible).
pub fn destination(info: &ClientInfo, kind: MessageType) -> Dest {
    if !info.giaddr.is_unspecified() {
        Dest::Relay(info.giaddr)
    } else if kind == MessageType::Nak {
        Dest::Broadcast
    } else if !info.ciaddr.is_unspecified() {
        Dest::Unicast(info.ciaddr)
    } else {
        Dest::Broadcast
    }
}

/// A reply skeleton: header fields copied from the request, type, server id.
pub fn skeleton(req: &Message, kind: MessageType, server: Ipv4Addr) -> Message {
    let mut m = Message::new_with_id(
        req.xid(),
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        req.giaddr(),
        &req.chaddr()[..6.min(req.chaddr().len())],
    );
    m.set_opcode(Opcode::BootReply);
    m.set_htype(req.htype());
    let mut flags = req.flags();
    if kind == MessageType::Nak && !req.giaddr().is_unspecified() {
        // RFC 2131 §4.3.2: the relay must broadcast a NAK.
        flags = flags.set_broadcast();
    }
    m.set_flags(if flags.broadcast() {
        Flags::default().set_broadcast()
    } else {
        Flags::default()
    });
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(kind));
    o.insert(DhcpOption::ServerIdentifier(server));
    m
}

/// Address options for a leased address.
pub fn add_lease_options(
    m: &mut Message,
    cfg: &DhcpConfig,
    subnet: &SubnetConfig,
    lease_secs: Option<u32>,
    hostname: Option<&str>,
) {
    let o = m.opts_mut();
    o.insert(DhcpOption::SubnetMask(subnet.subnet.mask()));
    o.insert(DhcpOption::BroadcastAddr(subnet.subnet.broadcast()));
    if let Some(r) = subnet.router {
        o.insert(DhcpOption::Router(vec![r]));
    }
    let dns = subnet.dns.as_ref().unwrap_or(&cfg.dns);
    if !dns.is_empty() {
        o.insert(DhcpOption::DomainNameServer(dns.clone()));
    }
    let domain = subnet.domain.as_deref().or(cfg.domain.as_deref());
    if let Some(d) = domain.filter(|d| d.len() < 256) {
        o.insert(DhcpOption::DomainName(d.to_owned()));
    }
    if let Some(h) = hostname.filter(|h| h.len() < 256) {
        o.insert(DhcpOption::Hostname(h.to_owned()));
    }
    if cfg.sntp {
        o.insert(DhcpOption::NtpServers(vec![cfg.server]));
    }
    if let Some(secs) = lease_secs {
        o.insert(DhcpOption::AddressLeaseTime(secs));
        o.insert(DhcpOption::Renewal(secs / 2));
        o.insert(DhcpOption::Rebinding(secs / 8 * 7));
    }
}

/// Boot information: `siaddr`, the BOOTP `file` field, options 66 and 67.
pub fn add_boot(m: &mut Message, server: Ipv4Addr, file: &str) {
    m.set_siaddr(server);
    // The header field holds 128 bytes including the NUL; long URLs go in
    // option 67 only.
    if file.len() < 128 {
        m.set_fname(file.as_bytes());
    }
    let o = m.opts_mut();
    o.insert(DhcpOption::TFTPServerName(server.to_string().into_bytes()));
    if file.len() < 256 {
        o.insert(DhcpOption::BootfileName(file.as_bytes().to_vec()));
    }
}

/// PXE clients expect option 60 echoed; the UUID (97) goes back unchanged.
pub fn add_pxe_echo(m: &mut Message, req: &Message) {
    if let Some(DhcpOption::ClientMachineIdentifier(u)) =
        req.opts().get(OptionCode::ClientMachineIdentifier)
    {
        let u = u.clone();
        m.opts_mut().insert(DhcpOption::ClientMachineIdentifier(u));
    }
    m.opts_mut()
        .insert(DhcpOption::ClassIdentifier(b"PXEClient".to_vec()));
}

/// PXE vendor options (43) for proxy replies: discovery control = 8, i.e.
/// "boot file is in this reply, download it directly, no boot server
/// discovery". Without it PXE ROMs ignore a proxy offer.
pub fn add_pxe_vendor(m: &mut Message) {
    m.opts_mut()
        .insert(DhcpOption::VendorExtensions(vec![6, 1, 8, 255]));
}

/// Wire bytes, padded to the BOOTP minimum.
pub fn encode(m: &Message) -> Option<Vec<u8>> {
    let mut v = m.to_vec().ok()?;
    if v.len() < MIN_REPLY_LEN {
        v.resize(MIN_REPLY_LEN, 0);
    }
    Some(v)
}
