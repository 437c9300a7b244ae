//! proxyDHCP (PXE spec §2.2.x, what dnsmasq's `dhcp-range=…,proxy` does):
//! the site's DHCP server hands out addresses; we answer PXE clients with
//! boot information only — `yiaddr` 0, option 60 `PXEClient`, option 43 —
//! on port 67 (offers) and port 4011 (boot-server requests).

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{Message, MessageType};

use diskless_common::inventory::Node;

use crate::events::Kind;
use crate::policy::{Dhcp, Outcome};
use crate::reply::{self, Dest};
use crate::request::ClientInfo;

fn boot_reply(
    d: &Dhcp,
    msg: &Message,
    info: &ClientInfo,
    node: &Node,
    kind: MessageType,
) -> Option<(Message, String)> {
    let mut m = reply::skeleton(msg, kind, d.cfg.server);
    m.set_yiaddr(Ipv4Addr::UNSPECIFIED);
    m.set_ciaddr(info.ciaddr);
    let file = d.add_boot(&mut m, info, Some(node))?;
    reply::add_pxe_echo(&mut m, msg);
    reply::add_pxe_vendor(&mut m);
    Some((m, file))
}

/// Port 67 in proxy mode: a proxy OFFER to PXE DISCOVERs from known nodes.
pub fn answer_proxy(
    d: &mut Dhcp,
    msg: &Message,
    info: &ClientInfo,
    node: Option<&Node>,
    now: u64,
) -> Outcome {
    let Some(node) = node else {
        return Outcome::default();
    };
    if !info.pxe || info.kind != MessageType::Discover {
        // Non-PXE traffic and address REQUESTs belong to the site server.
        return Outcome::default();
    }
    let Some((m, file)) = boot_reply(d, msg, info, node, MessageType::Offer) else {
        return Outcome::default();
    };
    d.events.record(
        info.mac,
        Some(&node.name),
        Kind::Offered,
        None,
        Some(&file),
        now,
    );
    tracing::info!(node = %node.name, %file, "proxyDHCP offer");
    Outcome {
        reply: reply::encode(&m).map(|b| (b, reply::destination(info, MessageType::Offer))),
        persist: None,
    }
}

/// Port 4011: a PXE client asks the boot server for its file; answer with
/// an ACK sent straight back to where the request came from.
pub fn answer_boot_server(
    d: &mut Dhcp,
    msg: &Message,
    info: &ClientInfo,
    node: Option<&Node>,
    src: SocketAddrV4,
    now: u64,
) -> Outcome {
    let Some(node) = node else {
        return Outcome::default();
    };
    if !info.pxe || !matches!(info.kind, MessageType::Request | MessageType::Inform) {
        return Outcome::default();
    }
    let Some((m, file)) = boot_reply(d, msg, info, node, MessageType::Ack) else {
        return Outcome::default();
    };
    d.events.record(
        info.mac,
        Some(&node.name),
        Kind::Acked,
        None,
        Some(&file),
        now,
    );
    tracing::info!(node = %node.name, %file, "PXE boot-server ACK");
    let dest = if src.ip().is_unspecified() {
        Dest::Broadcast
    } else {
        Dest::Source(src)
    };
    Outcome {
        reply: reply::encode(&m).map(|b| (b, dest)),
        persist: None,
    }
}
