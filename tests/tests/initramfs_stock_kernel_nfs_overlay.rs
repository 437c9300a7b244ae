//! Debian's stock kernel + our initramfs (`/init` = the static
//! diskless-init) booted directly against `diskless-server serve` in a
//! namespace: the initramfs stage loads e1000 and the NFS client, gets the
//! node's address from our DHCP server with its own client, mounts the
//! NFS root under a tmpfs overlay, switches to it and runs diskless-init,
//! which starts sshd. Two nodes boot the same image and command line; a
//! file each writes under /etc stays in its own overlay: the other node
//! does not see it, and it never reaches the server's export.
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

mod e2e_support;
mod initramfs_support;

use std::time::Duration;

use diskless_initramfs::{build, Compression};
use diskless_qemu::ssh::Ssh;
use diskless_qemu::stack::BootPath;
use diskless_qemu::vm::{Boot, Nic, NicModel, Vm, VmConfig};
use initramfs_support::{spec, stock};

use diskless_qemu::is_root;

#[test]
fn two_nodes_stock_kernel_dhcp_nfs_root_with_private_tmpfs_overlays() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, QEMU taps)");
        return Ok(());
    }
    let k = stock();
    let nodes = e2e_support::nodes(&["butters", "kenny"], 41);
    let mut image = Vec::new();
    let Some((_slot, ns, key, ours)) = e2e_support::cluster(
        "irdov",
        &nodes,
        nodes.len(),
        |init_bin| {
            let mut s = spec(&k, &["e1000"], Compression::Gzip);
            s.init = init_bin.clone();
            image = build(&s)?.bytes;
            Ok(k.vmlinuz.clone())
        },
        BootPath::Ipxe,
        None,
    )?
    else {
        return Ok(());
    };
    let initrd = ours.dir().join("initrd.img");
    std::fs::write(&initrd, &image)?;
    let root = ours.root_dir();
    // The same command line for every node: DHCP tells them apart.
    let append = format!(
        "console=ttyS0 panic=-1 nfsroot={}:{},vers=3,tcp",
        ns.server_ip(),
        root.display()
    );
    let mut vms = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let mut cfg =
            VmConfig::direct(&format!("irdov-{}", n.hostname), k.vmlinuz.clone(), &append);
        if let Boot::Direct { initrd: r, .. } = &mut cfg.boot {
            *r = Some(initrd.clone());
        }
        cfg.nics.push(Nic {
            tap: format!("tap{i}"),
            mac: n.mac.clone(),
            model: NicModel::E1000,
        });
        cfg.memory_mb = 512;
        vms.push(Vm::start(&cfg, &ns)?);
    }
    for (n, vm) in nodes.iter().zip(vms.iter_mut()) {
        let ssh = Ssh::new(&ns, &n.ip, &key);
        ssh.wait_boot(vm, Duration::from_secs(900)).map_err(|e| {
            anyhow::anyhow!("{}: {e}\nserver log:\n{}", n.hostname, ours.server_log())
        })?;
        let console = vm.console_text();
        assert!(console.contains("initramfs stage"), "{console}");
        assert_eq!(ssh.check("hostname")?.trim(), n.hostname);
        let mounts = ssh.check("cat /proc/mounts")?;
        assert!(
            mounts.lines().any(|l| l.starts_with("overlay / overlay")),
            "{mounts}"
        );
        ssh.check(&format!(
            "echo {} > /etc/diskless-overlay-probe",
            n.hostname
        ))?;
    }
    // Each node reads back its own write, never the other's.
    for n in &nodes {
        let ssh = Ssh::new(&ns, &n.ip, &key);
        assert_eq!(
            ssh.check("cat /etc/diskless-overlay-probe")?.trim(),
            n.hostname
        );
    }
    assert!(
        !root.join("etc/diskless-overlay-probe").exists(),
        "a write under /etc on a node reached the server's export"
    );
    drop(vms);
    Ok(())
}
