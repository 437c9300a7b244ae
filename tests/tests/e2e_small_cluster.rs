//! End to end, a small cluster on the fast path: three nodes power on at the
//! same time; iPXE → our DHCP → the per-node iPXE script over HTTP → kernel
//! over HTTP → our NFS root → diskless-init. Each answers SSH at its
//! inventory address with its inventory hostname. A fourth machine whose MAC
//! is not in the inventory gets no DHCP answer and boots nothing.
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

use std::time::Duration;

use diskless_qemu::kernel;
use diskless_qemu::ssh::Ssh;
use diskless_qemu::stack::BootPath;
use diskless_qemu::vm::{Vm, VmConfig};

mod e2e_support;

const UNKNOWN_MAC: &str = "52:54:00:99:99:99";

#[test]
fn three_nodes_boot_fast_path_and_unknown_mac_gets_nothing() -> anyhow::Result<()> {
    let nodes = e2e_support::nodes(&["stan", "kyle", "eric"], 21);
    let taps = nodes.len() + 1;
    let Some((_slot, ns, key, ours)) = e2e_support::cluster(
        "e2ecl",
        &nodes,
        taps,
        |_| Ok(kernel::custom_kernel()?.bzimage),
        BootPath::Ipxe,
        None,
    )?
    else {
        return Ok(());
    };
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
