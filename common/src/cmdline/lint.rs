//! The command line linter: every problem that stops (or slows) an NFS-root
//! boot, each with the corrected argument. Used by
//! `diskless-mkimage check-cmdline` and by the importer.

use std::fmt;
use std::net::Ipv4Addr;

use super::args::{Arg, Cmdline};
use super::diskless::{DisklessArgs, KNOWN};
use super::ip::{Autoconf, FIELD_NAMES};
use super::nfsroot::NfsRoot;

#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Finding {
    pub severity: Severity,
    /// Byte offset of the argument in the command line.
    pub offset: usize,
    pub message: String,
    /// What to write instead (the whole corrected argument), or advice.
    pub fix: String,
}

/// Result of linting one command line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// The command line with every mechanical fix applied.
    pub corrected: String,
}

/// What the linter may assume about the server. Ours speaks NFSv3 over TCP.
#[derive(Clone, Copy, Debug)]
pub struct Server {
    pub nfs_vers: &'static str,
    pub transport: &'static str,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            nfs_vers: "3",
            transport: "tcp",
        }
    }
}

fn mask_prefix(m: Ipv4Addr) -> Option<u8> {
    let v = u32::from(m);
    (v.leading_ones() + v.trailing_zeros() == 32).then_some(v.leading_ones() as u8)
}

struct Lint {
    findings: Vec<Finding>,
}

impl Lint {
    fn push(&mut self, sev: Severity, a: &Arg, message: String, fix: String) {
        self.findings.push(Finding {
            severity: sev,
            offset: a.offset,
            message,
            fix,
        });
    }
}

/// Lint a kernel command line (as the kernel would receive it).
pub fn lint(line: &str, server: Server) -> Report {
    let c = Cmdline::parse(line);
    let mut l = Lint {
        findings: Vec::new(),
    };
    let mut fixed: Vec<Option<String>> = Vec::with_capacity(c.args.len());
    for a in &c.args {
        fixed.push(check_arg(&mut l, a, server));
    }
    whole_line(&mut l, &c, &fixed);
    let mut out = Cmdline::default();
    for (a, f) in c.args.iter().zip(&fixed) {
        match f {
            Some(s) if s.is_empty() => {}
            Some(s) => {
                out.args.extend(Cmdline::parse(s).args);
            }
            None => out.args.push(a.clone()),
        }
    }
    out.init_args = c.init_args.clone();
    l.findings.sort_by_key(|f| f.offset);
    Report {
        findings: l.findings,
        corrected: out.to_string(),
    }
}

/// Checks one argument; returns its corrected form if it needs one
/// (`Some("")` = drop it).
fn check_arg(l: &mut Lint, a: &Arg, server: Server) -> Option<String> {
    let mut raw = a.raw.clone();
    if raw.contains('\\') {
        raw = raw.replace('\\', "");
        l.push(
            Severity::Error,
            a,
            format!(
                "`{}` contains a backslash: pxelinux does not join lines ending in `\\`, so the kernel gets it literally and the next lines are lost",
                a.raw
            ),
            format!("write the whole APPEND on one line: {raw}"),
        );
        if raw.is_empty() {
            return Some(String::new());
        }
    }
    let value = Cmdline::parse(&raw).args.pop().and_then(|x| x.value);
    let value = value.as_deref().unwrap_or("");
    let corrected = match a.key.as_str() {
        "root" => check_root(l, a, value),
        "ip" => check_ip(l, a, value),
        "nfsroot" => check_nfsroot(l, a, value, server),
        "init" | "rdinit" if !value.starts_with('/') => {
            l.push(
                Severity::Error,
                a,
                format!("{}={value} is not an absolute path", a.key),
                format!("{}=/sbin/init", a.key),
            );
            None
        }
        "console" if value.is_empty() => {
            l.push(
                Severity::Warning,
                a,
                "console= is empty".into(),
                "console=ttyS0,115200 (serial) or console=tty0 (screen)".into(),
            );
            None
        }
        k if k.starts_with("diskless.") => {
            let d = DisklessArgs::from_cmdline(&Cmdline::parse(&raw));
            if !d.unknown.is_empty() {
                l.push(
                    Severity::Warning,
                    a,
                    format!("`{k}` is not a diskless argument"),
                    format!("known: {}", KNOWN.join(", ")),
                );
            }
            for (k, v) in &d.invalid {
                l.push(
                    Severity::Error,
                    a,
                    format!("{k}={v}: value not understood"),
                    "see docs/cmdline.md for the values each diskless.* argument takes".into(),
                );
            }
            None
        }
        _ => None,
    };
    match corrected {
        Some(c) => Some(c),
        None if raw != a.raw => Some(raw),
        None => None,
    }
}

fn check_root(l: &mut Lint, a: &Arg, value: &str) -> Option<String> {
    if value == "/dev/nfsroot" || (value.starts_with("/dev/nfs") && value != "/dev/nfs") {
        l.push(
            Severity::Error,
            a,
            format!(
                "root={value} is not a device the kernel knows; it mounts the NFS root only for root=/dev/nfs"
            ),
            "root=/dev/nfs".into(),
        );
        return Some("root=/dev/nfs".into());
    }
    None
}

fn check_ip(l: &mut Lint, a: &Arg, value: &str) -> Option<String> {
    let mut changed = false;
    let unquoted: String = value.chars().filter(|c| !matches!(c, '\'' | '"')).collect();
    if unquoted != value {
        changed = true;
        l.push(
            Severity::Error,
            a,
            format!(
                "ip= contains quotes: the kernel does not strip them, so `{}` is not an autoconf method it knows",
                value.rsplit(':').find(|f| f.contains('\'')).unwrap_or(value)
            ),
            "@ip".into(),
        );
    }
    if !unquoted.contains(':') {
        if Autoconf::parse(&unquoted).is_some() {
            resolve_markers(l, a, &format!("ip={unquoted}"));
            return changed.then(|| format!("ip={unquoted}"));
        }
        if unquoted.parse::<Ipv4Addr>().is_err() {
            l.push(
                Severity::Error,
                a,
                format!("ip={unquoted}: not an autoconf method or an address"),
                "ip=dhcp, or the static form ip=client:server:gw:netmask:hostname:device:off"
                    .into(),
            );
            resolve_markers(l, a, &format!("ip={unquoted}"));
            return changed.then(|| format!("ip={unquoted}"));
        }
    }
    let mut fields: Vec<String> = unquoted.split(':').map(str::to_string).collect();
    if fields.len() > FIELD_NAMES.len() {
        l.push(
            Severity::Error,
            a,
            format!(
                "ip= has {} fields; the kernel reads at most 10",
                fields.len()
            ),
            "client-ip:server-ip:gw-ip:netmask:hostname:device:autoconf:dns0-ip:dns1-ip:ntp0-ip"
                .into(),
        );
        return changed.then(|| format!("ip={unquoted}"));
    }
    let mut addr = [None; 10];
    for (i, f) in fields.iter().enumerate() {
        if [0, 1, 2, 3, 7, 8, 9].contains(&i) && !f.is_empty() {
            match f.parse::<Ipv4Addr>() {
                Ok(ip) => addr[i] = Some(ip),
                Err(_) => l.push(
                    Severity::Error,
                    a,
                    format!(
                        "ip= field {} ({}) `{f}` is not an IPv4 address",
                        i + 1,
                        FIELD_NAMES[i]
                    ),
                    "fields are client-ip:server-ip:gw-ip:netmask:hostname:device:autoconf".into(),
                ),
            }
        }
    }
    if let Some(m) = fields.get(6).filter(|m| !m.is_empty()) {
        if Autoconf::parse(m).is_none() {
            l.push(
                Severity::Error,
                a,
                format!(
                    "ip= autoconf field `{m}` is not off, none, on, any, dhcp, bootp, rarp or both"
                ),
                "use `off` for a static address".into(),
            );
        }
    }
    let (client, gw, mask) = (addr[0], addr[2], addr[3]);
    if client.is_some() && fields.get(3).is_none_or(|m| m.is_empty()) {
        l.push(
            Severity::Warning,
            a,
            "ip= has no netmask: the kernel then guesses a classful one (255.255.0.0 for 172.16.x.x)"
                .into(),
            "fill field 4, e.g. …:255.255.255.0:…".into(),
        );
    }
    if let (Some(c), Some(m)) = (client, mask) {
        match mask_prefix(m) {
            None => l.push(
                Severity::Error,
                a,
                format!("ip= netmask {m} is not a contiguous mask"),
                "e.g. 255.255.255.0".into(),
            ),
            Some(p) => {
                let net = u32::from(c) & u32::from(m);
                let bcast = Ipv4Addr::from(net | !u32::from(m));
                let netaddr = Ipv4Addr::from(net);
                if p < 31 && (c == bcast || c == netaddr) {
                    l.push(
                        Severity::Error,
                        a,
                        format!("ip= client-ip {c} is the network or broadcast address of {netaddr}/{p}"),
                        "give the node a host address".into(),
                    );
                }
                if let Some(g) = gw {
                    if g == bcast {
                        fields[2].clear();
                        changed = true;
                        l.push(
                            Severity::Error,
                            a,
                            format!(
                                "ip= gw-ip (field 3) is {g}, the broadcast address of {netaddr}/{p}; the fields are client-ip:server-ip:gw-ip:netmask, there is no broadcast field"
                            ),
                            "@ip-gw".into(),
                        );
                    } else if u32::from(g) & u32::from(m) != net {
                        l.push(
                            Severity::Warning,
                            a,
                            format!("ip= gw-ip {g} is not on the node's subnet {netaddr}/{p}"),
                            "the gateway must be reachable directly; use a router on the subnet"
                                .into(),
                        );
                    }
                }
            }
        }
    }
    let s = if changed {
        format!("ip={}", fields.join(":"))
    } else {
        format!("ip={unquoted}")
    };
    resolve_markers(l, a, &s);
    changed.then_some(s)
}

/// ip= findings are pushed before the corrected value is known; fill it in.
fn resolve_markers(l: &mut Lint, a: &Arg, fixed: &str) {
    for f in l.findings.iter_mut().filter(|f| f.offset == a.offset) {
        if f.fix == "@ip" {
            f.fix = fixed.to_string();
        } else if f.fix == "@ip-gw" {
            f.fix = format!("{fixed} (or put your router in field 3)");
        }
    }
}

fn check_nfsroot(l: &mut Lint, a: &Arg, value: &str, server: Server) -> Option<String> {
    let mut n = match NfsRoot::parse(value) {
        Ok(n) => n,
        Err(e) => {
            l.push(
                Severity::Error,
                a,
                e.to_string(),
                "nfsroot=SERVER-IP:/absolute/path,vers=3,tcp".into(),
            );
            return None;
        }
    };
    let mut missing = Vec::new();
    match n.version() {
        None => missing.push(format!(
            "no vers=: depending on the kernel's config it tries NFSv2 or v4 first, and our server speaks NFSv{} only",
            server.nfs_vers
        )),
        Some(v) if v != server.nfs_vers => {
            l.push(
                Severity::Error,
                a,
                format!("nfsroot= asks for NFS version {v}; our server speaks NFSv{} only", server.nfs_vers),
                format!("vers={}", server.nfs_vers),
            );
            n.options.retain(|o| !o.starts_with("vers=") && !o.starts_with("nfsvers="));
            n.options.push(format!("vers={}", server.nfs_vers));
        }
        _ => {}
    }
    if n.version().is_none() {
        n.options.push(format!("vers={}", server.nfs_vers));
    }
    match n.transport() {
        None => {
            missing.push(format!(
                "no transport: older kernels mount the root over UDP, our server serves {}",
                server.transport
            ));
            n.options.push(server.transport.to_string());
        }
        Some(t) if t != server.transport => {
            l.push(
                Severity::Error,
                a,
                format!(
                    "nfsroot= asks for {t}; our server serves {}",
                    server.transport
                ),
                format!("replace it with {}", server.transport),
            );
        }
        _ => {}
    }
    if n.server.is_none() {
        l.push(
            Severity::Warning,
            a,
            "nfsroot= names no server: the kernel then uses the DHCP/ip= server-ip".into(),
            "write it explicitly, nfsroot=SERVER-IP:/path".into(),
        );
    }
    if missing.is_empty() {
        return None;
    }
    let fixed = format!("nfsroot={n}");
    l.push(
        Severity::Error,
        a,
        format!("nfsroot= {}", missing.join("; ")),
        fixed.clone(),
    );
    Some(fixed)
}

fn whole_line(l: &mut Lint, c: &Cmdline, fixed: &[Option<String>]) {
    let root = c.get("root");
    let has_nfsroot = c.get("nfsroot").is_some();
    if has_nfsroot && root.is_none() && !c.has_flag("initrd") {
        if let Some(a) = c.args.iter().find(|a| a.key == "nfsroot") {
            l.push(
                Severity::Warning,
                a,
                "nfsroot= without root=/dev/nfs: the kernel ignores nfsroot= unless root=/dev/nfs (or an initramfs reads it)"
                    .into(),
                "add root=/dev/nfs".into(),
            );
        }
    }
    if root == Some("/dev/nfs") && c.get("ip").is_none() {
        if let Some(a) = c.args.iter().find(|a| a.key == "root") {
            l.push(
                Severity::Warning,
                a,
                "root=/dev/nfs without ip=: the kernel brings no interface up unless told".into(),
                "add ip=dhcp, or the static ip=client:server:gw:netmask:hostname:device:off".into(),
            );
        }
    }
    // The same parameter twice with different values: the last one wins.
    for key in ["root", "ip", "nfsroot", "init"] {
        let all: Vec<(&Arg, String)> = c
            .args
            .iter()
            .zip(fixed)
            .filter(|(a, _)| a.key == key)
            .map(|(a, f)| (a, f.clone().unwrap_or_else(|| a.raw.clone())))
            .collect();
        if all.len() > 1 && all.iter().any(|(_, v)| *v != all[0].1) {
            l.push(
                Severity::Warning,
                all[0].0,
                format!(
                    "{key}= is given {} times with different values; the last one wins",
                    all.len()
                ),
                format!("keep only {}", all[all.len() - 1].1),
            );
        }
    }
}

#[cfg(test)]
mod tests;
