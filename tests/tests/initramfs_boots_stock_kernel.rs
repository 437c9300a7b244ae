//! Debian's stock kernel unpacks our (multi-part, gzip) initramfs, runs
//! `/init`, and the modules listed in `diskless.load` load in that order:
//! the NFS client, overlay and the e1000 driver, whose eth0 then appears.
//!
//! busybox-static stands in for diskless-init as `/init`; a second,
//! uncompressed archive appended to the image adds its inittab and a script
//! that walks `diskless.load` with `insmod`, the way the init's initramfs
//! stage will with `finit_module`.

mod initramfs_support;

use std::time::Duration;

use diskless_initramfs::cpio::Archive;
use diskless_initramfs::{build, Compression};
use diskless_qemu::netns::Netns;
use diskless_qemu::test_lock;
use diskless_qemu::vm::{Boot, Nic, NicModel, Vm, VmConfig};
use initramfs_support::{spec, stock};

const RC: &str = r#"
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sys /sys
cd /lib/modules/$($bb uname -r)
$bb grep -v '^#' diskless.load | while read class name files; do
    for f in $files; do $bb insmod "$f" 2>/dev/null; done
done
$bb grep -q '^nfsv3 ' /proc/modules && echo DISKLESS-NFSV3-LOADED
$bb grep -q 'overlay' /proc/filesystems && echo DISKLESS-OVERLAY-LOADED
[ -e /sys/class/net/eth0 ] && echo DISKLESS-ETH0-PRESENT
echo DISKLESS-RC-DONE
$bb poweroff -f
"#;

use diskless_qemu::is_root;

#[test]
fn stock_kernel_unpacks_image_and_loads_the_listed_modules() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, QEMU taps)");
        return Ok(());
    }
    let _slot = test_lock();
    let k = stock();
    let mut image = build(&spec(&k, &["e1000"], Compression::Gzip))?.bytes;
    let mut extra = Archive::new(0);
    extra.symlink("bin/busybox", "/init")?;
    extra.symlink("bin/sh", "/init")?;
    extra.file(
        "etc/inittab",
        0o644,
        b"::sysinit:/bin/sh /etc/rc\n".to_vec(),
    )?;
    extra.file("etc/rc", 0o755, RC.as_bytes().to_vec())?;
    // A plain archive after compressed data must start 4-byte aligned, or
    // the kernel stops unpacking; zeros between archives are skipped.
    image.resize(image.len().next_multiple_of(4), 0);
    image.extend(extra.to_bytes()?);

    let work = std::env::temp_dir().join(format!("initramfs-boot-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let initrd = work.join("initrd.img");
    std::fs::write(&initrd, &image)?;

    let ns = Netns::new("initrd")?;
    ns.add_tap("tap0")?;
    let mut cfg = VmConfig::direct(
        "initrd",
        k.vmlinuz.clone(),
        "console=ttyS0 panic=-1 rdinit=/init",
    );
    if let Boot::Direct { initrd: i, .. } = &mut cfg.boot {
        *i = Some(initrd.clone());
    }
    cfg.nics.push(Nic {
        tap: "tap0".into(),
        mac: "52:54:00:12:34:99".into(),
        model: NicModel::E1000,
    });
    let mut vm = Vm::start(&cfg, &ns)?;
    let waited = vm.wait_for("DISKLESS-RC-DONE", Duration::from_secs(300));
    let console = vm.console_text();
    vm.kill();
    let _ = std::fs::remove_dir_all(&work);
    waited.map_err(|e| anyhow::anyhow!("{e:#}\n--- console ---\n{console}"))?;
    for marker in [
        "DISKLESS-NFSV3-LOADED",
        "DISKLESS-OVERLAY-LOADED",
        "DISKLESS-ETH0-PRESENT",
    ] {
        assert!(console.contains(marker), "{marker} missing:\n{console}");
    }
    Ok(())
}
