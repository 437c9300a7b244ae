//! `diskless-mkimage initramfs` / `list` end to end on a small fake
//! modules directory (compressed modules included): exit codes, the
//! one-line errors, and what the image holds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_diskless-mkimage");

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// lib/modules/9.9.9-test with the NFS set, an xz and a zstd NIC driver.
fn fake_kernel(tag: &str) -> Dir {
    let root = std::env::temp_dir().join(format!("diskless-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let m = root.join("lib/modules/9.9.9-test");
    let files = [
        "kernel/net/sunrpc/sunrpc.ko",
        "kernel/fs/nfs_common/grace.ko",
        "kernel/fs/lockd/lockd.ko",
        "kernel/fs/nfs/nfs.ko",
        "kernel/fs/nfs/nfsv3.ko",
        "kernel/fs/overlayfs/overlay.ko",
        "kernel/drivers/net/e1000.ko",
        "kernel/drivers/net/igb.ko",
        "kernel/drivers/net/e1000e.ko",
        "kernel/drivers/net/forcedeth.ko",
    ];
    for f in files {
        let p = m.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("\x7fELF module {f}")).unwrap();
    }
    compress(&m.join("kernel/drivers/net/e1000.ko"), "xz");
    compress(&m.join("kernel/drivers/net/igb.ko"), "zstd");
    std::fs::write(
        m.join("modules.dep"),
        "kernel/net/sunrpc/sunrpc.ko:\n\
         kernel/fs/nfs_common/grace.ko:\n\
         kernel/fs/lockd/lockd.ko: kernel/fs/nfs_common/grace.ko kernel/net/sunrpc/sunrpc.ko\n\
         kernel/fs/nfs/nfs.ko: kernel/fs/lockd/lockd.ko kernel/fs/nfs_common/grace.ko kernel/net/sunrpc/sunrpc.ko\n\
         kernel/fs/nfs/nfsv3.ko: kernel/fs/nfs/nfs.ko kernel/fs/lockd/lockd.ko kernel/fs/nfs_common/grace.ko kernel/net/sunrpc/sunrpc.ko\n\
         kernel/fs/overlayfs/overlay.ko:\n\
         kernel/drivers/net/e1000.ko.xz:\n\
         kernel/drivers/net/igb.ko.zst:\n\
         kernel/drivers/net/e1000e.ko:\n\
         kernel/drivers/net/forcedeth.ko:\n",
    )
    .unwrap();
    std::fs::write(
        m.join("modules.builtin"),
        "kernel/net/packet/af_packet.ko\n",
    )
    .unwrap();
    std::fs::write(
        m.join("modules.alias"),
        "alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000\nalias pci:v00008086d000010C9sv*sd*bc*sc*i* igb\n",
    )
    .unwrap();
    Dir(root)
}

fn compress(p: &Path, tool: &str) {
    // xz removes its input by default; zstd needs --rm.
    let mut c = Command::new(tool);
    c.arg("-q");
    if tool == "zstd" {
        c.arg("--rm");
    }
    let st = c.arg(p).status().expect(tool);
    assert!(st.success(), "{tool} {}", p.display());
    assert!(!p.exists(), "{tool} replaced the file");
}

fn mkimage(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn builds_lists_and_decompresses_modules() {
    let d = fake_kernel("ok");
    let mods = d.0.join("lib/modules/9.9.9-test");
    let out = d.0.join("initrd.img");
    let o = mkimage(
        &[
            "initramfs",
            "--modules-dir",
            mods.to_str().unwrap(),
            "--init",
            "/bin/busybox",
            "--nic",
            "e1000",
            "--nic",
            "igb",
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("kernel 9.9.9-test, 8 modules, built in: af_packet"));

    let l = mkimage(&["list", "--names", out.to_str().unwrap()], &[]);
    assert!(l.status.success(), "{}", text(&l.stderr));
    let names = text(&l.stdout);
    for want in [
        "init",
        "dev/console",
        "newroot",
        "lib/modules/9.9.9-test/kernel/drivers/net/e1000.ko",
        "lib/modules/9.9.9-test/kernel/drivers/net/igb.ko",
        "lib/modules/9.9.9-test/diskless.load",
    ] {
        assert!(names.lines().any(|n| n == want), "{want} not in\n{names}");
    }
    assert!(!names.contains(".ko.xz") && !names.contains(".ko.zst"));

    let long = text(&mkimage(&["list", out.to_str().unwrap()], &[]).stdout);
    let e1000 = long.lines().find(|l| l.ends_with("/e1000.ko")).unwrap();
    let size = "\x7fELF module kernel/drivers/net/e1000.ko"
        .len()
        .to_string();
    assert!(
        e1000.split_whitespace().any(|w| w == size),
        "decompressed: {e1000}"
    );
}

#[test]
fn missing_module_fails_with_one_line_naming_it() {
    let d = fake_kernel("missing");
    let mods = d.0.join("lib/modules/9.9.9-test");
    let out = d.0.join("initrd.img");
    let o = mkimage(
        &[
            "initramfs",
            "--modules-dir",
            mods.to_str().unwrap(),
            "--init",
            "/bin/busybox",
            "--nic",
            "tg3",
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("module `tg3`"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!out.exists(), "no image on failure");
}

#[test]
fn same_inputs_same_bytes_and_source_date_epoch() {
    let d = fake_kernel("repro");
    let mods = d.0.join("lib/modules/9.9.9-test");
    let build = |name: &str, epoch: &str| {
        let out = d.0.join(name);
        let o = mkimage(
            &[
                "initramfs",
                "--modules-dir",
                mods.to_str().unwrap(),
                "--init",
                "/bin/busybox",
                "--all-nics",
                "--compress",
                "zstd",
                "-o",
                out.to_str().unwrap(),
            ],
            &[("SOURCE_DATE_EPOCH", epoch)],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
        std::fs::read(out).unwrap()
    };
    let a = build("a.img", "1700000000");
    assert!(a == build("b.img", "1700000000"));
    assert!(a != build("c.img", "1700000001"));
    let bad = mkimage(
        &[
            "initramfs",
            "--modules-dir",
            mods.to_str().unwrap(),
            "--init",
            "/bin/busybox",
            "-o",
            "/dev/null",
        ],
        &[("SOURCE_DATE_EPOCH", "yesterday")],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("SOURCE_DATE_EPOCH"));
}

#[test]
fn list_rejects_junk_with_an_offset() {
    let d = fake_kernel("junk");
    let p = d.0.join("junk.img");
    std::fs::write(&p, b"\0\0\0\0this is not an initramfs").unwrap();
    let o = mkimage(&["list", p.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("offset 4"), "{}", text(&o.stderr));
    let o = mkimage(&["list", "/nonexistent/initrd.img"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn modules_dir_must_exist() {
    let o = mkimage(
        &[
            "initramfs",
            "--kernel-version",
            "0.0.0-nope",
            "-o",
            "/tmp/x.img",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("/lib/modules/0.0.0-nope does not exist"));
}

const INVENTORY: &str = r#"
[cluster]
name = "vlug"
server = "172.16.1.1"
subnet = "172.16.1.0/24"
boot_root = "/tftpboot"
nfs_root = "/home/common/cluster"
kernel = "linux-cls1"

[profiles.athlon]
nic = "forcedeth"

[profiles.core2quad]
nic = "e1000e"

[[nodes]]
name = "cartman"
mac = "00:18:f3:70:91:b9"
ip = "172.16.1.10"
profile = "athlon"

[[nodes]]
name = "kenny"
mac = "00:1c:c0:12:34:56"
ip = "172.16.1.30"
profile = "core2quad"
"#;

#[test]
fn inventory_profile_picks_its_nic() {
    let d = fake_kernel("inventory");
    let mods = d.0.join("lib/modules/9.9.9-test");
    let inv = d.0.join("cluster.toml");
    std::fs::write(&inv, INVENTORY).unwrap();
    let out = d.0.join("initrd.img");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "initramfs",
            "--modules-dir",
            mods.to_str().unwrap(),
            "--init",
            "/bin/busybox",
            "--inventory",
            inv.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        mkimage(&args, &[])
    };
    let o = run(&["--profile", "core2quad"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let names = text(&mkimage(&["list", "--names", out.to_str().unwrap()], &[]).stdout);
    assert!(names.contains("/e1000e.ko"));
    assert!(!names.contains("/forcedeth.ko") && !names.contains("/igb.ko"));

    let o = run(&[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let names = text(&mkimage(&["list", "--names", out.to_str().unwrap()], &[]).stdout);
    assert!(names.contains("/e1000e.ko") && names.contains("/forcedeth.ko"));

    let o = run(&["--profile", "pentium"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("profile `pentium`"),
        "{}",
        text(&o.stderr)
    );
}
