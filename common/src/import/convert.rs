//! dhcpd statements + pxelinux boots → inventory TOML and notes.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use super::dhcpd::{self, SyntaxError};
use super::note::{Note, NoteKind};
use super::pxelinux;
use super::walk::{Host, Params, Walk};
use crate::cmdline::lint::{lint, Server};
use crate::cmdline::Cmdline;
use crate::inventory::{Mac, Subnet};

/// A pxelinux config file: its name (decides which node it is for) and text.
#[derive(Clone, Debug)]
pub struct PxeFile {
    pub name: String,
    pub text: String,
}

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The server address, if dhcpd.conf has no `next-server`.
    pub server: Option<Ipv4Addr>,
    pub cluster_name: Option<String>,
}

#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    pub notes: Vec<Note>,
    pub nodes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{origin}:{}: {}", .source.line, .source.message)]
    Syntax { origin: String, source: SyntaxError },
    #[error(
        "{0}: no `subnet … netmask … {{ }}` declaration; the inventory needs the nodes' subnet"
    )]
    NoSubnet(String),
    #[error("{0}: no `next-server` anywhere; pass the server's address with --server")]
    NoServer(String),
}

/// The boot found in a node's pxelinux config, already corrected.
#[derive(Clone, PartialEq, Eq)]
struct NodeBoot {
    kernel: String,
    initrd: Option<String>,
    nfs_root: Option<String>,
    router: Option<Ipv4Addr>,
    device: Option<String>,
    init: Option<String>,
    extra: String,
}

fn most_common<T: Clone + Eq + std::hash::Hash>(items: impl Iterator<Item = T>) -> Option<T> {
    let mut counts: Vec<(T, usize)> = Vec::new();
    let mut idx: HashMap<T, usize> = HashMap::new();
    for it in items {
        match idx.get(&it) {
            Some(&i) => counts[i].1 += 1,
            None => {
                idx.insert(it.clone(), counts.len());
                counts.push((it, 1));
            }
        }
    }
    // Ties go to the first seen, so output follows the input's order.
    let max = counts.iter().map(|c| c.1).max()?;
    counts.into_iter().find(|c| c.1 == max).map(|c| c.0)
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Which node a pxelinux.cfg file name is for.
enum Target {
    Mac(Mac),
    Ip(Ipv4Addr),
    Default,
}

fn target(name: &str) -> Option<Target> {
    let base = name.rsplit('/').next().unwrap_or(name);
    if base == "default" {
        return Some(Target::Default);
    }
    if base.len() >= 20 {
        let tail = &base[base.len() - 20..];
        if let Some(m) = tail.strip_prefix("01-") {
            if let Ok(mac) = m.parse::<Mac>() {
                return Some(Target::Mac(mac));
            }
        }
    }
    if base.len() == 8 && base.chars().all(|c| c.is_ascii_hexdigit()) {
        return u32::from_str_radix(base, 16)
            .ok()
            .map(|v| Target::Ip(v.into()));
    }
    None
}

/// Convert dhcpd.conf text (+ pxelinux files) into inventory TOML.
pub fn import(
    dhcpd_text: &str,
    origin: &str,
    pxe: &[PxeFile],
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let stmts = dhcpd::parse(dhcpd_text).map_err(|source| ImportError::Syntax {
        origin: origin.to_string(),
        source,
    })?;
    let mut w = Walk {
        origin,
        notes: Vec::new(),
        subnets: Vec::new(),
        hosts: Vec::new(),
        top: Params::default(),
    };
    w.walk(&stmts, &Params::default());
    let hosts = std::mem::take(&mut w.hosts);
    let subnets = std::mem::take(&mut w.subnets);

    let server = opts
        .server
        .or_else(|| most_common(hosts.iter().filter_map(|h| h.params.next_server)))
        .or(w.top.next_server)
        .ok_or_else(|| ImportError::NoServer(origin.to_string()))?;
    let (subnet, _, pool) = w
        .subnets
        .iter()
        .find(|s| s.0.contains(server))
        .or(subnets.first())
        .copied()
        .ok_or_else(|| ImportError::NoSubnet(origin.to_string()))?;
    for (s, line, _) in &subnets {
        if *s != subnet {
            let msg = format!(
                "subnet {s} is not carried over: the inventory has one boot subnet ({subnet})"
            );
            w.note(*line, NoteKind::Unmapped, msg);
        }
    }

    // Boot loader and TFTP root from `filename`.
    let filename = most_common(
        hosts
            .iter()
            .filter_map(|h| h.params.filename.as_ref().map(|f| f.0.clone())),
    )
    .or(w.top.filename.as_ref().map(|f| f.0.clone()));
    let (boot_root, loader) = match &filename {
        Some(f) if f.starts_with('/') => {
            let p = Path::new(f);
            let root = p
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or("/".into());
            let line = hosts
                .iter()
                .find_map(|h| h.params.filename.as_ref().map(|f| f.1))
                .unwrap_or(1);
            let file = p
                .file_name()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_default();
            w.note(line, NoteKind::Fixed, format!("filename \"{f}\" includes the TFTP root: boot_root = \"{root}\", loader_bios = \"{file}\""));
            (root, file)
        }
        Some(f) => {
            w.note(
                1,
                NoteKind::Assumed,
                "boot_root = \"/srv/tftp\" (dhcpd.conf does not say where the TFTP root is)".into(),
            );
            ("/srv/tftp".to_string(), f.clone())
        }
        None => {
            w.note(
                1,
                NoteKind::Assumed,
                "no `filename`: loader_bios = \"pxelinux.0\", boot_root = \"/srv/tftp\"".into(),
            );
            ("/srv/tftp".to_string(), "pxelinux.0".to_string())
        }
    };
    let mut loader_uefi = None;
    for h in &hosts {
        if let Some((f, line)) = &h.params.filename {
            let base = f.rsplit('/').next().unwrap_or(f);
            if base == loader {
                continue;
            }
            if base.ends_with(".efi") && loader_uefi.is_none() {
                loader_uefi = Some(base.to_string());
                continue;
            }
            if Some(base) != loader_uefi.as_deref() {
                let msg = format!("host `{}` boots `{f}`; the inventory has one BIOS and one UEFI loader for all nodes", h.name);
                w.note(*line, NoteKind::Unmapped, msg);
            }
        }
        if h.params.next_server.is_some_and(|n| n != server) {
            let msg = format!(
                "host `{}` has next-server {}; every node boots from {server}",
                h.name,
                h.params.next_server.unwrap()
            );
            w.note(h.line, NoteKind::Unmapped, msg);
        }
    }

    // pxelinux configs: which node each is for, and what it boots.
    let mut by_mac: HashMap<Mac, &PxeFile> = HashMap::new();
    let mut by_ip: HashMap<Ipv4Addr, &PxeFile> = HashMap::new();
    let mut default_cfg = None;
    for f in pxe {
        match target(&f.name) {
            Some(Target::Mac(m)) => {
                by_mac.insert(m, f);
            }
            Some(Target::Ip(ip)) => {
                by_ip.insert(ip, f);
            }
            Some(Target::Default) => default_cfg = Some(f),
            None => {}
        }
    }
    let mut boots: Vec<Option<NodeBoot>> = Vec::new();
    let mut used: Vec<&str> = Vec::new();
    for h in &hosts {
        let f = by_mac
            .get(&h.mac)
            .or_else(|| by_ip.get(&h.ip))
            .copied()
            .or(default_cfg);
        boots.push(f.and_then(|f| {
            used.push(&f.name);
            node_boot(&mut w.notes, f, h, server, subnet)
        }));
    }
    for f in pxe {
        if target(&f.name).is_some() && !used.contains(&f.name.as_str()) {
            w.notes.push(Note {
                origin: f.name.clone(),
                line: 1,
                kind: NoteKind::Unmapped,
                message: "matches no host in dhcpd.conf".into(),
            });
        }
    }

    // Cluster-wide values are the most common ones; the rest become
    // per-node overrides.
    let kernel = most_common(boots.iter().flatten().map(|b| b.kernel.clone()));
    let initrd = most_common(boots.iter().flatten().map(|b| b.initrd.clone())).flatten();
    let extra = most_common(boots.iter().flatten().map(|b| b.extra.clone())).unwrap_or_default();
    let nfs_root = most_common(boots.iter().flatten().filter_map(|b| b.nfs_root.clone()))
        .or(w.top.root_path.clone());
    let router = most_common(boots.iter().flatten().filter_map(|b| b.router))
        .or(w.top.routers)
        .or_else(|| most_common(hosts.iter().filter_map(|h| h.params.routers)));
    let nfs_root = nfs_root.unwrap_or_else(|| {
        w.note(
            1,
            NoteKind::Assumed,
            "nfs_root = \"/srv/nfsroot\": no nfsroot= or root-path found".into(),
        );
        "/srv/nfsroot".into()
    });
    let kernel = kernel.unwrap_or_else(|| {
        w.note(
            1,
            NoteKind::Assumed,
            "kernel = \"vmlinuz\": no pxelinux config named a kernel (pass --pxelinux-dir)".into(),
        );
        "vmlinuz".into()
    });
    for (h, b) in hosts.iter().zip(&boots) {
        if b.is_none() && !pxe.is_empty() {
            let msg = format!("no pxelinux config for `{}` (01-{}, {:08X} or default): it boots the cluster's kernel", h.name, h.mac.to_string().replace(':', "-"), u32::from(h.ip));
            w.note(h.line, NoteKind::Assumed, msg);
        }
    }

    let mut t = String::new();
    t.push_str(&format!("# Imported from {origin} by `diskless-server import`.\n# Review the notes it printed; format: docs/inventory.md.\n\n[cluster]\n"));
    let name = opts
        .cluster_name
        .clone()
        .unwrap_or_else(|| "cluster".into());
    t.push_str(&format!("name = {}\n", q(&name)));
    t.push_str(&format!("server = {}\n", q(&server.to_string())));
    t.push_str(&format!("subnet = {}\n", q(&subnet.to_string())));
    if let Some(r) = router {
        t.push_str(&format!("router = {}\n", q(&r.to_string())));
    }
    let dns = if w.top.dns.is_empty() {
        hosts
            .first()
            .map(|h| h.params.dns.clone())
            .unwrap_or_default()
    } else {
        w.top.dns.clone()
    };
    if !dns.is_empty() {
        let l: Vec<String> = dns.iter().map(|d| q(&d.to_string())).collect();
        t.push_str(&format!("dns = [{}]\n", l.join(", ")));
    }
    if let Some(d) = &w.top.domain {
        t.push_str(&format!("domain = {}\n", q(d)));
    }
    t.push_str(&format!("boot_root = {}\n", q(&boot_root)));
    t.push_str(&format!("loader_bios = {}\n", q(&loader)));
    if let Some(u) = &loader_uefi {
        t.push_str(&format!("loader_uefi = {}\n", q(u)));
    }
    t.push_str(&format!("nfs_root = {}\n", q(&nfs_root)));
    t.push_str("nfs_options = \"vers=3,tcp\"\n");
    t.push_str(&format!("kernel = {}\n", q(&kernel)));
    if let Some(i) = &initrd {
        t.push_str(&format!("initrd = {}\nboot_mode = \"initramfs\"\n", q(i)));
    } else {
        t.push_str("boot_mode = \"direct\"\n");
    }
    if !extra.is_empty() {
        t.push_str(&format!("cmdline = {}\n", q(&extra)));
    }
    if let Some((a, b)) = pool {
        t.push_str(&format!("dhcp_pool = \"{a}-{b}\"\n"));
    }
    if let Some(l) = w.top.lease {
        t.push_str(&format!("lease_time = {l}\n"));
    }
    for (h, b) in hosts.iter().zip(&boots) {
        t.push('\n');
        for c in &h.comments {
            t.push_str(&format!("# {c}\n"));
        }
        t.push_str(&format!(
            "[[nodes]]\nname = {}\nmac = {}\nip = {}\n",
            q(&h.name),
            q(&h.mac.to_string()),
            q(&h.ip.to_string())
        ));
        if let Some(b) = b {
            if b.kernel != kernel {
                t.push_str(&format!("kernel = {}\n", q(&b.kernel)));
            }
            if b.initrd != initrd {
                if let Some(i) = &b.initrd {
                    t.push_str(&format!("initrd = {}\n", q(i)));
                }
            }
            if b.extra != extra {
                t.push_str(&format!("cmdline = {}\n", q(&b.extra)));
            }
            if let Some(r) = b.nfs_root.as_ref().filter(|r| **r != nfs_root) {
                t.push_str(&format!("nfs_root = {}\n", q(r)));
            }
            if let Some(d) = &b.device {
                t.push_str(&format!("ip_device = {}\n", q(d)));
            }
            if let Some(i) = &b.init {
                t.push_str(&format!("init = {}\n", q(i)));
            }
        }
    }
    let nodes = hosts.len();
    Ok(Imported {
        toml: t,
        notes: w.notes,
        nodes,
    })
}

/// Reads one node's pxelinux config: what it boots, corrected, with notes.
fn node_boot(
    notes: &mut Vec<Note>,
    f: &PxeFile,
    h: &Host,
    server: Ipv4Addr,
    subnet: Subnet,
) -> Option<NodeBoot> {
    let cfg = pxelinux::parse(&f.text);
    let mut note = |line: usize, kind, message: String| {
        notes.push(Note {
            origin: f.name.clone(),
            line,
            kind,
            message,
        })
    };
    for (line, text, why) in &cfg.ignored {
        note(*line, NoteKind::Unmapped, format!("`{text}`: {why}"));
    }
    let Some(boot) = cfg.boot() else {
        note(
            1,
            NoteKind::Unmapped,
            "boots nothing (no DEFAULT, ONTIMEOUT or LABEL)".into(),
        );
        return None;
    };
    for l in cfg.lines.iter().filter(|l| !l.continued.is_empty()) {
        note(
            l.continued[0],
            NoteKind::Fixed,
            format!(
                "lines {}-{} end in `\\`, which pxelinux does not join (the kernel saw only the first line); joined them",
                l.line,
                l.continued.last().unwrap() + 1
            ),
        );
    }
    let report = lint(&boot.args, Server::default());
    for fi in &report.findings {
        if fi.message.contains("backslash") {
            continue;
        }
        note(
            boot.line,
            NoteKind::Fixed,
            format!("{} → {}", fi.message, fi.fix),
        );
    }
    let c = Cmdline::parse(&report.corrected);
    let mut b = NodeBoot {
        kernel: boot.kernel.clone(),
        initrd: boot.initrd.clone(),
        nfs_root: None,
        router: None,
        device: None,
        init: None,
        extra: String::new(),
    };
    let mut extra = Vec::new();
    for a in &c.args {
        let v = a.value.clone().unwrap_or_default();
        match a.key.as_str() {
            "root" if v == "/dev/nfs" => {}
            "initrd" => b.initrd = Some(v),
            "init" => b.init = Some(v),
            "nfsroot" => match crate::cmdline::NfsRoot::parse(&v) {
                Ok(n) => {
                    if n.server.is_some_and(|s| s != server) {
                        note(boot.line, NoteKind::Unmapped, format!("nfsroot server {} differs from the DHCP next-server {server}; the inventory serves the root from {server}", n.server.unwrap()));
                    }
                    b.nfs_root = Some(n.path);
                }
                Err(e) => note(boot.line, NoteKind::Unmapped, e.to_string()),
            },
            "ip" => {
                if let Ok(crate::cmdline::IpParam::Static(ip)) = crate::cmdline::IpParam::parse(&v)
                {
                    if ip.client.is_some_and(|c| c != h.ip) {
                        note(boot.line, NoteKind::Fixed, format!("ip= client {} differs from fixed-address {}; the inventory uses {}", ip.client.unwrap(), h.ip, h.ip));
                    }
                    b.router = ip.gateway.filter(|g| subnet.contains(*g));
                    b.device = ip.device.filter(|d| d != "eth0");
                } else {
                    note(
                        boot.line,
                        NoteKind::Assumed,
                        format!("ip={v} replaced by a static ip= from the inventory"),
                    );
                }
            }
            _ => extra.push(a.raw.clone()),
        }
    }
    b.extra = extra.join(" ");
    Some(b)
}

#[cfg(test)]
mod tests;
