//! `diskless-mkimage list` reads images made by Debian's mkinitramfs.

mod initramfs_support;

use diskless_initramfs::{list_image, Format};
use diskless_qemu::peers::mkinitramfs::{self, Options};
use initramfs_support::stock;

#[test]
fn lists_a_debian_made_initrd() {
    let k = stock();
    let out =
        std::env::temp_dir().join(format!("diskless-debian-initrd-{}.img", std::process::id()));
    // zstd is Debian's default; MODULES=dep would need the host's hardware.
    let opts = Options {
        modules: "netboot".into(),
        boot: "nfs".into(),
        compress: "zstd".into(),
    };
    mkinitramfs::build(&k, &opts, &out).expect("mkinitramfs for the stock kernel");
    let data = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let segs = list_image(&data).expect("Debian's initrd lists");
    assert_eq!(segs.last().unwrap().format, Format::Zstd);
    let names: Vec<&str> = segs
        .iter()
        .flat_map(|s| s.entries.iter())
        .map(|e| e.name.as_str())
        .collect();
    for want in ["init", "scripts/nfs", "conf/initramfs.conf"] {
        assert!(names.contains(&want), "{want} not in the listing");
    }
    assert!(
        names.iter().any(|n| n.ends_with("/nfs.ko")),
        "the NFS client module"
    );
    assert!(
        names.iter().any(|n| n.ends_with("/e1000.ko")),
        "netboot's NIC drivers"
    );
    assert!(names.iter().any(|n| n.ends_with("busybox")));
}
