//! End to end, a small cluster on the fast path: three nodes power on at the
//! same time; iPXE → our DHCP → the per-node iPXE script over HTTP → kernel
//! over HTTP → our NFS root → diskless-init. Each answers SSH at its
//! inventory address with its inventory hostname. A fourth machine whose MAC
//! is not in the inventory gets no DHCP answer and boots nothing.
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

use std::time::Duration;

use diskless_qemu::netns::Netns;
use diskless_qemu::ssh::{Ssh, SshKey};
use diskless_qemu::stack::{self, BootPath, OurNode, OurOptions, OurStack};
use diskless_qemu::vm::{Vm, VmConfig};
use diskless_qemu::{kernel, test_lock};

use diskless_qemu::is_root;

const UNKNOWN_MAC: &str = "52:54:00:99:99:99";

#[test]
fn three_nodes_boot_fast_path_and_unknown_mac_gets_nothing() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, QEMU taps)");
        return Ok(());
    }
    let init_bin = stack::init_binary()?;
    let server_bin = stack::server_binary()?;
    let _slot = test_lock();
    let k = kernel::custom_kernel()?;
    let key = SshKey::generate()?;
    let ns = Netns::new("e2ecl")?;
    let nodes: Vec<OurNode> = ["stan", "kyle", "eric"]
        .iter()
        .enumerate()
        .map(|(i, n)| OurNode {
            hostname: n.to_string(),
            mac: format!("52:54:00:00:00:{:02x}", 0x21 + i),
            ip: format!("172.16.1.{}", 21 + i),
        })
        .collect();
    for i in 0..=nodes.len() {
        ns.add_tap(&format!("tap{i}"))?;
    }
    let ours = OurStack::start(
        &ns,
        &OurOptions {
            kernel: k.bzimage.clone(),
            nodes: nodes.clone(),
            ssh_pubkey: key.public_key()?,
            path: BootPath::Ipxe,
            uefi_loader: None,
            init_bin,
            server_bin,
        },
    )?;
    let mut vms = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let mut cfg = VmConfig::pxe(&format!("e2e-{}", n.hostname), &format!("tap{i}"), &n.mac);
        cfg.memory_mb = 384;
        vms.push(Vm::start(&cfg, &ns)?);
    }
    let mut cfg = VmConfig::pxe("e2e-stranger", &format!("tap{}", nodes.len()), UNKNOWN_MAC);
    cfg.memory_mb = 256;
    let stranger = Vm::start(&cfg, &ns)?;

    for (n, vm) in nodes.iter().zip(vms.iter_mut()) {
        let ssh = Ssh::new(&ns, &n.ip, &key);
        let banner = ssh.wait_boot(vm, Duration::from_secs(900)).map_err(|e| {
            anyhow::anyhow!("{}: {e}\nserver log:\n{}", n.hostname, ours.server_log())
        })?;
        let mut t = vm.timeline();
        t.push("SSH banner", banner);
        eprintln!("{} timeline:\n{t}", n.hostname);
        assert_eq!(ssh.check("hostname")?.trim(), n.hostname);
        let addr = ssh.check("ip -4 -o addr show eth0")?;
        assert!(addr.contains(&format!("{}/24", n.ip)), "{addr}");
        // The fast path: no pxelinux, the kernel came over HTTP.
        let console = vm.console_text();
        assert!(!console.contains("PXELINUX"), "{}", vm.diagnostics());
        assert!(console.contains("http://"), "{}", vm.diagnostics());
    }
    let s = stranger.console_text();
    assert!(
        !s.contains("Linux version") && !s.contains("PXELINUX"),
        "the unknown MAC booted something:\n{}",
        stranger.diagnostics()
    );
    let leases = std::fs::read_to_string(ours.dir().join("dhcp.leases")).unwrap_or_default();
    assert!(!leases.contains("99:99:99"), "{leases}");
    Ok(())
}
