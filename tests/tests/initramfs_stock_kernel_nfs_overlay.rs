//! Debian's stock kernel + our initramfs (`/init` = the static
//! diskless-init) booted directly against `diskless-server serve` in a
//! namespace: the initramfs stage loads e1000 and the NFS client, gets the
//! node's address from our DHCP server with its own client, mounts the
//! NFS root under a tmpfs overlay, switches to it and runs diskless-init,
//! which starts sshd. A file written under /etc on the node stays in the
//! node's overlay: it never reaches the server's export.
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

mod initramfs_support;

use std::time::Duration;

use diskless_initramfs::{build, Compression};
use diskless_qemu::netns::Netns;
use diskless_qemu::ssh::{Ssh, SshKey};
use diskless_qemu::stack::{self, BootPath, OurNode, OurOptions, OurStack};
use diskless_qemu::test_lock;
use diskless_qemu::vm::{Boot, Nic, NicModel, Vm, VmConfig};
use initramfs_support::{spec, stock};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn stock_kernel_dhcp_nfs_root_with_tmpfs_overlay_accepts_ssh() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, QEMU taps)");
        return Ok(());
    }
    let init_bin = stack::init_binary()?;
    let server_bin = stack::server_binary()?;
    let _slot = test_lock();
    let k = stock();
    let mut s = spec(&k, &["e1000"], Compression::Gzip);
    s.init = init_bin.clone();
    let image = build(&s)?.bytes;

    let key = SshKey::generate()?;
    let ns = Netns::new("irdov")?;
    ns.add_tap("tap0")?;
    let node = OurNode {
        hostname: "butters".into(),
        mac: "52:54:00:00:00:41".into(),
        ip: "172.16.1.41".into(),
    };
    let ours = OurStack::start(
        &ns,
        &OurOptions {
            kernel: k.vmlinuz.clone(),
            nodes: vec![node.clone()],
            ssh_pubkey: key.public_key()?,
            path: BootPath::Ipxe,
            uefi_loader: None,
            init_bin,
            server_bin,
        },
    )?;
    let initrd = ours.dir().join("initrd.img");
    std::fs::write(&initrd, &image)?;
    let root = ours.root_dir();
    let append = format!(
        "console=ttyS0 panic=-1 nfsroot={}:{},vers=3,tcp",
        ns.server_ip(),
        root.display()
    );
    let mut cfg = VmConfig::direct("irdov", k.vmlinuz.clone(), &append);
    if let Boot::Direct { initrd: i, .. } = &mut cfg.boot {
        *i = Some(initrd.clone());
    }
    cfg.nics.push(Nic {
        tap: "tap0".into(),
        mac: node.mac.clone(),
        model: NicModel::E1000,
    });
    cfg.memory_mb = 512;
    let mut vm = Vm::start(&cfg, &ns)?;
    let ssh = Ssh::new(&ns, &node.ip, &key);
    ssh.wait_boot(&mut vm, Duration::from_secs(900))
        .map_err(|e| anyhow::anyhow!("{e}\nserver log:\n{}", ours.server_log()))?;
    let console = vm.console_text();
    assert!(console.contains("initramfs stage"), "{console}");

    assert_eq!(ssh.check("hostname")?.trim(), node.hostname);
    let mounts = ssh.check("cat /proc/mounts")?;
    assert!(
        mounts.lines().any(|l| l.starts_with("overlay / overlay")),
        "{mounts}"
    );
    ssh.check("echo node-local > /etc/diskless-overlay-probe && cat /etc/diskless-overlay-probe")?;
    assert!(
        !root.join("etc/diskless-overlay-probe").exists(),
        "a write under /etc on the node reached the server's export"
    );
    drop(vm);
    Ok(())
}
