//! Raw TOML shape → validated `Inventory`, collecting every problem.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use super::error::{LineIndex, Problem};
use super::file::{RawBoot, RawExport, RawFile, S};
use super::model::*;
use super::LoadOptions;

pub(crate) struct Ctx<'a> {
    origin: &'a str,
    index: LineIndex<'a>,
    pub problems: Vec<Problem>,
}

impl<'a> Ctx<'a> {
    pub fn new(origin: &'a str, text: &'a str) -> Self {
        Ctx {
            origin,
            index: LineIndex::new(text),
            problems: Vec::new(),
        }
    }

    pub fn err(&mut self, span: Range<usize>, message: String, hint: impl Into<Option<String>>) {
        let (line, col) = self.index.locate(span.start);
        self.problems.push(Problem {
            origin: self.origin.to_string(),
            line,
            col,
            message,
            hint: hint.into(),
        });
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        self.index.locate(span.start).0
    }

    fn ip(&mut self, v: &S<String>, what: &str) -> Option<Ipv4Addr> {
        match v.get_ref().parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    v.span(),
                    format!("{what} `{}` is not an IPv4 address", v.get_ref()),
                    "write a dotted quad such as 172.16.1.10".to_string(),
                );
                None
            }
        }
    }

    fn abs_path(&mut self, v: &S<String>, what: &str) -> Option<PathBuf> {
        let p = Path::new(v.get_ref());
        if !p.is_absolute() {
            self.err(
                v.span(),
                format!("{what} `{}` is not an absolute path", v.get_ref()),
                format!("write it from the root, e.g. /{}", v.get_ref()),
            );
            return None;
        }
        if p.components().any(|c| c == Component::ParentDir) {
            self.err(
                v.span(),
                format!("{what} `{}` contains `..`", v.get_ref()),
                "write the path without `..` components".to_string(),
            );
            return None;
        }
        Some(p.to_path_buf())
    }

    /// A file below `boot_root` as served over TFTP/HTTP.
    fn boot_file(&mut self, v: &S<String>, what: &str) -> Option<String> {
        let s = v.get_ref();
        if s.is_empty() || s.starts_with('/') {
            self.err(
                v.span(),
                format!("{what} `{s}` must be a path relative to boot_root"),
                format!(
                    "write it as the node's TFTP client would ask for it, e.g. `{}`",
                    s.trim_start_matches('/')
                        .rsplit('/')
                        .next()
                        .filter(|x| !x.is_empty())
                        .unwrap_or("vmlinuz")
                ),
            );
            return None;
        }
        if Path::new(s).components().any(|c| c == Component::ParentDir) {
            self.err(
                v.span(),
                format!("{what} `{s}` escapes boot_root with `..`"),
                "keep boot files inside boot_root".to_string(),
            );
            return None;
        }
        Some(s.clone())
    }
}

/// One level's boot settings, checked once (not once per node).
#[derive(Clone, Default)]
struct Partial {
    kernel: Option<String>,
    initrd: Option<String>,
    cmdline: Option<String>,
    append: Option<String>,
    boot_mode: Option<BootMode>,
    nic: Option<String>,
    nfs_root: Option<PathBuf>,
    ip_device: Option<String>,
    init: Option<String>,
    modules: Option<Vec<String>>,
    overlay: Option<bool>,
}

fn partial(ctx: &mut Ctx, b: &RawBoot) -> Partial {
    let s = |v: &Option<S<String>>| v.as_ref().map(|v| v.get_ref().clone());
    Partial {
        kernel: b.kernel.as_ref().and_then(|v| ctx.boot_file(v, "kernel")),
        initrd: b.initrd.as_ref().and_then(|v| ctx.boot_file(v, "initrd")),
        cmdline: s(&b.cmdline),
        append: s(&b.cmdline_append),
        boot_mode: b.boot_mode.as_ref().and_then(|v| match v.get_ref().as_str() {
            "direct" => Some(BootMode::Direct),
            "initramfs" => Some(BootMode::Initramfs),
            other => {
                ctx.err(
                    v.span(),
                    format!("boot_mode `{other}` is not known"),
                    "use `direct` (the kernel mounts the NFS root) or `initramfs` (our initramfs does)"
                        .to_string(),
                );
                None
            }
        }),
        nic: s(&b.nic),
        nfs_root: b.nfs_root.as_ref().and_then(|v| ctx.abs_path(v, "nfs_root")),
        ip_device: s(&b.ip_device),
        init: s(&b.init),
        modules: b
            .modules
            .as_ref()
            .map(|m| m.iter().map(|x| x.get_ref().clone()).collect()),
        overlay: b.overlay,
    }
}

fn merge(levels: [&Partial; 3]) -> BootSpec {
    let pick = |f: fn(&Partial) -> &Option<String>| levels.iter().rev().find_map(|l| f(l).clone());
    let mut cmdline = pick(|l| &l.cmdline).unwrap_or_default();
    for l in levels {
        if let Some(a) = l.append.as_deref().filter(|a| !a.trim().is_empty()) {
            if !cmdline.is_empty() {
                cmdline.push(' ');
            }
            cmdline.push_str(a.trim());
        }
    }
    BootSpec {
        kernel: pick(|l| &l.kernel).unwrap_or_default(),
        initrd: pick(|l| &l.initrd),
        cmdline,
        boot_mode: levels
            .iter()
            .rev()
            .find_map(|l| l.boot_mode)
            .unwrap_or_default(),
        nic: pick(|l| &l.nic),
        nfs_root: levels.iter().rev().find_map(|l| l.nfs_root.clone()),
        ip_device: pick(|l| &l.ip_device),
        init: pick(|l| &l.init),
        modules: levels
            .iter()
            .rev()
            .find_map(|l| l.modules.clone())
            .unwrap_or_default(),
        overlay: levels.iter().rev().find_map(|l| l.overlay).unwrap_or(false),
    }
}

fn valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let known: Vec<&String> = known.collect();
    if known.is_empty() {
        return "no profiles are defined: add a [profiles.NAME] table or remove `profile`"
            .to_string();
    }
    if let Some(best) = known
        .iter()
        .filter(|k| distance(name, k) <= 2)
        .min_by_key(|k| distance(name, k))
    {
        return format!("did you mean `{best}`?");
    }
    let list: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
    format!("defined profiles: {}", list.join(", "))
}

fn check_node_ip(ctx: &mut Ctx, span: Range<usize>, ip: Ipv4Addr, c: &Cluster) {
    let sub = c.subnet;
    if !sub.contains(ip) {
        let first = Ipv4Addr::from(u32::from(sub.network) + 1);
        let last = Ipv4Addr::from(u32::from(sub.broadcast()).saturating_sub(1));
        ctx.err(
            span,
            format!("ip {ip} is outside the cluster subnet {sub}"),
            format!("use an address from {first} to {last}, or change [cluster] subnet"),
        );
    } else if ip == c.server {
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
    } else if c.dhcp_pool.is_some_and(|p| p.contains(ip)) {
        ctx.err(
            span,
            format!("ip {ip} lies inside dhcp_pool, so it could be leased to a stranger"),
            "move the node's address out of the pool or shrink dhcp_pool".to_string(),
        );
    }
}

fn cluster(
    ctx: &mut Ctx,
    raw: &S<super::file::RawCluster>,
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
    let dhcp_pool = r.dhcp_pool.as_ref().and_then(|v| {
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
                    format!("dhcp_pool `{}` is not a range", v.get_ref()),
                    "write it as first-last, e.g. \"172.16.1.200-172.16.1.250\"".to_string(),
                );
                None
            }
        }
    });
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
        if !subnet.contains(p.start) || !subnet.contains(p.end) {
            ctx.err(
                v.span(),
                format!("dhcp_pool {}-{} is not inside {subnet}", p.start, p.end),
                "choose a range of host addresses in the subnet".to_string(),
            );
        }
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
        lease_time: r.lease_time.as_ref().map_or(3600, |v| *v.get_ref()),
        router_advertisements: r.router_advertisements.unwrap_or(true),
        sntp: r.sntp.unwrap_or(true),
        ipxe_scripts: r.ipxe_scripts.unwrap_or(true),
    };
    Some((c, boot))
}

pub(crate) fn build(ctx: &mut Ctx, raw: RawFile, opts: &LoadOptions) -> Option<Inventory> {
    let cl = cluster(ctx, &raw.cluster, opts.check_paths);
    let profiles: HashMap<String, Partial> = raw
        .profiles
        .iter()
        .map(|(k, v)| (k.get_ref().clone(), partial(ctx, v.get_ref())))
        .collect();
    let (cluster, base) = cl?;

    let mut nodes = Vec::with_capacity(raw.nodes.len());
    let n = raw.nodes.len();
    let mut by_name: FastMap<&str, Range<usize>> =
        FastMap::with_capacity_and_hasher(n, Default::default());
    let mut by_mac: FastMap<Mac, (Range<usize>, &str)> =
        FastMap::with_capacity_and_hasher(n, Default::default());
    let mut by_ip: FastMap<Ipv4Addr, (Range<usize>, &str)> =
        FastMap::with_capacity_and_hasher(n, Default::default());
    let empty = Partial::default();
    let mut merged: FastMap<Option<&str>, BootSpec> = FastMap::default();
    for sn in &raw.nodes {
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
            check_node_ip(ctx, n.ip.span(), ip, &cluster);
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
            merge([&base, prof.as_ref().map_or(&empty, |p| p.1), &own])
        } else {
            let key = prof.as_ref().map(|p| p.0);
            merged
                .entry(key)
                .or_insert_with(|| merge([&base, prof.as_ref().map_or(&empty, |p| p.1), &empty]))
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

    let exports = exports(ctx, &raw.exports, &cluster, &nodes, &profiles, opts);
    if !ctx.problems.is_empty() {
        return None;
    }
    Some(Inventory::from_parts(cluster, nodes, exports))
}

fn exports(
    ctx: &mut Ctx,
    raw: &[S<RawExport>],
    cluster: &Cluster,
    nodes: &[Node],
    profiles: &HashMap<String, Partial>,
    opts: &LoadOptions,
) -> Vec<Export> {
    let root_of = |n: &Node| -> PathBuf {
        n.boot
            .nfs_root
            .clone()
            .unwrap_or_else(|| cluster.nfs_root.clone())
    };
    let is_root = |n: &Node, p: &Path| n.boot.nfs_root.as_deref().unwrap_or(&cluster.nfs_root) == p;
    let mut out: Vec<Export> = Vec::new();
    let mut seen: HashMap<PathBuf, Range<usize>> = HashMap::new();
    for se in raw {
        let e = se.get_ref();
        let Some(path) = ctx.abs_path(&e.path, "export path") else {
            continue;
        };
        if let Some(first) = seen.get(&path) {
            let line = ctx.line_of(first);
            ctx.err(
                e.path.span(),
                format!(
                    "export {} is listed twice (first on line {line})",
                    path.display()
                ),
                "merge the two [[exports]] entries".to_string(),
            );
            continue;
        }
        seen.insert(path.clone(), e.path.span());
        if opts.check_paths && !path.is_dir() {
            ctx.err(
                e.path.span(),
                format!("export path {} does not exist on this server", path.display()),
                format!(
                    "create it (mkdir -p {}) or fix `path`; use --no-path-check if this inventory is for another machine",
                    path.display()
                ),
            );
        }
        let access = match e.access.as_ref().map(|v| (v, v.get_ref().as_str())) {
            None | Some((_, "ro")) => Access::Ro,
            Some((_, "rw")) => Access::Rw,
            Some((v, other)) => {
                ctx.err(
                    v.span(),
                    format!("access `{other}` is not known"),
                    "use `ro` (read-only) or `rw` (read-write)".to_string(),
                );
                Access::Ro
            }
        };
        let mut allowed = vec![false; nodes.len()];
        match &e.nodes {
            None => allowed.iter_mut().for_each(|a| *a = true),
            Some(list) => {
                for who in list {
                    let w = who.get_ref().as_str();
                    if w == "*" {
                        allowed.iter_mut().for_each(|a| *a = true);
                    } else if profiles.contains_key(w) {
                        for (i, n) in nodes.iter().enumerate() {
                            if n.profile.as_deref() == Some(w) {
                                allowed[i] = true;
                            }
                        }
                    } else if let Some(i) = nodes.iter().position(|n| n.name == w) {
                        allowed[i] = true;
                    } else {
                        ctx.err(
                            who.span(),
                            format!(
                                "export {}: `{w}` is neither a node nor a profile",
                                path.display()
                            ),
                            "list node names, profile names or \"*\" for every node".to_string(),
                        );
                    }
                }
            }
        }
        let root = nodes.iter().any(|n| is_root(n, &path));
        for (i, n) in nodes.iter().enumerate() {
            if !allowed[i] && is_root(n, &path) {
                ctx.err(
                    se.span(),
                    format!(
                        "node `{}` boots from {} but may not mount it",
                        n.name,
                        path.display()
                    ),
                    format!(
                        "add `{}` (or its profile, or \"*\") to this export's nodes",
                        n.name
                    ),
                );
            }
        }
        out.push(Export {
            access,
            nodes: nodes
                .iter()
                .zip(&allowed)
                .filter(|(_, a)| **a)
                .map(|(n, _)| n.name.clone())
                .collect(),
            root: root || path == cluster.nfs_root,
            path,
        });
    }
    // Roots nobody listed are exported read-only to the nodes booting them.
    let mut roots: Vec<PathBuf> = vec![cluster.nfs_root.clone()];
    for n in nodes {
        if !roots.iter().any(|r| is_root(n, r)) {
            roots.push(root_of(n));
        }
    }
    for r in roots {
        if out.iter().any(|e| e.path == r) {
            continue;
        }
        out.push(Export {
            nodes: nodes
                .iter()
                .filter(|n| is_root(n, &r))
                .map(|n| n.name.clone())
                .collect(),
            path: r,
            access: Access::Ro,
            root: true,
        });
    }
    out
}
