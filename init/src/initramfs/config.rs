//! What the initramfs stage reads from the kernel command line: the same
//! `ip=`/`nfsroot=` as a direct NFS-root boot, plus `init=` and our
//! `diskless.*` arguments.

use diskless_common::cmdline::{Autoconf, Cmdline, DisklessArgs, IpConfig, IpParam, NfsRoot};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageConfig {
    /// Static addressing from `ip=` (client field set, autoconf off/none or
    /// empty); `None` = DHCP.
    pub static_ip: Option<IpConfig>,
    /// The interface named by `ip=` field 6.
    pub device: Option<String>,
    /// `ip=` hostname field; DHCP's option 12 otherwise.
    pub hostname: Option<String>,
    pub nfsroot: Option<NfsRoot>,
    /// `init=`; default: the root's `/sbin/diskless-init`, else `/sbin/init`.
    pub init: Option<String>,
    /// `diskless.overlay=none` turns the tmpfs overlay off (default on).
    pub overlay: bool,
    /// `rw` on the command line: without the overlay, mount the NFS root
    /// read-write.
    pub rw: bool,
    /// Extra module names from `diskless.modules=`.
    pub modules: Vec<String>,
    /// How long each network phase retries (`diskless.timeout=`, default 60 s).
    pub timeout: Duration,
    /// Problems with the command line, logged (the stage goes on without
    /// the bad argument).
    pub problems: Vec<String>,
}

impl StageConfig {
    pub fn from_cmdline(line: &str) -> StageConfig {
        let c = Cmdline::parse(line);
        let d = DisklessArgs::from_cmdline(&c);
        let mut problems = vec![];
        let mut static_ip = None;
        let mut device = None;
        let mut hostname = None;
        match c.ip() {
            Some(Ok(IpParam::Static(ip))) => {
                device = ip.device.clone();
                hostname = ip.hostname.clone();
                let auto_off = matches!(ip.autoconf, Some(Autoconf::Off) | None);
                if ip.client.is_some() && auto_off {
                    static_ip = Some(ip);
                }
            }
            Some(Ok(IpParam::Method(_))) | None => {}
            Some(Err(e)) => problems.push(format!("{e}; using DHCP")),
        }
        let nfsroot = match c.nfsroot() {
            Some(Ok(n)) => Some(n),
            Some(Err(e)) => {
                problems.push(format!("{e}; using the DHCP root path"));
                None
            }
            None => None,
        };
        for (k, v) in &d.invalid {
            problems.push(format!("{k}={v} is not valid; ignored"));
        }
        StageConfig {
            static_ip,
            device,
            hostname,
            nfsroot,
            init: c.get("init").filter(|s| !s.is_empty()).map(str::to_string),
            overlay: c.get("diskless.overlay") != Some("none"),
            rw: c.has_flag("rw"),
            modules: d.modules,
            timeout: Duration::from_secs(d.timeout.unwrap_or(60).max(1) as u64),
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhcp_by_default_with_overlay() {
        let c = StageConfig::from_cmdline("console=ttyS0 quiet");
        assert!(c.static_ip.is_none() && c.overlay && c.nfsroot.is_none());
        assert_eq!(c.timeout, Duration::from_secs(60));
    }

    #[test]
    fn static_ip_and_nfsroot_and_init() {
        let c = StageConfig::from_cmdline(
            "ip=172.16.1.10:172.16.1.1::255.255.255.0:n1:eth0:off nfsroot=172.16.1.1:/srv/root,vers=3 init=/bin/sh diskless.overlay=none rw diskless.timeout=5",
        );
        let ip = c.static_ip.expect("static");
        assert_eq!(ip.client, Some("172.16.1.10".parse().unwrap()));
        assert_eq!(c.device.as_deref(), Some("eth0"));
        assert_eq!(c.hostname.as_deref(), Some("n1"));
        assert_eq!(c.nfsroot.unwrap().path, "/srv/root");
        assert_eq!(c.init.as_deref(), Some("/bin/sh"));
        assert!(!c.overlay && c.rw);
        assert_eq!(c.timeout, Duration::from_secs(5));
    }

    #[test]
    fn ip_with_dhcp_autoconf_keeps_device() {
        let c = StageConfig::from_cmdline("ip=:::::eth1:dhcp");
        assert!(c.static_ip.is_none());
        assert_eq!(c.device.as_deref(), Some("eth1"));
    }

    #[test]
    fn bad_arguments_are_problems_not_panics() {
        let c = StageConfig::from_cmdline("ip=1.2.3:x nfsroot=relative diskless.timeout=soon");
        assert_eq!(c.problems.len(), 3, "{:?}", c.problems);
        assert!(c.static_ip.is_none() && c.nfsroot.is_none());
    }
}
