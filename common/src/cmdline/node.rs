//! The full kernel command line for one inventory node.

use super::args::Cmdline;
use super::diskless::DisklessArgs;
use super::ip::{Autoconf, IpConfig};
use super::nfsroot::NfsRoot;
use crate::inventory::{Access, BootMode, Inventory, Node};

/// `ip=` for a node: static, no autoconfiguration (the server already knows
/// everything DHCP would say), gateway only if the node's subnet (the
/// cluster's, or a relay subnet's) has a router.
pub fn node_ip(inv: &Inventory, node: &Node) -> IpConfig {
    let c = &inv.cluster;
    let (subnet, router) = inv.network_of(node.ip).unwrap_or((c.subnet, c.router));
    IpConfig {
        client: Some(node.ip),
        server: Some(c.server),
        gateway: router,
        netmask: Some(subnet.mask()),
        hostname: Some(node.name.clone()),
        device: Some(node.boot.ip_device.clone().unwrap_or_else(|| "eth0".into())),
        autoconf: Some(Autoconf::Off),
        dns0: c.dns.first().copied(),
        dns1: c.dns.get(1).copied(),
        ntp0: None,
    }
}

pub fn node_nfsroot(inv: &Inventory, node: &Node) -> NfsRoot {
    NfsRoot {
        server: Some(inv.cluster.server),
        path: inv.nfs_root_of(node).display().to_string(),
        options: inv
            .cluster
            .nfs_options
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// Structured form of [`node_cmdline`].
pub fn node_args(inv: &Inventory, node: &Node) -> Cmdline {
    let b = &node.boot;
    let mut c = Cmdline::default();
    if b.boot_mode == BootMode::Direct {
        c.push("root", Some("/dev/nfs"));
    }
    c.push("nfsroot", Some(&node_nfsroot(inv, node).to_string()));
    c.push("ip", Some(&node_ip(inv, node).to_string()));
    if inv
        .root_export_of(node)
        .is_some_and(|e| e.access == Access::Rw)
    {
        c.push("rw", None);
    }
    if let Some(init) = &b.init {
        c.push("init", Some(init));
    }
    if b.boot_mode == BootMode::Initramfs {
        let modules = if b.modules.is_empty() {
            b.nic.iter().cloned().collect()
        } else {
            b.modules.clone()
        };
        DisklessArgs {
            modules,
            overlay: b.overlay,
            ..Default::default()
        }
        .render_into(&mut c);
    }
    // diskless-init reports "services up" to the server's HTTP port number
    // (UDP) and assumes 80 unless told (docs/status.md).
    if inv.cluster.http_port != 80 {
        c.push("diskless.report", Some(&inv.cluster.http_port.to_string()));
    }
    let mut line = c.to_string();
    if !b.cmdline.trim().is_empty() {
        line.push(' ');
        line.push_str(b.cmdline.trim());
    }
    Cmdline::parse(&line)
}

/// Everything after the kernel image name: `root=`, `nfsroot=`, `ip=`,
/// our `diskless.*` arguments in initramfs mode, then the profile's and
/// node's own arguments.
pub fn node_cmdline(inv: &Inventory, node: &Node) -> String {
    node_args(inv, node).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(extra: &str) -> Inventory {
        let text = format!(
            "[cluster]\nname = \"t\"\nserver = \"172.16.1.1\"\nsubnet = \"172.16.1.0/24\"\n\
             boot_root = \"/\"\nnfs_root = \"/\"\nkernel = \"k\"\n{extra}\n\
             [[nodes]]\nname = \"a\"\nmac = \"00:00:00:00:00:01\"\nip = \"172.16.1.10\"\n"
        );
        crate::inventory::load_str(&text, "t").unwrap()
    }

    #[test]
    fn report_port_only_when_http_is_not_on_80() {
        let i = inv("");
        assert!(!node_cmdline(&i, &i.nodes[0]).contains("diskless.report"));
        let i = inv("http_port = 8080");
        assert!(node_cmdline(&i, &i.nodes[0]).contains(" diskless.report=8080"));
    }
}
