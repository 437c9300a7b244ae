//! `diskless-mkimage check-kernel` on real kernel configs made by the test
//! bed and the kernel's own config tools.

mod check_kernel_support;

use check_kernel_support::*;

#[test]
fn debian_stock_fails_direct_and_passes_initramfs_with_its_modules() {
    let k = stock();
    let cfg = s(&k.config);
    let mods = s(&k.modules_dir);
    let r = check_kernel(&["--nic", "e1000", "--modules", mods, cfg]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    for want in [
        "FAIL   CONFIG_IP_PNP is not set",
        "FAIL   CONFIG_NFS_FS=m",
        "FAIL   CONFIG_E1000=m",
        "initramfs boot (our initramfs loads modules and mounts NFS): PASS",
        "kernel/fs/nfs/nfsv3.ko",
        "kernel/drivers/net/ethernet/intel/e1000/e1000.ko",
    ] {
        assert!(
            r.stdout.contains(want),
            "missing {want:?} in:\n{}",
            r.stdout
        );
    }
    // Dependencies come before their users.
    let at = |f: &str| r.stdout.find(f).unwrap();
    assert!(at("kernel/net/sunrpc/sunrpc.ko") < at("kernel/fs/nfs/nfs.ko"));

    let r = check_kernel(&[
        "--boot",
        "initramfs",
        "--nic",
        "e1000",
        "--modules",
        mods,
        "--json",
        cfg,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["pass"], true);
    let v = &j["verdicts"][1];
    assert_eq!(v["boot"], "initramfs");
    let files: Vec<&str> = v["module_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for m in [
        "nfs.ko",
        "nfsv3.ko",
        "overlay.ko",
        "e1000.ko",
        "sunrpc.ko",
        "lockd.ko",
    ] {
        assert!(
            files.iter().any(|f| f.ends_with(&format!("/{m}"))),
            "{m} in {files:?}"
        );
    }
    assert_eq!(j["verdicts"][0]["pass"], false);
}

#[test]
fn debian_vmlinuz_without_ikconfig_names_the_config_to_pass() {
    let k = stock();
    let r = check_kernel(&["--nic", "e1000", s(&k.vmlinuz)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("CONFIG_IKCONFIG"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("/boot/config-{}", k.version)),
        "{}",
        r.stderr
    );
}

#[test]
fn x86_64_defconfig_passes_direct_for_e1000() {
    let cfg = config("defconfig", "x86_64_defconfig", "");
    let r = check_kernel(&["--nic", "e1000", s(&cfg)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("verdict for --boot direct: PASS"));
}

#[test]
fn custom_tinyconfig_kernel_passes_and_its_bzimage_config_is_read() {
    let k = diskless_qemu::kernel::custom_kernel().expect("the test bed's custom kernel");
    let from_image = check_kernel(&["--nic", "e1000", "--json", s(&k.bzimage)]);
    assert_eq!(
        from_image.code, 0,
        "{}{}",
        from_image.stdout, from_image.stderr
    );
    let img: serde_json::Value = serde_json::from_str(&from_image.stdout).unwrap();
    assert!(
        img["source"]["form"]
            .as_str()
            .unwrap()
            .starts_with("IKCONFIG in bzImage"),
        "{}",
        img["source"]
    );
    let from_config = check_kernel(&["--nic", "e1000", "--json", s(&k.config)]);
    let cfg: serde_json::Value = serde_json::from_str(&from_config.stdout).unwrap();
    // The embedded config is the .config the kernel was built from.
    assert_eq!(img["verdicts"], cfg["verdicts"]);
    for boot in ["direct", "initramfs"] {
        let r = check_kernel(&["--boot", boot, "--nic", "e1000", s(&k.bzimage)]);
        assert_eq!(r.code, 0, "--boot {boot}:\n{}", r.stdout);
    }
}

#[test]
fn tinyconfig_without_file_locking_fails_and_the_explanation_names_it() {
    let fragment = fragment_without_file_locking();
    let cfg = config("tiny-nofl", "tinyconfig", &fragment);
    let frag = cfg.with_file_name("fragment.config");
    let src = source();
    let r = check_kernel(&[
        "--nic",
        "e1000",
        "--source",
        s(&src),
        "--fragment",
        s(&frag),
        s(&cfg),
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let nfs_why = r
        .stdout
        .lines()
        .find(|l| l.contains("why: NFS_FS depends on"))
        .unwrap_or_else(|| panic!("no NFS_FS explanation in:\n{}", r.stdout));
    assert!(nfs_why.contains("FILE_LOCKING is not set"), "{nfs_why}");
    // The fragment section reports the dropped request and why.
    let tail = &r.stdout[r.stdout.find("fragment options").expect("fragment section")..];
    assert!(tail.contains("CONFIG_NFS_FS=y requested"), "{tail}");
    assert!(tail.contains("FILE_LOCKING"), "{tail}");
}

#[test]
fn nic_as_module_fails_direct_naming_the_nic() {
    // OVERLAY_FS too, so that only the NIC separates the two boot paths.
    let cfg = config(
        "e1000m",
        "x86_64_defconfig",
        "CONFIG_MODULES=y\nCONFIG_E1000=m\nCONFIG_OVERLAY_FS=y\n",
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("CONFIG_E1000=m"),
        "the build really has e1000 as a module"
    );
    let r = check_kernel(&["--nic", "e1000", s(&cfg)]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let direct = &r.stdout[..r.stdout.find("initramfs boot").unwrap()];
    let fails: Vec<&str> = direct.lines().filter(|l| l.contains("FAIL   ")).collect();
    assert_eq!(fails.len(), 1, "only the NIC fails: {fails:?}");
    assert!(fails[0].contains("CONFIG_E1000=m"), "{fails:?}");
    assert!(fails[0].contains("NIC driver"), "{fails:?}");
    // The initramfs path can load it.
    let r = check_kernel(&["--boot", "initramfs", "--nic", "e1000", s(&cfg)]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn vmlinux_config_is_read_too() {
    // The kernel's own scripts/extract-vmlinux unpacks the test bed's bzImage.
    let k = diskless_qemu::kernel::custom_kernel().expect("the test bed's custom kernel");
    let out = scratch("vmlinux");
    let vmlinux = out.join("vmlinux");
    let data = std::process::Command::new(source().join("scripts/extract-vmlinux"))
        .arg(&k.bzimage)
        .output()
        .expect("scripts/extract-vmlinux");
    assert!(data.status.success() && data.stdout.starts_with(b"\x7fELF"));
    std::fs::write(&vmlinux, &data.stdout).unwrap();
    let r = check_kernel(&["--nic", "e1000", s(&vmlinux)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("(IKCONFIG in vmlinux)"), "{}", r.stdout);
}

#[test]
fn nic_comes_from_the_inventory_profile() {
    let dir = std::env::temp_dir().join(format!("check-kernel-inv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inv = dir.join("cluster.toml");
    std::fs::write(
        &inv,
        r#"
[cluster]
name = "lab"
server = "172.16.1.1"
subnet = "172.16.1.0/24"
boot_root = "/tftpboot"
nfs_root = "/home/common/cluster"
kernel = "bzImage"

[profiles.rack1]
nic = "e1000"

[profiles.rack2]
nic = "igb"

[[nodes]]
name = "cartman"
mac = "00:18:f3:70:91:b9"
ip = "172.16.1.10"
profile = "rack1"

[[nodes]]
name = "kenny"
mac = "00:18:f3:70:91:c1"
ip = "172.16.1.11"
profile = "rack2"
"#,
    )
    .unwrap();
    let k = stock();
    let inv_s = s(&inv);
    let r = check_kernel(&["--inventory", inv_s, "--profile", "rack1", s(&k.config)]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL   CONFIG_E1000=m"), "{}", r.stdout);
    // Two drivers in the selection: the user must pick one.
    let r = check_kernel(&["--inventory", inv_s, s(&k.config)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("e1000, igb"), "{}", r.stderr);
    std::fs::remove_dir_all(&dir).ok();
}
