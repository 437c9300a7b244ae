//! The test bed's own end-to-end check: the custom kernel boots directly (no
//! PXE) with the debootstrap root on an ext4 virtio-blk disk, brings its
//! network up from `ip=`, runs the root's sysvinit, and answers over SSH.
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

use diskless_qemu::netns::Netns;
use diskless_qemu::ssh::{Ssh, SshKey};
use diskless_qemu::vm::{Nic, NicModel, Vm, VmConfig};
use diskless_qemu::{kernel, rootfs, test_lock};
use std::time::Duration;

const NODE_IP: &str = "172.16.1.10";

use diskless_qemu::is_root;

#[test]
fn custom_kernel_boots_ext4_root_and_runs_a_command_over_ssh() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, QEMU taps)");
        return Ok(());
    }
    let _slot = test_lock();
    let k = kernel::custom_kernel()?;
    let key = SshKey::generate()?;

    let work = std::env::temp_dir().join(format!("testbed-ext4-{}", std::process::id()));
    let root = work.join("root");
    rootfs::unpack(&root)?;
    rootfs::inject_ssh_key(&root, &key.public_key()?)?;
    rootfs::set_hostname(&root, "node1")?;
    std::fs::write(
        root.join("etc/fstab"),
        "/dev/vda / ext4 defaults 0 0\nproc /proc proc defaults 0 0\n",
    )?;
    let img = work.join("root.ext4");
    rootfs::ext4_image(&root, &img)?;
    std::fs::remove_dir_all(&root)?;

    let ns = Netns::new("ext4")?;
    ns.add_tap("tap0")?;
    let mut cfg = VmConfig::direct(
        "ext4",
        k.bzimage.clone(),
        &format!("root=/dev/vda rw ip={NODE_IP}::172.16.1.1:255.255.255.0:node1:eth0:off"),
    );
    cfg.nics.push(Nic {
        tap: "tap0".into(),
        mac: "52:54:00:12:34:10".into(),
        model: NicModel::VirtioNet,
    });
    cfg.disks.push(img.clone());
    let mut vm = Vm::start(&cfg, &ns)?;
    vm.wait_for("as init process", Duration::from_secs(180))?;

    let ssh = Ssh::new(&ns, NODE_IP, &key);
    let banner = ssh
        .wait_banner(Duration::from_secs(300))
        .map_err(|e| anyhow::anyhow!("{e}\n{}", vm.diagnostics()))?;
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "banner: {banner}");
    let out = ssh.check("hostname; findmnt -n -o FSTYPE /; uname -r")?;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"node1"), "output: {out}");
    assert_eq!(lines.get(1), Some(&"ext4"), "output: {out}");
    eprintln!("timeline:\n{}", vm.timeline());

    drop(vm);
    drop(ns);
    std::fs::remove_dir_all(&work)?;
    Ok(())
}
