//! `diskless-mkimage initramfs` on Debian's stock kernel: what the image
//! holds, that builds are reproducible, and the module closure from the
//! kernel's real `modules.dep`.

mod initramfs_support;

use std::collections::BTreeMap;

use diskless_initramfs::compression::decompress;
use diskless_initramfs::cpio::Listed;
use diskless_initramfs::load_list::{self, Class};
use diskless_initramfs::{build, list_image, Compression, Error, ModuleIndex};
use initramfs_support::{spec, stock};

fn entries(bytes: &[u8]) -> BTreeMap<String, Listed> {
    let segs = list_image(bytes).expect("our image lists");
    segs.into_iter()
        .flat_map(|s| s.entries)
        .map(|e| (e.name.clone(), e))
        .collect()
}

#[test]
fn image_holds_init_modules_mount_points_and_load_order() {
    let k = stock();
    let img = build(&spec(&k, &["e1000", "virtio_net"], Compression::Gzip)).unwrap();
    let all = entries(&img.bytes);
    let base = format!("lib/modules/{}", k.version);

    let init = &all["init"];
    assert!(init.is_file());
    assert_eq!(init.mode & 0o777, 0o755);
    assert_eq!(
        init.size as u64,
        std::fs::metadata("/bin/busybox").unwrap().len()
    );
    let console = &all["dev/console"];
    assert_eq!(
        (console.mode_string().as_str(), console.rdev),
        ("crw-------", (5, 1))
    );
    for d in ["dev", "proc", "sys", "run", "newroot"] {
        assert!(all[d].is_dir(), "{d}");
    }
    for e in all.values() {
        assert_eq!((e.uid, e.gid, e.mtime), (0, 0, 1_700_000_000), "{}", e.name);
    }

    // The load list: parseable, every file present, dependencies first.
    let text = std::fs::read_to_string(k.modules_dir.join("modules.dep")).unwrap();
    assert!(!text.is_empty());
    let list_entry = &all[&format!("{base}/diskless.load")];
    assert!(list_entry.size > 0);
    let groups = load_list::parse(&load_list_text(&img.bytes, &base)).unwrap();
    for g in &groups {
        for p in &g.paths {
            assert!(
                all.contains_key(&format!("{base}/{p}")),
                "{p} listed but not in the image"
            );
        }
    }
    let nfsv3 = groups.iter().find(|g| g.name == "nfsv3").unwrap();
    assert_eq!(nfsv3.class, Class::Core);
    let at = |m: &str| {
        nfsv3
            .paths
            .iter()
            .position(|p| p.ends_with(&format!("/{m}.ko")))
            .unwrap()
    };
    assert!(at("sunrpc") < at("lockd") && at("grace") < at("lockd"));
    assert!(at("lockd") < at("nfs") && at("nfs") < at("nfsv3"));
    assert_eq!(at("nfsv3"), nfsv3.paths.len() - 1);
    let vnet = groups.iter().find(|g| g.name == "virtio_net").unwrap();
    assert_eq!(vnet.class, Class::Nic);
    assert!(
        vnet.paths.iter().any(|p| p.ends_with("/virtio_pci.ko")),
        "bus companion"
    );
    assert!(groups.iter().any(|g| g.name == "overlay"));
    assert!(groups.iter().any(|g| g.name == "e1000"));

    // Only what was asked for: no other NIC drivers.
    assert!(!all
        .keys()
        .any(|n| n.ends_with("/e1000e.ko") || n.ends_with("/igb.ko")));
    // The image's modules.dep names only files that are in the image.
    assert!(all.contains_key(&format!("{base}/modules.dep")));
    assert!(all.contains_key(&format!("{base}/modules.alias")));
}

/// The load list's text, read back out of the gzip image.
fn load_list_text(bytes: &[u8], base: &str) -> String {
    let plain: Vec<u8> = list_image(bytes)
        .unwrap()
        .iter()
        .flat_map(|s| decompress(s.format, &bytes[s.offset as usize..]).unwrap().0)
        .collect();
    let needle = format!("{base}/diskless.load\0");
    let at = plain
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap();
    let header = &plain[at - 110..at];
    let size = usize::from_str_radix(std::str::from_utf8(&header[54..62]).unwrap(), 16).unwrap();
    let name_end = at + needle.len();
    let data = (name_end + 3) & !3;
    String::from_utf8(plain[data..data + size].to_vec()).unwrap()
}

#[test]
fn two_builds_are_byte_identical() {
    let k = stock();
    for c in [Compression::Gzip, Compression::Zstd] {
        let a = build(&spec(&k, &["e1000"], c)).unwrap();
        let b = build(&spec(&k, &["e1000"], c)).unwrap();
        assert!(a.bytes == b.bytes, "{c:?}: two builds differ");
    }
    let mut later = spec(&k, &["e1000"], Compression::Gzip);
    later.mtime += 1;
    let a = build(&spec(&k, &["e1000"], Compression::Gzip)).unwrap();
    assert!(build(&later).unwrap().bytes != a.bytes, "mtime is honoured");
}

#[test]
fn nfsv3_closure_from_the_real_modules_dep() {
    let k = stock();
    let idx = ModuleIndex::open(&k.modules_dir).unwrap();
    let order = idx.closure("nfsv3").unwrap();
    assert_eq!(order.last().map(String::as_str), Some("nfsv3"));
    for m in ["nfs", "sunrpc", "lockd", "grace", "nfs_acl"] {
        assert!(order.iter().any(|x| x == m), "{m} missing from {order:?}");
    }
    // Every module comes after everything modules.dep says it needs.
    for (i, m) in order.iter().enumerate() {
        for d in &idx.get(m).unwrap().deps {
            let j = order.iter().position(|x| x == d).unwrap();
            assert!(j < i, "{d} must load before {m}");
        }
    }
}

#[test]
fn all_nics_takes_the_common_drivers_and_their_soft_dependencies() {
    let k = stock();
    let mut s = spec(&k, &[], Compression::Zstd);
    s.all_nics = true;
    let img = build(&s).unwrap();
    for m in [
        "e1000",
        "e1000e",
        "igb",
        "ixgbe",
        "i40e",
        "r8169",
        "tg3",
        "bnx2",
        "virtio_net",
        "vmxnet3",
    ] {
        assert!(img.modules.contains(m), "{m}");
    }
    assert!(
        img.modules.contains("realtek"),
        "r8169's softdep pre: realtek"
    );
    assert!(img.builtin.iter().any(|b| b == "af_packet"));
}

#[test]
fn missing_module_is_an_error_naming_it() {
    let k = stock();
    let err = build(&spec(&k, &["e1000", "no_such_nic"], Compression::Gzip)).unwrap_err();
    assert!(
        matches!(&err, Error::ModuleMissing { name, .. } if name == "no_such_nic"),
        "{err}"
    );
    assert!(err.to_string().contains("`no_such_nic`"), "{err}");
}

#[test]
fn modules_dir_without_depmod_says_to_run_it() {
    let k = stock();
    let dir = std::env::temp_dir().join(format!("diskless-nodep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = spec(&k, &["e1000"], Compression::Gzip);
    s.modules_dir = dir.clone();
    let err = build(&s).unwrap_err().to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(err.contains("depmod"), "{err}");
}

#[test]
fn dynamic_init_is_refused() {
    let k = stock();
    let mut s = spec(&k, &["e1000"], Compression::Gzip);
    s.init = "/bin/ls".into();
    let err = build(&s).unwrap_err().to_string();
    assert!(err.contains("dynamically linked"), "{err}");
    s.init = "/nonexistent/diskless-init".into();
    let err = build(&s).unwrap_err().to_string();
    assert!(err.contains("cargo build -p diskless-init"), "{err}");
}
