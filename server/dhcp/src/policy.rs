//! What to answer: the DHCP state machine. Bytes and time in, a reply (and
//! maybe a journal record that must be durable first) out. No sockets.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use dhcproto::v4::{Message, MessageType};

use diskless_common::inventory::{DhcpMode, Inventory, Mac, Node};

use crate::config::{ConfigError, DhcpConfig, SubnetConfig};
use crate::events::{Events, Kind};
use crate::journal::Record;
use crate::pool::Pool;
use crate::reply::{self, Dest};
use crate::request::{self, ClientInfo, Firmware};

/// Which socket a packet came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// 67: ordinary DHCP (and proxyDHCP offers).
    Dhcp,
    /// 4011: PXE boot-server requests.
    Pxe,
}

/// The decision for one packet.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub reply: Option<(Vec<u8>, Dest)>,
    /// Must be durable before `reply` is sent.
    pub persist: Option<Record>,
}

impl Outcome {
    fn send(msg: &Message, dest: Dest) -> Outcome {
        Outcome {
            reply: reply::encode(msg).map(|b| (b, dest)),
            persist: None,
        }
    }
}

/// Unknown MACs logged at most once each, up to this many.
const MAX_WARNED: usize = 4096;

pub struct Dhcp {
    pub(crate) cfg: DhcpConfig,
    pub(crate) inv: Arc<Inventory>,
    pool: Pool,
    pub events: Arc<Events>,
    warned: HashSet<Mac>,
}

impl Dhcp {
    /// `replayed`: the lease journal's records, oldest first.
    pub fn new(
        cfg: DhcpConfig,
        inv: Arc<Inventory>,
        replayed: &[Record],
    ) -> Result<Dhcp, ConfigError> {
        cfg.validate(&inv)?;
        let reserved = inv.nodes.iter().map(|n| n.ip).chain([cfg.server]);
        let mut pool = Pool::new(reserved);
        for r in replayed {
            pool.apply(r);
        }
        Ok(Dhcp {
            cfg,
            inv,
            pool,
            events: Arc::default(),
            warned: HashSet::new(),
        })
    }

    pub fn config(&self) -> &DhcpConfig {
        &self.cfg
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn inventory(&self) -> &Arc<Inventory> {
        &self.inv
    }

    /// Swap in a reloaded inventory (SIGHUP); pool leases are kept.
    pub fn set_inventory(&mut self, inv: Arc<Inventory>) {
        self.inv = inv;
    }

    pub fn handle(&mut self, bytes: &[u8], port: Port, src: SocketAddrV4, now: u64) -> Outcome {
        let parsed =
            request::decode(bytes).and_then(|m| ClientInfo::from_message(&m).map(|i| (m, i)));
        let (msg, info) = match parsed {
            Ok(x) => x,
            Err(e) => {
                Events::bump(&self.events.counters.malformed);
                tracing::debug!(%src, "dropped malformed DHCP packet: {e}");
                return Outcome::default();
            }
        };
        let inv = Arc::clone(&self.inv);
        let node = inv.node_by_mac(&info.mac);
        self.events.record(
            info.mac,
            node.map(|n| n.name.as_str()),
            Kind::Seen,
            None,
            None,
            now,
        );
        match (port, self.cfg.mode) {
            (_, DhcpMode::Off) => Outcome::default(),
            (Port::Pxe, _) => crate::proxy::answer_boot_server(self, &msg, &info, node, src, now),
            (Port::Dhcp, DhcpMode::Proxy) => {
                crate::proxy::answer_proxy(self, &msg, &info, node, now)
            }
            (Port::Dhcp, DhcpMode::Authoritative) => self.authoritative(&msg, &info, node, now),
        }
    }

    fn ignore_unknown(&mut self, info: &ClientInfo) -> Outcome {
        Events::bump(&self.events.counters.ignored_unknown);
        if self.warned.len() < MAX_WARNED && self.warned.insert(info.mac) {
            tracing::info!(mac = %info.mac, "ignoring DHCP from a MAC not in the inventory (no pool configured); logged once");
        }
        Outcome::default()
    }

    /// The boot file for this client's firmware, or `None` if the inventory
    /// has no loader for it.
    pub(crate) fn boot_file(&self, info: &ClientInfo, node: Option<&Node>) -> Option<String> {
        match info.firmware {
            Firmware::Bios => Some(self.cfg.loader_bios.clone()),
            Firmware::Uefi => self.cfg.loader_uefi.clone(),
            // Without scripts iPXE is booted like the firmware it runs on.
            Firmware::Ipxe if !self.cfg.ipxe_scripts => match info.arch {
                None | Some(0) => Some(self.cfg.loader_bios.clone()),
                Some(_) => self.cfg.loader_uefi.clone(),
            },
            Firmware::Ipxe => node.map(|n| {
                self.cfg
                    .ipxe_url
                    .replace("{name}", &n.name)
                    .replace("{mac}", &n.mac.to_string().replace(':', "-"))
            }),
        }
    }

    /// Adds boot information for PXE/iPXE clients (or anyone the inventory
    /// knows) and records which file we named.
    pub(crate) fn add_boot(
        &self,
        m: &mut Message,
        info: &ClientInfo,
        node: Option<&Node>,
    ) -> Option<String> {
        let file = self.boot_file(info, node);
        match &file {
            Some(f) => reply::add_boot(m, self.cfg.server, f),
            None => {
                tracing::warn!(mac = %info.mac, arch = ?info.arch, "no boot loader for this firmware in the inventory (set loader_uefi?)")
            }
        }
        file
    }

    fn authoritative(
        &mut self,
        msg: &Message,
        info: &ClientInfo,
        node: Option<&Node>,
        now: u64,
    ) -> Outcome {
        let Some(subnet) = self.cfg.subnet_for(info.giaddr).cloned() else {
            Events::bump(&self.events.counters.not_for_us);
            tracing::debug!(giaddr = %info.giaddr, "relayed request from a subnet we do not serve");
            return Outcome::default();
        };
        let node = node.filter(|n| {
            let ok = subnet.subnet.contains(n.ip);
            if !ok {
                tracing::warn!(node = %n.name, giaddr = %info.giaddr, "node asked through a relay whose subnet does not hold its address");
            }
            ok
        });
        if node.is_none() && subnet.pool.is_none() {
            return self.ignore_unknown(info);
        }
        match info.kind {
            MessageType::Discover => self.discover(msg, info, node, &subnet, now),
            MessageType::Request => self.request(msg, info, node, &subnet, now),
            MessageType::Inform => self.inform(msg, info, node, &subnet, now),
            MessageType::Decline => {
                let ip = info.requested_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.events.record(
                    info.mac,
                    node.map(|n| n.name.as_str()),
                    Kind::Declined,
                    Some(ip),
                    None,
                    now,
                );
                if let Some(n) = node {
                    tracing::warn!(node = %n.name, %ip, "node declined its address: another host uses it");
                    return Outcome::default();
                }
                Outcome {
                    reply: None,
                    persist: self.pool.decline(info.mac, ip, now),
                }
            }
            MessageType::Release => {
                self.events.record(
                    info.mac,
                    node.map(|n| n.name.as_str()),
                    Kind::Released,
                    Some(info.ciaddr),
                    None,
                    now,
                );
                if node.is_some() {
                    return Outcome::default();
                }
                Outcome {
                    reply: None,
                    persist: self.pool.release(info.mac, info.ciaddr),
                }
            }
            _ => Outcome::default(),
        }
    }

    fn answer(
        &self,
        msg: &Message,
        info: &ClientInfo,
        node: Option<&Node>,
        subnet: &SubnetConfig,
        kind: MessageType,
        ip: Ipv4Addr,
    ) -> (Message, Option<String>) {
        let mut m = reply::skeleton(msg, kind, self.cfg.server);
        m.set_yiaddr(ip);
        let (secs, host) = match node {
            Some(n) => (self.cfg.static_lease_secs, Some(n.name.as_str())),
            None => (self.cfg.pool_lease_secs, None),
        };
        reply::add_lease_options(&mut m, &self.cfg, subnet, Some(secs), host);
        let file = if node.is_some() || info.pxe {
            self.add_boot(&mut m, info, node)
        } else {
            None
        };
        if info.pxe {
            reply::add_pxe_echo(&mut m, msg);
        }
        (m, file)
    }

    fn discover(
        &mut self,
        msg: &Message,
        info: &ClientInfo,
        node: Option<&Node>,
        subnet: &SubnetConfig,
        now: u64,
    ) -> Outcome {
        let ip = match (node, subnet.pool) {
            (Some(n), _) => n.ip,
            (None, Some(range)) => {
                match self.pool.offer(info.mac, &range, info.requested_ip, now) {
                    Some(ip) => ip,
                    None => {
                        tracing::warn!(mac = %info.mac, "pool {}-{} is exhausted", range.start, range.end);
                        return Outcome::default();
                    }
                }
            }
            (None, None) => return Outcome::default(),
        };
        let (m, file) = self.answer(msg, info, node, subnet, MessageType::Offer, ip);
        self.events.record(
            info.mac,
            node.map(|n| n.name.as_str()),
            Kind::Offered,
            Some(ip),
            file.as_deref(),
            now,
        );
        Outcome::send(&m, reply::destination(info, MessageType::Offer))
    }

    fn nak(
        &self,
        msg: &Message,
        info: &ClientInfo,
        node: Option<&Node>,
        why: &str,
        now: u64,
    ) -> Outcome {
        tracing::info!(mac = %info.mac, requested = ?info.requested_ip, "NAK: {why}");
        self.events.record(
            info.mac,
            node.map(|n| n.name.as_str()),
            Kind::Nacked,
            info.requested_ip,
            None,
            now,
        );
        let m = reply::skeleton(msg, MessageType::Nak, self.cfg.server);
        Outcome::send(&m, reply::destination(info, MessageType::Nak))
    }

    fn request(
        &mut self,
        msg: &Message,
        info: &ClientInfo,
        node: Option<&Node>,
        subnet: &SubnetConfig,
        now: u64,
    ) -> Outcome {
        if info.server_id.is_some_and(|s| s != self.cfg.server) {
            // SELECTING another server's offer.
            self.pool.withdraw_offer(&info.mac);
            return Outcome::default();
        }
        let ours = info.server_id.is_some();
        let Some(ip) = info
            .requested_ip
            .or((!info.ciaddr.is_unspecified()).then_some(info.ciaddr))
        else {
            return Outcome::default();
        };
        if !subnet.subnet.contains(ip) {
            return self.nak(msg, info, node, "address is on the wrong network", now);
        }
        let (persist, name) = match (node, subnet.pool) {
            (Some(n), _) if n.ip == ip => (None, Some(n.name.as_str())),
            (Some(n), _) => {
                let why = format!("{} is not {}'s address ({})", ip, n.name, n.ip);
                return self.nak(msg, info, node, &why, now);
            }
            (None, Some(range)) => {
                match self
                    .pool
                    .request(info.mac, ip, &range, self.cfg.pool_lease_secs, now)
                {
                    Some(rec) => (Some(rec), None),
                    None if ours || range.contains(ip) => {
                        return self.nak(msg, info, node, "address not available", now)
                    }
                    None => return Outcome::default(),
                }
            }
            (None, None) => return Outcome::default(),
        };
        let (m, file) = self.answer(msg, info, node, subnet, MessageType::Ack, ip);
        self.events
            .record(info.mac, name, Kind::Acked, Some(ip), file.as_deref(), now);
        // Nodes are what an admin watches; pool clients can be thousands.
        match name {
            Some(node) => {
                tracing::info!(mac = %info.mac, node, %ip, file = file.as_deref().unwrap_or("-"), "DHCP ACK")
            }
            None => tracing::debug!(mac = %info.mac, %ip, "DHCP ACK (pool)"),
        }
        let mut out = Outcome::send(&m, reply::destination(info, MessageType::Ack));
        out.persist = persist;
        out
    }

    fn inform(
        &mut self,
        msg: &Message,
        info: &ClientInfo,
        node: Option<&Node>,
        subnet: &SubnetConfig,
        now: u64,
    ) -> Outcome {
        let mut m = reply::skeleton(msg, MessageType::Ack, self.cfg.server);
        reply::add_lease_options(
            &mut m,
            &self.cfg,
            subnet,
            None,
            node.map(|n| n.name.as_str()),
        );
        let file = if node.is_some() || info.pxe {
            self.add_boot(&mut m, info, node)
        } else {
            None
        };
        self.events.record(
            info.mac,
            node.map(|n| n.name.as_str()),
            Kind::Informed,
            Some(info.ciaddr),
            file.as_deref(),
            now,
        );
        Outcome::send(&m, reply::destination(info, MessageType::Ack))
    }
}
