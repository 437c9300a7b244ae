//! `[[nodes]]`: names, MACs and addresses, unique and on a served subnet.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::Range;

use super::super::file::{RawNode, S};
use super::super::model::*;
use super::boot::{merge, partial, Partial};
use super::names::{suggest, valid_hostname};
use super::network::check_node_ip;
use super::Ctx;

/// Every node, checked; nodes with an unusable MAC or address are left out
/// (their problems are already recorded).
pub(super) fn nodes(
    ctx: &mut Ctx,
    raw: &[S<RawNode>],
    cluster: &Cluster,
    base: &Partial,
    profiles: &HashMap<String, Partial>,
) -> Vec<Node> {
    let mut nodes = Vec::with_capacity(raw.len());
    let n = raw.len();
    let mut by_name: FastMap<&str, Range<usize>> =
        FastMap::with_capacity_and_hasher(n, Default::default());
    let mut by_mac: FastMap<Mac, (Range<usize>, &str)> =
        FastMap::with_capacity_and_hasher(n, Default::default());
    let mut by_ip: FastMap<Ipv4Addr, (Range<usize>, &str)> =
        FastMap::with_capacity_and_hasher(n, Default::default());
    let empty = Partial::default();
    let mut merged: FastMap<Option<&str>, BootSpec> = FastMap::default();
    for sn in raw {
        let n = sn.get_ref();
        let name = n.name.get_ref().as_str();
        if !valid_hostname(name) {
            ctx.err(
                n.name.span(),
                format!("node name `{name}` is not a valid host name"),
                "use letters, digits and `-` (at most 63), e.g. node-01".to_string(),
            );
        } else if let Some(first) = by_name.get(name) {
            let line = ctx.line_of(first);
            ctx.err(
                n.name.span(),
                format!("duplicate node name `{name}` (first defined on line {line})"),
                "every node needs its own name; rename or remove one of them".to_string(),
            );
        } else {
            by_name.insert(name, n.name.span());
        }
        let mac = match n.mac.get_ref().parse::<Mac>() {
            Ok(m) => Some(m),
            Err(e) => {
                ctx.err(
                    n.mac.span(),
                    e,
                    "copy the address from `ip link` or the DHCP log: six hex pairs like 00:18:f3:70:91:b9"
                        .to_string(),
                );
                None
            }
        };
        if let Some(m) = mac {
            if let Some((first, other)) = by_mac.get(&m) {
                let line = ctx.line_of(first);
                ctx.err(
                    n.mac.span(),
                    format!("duplicate MAC {m}: node `{other}` on line {line} has it too"),
                    "a MAC identifies one network card; fix the typo or remove the stale entry"
                        .to_string(),
                );
            } else {
                by_mac.insert(m, (n.mac.span(), name));
            }
        }
        let ip = match n.ip.get_ref().parse::<Ipv4Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => ctx.ip(&n.ip, &format!("node `{name}` ip")),
        };
        if let Some(ip) = ip {
            check_node_ip(ctx, n.ip.span(), ip, cluster);
            if let Some((first, other)) = by_ip.get(&ip) {
                let line = ctx.line_of(first);
                ctx.err(
                    n.ip.span(),
                    format!("duplicate ip {ip}: node `{other}` on line {line} has it too"),
                    "give each node its own address".to_string(),
                );
            } else {
                by_ip.insert(ip, (n.ip.span(), name));
            }
        }
        let prof = match &n.profile {
            Some(p) => match profiles.get(p.get_ref()) {
                Some(pp) => Some((p.get_ref().as_str(), pp)),
                None => {
                    let hint = suggest(p.get_ref(), profiles.keys());
                    ctx.err(p.span(), format!("unknown profile `{}`", p.get_ref()), hint);
                    None
                }
            },
            None => None,
        };
        // Most nodes override nothing: merge once per profile, then clone.
        let boot = if n.has_boot() {
            let own = partial(ctx, &n.boot());
            merge([base, prof.as_ref().map_or(&empty, |p| p.1), &own])
        } else {
            let key = prof.as_ref().map(|p| p.0);
            merged
                .entry(key)
                .or_insert_with(|| merge([base, prof.as_ref().map_or(&empty, |p| p.1), &empty]))
                .clone()
        };
        if boot.kernel.is_empty() {
            ctx.err(
                sn.span(),
                format!("node `{name}` has no kernel"),
                "set `kernel` in [cluster], in the node's profile or on the node".to_string(),
            );
        }
        if let (Some(mac), Some(ip)) = (mac, ip) {
            nodes.push(Node {
                name: name.to_string(),
                mac,
                ip,
                profile: prof.map(|p| p.0.to_string()),
                boot,
            });
        }
    }

    nodes
}
