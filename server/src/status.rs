//! Per-node boot status: the last stage each inventory node reached and
//! when, for `GET /status` and `diskless-server status`.
//!
//! Fed by events from the services (TFTP/HTTP file sent, NFS MOUNT, init's
//! report over UDP — see [`listener`]); DHCP is read from the DHCP crate's
//! own per-MAC events when the view is built. Only inventory node addresses
//! are recorded, so memory is bounded by the inventory. The view is saved
//! to a small file ([`store`]) so that after a server restart every node
//! still shows the stages it reached before, until it reaches them again.
//!
//! "Last stage" is the most recent event (ties go to the later stage), so a
//! node that reboots shows `dhcp` again while the older stages keep their
//! times until they are reached again.

pub mod listener;
pub mod store;
pub mod table;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use diskless_common::inventory::Node;
use diskless_common::report::Report;
use diskless_dhcp::events::Kind;
use diskless_dhcp::Events;
use diskless_tftp::{ResolveError, Resolver};
use serde::{Deserialize, Serialize};

use crate::generated::{BootResolver, Shared};

/// Boot stages in the order a node reaches them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// DHCP discover/offer/ack seen (detail says which).
    Dhcp,
    /// pxelinux.0, its config, an iPXE script or an EFI loader sent.
    Loader,
    /// The node's kernel or initrd sent (TFTP or HTTP).
    Kernel,
    /// MOUNT MNT of a root export from the node's address.
    Root,
    /// diskless-init reported "services up".
    Init,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Dhcp,
        Stage::Loader,
        Stage::Kernel,
        Stage::Root,
        Stage::Init,
    ];

    /// The words in the human table.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Dhcp => "dhcp",
            Stage::Loader => "loader",
            Stage::Kernel => "kernel",
            Stage::Root => "root mounted",
            Stage::Init => "init up",
        }
    }
}

/// One stage reached: when (Unix milliseconds) and what exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    pub at_ms: u64,
    pub detail: String,
}

/// What init said in its report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitReport {
    pub host: Option<String>,
    pub running: Option<u32>,
    /// Milliseconds by name (`init`: init start → services up, `boot`:
    /// kernel start → services up).
    pub timings_ms: BTreeMap<String, u64>,
}

#[derive(Default, Clone)]
struct Record {
    loader: Option<Hit>,
    kernel: Option<Hit>,
    root: Option<Hit>,
    init: Option<(Hit, InitReport)>,
    /// init's minutely "alive" reports: first and last time, services
    /// running at the last.
    alive: Option<Alive>,
}

#[derive(Clone, Copy)]
struct Alive {
    first_ms: u64,
    last_ms: u64,
    running: Option<u32>,
}

/// One node's line in the view.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    /// Most recent stage, `None` if nothing was seen since the server started.
    pub stage: Option<Stage>,
    pub at_ms: Option<u64>,
    /// Every stage seen, latest time each.
    pub stages: BTreeMap<Stage, Hit>,
    pub init: Option<InitReport>,
    /// When the node was last heard from: its latest stage or its latest
    /// "alive" report from init.
    #[serde(default)]
    pub last_seen_ms: Option<u64>,
}

/// The whole `node_status` part of `GET /status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct View {
    pub now_ms: u64,
    pub server_started_ms: u64,
    pub nodes: Vec<NodeStatus>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    }
}

/// The registry. Cheap to update: one mutex around a map keyed by node
/// address.
pub struct Status {
    shared: Arc<Shared>,
    nodes: Mutex<HashMap<Ipv4Addr, Record>>,
    dhcp: OnceLock<Arc<Events>>,
    started_ms: u64,
    /// Stages saved by an earlier run of the server.
    restored: store::Restored,
}

impl Status {
    pub fn new(shared: Arc<Shared>) -> Status {
        Status {
            shared,
            nodes: Mutex::new(HashMap::new()),
            dhcp: OnceLock::new(),
            started_ms: now_ms(),
            restored: store::Restored::new(),
        }
    }

    /// Starts from what an earlier run saved ([`store::load`]).
    pub fn with_restored(mut self, restored: store::Restored) -> Status {
        self.restored = restored;
        self
    }

    /// DHCP's per-MAC events, once the DHCP service is bound.
    pub fn attach_dhcp(&self, events: Arc<Events>) {
        let _ = self.dhcp.set(events);
    }

    /// The inventory node at `ip`, if any (a copy of what we need). The
    /// inventory's validator keeps node addresses inside the boot subnets
    /// (the cluster's, or a relayed one), so this is also the subnet check.
    pub fn node_at(&self, ip: IpAddr) -> Option<Node> {
        let inv = self.shared.inventory.load();
        inv.node_by_ip(v4(ip)?).cloned()
    }

    fn update(&self, ip: Ipv4Addr, f: impl FnOnce(&mut Record)) {
        let mut map = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(ip).or_default());
    }

    /// A boot file was sent: over HTTP when its last chunk was handed to
    /// the connection, over TFTP when the client acked the last block.
    pub fn file_sent(&self, client: IpAddr, name: &str, via: &str, at_ms: u64) {
        let Some(node) = self.node_at(client) else {
            return;
        };
        let rel = name.trim_start_matches('/');
        let is = |f: &str| {
            let f = f.trim_start_matches('/');
            rel == f || rel.ends_with(&format!("/{f}"))
        };
        let (kernel, what) = if is(&node.boot.kernel) {
            (true, "kernel")
        } else if node.boot.initrd.as_deref().is_some_and(is) {
            (true, "initrd")
        } else {
            (false, "loader")
        };
        let hit = Hit {
            at_ms,
            detail: if kernel {
                format!("{what} {rel} ({via})")
            } else {
                format!("{rel} ({via})")
            },
        };
        self.update(node.ip, |r| {
            if kernel {
                r.kernel = Some(hit)
            } else {
                r.loader = Some(hit)
            }
        });
    }

    /// MOUNT MNT answered OK; only a root export counts as "root mounted".
    pub fn mounted(&self, client: IpAddr, path: &str, at_ms: u64) {
        let Some(node) = self.node_at(client) else {
            return;
        };
        let inv = self.shared.inventory.load();
        let p = Path::new(path);
        let root = node
            .boot
            .nfs_root
            .as_deref()
            .unwrap_or(&inv.cluster.nfs_root);
        let is_root =
            p.starts_with(root) || inv.exports.iter().any(|e| e.root && p.starts_with(&e.path));
        if is_root {
            self.update(node.ip, |r| {
                r.root = Some(Hit {
                    at_ms,
                    detail: format!("MOUNT {path}"),
                })
            });
        }
    }

    /// init's report, already checked to come from `node`.
    pub fn reported(&self, node: &Node, report: &Report, at_ms: u64) {
        let mut detail = String::from("services up");
        if let Some(n) = report.running {
            detail.push_str(&format!(", {n} running"));
        }
        let init = InitReport {
            host: report.host.clone(),
            running: report.running,
            timings_ms: report.timings.iter().cloned().collect(),
        };
        self.update(node.ip, |r| r.init = Some((Hit { at_ms, detail }, init)));
    }

    /// init's minutely "alive" report, already checked to come from `node`.
    pub fn alive(&self, node: &Node, report: &Report, at_ms: u64) {
        self.update(node.ip, |r| {
            let first_ms = r.alive.map_or(at_ms, |a| a.first_ms);
            r.alive = Some(Alive {
                first_ms,
                last_ms: at_ms,
                running: report.running,
            });
        });
    }

    /// Every inventory node, in inventory order.
    pub fn view(&self) -> View {
        let inv = self.shared.inventory.load();
        let map = self.nodes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let dhcp = self.dhcp.get();
        View {
            now_ms: now_ms(),
            server_started_ms: self.started_ms,
            nodes: inv
                .nodes
                .iter()
                .map(|n| {
                    let saved = self
                        .restored
                        .get(&n.ip)
                        .filter(|s| s.mac == n.mac.to_string());
                    node_status(n, map.get(&n.ip), dhcp, saved)
                })
                .collect(),
        }
    }
}

fn node_status(
    n: &Node,
    rec: Option<&Record>,
    dhcp: Option<&Arc<Events>>,
    saved: Option<&store::Saved>,
) -> NodeStatus {
    let mut stages = BTreeMap::new();
    if let Some(e) = dhcp.and_then(|d| d.get(&n.mac)) {
        // The DHCP crate keeps the last event and its second.
        let what = match e.last_kind {
            Some(Kind::Seen) => "request seen",
            Some(Kind::Offered) => "offer",
            Some(Kind::Acked) => "ack",
            Some(Kind::Nacked) => "nak",
            Some(Kind::Declined) => "decline",
            Some(Kind::Released) => "release",
            Some(Kind::Informed) => "inform",
            None => "discover",
        };
        let mut detail = what.to_string();
        if let Some(f) = &e.last_file {
            detail.push_str(&format!(", boot file {f}"));
        }
        if e.seen > 0 || e.acked > 0 || e.offered > 0 {
            let at_ms = e.last_time.saturating_mul(1000);
            stages.insert(Stage::Dhcp, Hit { at_ms, detail });
        }
    }
    let mut init = None;
    if let Some(r) = rec {
        for (s, h) in [
            (Stage::Loader, &r.loader),
            (Stage::Kernel, &r.kernel),
            (Stage::Root, &r.root),
        ] {
            if let Some(h) = h {
                stages.insert(s, h.clone());
            }
        }
        if let Some((h, rep)) = &r.init {
            stages.insert(Stage::Init, h.clone());
            init = Some(rep.clone());
        }
    }
    if let Some(saved) = saved {
        for s in Stage::ALL {
            if let Some(h) = store::newer(stages.get(&s), saved.stages.get(&s)) {
                stages.insert(s, h);
            }
        }
        let live_init = rec.and_then(|r| r.init.as_ref()).map(|(h, _)| h.at_ms);
        let saved_init = saved.stages.get(&Stage::Init).map(|h| h.at_ms);
        if saved_init > live_init {
            init = saved.init.clone();
        }
    }
    let alive = rec.and_then(|r| r.alive);
    if let (Some(a), false) = (alive, stages.contains_key(&Stage::Init)) {
        // Up since before this server (and its saved history) knew it.
        let mut detail = String::from("alive");
        if let Some(n) = a.running {
            detail.push_str(&format!(", {n} running"));
        }
        stages.insert(
            Stage::Init,
            Hit {
                at_ms: a.first_ms,
                detail,
            },
        );
    }
    let last = stages.iter().max_by_key(|(s, h)| (h.at_ms, **s));
    let last_seen_ms = stages
        .values()
        .map(|h| h.at_ms)
        .chain(alive.map(|a| a.last_ms))
        .max();
    NodeStatus {
        name: n.name.clone(),
        ip: n.ip,
        mac: n.mac.to_string(),
        stage: last.map(|(s, _)| *s),
        at_ms: last.map(|(_, h)| h.at_ms),
        stages,
        init,
        last_seen_ms,
    }
}

/// TFTP's resolver with a status hook: the boot-file resolver, and a
/// "file sent" event when a transfer completes (its last block acked).
pub struct StatusResolver {
    pub inner: BootResolver,
    pub status: Arc<Status>,
}

impl Resolver for StatusResolver {
    fn resolve(&self, client: SocketAddr, raw: &[u8]) -> Result<Bytes, ResolveError> {
        self.inner.resolve(client, raw)
    }

    fn finished(&self, client: SocketAddr, name: &str) {
        self.status.file_sent(client.ip(), name, "tftp", now_ms());
    }
}

#[cfg(test)]
mod tests;
