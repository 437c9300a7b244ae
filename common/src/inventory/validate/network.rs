//! The networks DHCP serves: the cluster subnet, `[[relay_subnets]]`
//! behind relays, and which addresses a node may have on them.

use std::net::Ipv4Addr;
use std::ops::Range;

use super::super::file::{RawRelaySubnet, S};
use super::super::model::*;
use super::Ctx;

/// `first-last` → a pool (not yet checked against a subnet).
pub(super) fn pool(ctx: &mut Ctx, v: &S<String>, what: &str) -> Option<DhcpPool> {
    let parsed = v.get_ref().split_once('-').and_then(|(a, b)| {
        Some(DhcpPool {
            start: a.trim().parse().ok()?,
            end: b.trim().parse().ok()?,
        })
    });
    match parsed {
        Some(p) if u32::from(p.start) <= u32::from(p.end) => Some(p),
        _ => {
            ctx.err(
                v.span(),
                format!("{what} `{}` is not a range", v.get_ref()),
                "write it as first-last, e.g. \"172.16.1.200-172.16.1.250\"".to_string(),
            );
            None
        }
    }
}

/// A pool must hold host addresses of its subnet, never `keep` (the
/// server's or the router's address, named by its role).
pub(super) fn check_pool(
    ctx: &mut Ctx,
    v: &S<String>,
    what: &str,
    p: DhcpPool,
    subnet: Subnet,
    keep: Option<(Ipv4Addr, &str)>,
) {
    if !subnet.contains(p.start) || !subnet.contains(p.end) {
        ctx.err(
            v.span(),
            format!("{what} {}-{} is not inside {subnet}", p.start, p.end),
            "choose a range of host addresses in the subnet".to_string(),
        );
    } else if p.contains(subnet.network) || (subnet.prefix < 31 && p.contains(subnet.broadcast())) {
        ctx.err(
            v.span(),
            format!(
                "{what} {}-{} includes the network or broadcast address of {subnet}",
                p.start, p.end
            ),
            "start after the network address and end before the broadcast address".to_string(),
        );
    } else if let Some((ip, role)) = keep.filter(|(ip, _)| p.contains(*ip)) {
        ctx.err(
            v.span(),
            format!(
                "{what} {}-{} contains the {role} address {ip}",
                p.start, p.end
            ),
            format!("shrink the pool so the {role} keeps its address"),
        );
    }
}

fn subnet(ctx: &mut Ctx, v: &S<String>) -> Option<Subnet> {
    match v.get_ref().parse::<Subnet>() {
        Ok(s) => Some(s),
        Err(e) => {
            ctx.err(
                v.span(),
                e,
                "write the subnet as network/prefix, e.g. 10.9.0.0/24".to_string(),
            );
            None
        }
    }
}

fn overlaps(a: Subnet, b: Subnet) -> bool {
    a.contains(b.network) || b.contains(a.network)
}

/// `[[relay_subnets]]`: each parses, lies apart from the cluster subnet and
/// every other relay subnet, and keeps its router and pool inside itself.
pub(super) fn relay_subnets(
    ctx: &mut Ctx,
    raw: &[S<RawRelaySubnet>],
    cluster: &Cluster,
) -> Vec<RelaySubnet> {
    let mut out: Vec<(RelaySubnet, Range<usize>)> = Vec::new();
    for sr in raw {
        let r = sr.get_ref();
        let Some(net) = subnet(ctx, &r.subnet) else {
            continue;
        };
        if overlaps(net, cluster.subnet) {
            ctx.err(
                r.subnet.span(),
                format!(
                    "relay subnet {net} overlaps the cluster subnet {}",
                    cluster.subnet
                ),
                "a relay subnet is a different network behind a relay agent; the boot segment is [cluster] subnet".to_string(),
            );
            continue;
        }
        if let Some((other, span)) = out.iter().find(|(o, _)| overlaps(net, o.subnet)) {
            let line = ctx.line_of(span);
            let other = other.subnet;
            ctx.err(
                r.subnet.span(),
                format!("relay subnet {net} overlaps relay subnet {other} (line {line})"),
                "give every relay its own, separate subnet".to_string(),
            );
            continue;
        }
        let router = r.router.as_ref().and_then(|v| {
            let rt = ctx.ip(v, "router")?;
            if !net.contains(rt) || rt == net.broadcast() || rt == net.network {
                ctx.err(
                    v.span(),
                    format!("router {rt} is not a host address in relay subnet {net}"),
                    "the relay subnet's gateway (usually the relay agent itself) must be a host on that subnet".to_string(),
                );
                return None;
            }
            Some(rt)
        });
        let pool = r.pool.as_ref().and_then(|v| {
            let p = pool(ctx, v, "pool")?;
            check_pool(ctx, v, "pool", p, net, router.map(|r| (r, "router")));
            Some(p)
        });
        let dns = r
            .dns
            .as_ref()
            .map(|l| l.iter().filter_map(|v| ctx.ip(v, "dns")).collect());
        out.push((
            RelaySubnet {
                subnet: net,
                router,
                pool,
                dns,
                domain: r.domain.as_ref().map(|v| v.get_ref().clone()),
            },
            r.subnet.span(),
        ));
    }
    out.into_iter().map(|(r, _)| r).collect()
}

/// A node's address: a host address on the cluster subnet or on a relay
/// subnet, not the server's, not inside a pool.
pub(super) fn check_node_ip(ctx: &mut Ctx, span: Range<usize>, ip: Ipv4Addr, c: &Cluster) {
    let (sub, pool) = if c.subnet.contains(ip) {
        (c.subnet, c.dhcp_pool)
    } else if let Some(r) = c.relay_subnets.iter().find(|r| r.subnet.contains(ip)) {
        (r.subnet, r.pool)
    } else {
        let sub = c.subnet;
        let first = Ipv4Addr::from(u32::from(sub.network) + 1);
        let last = Ipv4Addr::from(u32::from(sub.broadcast()).saturating_sub(1));
        let (message, hint) = if c.relay_subnets.is_empty() {
            (
                format!("ip {ip} is outside the cluster subnet {sub}"),
                format!("use an address from {first} to {last}, or change [cluster] subnet"),
            )
        } else {
            let relays: Vec<String> = c
                .relay_subnets
                .iter()
                .map(|r| r.subnet.to_string())
                .collect();
            (
                format!(
                    "ip {ip} is outside the cluster subnet {sub} and every relay subnet ({})",
                    relays.join(", ")
                ),
                "use an address on one of these subnets, or add a [[relay_subnets]] entry for its network".to_string(),
            )
        };
        ctx.err(span, message, hint);
        return;
    };
    if ip == c.server {
        ctx.err(
            span,
            format!("ip {ip} is the server's own address"),
            "give the node another address; the server keeps [cluster] server".to_string(),
        );
    } else if ip == sub.network {
        ctx.err(
            span,
            format!("ip {ip} is the network address of {sub}"),
            "the first address of a subnet names the network; use a host address".to_string(),
        );
    } else if ip == sub.broadcast() && sub.prefix < 31 {
        ctx.err(
            span,
            format!("ip {ip} is the broadcast address of {sub}"),
            "the last address of a subnet is for broadcast; use a host address".to_string(),
        );
    } else if pool.is_some_and(|p| p.contains(ip)) {
        let what = if sub == c.subnet {
            "dhcp_pool"
        } else {
            "the relay subnet's pool"
        };
        ctx.err(
            span,
            format!("ip {ip} lies inside {what}, so it could be leased to a stranger"),
            format!("move the node's address out of the pool or shrink {what}"),
        );
    }
}
