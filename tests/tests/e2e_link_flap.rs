//! End to end, resilience: the node's link is cut for 5 s mid-boot (right
//! after the kernel starts, before it mounts the NFS root) and the boot still
//! completes on our stack (seed path: iPXE → DHCP → TFTP pxelinux → kernel →
//! NFS root → diskless-init → sshd).
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

mod e2e_support;

use std::time::Duration;

use diskless_qemu::kernel;
use diskless_qemu::ssh::Ssh;
use diskless_qemu::stack::{BootPath, OurNode};
use diskless_qemu::vm::{Vm, VmConfig};

#[test]
fn boot_completes_after_link_cut_for_5s_mid_boot() -> anyhow::Result<()> {
    let node = OurNode {
        hostname: "butters".into(),
        mac: "52:54:00:00:00:31".into(),
        ip: "172.16.1.31".into(),
    };
    let Some((_slot, ns, key, ours)) = e2e_support::one_node(
        "e2eflap",
        &node,
        || Ok(kernel::custom_kernel()?.bzimage),
        BootPath::Pxelinux,
        None,
    )?
    else {
        return Ok(());
    };
    let mut vm = Vm::start(&VmConfig::pxe("e2e-flap", "tap0", &node.mac), &ns)?;
    vm.wait_for("Linux version", Duration::from_secs(600))?;
    ns.link_set("tap0", false)?;
    std::thread::sleep(Duration::from_secs(5));
    ns.link_set("tap0", true)?;
    let ssh = Ssh::new(&ns, &node.ip, &key);
    let banner = ssh
        .wait_boot(&mut vm, Duration::from_secs(600))
        .map_err(|e| anyhow::anyhow!("{e}\nserver log:\n{}", ours.server_log()))?;
    let mut t = vm.timeline();
    t.push("SSH banner", banner);
    eprintln!("timeline:\n{t}");
    assert_eq!(ssh.check("hostname")?.trim(), node.hostname);
    assert_eq!(ssh.check("cat /proc/1/comm")?.trim(), "diskless-init");
    Ok(())
}
