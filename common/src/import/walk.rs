//! Walking dhcpd.conf statements: collects subnets, hosts and the
//! parameters in scope for each, noting what has no place in the inventory.

use std::net::Ipv4Addr;

use super::dhcpd::Stmt;
use super::note::{Note, NoteKind};
use crate::inventory::{Mac, Subnet};

#[derive(Clone, Default)]
pub(super) struct Params {
    pub(super) filename: Option<(String, usize)>,
    pub(super) next_server: Option<Ipv4Addr>,
    pub(super) routers: Option<Ipv4Addr>,
    pub(super) dns: Vec<Ipv4Addr>,
    pub(super) domain: Option<String>,
    pub(super) root_path: Option<String>,
    pub(super) lease: Option<u32>,
}

/// A dhcpd `range first last`.
pub(super) type Range = (Ipv4Addr, Ipv4Addr);

pub(super) struct Host {
    pub(super) name: String,
    pub(super) line: usize,
    pub(super) comments: Vec<String>,
    pub(super) mac: Mac,
    pub(super) ip: Ipv4Addr,
    pub(super) params: Params,
}

pub(super) struct Walk<'a> {
    pub(super) origin: &'a str,
    pub(super) notes: Vec<Note>,
    /// `(subnet, line, first range)`.
    pub(super) subnets: Vec<(Subnet, usize, Option<Range>)>,
    pub(super) hosts: Vec<Host>,
    pub(super) top: Params,
}

impl Walk<'_> {
    pub(super) fn note(&mut self, line: usize, kind: NoteKind, message: String) {
        self.notes.push(Note {
            origin: self.origin.to_string(),
            line,
            kind,
            message,
        });
    }

    pub(super) fn unmapped(&mut self, s: &Stmt, why: &str) {
        self.note(s.line, NoteKind::Unmapped, format!("`{}` {why}", s.text()));
    }

    /// A parameter statement valid at any level; false if not one.
    pub(super) fn param(&mut self, s: &Stmt, p: &mut Params) -> bool {
        let w: Vec<&str> = s.words.iter().map(String::as_str).collect();
        let ip_list = |ws: &[&str]| -> Vec<Ipv4Addr> {
            ws.iter()
                .flat_map(|x| x.split(','))
                .filter_map(|x| x.trim().parse().ok())
                .collect()
        };
        match w.as_slice() {
            ["filename", f] => p.filename = Some((f.to_string(), s.line)),
            ["next-server", ip] => match ip.parse() {
                Ok(ip) => p.next_server = Some(ip),
                Err(_) => self.unmapped(s, "names the server by host name; use --server IP"),
            },
            ["option", "routers", rest @ ..] => {
                p.routers = ip_list(rest).first().copied();
                if ip_list(rest).len() > 1 {
                    self.unmapped(s, "lists several routers; only the first is kept");
                }
            }
            ["option", "domain-name-servers", rest @ ..] => p.dns = ip_list(rest),
            ["option", "domain-name", d] => p.domain = Some(d.to_string()),
            ["option", "root-path", r] => p.root_path = Some(r.to_string()),
            ["option", "subnet-mask", _] | ["option", "broadcast-address", _] => {
                self.note(
                    s.line,
                    NoteKind::Fixed,
                    format!("`{}` is derived from [cluster] subnet", s.text()),
                );
            }
            ["default-lease-time", t] => p.lease = t.parse().ok(),
            ["max-lease-time", _] | ["authoritative"] => {}
            _ => return false,
        }
        true
    }

    pub(super) fn walk(&mut self, stmts: &[Stmt], inherited: &Params) {
        let mut p = inherited.clone();
        // Parameters apply to the whole scope, wherever they appear in it.
        let rest: Vec<&Stmt> = stmts
            .iter()
            .filter(|s| s.body.is_some() || !self.param(s, &mut p))
            .collect();
        for s in rest {
            let w: Vec<&str> = s.words.iter().map(String::as_str).collect();
            match (w.as_slice(), &s.body) {
                (["subnet", net, "netmask", mask], Some(body)) => {
                    self.subnet(s, net, mask, body, &p)
                }
                (["group"], Some(body)) | (["shared-network", _], Some(body)) => {
                    self.walk(body, &p)
                }
                (["host", name], Some(body)) => self.host(s, name, body, &p),
                (["ddns-update-style", ..], None) | (["ddns-updates", ..], None) => self.unmapped(
                    s,
                    "is not carried over: diskless-server does no dynamic DNS",
                ),
                (_, Some(_)) => self.unmapped(s, "is a declaration the inventory has no place for"),
                (_, None) => self.unmapped(s, "has no inventory equivalent"),
            }
        }
        if inherited.filename.is_none() && self.top.filename.is_none() {
            self.top = p;
        }
    }

    pub(super) fn subnet(&mut self, s: &Stmt, net: &str, mask: &str, body: &[Stmt], p: &Params) {
        let parsed = net
            .parse::<Ipv4Addr>()
            .ok()
            .zip(mask.parse::<Ipv4Addr>().ok());
        let Some((net, mask)) = parsed else {
            return self.unmapped(s, "has an address that is not IPv4");
        };
        let m = u32::from(mask);
        if m.leading_ones() + m.trailing_zeros() != 32 {
            return self.unmapped(s, "has a netmask that is not contiguous");
        }
        let sub = Subnet {
            network: net,
            prefix: m.leading_ones() as u8,
        };
        let mut pool = None;
        let mut inner = Vec::new();
        for st in body {
            let w: Vec<&str> = st.words.iter().map(String::as_str).collect();
            match w.as_slice() {
                ["range", a, b] if pool.is_none() => {
                    pool = a.parse().ok().zip(b.parse().ok());
                }
                ["range", ..] => self.unmapped(st, "is an extra range; only one dhcp_pool is kept"),
                _ => inner.push(st.clone()),
            }
        }
        self.subnets.push((sub, s.line, pool));
        self.walk(&inner, p);
    }

    pub(super) fn host(&mut self, s: &Stmt, name: &str, body: &[Stmt], inherited: &Params) {
        let mut p = inherited.clone();
        let (mut mac, mut ip) = (None, None);
        for st in body {
            let w: Vec<&str> = st.words.iter().map(String::as_str).collect();
            if st.body.is_none() && self.param(st, &mut p) {
                continue;
            }
            match w.as_slice() {
                ["hardware", "ethernet", m] => match m.parse::<Mac>() {
                    Ok(m) => mac = Some(m),
                    Err(e) => self.note(st.line, NoteKind::Unmapped, e),
                },
                ["fixed-address", a] => match a.parse::<Ipv4Addr>() {
                    Ok(a) => ip = Some(a),
                    Err(_) => self.unmapped(st, "is a host name; write the node's IPv4 address"),
                },
                ["fixed-address", ..] => {
                    self.unmapped(st, "lists several addresses; a node has exactly one")
                }
                ["option", "host-name", _] => self.note(
                    st.line,
                    NoteKind::Fixed,
                    format!(
                        "`{}`: the node is named `{name}` after its host declaration",
                        st.text()
                    ),
                ),
                _ => self.unmapped(st, "has no per-node equivalent"),
            }
        }
        let (Some(mac), Some(ip)) = (mac, ip) else {
            return self.unmapped(
                s,
                "is skipped: a node needs both `hardware ethernet` and `fixed-address`",
            );
        };
        let short = name.split('.').next().unwrap_or(name);
        let clean: String = short
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if clean != name {
            self.note(
                s.line,
                NoteKind::Fixed,
                format!("host `{name}` is named `{clean}` (a node name is a plain host name)"),
            );
        }
        self.hosts.push(Host {
            name: clean,
            line: s.line,
            comments: s.comments.clone(),
            mac,
            ip,
            params: p,
        });
    }
}
