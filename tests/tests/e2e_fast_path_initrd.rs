//! The fast path with an initrd: iPXE firmware → our DHCP (user class
//! `iPXE` → per-node `boot.ipxe` over HTTP) → Debian's stock kernel *and*
//! our initramfs over our HTTP → the initramfs stage (modules, DHCP, NFS
//! root under a tmpfs overlay) → diskless-init → SSH.
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

mod e2e_support;
mod initramfs_support;

use std::time::Duration;

use diskless_initramfs::{build, Compression};
use diskless_qemu::ssh::Ssh;
use diskless_qemu::stack::{self, BootPath, OurNode};
use diskless_qemu::vm::{Vm, VmConfig};
use initramfs_support::{spec, stock};

#[test]
fn ipxe_fetches_stock_kernel_and_initrd_over_http_and_boots_to_ssh() -> anyhow::Result<()> {
    let k = stock();
    let node = OurNode {
        hostname: "stan".into(),
        mac: "52:54:00:00:00:51".into(),
        ip: "172.16.1.51".into(),
    };
    let kernel = k.vmlinuz.clone();
    let Some((_slot, ns, key, mut ours)) =
        e2e_support::one_node("e2eird", &node, || Ok(kernel), BootPath::Ipxe, None)?
    else {
        return Ok(());
    };
    let mut s = spec(&k, &["e1000"], Compression::Gzip);
    s.init = stack::init_binary()?;
    let image = build(&s)?.bytes;
    ours.use_initrd(&ns, &image)?;

    let mut cfg = VmConfig::pxe("e2eird-stan", "tap0", &node.mac);
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
    // Both the kernel and the initrd came over HTTP, not TFTP.
    let status = ours.http_status(&ns)?;
    let v: serde_json::Value = serde_json::from_str(&status)?;
    let text = v.to_string();
    assert!(
        text.contains("initrd.img (http)"),
        "no initrd fetch over HTTP in /status: {text}"
    );
    Ok(())
}
