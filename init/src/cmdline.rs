//! The parts of the kernel command line init needs: `ip=` (hostname, server,
//! NTP server), `nfsroot=` (server) and our own `diskless.*` arguments.
//! (Minimal on purpose: `diskless_common::cmdline` is the full model; this
//! reads what the kernel actually booted with, including the seed's quirks.)

use std::net::IpAddr;

/// What init takes from `/proc/cmdline`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelArgs {
    /// `ip=` field 1, the client address.
    pub client: Option<IpAddr>,
    /// `ip=` field 2, the NFS server (when `nfsroot=` names none).
    pub ip_server: Option<IpAddr>,
    /// `ip=` field 5.
    pub hostname: Option<String>,
    /// `ip=` field 10 (kernels ≥ 5.x fill it from DHCP too).
    pub ntp_server: Option<IpAddr>,
    /// `ip=dhcp` and friends, or field 7.
    pub autoconf: Option<String>,
    /// The server part of `nfsroot=server:/path`.
    pub nfs_server: Option<IpAddr>,
    /// `diskless.sntp=ADDR` or `diskless.sntp=off`.
    pub sntp: Option<String>,
    /// `diskless.config=PATH`: another init.toml.
    pub config: Option<String>,
    /// Remarks about what was odd (quotes around fields, …).
    pub notes: Vec<String>,
}

/// Splits on spaces, keeping double-quoted values together (as the kernel does).
pub fn tokens(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn ip_field(v: &str) -> Option<IpAddr> {
    v.trim().parse().ok()
}

impl KernelArgs {
    pub fn parse(line: &str) -> KernelArgs {
        let mut k = KernelArgs::default();
        for tok in tokens(line) {
            let (key, val) = match tok.split_once('=') {
                Some(kv) => kv,
                None => continue,
            };
            match key {
                "ip" | "nfsaddrs" => k.parse_ip(val),
                "nfsroot" => {
                    if let Some((srv, _)) = val.split_once(':') {
                        k.nfs_server = ip_field(srv);
                    }
                }
                "diskless.sntp" => k.sntp = Some(val.to_string()),
                "diskless.config" => k.config = Some(val.to_string()),
                _ => {}
            }
        }
        k
    }

    fn parse_ip(&mut self, val: &str) {
        if !val.contains(':') {
            self.autoconf = Some(val.to_string());
            return;
        }
        let f: Vec<&str> = val.split(':').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        self.client = ip_field(get(0));
        self.ip_server = ip_field(get(1));
        let host = get(4).trim();
        if !host.is_empty() {
            self.hostname = Some(host.to_string());
        }
        let auto = get(6);
        if auto.contains('\'') {
            // The seed writes `'off'`; the kernel reads that as "unknown".
            self.notes.push(format!(
                "ip= autoconf field {auto} has quotes; the kernel ignores quoted values, write off"
            ));
        }
        let auto = auto.trim_matches('\'');
        if !auto.is_empty() {
            self.autoconf = Some(auto.to_string());
        }
        self.ntp_server = ip_field(get(9));
    }
}

/// `bootserver A.B.C.D` from `/proc/net/pnp` (set by kernel DHCP/BOOTP).
pub fn pnp_bootserver(pnp: &str) -> Option<IpAddr> {
    pnp.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        match (w.next(), w.next()) {
            (Some("bootserver"), Some(a)) => {
                a.parse().ok().filter(|a: &IpAddr| !a.is_unspecified())
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_cmdline() {
        let k = KernelArgs::parse(
            "root=/dev/nfsroot nfsroot=172.16.1.1:/home/common/cluster \
             ip=172.16.1.10:172.16.1.1:172.16.1.255:255.255.255.0:::'off'",
        );
        assert_eq!(k.nfs_server, Some("172.16.1.1".parse().unwrap()));
        assert_eq!(k.client, Some("172.16.1.10".parse().unwrap()));
        assert_eq!(k.hostname, None);
        assert_eq!(k.autoconf.as_deref(), Some("off"));
        assert_eq!(k.notes.len(), 1);
    }

    #[test]
    fn full_ip_field() {
        let k = KernelArgs::parse(
            "console=ttyS0 ip=10.0.0.5:10.0.0.1:10.0.0.1:255.0.0.0:node05:eth0:off:10.0.0.1::10.0.0.9 \
             diskless.sntp=off",
        );
        assert_eq!(k.hostname.as_deref(), Some("node05"));
        assert_eq!(k.ntp_server, Some("10.0.0.9".parse().unwrap()));
        assert_eq!(k.sntp.as_deref(), Some("off"));
        assert_eq!(k.nfs_server, None);
    }

    #[test]
    fn garbage_does_not_panic() {
        for s in [
            "ip=",
            "ip=:::::::::::::::",
            "nfsroot=",
            "=",
            "ip=dhcp",
            "\"unterminated",
        ] {
            let _ = KernelArgs::parse(s);
        }
        assert_eq!(
            KernelArgs::parse("ip=dhcp").autoconf.as_deref(),
            Some("dhcp")
        );
        assert_eq!(tokens("a=\"b c\" d"), vec!["a=b c", "d"]);
    }

    #[test]
    fn pnp() {
        let t = "#PROTO: DHCP\ndomain example\nnameserver 10.0.0.1\nbootserver 10.0.0.2\n";
        assert_eq!(pnp_bootserver(t), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(pnp_bootserver("bootserver 0.0.0.0\n"), None);
    }
}
