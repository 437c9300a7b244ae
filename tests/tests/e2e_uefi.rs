//! End to end on UEFI: a node with OVMF firmware PXE-boots from our stack.
//! Its network boot is iPXE's EFI build (QEMU's `efi-e1000.rom`), whose
//! DHCP request carries option 93 = 7 (x64 UEFI); with `ipxe_scripts =
//! false` our DHCP names the inventory's `loader_uefi` (Debian's
//! `syslinux.efi`) instead of `pxelinux.0`; syslinux.efi fetches `ldlinux.e64`, the generated
//! `pxelinux.cfg/01-<mac>` and the custom kernel (EFI stub) over our TFTP,
//! and the node comes up on our NFS root with diskless-init and sshd.
//!
//! Needs root, QEMU and the `ovmf` + `syslinux-efi` packages (CI runs as
//! root after `diskless-qemu setup`).

mod e2e_support;

use std::time::Duration;

use diskless_qemu::kernel;
use diskless_qemu::ssh::Ssh;
use diskless_qemu::stack::{self, BootPath, OurNode};
use diskless_qemu::vm::{Firmware, Vm, VmConfig};

/// The server log with terminal colour sequences (`ESC [ … m`) removed.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\u{1b}' {
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn uefi_node_gets_the_uefi_loader_and_boots_to_ssh() -> anyhow::Result<()> {
    let node = OurNode {
        hostname: "butters".into(),
        mac: "52:54:00:00:00:31".into(),
        ip: "172.16.1.31".into(),
    };
    let Some((_slot, ns, key, ours)) = e2e_support::one_node(
        "e2euefi",
        &node,
        || Ok(kernel::custom_kernel()?.bzimage),
        BootPath::Pxelinux,
        Some(stack::SYSLINUX_EFI.into()),
    )?
    else {
        return Ok(());
    };
    let mut cfg = VmConfig::pxe("e2e-uefi", "tap0", &node.mac);
    cfg.firmware = Firmware::Uefi;
    let mut vm = Vm::start(&cfg, &ns)?;
    let ssh = Ssh::new(&ns, &node.ip, &key);
    let banner = ssh
        .wait_boot(&mut vm, Duration::from_secs(900))
        .map_err(|e| anyhow::anyhow!("{e}\nserver log:\n{}", ours.server_log()))?;
    eprintln!(
        "UEFI node: SSH banner {:.2} s after power-on",
        banner.as_secs_f64()
    );
    let console = vm.console_text();

    // Our DHCP named the UEFI loader (option 93 said x64 UEFI) and the node
    // fetched it and its core module over TFTP. (syslinux.efi's own DHCP
    // request may get pxelinux.0 named as well; it only reads its config.)
    let log = strip_ansi(&ours.server_log());
    let first_ack = log.lines().find(|l| l.contains("DHCP ACK")).unwrap_or("");
    assert!(
        first_ack.contains("file=\"syslinux.efi\""),
        "the firmware's DHCP did not get syslinux.efi:\n{log}"
    );
    for f in ["name=syslinux.efi", "name=ldlinux.e64", "name=bzImage"] {
        assert!(log.contains(f), "no TFTP transfer {f}:\n{log}");
    }
    // The kernel ran as an EFI program (EFI stub), with the generated command line.
    assert!(console.contains("root=/dev/nfs"), "{}", vm.diagnostics());
    assert_eq!(
        ssh.check("test -d /sys/firmware/efi && echo efi")?.trim(),
        "efi",
        "the kernel does not see UEFI firmware\n{}",
        vm.diagnostics()
    );
    assert_eq!(ssh.check("hostname")?.trim(), node.hostname);
    assert_eq!(ssh.check("cat /proc/1/comm")?.trim(), "diskless-init");
    let root = ssh.check("grep ' / ' /proc/mounts")?;
    assert!(root.contains(" nfs ") && root.contains("vers=3"), "{root}");
    drop(vm);
    drop(ours);
    Ok(())
}
