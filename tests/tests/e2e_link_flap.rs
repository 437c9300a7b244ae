//! End to end, resilience: the node's link is cut for 5 s mid-boot (right
//! after the kernel starts, before it mounts the NFS root) and the boot still
//! completes on our stack (seed path: iPXE → DHCP → TFTP pxelinux → kernel →
//! NFS root → diskless-init → sshd).
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

use std::time::Duration;

use diskless_qemu::netns::Netns;
use diskless_qemu::ssh::{Ssh, SshKey};
use diskless_qemu::stack::{self, BootPath, OurNode, OurOptions, OurStack};
use diskless_qemu::vm::{Vm, VmConfig};
use diskless_qemu::{kernel, test_lock};

use diskless_qemu::is_root;

#[test]
fn boot_completes_after_link_cut_for_5s_mid_boot() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, QEMU taps)");
        return Ok(());
    }
    let init_bin = stack::init_binary()?;
    let server_bin = stack::server_binary()?;
    let _slot = test_lock();
    let k = kernel::custom_kernel()?;
    let key = SshKey::generate()?;
    let ns = Netns::new("e2eflap")?;
    ns.add_tap("tap0")?;
    let node = OurNode {
        hostname: "butters".into(),
        mac: "52:54:00:00:00:31".into(),
        ip: "172.16.1.31".into(),
    };
    let ours = OurStack::start(
        &ns,
        &OurOptions {
            kernel: k.bzimage.clone(),
            nodes: vec![node.clone()],
            ssh_pubkey: key.public_key()?,
            path: BootPath::Pxelinux,
            uefi_loader: None,
            init_bin,
            server_bin,
        },
    )?;
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
