//! Mounting the NFS root with the kernel's client through plain mount(2):
//! no mount.nfs helper resolves the server for us, so the text options must
//! carry `addr=`; `nolock` because no rpc.statd runs in the initramfs.

use super::config::StageConfig;
use super::dhcp_client::Lease;
use crate::sys::{MountArgs, MountFlags, Sys};
use crate::{info, warn};
use diskless_common::cmdline::NfsRoot;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Where the root comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootSpec {
    pub server: Ipv4Addr,
    pub path: String,
    /// nfsroot= options we pass on (rsize=, timeo=, …).
    pub extra: Vec<String>,
}

/// `nfsroot=` wins; its server defaults to `ip=`'s server field or the
/// DHCP next server. Without `nfsroot=`, DHCP option 17 (root path).
pub fn root_spec(cfg: &StageConfig, lease: Option<&Lease>) -> Result<RootSpec, String> {
    let dhcp_root = match lease.and_then(|l| l.root_path.as_deref()) {
        Some(p) => Some(NfsRoot::parse(p).map_err(|e| format!("DHCP root path `{p}`: {e}"))?),
        None => None,
    };
    let nfsroot = cfg.nfsroot.clone().or(dhcp_root).ok_or(
        "no root: give nfsroot=SERVER:/PATH on the kernel command line or a root-path (option 17) in the DHCP answer",
    )?;
    let server = nfsroot
        .server
        .or_else(|| cfg.static_ip.as_ref().and_then(|i| i.server))
        .or_else(|| lease.and_then(|l| l.next_server))
        .ok_or("nfsroot= names no server, and neither ip= nor DHCP gave one")?;
    const OURS: [&str; 8] = [
        "vers", "nfsvers", "proto", "tcp", "udp", "nolock", "lock", "addr",
    ];
    let extra = nfsroot
        .options
        .iter()
        .filter(|o| !OURS.contains(&o.split('=').next().unwrap_or("")))
        .cloned()
        .collect();
    Ok(RootSpec {
        server,
        path: nfsroot.path,
        extra,
    })
}

pub fn mount_args(spec: &RootSpec, target: &str, read_only: bool) -> MountArgs {
    let mut data = format!("vers=3,proto=tcp,nolock,addr={}", spec.server);
    for o in &spec.extra {
        data.push(',');
        data.push_str(o);
    }
    let flags = if read_only { MountFlags::RDONLY } else { 0 };
    MountArgs::new(
        &format!("{}:{}", spec.server, spec.path),
        target,
        "nfs",
        flags,
        &data,
    )
}

/// Mounts, retrying with a doubling pause (1 s … 8 s) until `timeout`.
pub fn mount(sys: &mut dyn Sys, args: &MountArgs, timeout: Duration) -> Result<(), String> {
    let deadline = sys.monotonic() + timeout;
    let mut pause = Duration::from_secs(1);
    loop {
        match sys.mount(args) {
            Ok(()) => {
                info!("mounted {} on {} ({})", args.source, args.target, args.data);
                return Ok(());
            }
            Err(e) if sys.monotonic() + pause < deadline => {
                warn!("mounting {}: {e}; retrying in {} s", args.source, pause.as_secs());
                sys.sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(8));
            }
            Err(e) => {
                return Err(format!(
                    "mounting the root {} failed for {} s, last error: {e}. Is the path exported to this node (diskless-server check), and is the server reachable?",
                    args.source,
                    timeout.as_secs()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, FakeSys};

    fn lease(root: Option<&str>) -> Lease {
        Lease {
            addr: Ipv4Addr::new(172, 16, 1, 10),
            mask: Ipv4Addr::new(255, 255, 255, 0),
            router: None,
            hostname: None,
            next_server: Some(Ipv4Addr::new(172, 16, 1, 1)),
            root_path: root.map(str::to_string),
            server_id: None,
        }
    }

    #[test]
    fn nfsroot_wins_and_server_defaults_to_next_server() {
        let cfg = StageConfig::from_cmdline("nfsroot=/srv/root,vers=3,tcp,rsize=131072");
        let s = root_spec(&cfg, Some(&lease(Some("9.9.9.9:/x")))).unwrap();
        assert_eq!(s.server, Ipv4Addr::new(172, 16, 1, 1));
        assert_eq!(s.path, "/srv/root");
        let a = mount_args(&s, "/lower", true);
        assert_eq!(a.source, "172.16.1.1:/srv/root");
        assert_eq!(
            a.data,
            "vers=3,proto=tcp,nolock,addr=172.16.1.1,rsize=131072"
        );
        assert!(a.flags.has(MountFlags::RDONLY));
    }

    #[test]
    fn dhcp_root_path_and_errors() {
        let cfg = StageConfig::from_cmdline("");
        let s = root_spec(&cfg, Some(&lease(Some("172.16.1.2:/r")))).unwrap();
        assert_eq!(
            (s.server, s.path.as_str()),
            (Ipv4Addr::new(172, 16, 1, 2), "/r")
        );
        assert!(root_spec(&cfg, Some(&lease(None)))
            .unwrap_err()
            .contains("nfsroot="));
        assert!(root_spec(&cfg, Some(&lease(Some("rel"))))
            .unwrap_err()
            .contains("rel"));
        let cfg = StageConfig::from_cmdline("nfsroot=/srv/root");
        assert!(root_spec(&cfg, None).unwrap_err().contains("no server"));
    }

    #[test]
    fn retries_then_explains() {
        let mut s = FakeSys::new();
        s.mount_errno.insert("/lower".into(), libc::ETIMEDOUT);
        let spec = RootSpec {
            server: Ipv4Addr::new(172, 16, 1, 1),
            path: "/r".into(),
            extra: vec![],
        };
        let e = mount(
            &mut s,
            &mount_args(&spec, "/lower", true),
            Duration::from_secs(20),
        )
        .unwrap_err();
        assert!(e.contains("diskless-server check"), "{e}");
        let sleeps: Vec<_> = s
            .calls
            .iter()
            .filter_map(|c| match c {
                Call::Sleep(d) => Some(d.as_secs()),
                _ => None,
            })
            .collect();
        assert_eq!(sleeps, [1, 2, 4, 8]);
    }
}
