//! `diskless-server import` on the talk's real files: they import, the
//! result validates, and cartman's generated pxelinux config is the seed's
//! with its bugs fixed.

mod inventory_support;

use std::path::PathBuf;

use diskless_common::inventory::load_file;
use diskless_common::render::{ipxe_script, pxelinux_config};
use inventory_support::{fixture, run, TempDir};

/// The seed directory from the brief, or our copy of it on a fresh clone
/// where /work/shared does not exist.
fn seed_dir() -> PathBuf {
    let shared = PathBuf::from("/work/shared/seed");
    if shared.join("dhcpd.conf").exists() {
        shared
    } else {
        fixture("inventory/seed")
    }
}

fn import_seed(tmp: &TempDir) -> (PathBuf, String) {
    let seed = seed_dir();
    let out = tmp.0.join("inventory.toml");
    let r = run(
        "diskless-server",
        &[
            "import",
            "--dhcpd",
            seed.join("dhcpd.conf").to_str().unwrap(),
            "--pxelinux-dir",
            seed.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr);
    assert!(r.stdout.is_empty(), "with -o nothing goes to stdout");
    (out, r.stderr)
}

#[test]
fn seed_imports_and_validates() {
    let tmp = TempDir::new("import-seed");
    let (out, _) = import_seed(&tmp);
    let r = run(
        "diskless-server",
        &["check", "-i", out.to_str().unwrap(), "--no-path-check"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("2 nodes"), "{}", r.stdout);
}

#[test]
fn cartman_config_is_the_seed_corrected() {
    let tmp = TempDir::new("import-cartman");
    let (out, _) = import_seed(&tmp);
    let inv = load_file(&out).unwrap();
    assert_eq!(inv.cluster.boot_root.to_str(), Some("/tftpboot"));
    assert_eq!(inv.cluster.loader_bios, "pxelinux.0");
    let cartman = inv.node_by_name("cartman").unwrap();
    assert_eq!(cartman.mac.pxelinux_name(), "01-00-18-f3-70-91-b9");
    assert_eq!(
        pxelinux_config(&inv, cartman),
        "# diskless: cluster cartman 00:18:f3:70:91:b9 (generated from the inventory; edit that instead)\n\
         DEFAULT diskless\n\
         PROMPT 0\n\
         TIMEOUT 0\n\
         \n\
         LABEL diskless\n\
         \x20 KERNEL linux-cls1\n\
         \x20 APPEND root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp ip=172.16.1.10:172.16.1.1::255.255.255.0:cartman:eth0:off\n"
    );
    assert_eq!(
        ipxe_script(&inv, cartman, "http://172.16.1.1"),
        "#!ipxe\n# diskless: cluster cartman 00:18:f3:70:91:b9\n\
         kernel http://172.16.1.1/linux-cls1 root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp ip=172.16.1.10:172.16.1.1::255.255.255.0:cartman:eth0:off\n\
         boot\n"
    );
}

#[test]
fn generated_cartman_config_passes_the_linter() {
    let tmp = TempDir::new("import-lint");
    let (out, _) = import_seed(&tmp);
    let inv = load_file(&out).unwrap();
    let cfg = tmp.0.join("01-00-18-f3-70-91-b9");
    std::fs::write(
        &cfg,
        pxelinux_config(&inv, inv.node_by_name("cartman").unwrap()),
    )
    .unwrap();
    let r = run(
        "diskless-mkimage",
        &["check-cmdline", "--pxelinux", cfg.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn every_unmapped_statement_and_fix_is_reported() {
    let tmp = TempDir::new("import-notes");
    let (_, stderr) = import_seed(&tmp);
    for needle in [
        "dhcpd.conf:1: not mapped: `ddns-update-style ad-hoc;`",
        "dhcpd.conf:8: fixed: filename \"/tftpboot/pxelinux.0\" includes the TFTP root",
        "pxelinux.cfg-01-00-18-f3-70-91-b9:1: not mapped: `TIMEOUT 1`",
        "pxelinux.cfg-01-00-18-f3-70-91-b9:3: fixed: lines 3-5 end in `\\`",
        "fixed: root=/dev/nfsroot is not a device the kernel knows",
        "→ root=/dev/nfs",
        "fixed: ip= contains quotes",
        "gw-ip (field 3) is 172.16.1.255, the broadcast address",
        "→ nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp",
        "assumed: no pxelinux config for `stan`",
        "imported 2 nodes",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}

#[test]
fn import_to_stdout_and_broken_input() {
    let seed = seed_dir();
    let r = run(
        "diskless-server",
        &[
            "import",
            "--dhcpd",
            seed.join("dhcpd.conf").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("[cluster]\n"));
    assert!(
        r.stdout.contains("kernel = \"vmlinuz\""),
        "no pxelinux dir: placeholder kernel"
    );
    assert!(r.stderr.contains("assumed: kernel = \"vmlinuz\""));

    let tmp = TempDir::new("import-bad");
    let bad = tmp.0.join("dhcpd.conf");
    std::fs::write(&bad, "host a {\n  fixed-address 10.0.0.2;\n").unwrap();
    let r = run(
        "diskless-server",
        &["import", "--dhcpd", bad.to_str().unwrap()],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("dhcpd.conf:1: this `{` is never closed"),
        "{}",
        r.stderr
    );

    let r = run(
        "diskless-server",
        &["import", "--dhcpd", "/nonexistent/dhcpd.conf"],
    );
    assert_eq!(r.code, 2);
    assert!(r
        .stderr
        .contains("cannot read --dhcpd /nonexistent/dhcpd.conf"));
}

#[test]
fn duplicate_hosts_import_but_do_not_validate() {
    let tmp = TempDir::new("import-dup");
    let conf = tmp.0.join("dhcpd.conf");
    std::fs::write(
        &conf,
        "subnet 10.0.0.0 netmask 255.255.255.0 {\n next-server 10.0.0.1;\n\
         host a { hardware ethernet 52:54:00:00:00:01; fixed-address 10.0.0.2; }\n\
         host b { hardware ethernet 52:54:00:00:00:01; fixed-address 10.0.0.3; }\n}\n",
    )
    .unwrap();
    let r = run(
        "diskless-server",
        &["import", "--dhcpd", conf.to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("duplicate MAC 52:54:00:00:00:01"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("does not validate yet"));
}
