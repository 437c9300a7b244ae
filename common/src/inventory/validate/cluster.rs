//! `[cluster]`: the server, its subnet and the cluster-wide settings.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::super::file::{RawCluster, S};
use super::super::model::*;
use super::boot::{partial, Partial};
use super::network::{check_pool, pool};
use super::Ctx;

pub(super) fn cluster(
    ctx: &mut Ctx,
    raw: &S<RawCluster>,
    check_paths: bool,
) -> Option<(Cluster, Partial)> {
    let r = raw.get_ref();
    let server = ctx.ip(&r.server, "server");
    let subnet = match r.subnet.get_ref().parse::<Subnet>() {
        Ok(s) => Some(s),
        Err(e) => {
            ctx.err(
                r.subnet.span(),
                e,
                "write the subnet as network/prefix, e.g. 172.16.1.0/24".to_string(),
            );
            None
        }
    };
    let router = r.router.as_ref().and_then(|v| ctx.ip(v, "router"));
    let dns: Vec<Ipv4Addr> = r.dns.iter().filter_map(|v| ctx.ip(v, "dns")).collect();
    let boot_root = match &r.boot_root {
        Some(v) => ctx.abs_path(v, "boot_root"),
        None => Some(PathBuf::from("/srv/tftp")),
    };
    let nfs_root = match &r.nfs_root {
        Some(v) => ctx.abs_path(v, "nfs_root").inspect(|p| {
            if check_paths && !p.is_dir() {
                ctx.err(
                    v.span(),
                    format!("nfs_root {} does not exist on this server", p.display()),
                    format!(
                        "create it (mkdir -p {0}, then unpack the nodes' root into it) or fix nfs_root; use --no-path-check if this inventory is for another machine",
                        p.display()
                    ),
                );
            }
        }),
        None => {
            ctx.err(
                raw.span(),
                "[cluster] has no nfs_root".to_string(),
                "add nfs_root = \"/srv/nfsroot\" (the directory the nodes mount as /)".to_string(),
            );
            None
        }
    };
    let dhcp_mode = match r.dhcp_mode.as_ref().map(|v| (v, v.get_ref().as_str())) {
        None | Some((_, "authoritative")) => DhcpMode::Authoritative,
        Some((_, "proxy")) => DhcpMode::Proxy,
        Some((_, "off")) => DhcpMode::Off,
        Some((v, other)) => {
            ctx.err(
                v.span(),
                format!("dhcp_mode `{other}` is not known"),
                "use `authoritative`, `proxy` or `off`".to_string(),
            );
            DhcpMode::Authoritative
        }
    };
    let dhcp_pool = r.dhcp_pool.as_ref().and_then(|v| pool(ctx, v, "dhcp_pool"));
    let lease_file = r
        .lease_file
        .as_ref()
        .and_then(|v| ctx.abs_path(v, "lease_file"));
    let boot = partial(ctx, &r.boot());
    let (server, subnet, boot_root, nfs_root) = (server?, subnet?, boot_root?, nfs_root?);
    if !subnet.contains(server) {
        ctx.err(
            r.server.span(),
            format!("server {server} is outside subnet {subnet}"),
            "the server must have an address on the nodes' subnet".to_string(),
        );
    }
    if let (Some(rt), Some(v)) = (router, &r.router) {
        if !subnet.contains(rt) || rt == subnet.broadcast() || rt == subnet.network {
            ctx.err(
                v.span(),
                format!("router {rt} is not a host address in {subnet}"),
                "the gateway must be a host on the nodes' subnet (never its broadcast address)"
                    .to_string(),
            );
        }
    }
    if let (Some(p), Some(v)) = (dhcp_pool, &r.dhcp_pool) {
        check_pool(ctx, v, "dhcp_pool", p, subnet, Some((server, "server")));
    }
    let c = Cluster {
        name: r
            .name
            .as_ref()
            .map(|v| v.get_ref().clone())
            .unwrap_or_else(|| "cluster".to_string()),
        server,
        subnet,
        router,
        dns,
        domain: r.domain.as_ref().map(|v| v.get_ref().clone()),
        boot_root,
        nfs_root,
        dhcp_mode,
        interface: r.interface.as_ref().map(|v| v.get_ref().clone()),
        loader_bios: r
            .loader_bios
            .as_ref()
            .map(|v| v.get_ref().clone())
            .unwrap_or_else(|| "pxelinux.0".to_string()),
        loader_uefi: r.loader_uefi.as_ref().map(|v| v.get_ref().clone()),
        tftp_port: r.tftp_port.as_ref().map_or(69, |v| *v.get_ref()),
        http_port: r.http_port.as_ref().map_or(80, |v| *v.get_ref()),
        nfs_options: r
            .nfs_options
            .as_ref()
            .map(|v| v.get_ref().clone())
            .unwrap_or_else(|| "vers=3,tcp".to_string()),
        dhcp_pool,
        lease_file,
        relay_subnets: Vec::new(),
        lease_time: r.lease_time.as_ref().map_or(3600, |v| *v.get_ref()),
        router_advertisements: r.router_advertisements.unwrap_or(true),
        router_advertisement_interval: match &r.router_advertisement_interval {
            None => 600,
            Some(v) if (4..=1800).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                ctx.err(
                    v.span(),
                    format!(
                        "router_advertisement_interval {} is outside 4..=1800 seconds",
                        v.get_ref()
                    ),
                    "RFC 4861 bounds MaxRtrAdvInterval to 4-1800 s; the default is 600".to_string(),
                );
                600
            }
        },
        sntp: r.sntp.unwrap_or(true),
        ipxe_scripts: r.ipxe_scripts.unwrap_or(true),
    };
    Some((c, boot))
}
