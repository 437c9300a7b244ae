//! `diskless-mkimage check-cmdline`: every seed bug is reported with its
//! fix; exit 0 clean, 1 problems, 2 unreadable input.

mod inventory_support;

use inventory_support::{fixture, run, TempDir};

const SEED_PXE: &str = "inventory/seed/pxelinux.cfg-01-00-18-f3-70-91-b9";

#[test]
fn seed_pxelinux_every_bug_with_fix() {
    let f = fixture(SEED_PXE);
    let name = f.to_str().unwrap();
    let r = run("diskless-mkimage", &["check-cmdline", "--pxelinux", name]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let expect = [
        format!("{name}:3: error: ONTIMEOUT continues with `\\` over lines 3-5, but pxelinux does not join lines"),
        "    fix: put ONTIMEOUT and all its arguments on line 3".to_string(),
        format!("{name}:3:22: error: root=/dev/nfsroot is not a device the kernel knows; it mounts the NFS root only for root=/dev/nfs"),
        "    fix: root=/dev/nfs".to_string(),
        format!("{name}:4:1: error: nfsroot= no vers="),
        "    fix: nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp".to_string(),
        format!("{name}:5:1: error: ip= contains quotes: the kernel does not strip them, so `'off'` is not an autoconf method it knows"),
        "    fix: ip=172.16.1.10:172.16.1.1::255.255.255.0:::off".to_string(),
        format!("{name}:5:1: error: ip= gw-ip (field 3) is 172.16.1.255, the broadcast address of 172.16.1.0/24"),
        "corrected line 3: ONTIMEOUT linux-cls1 root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp ip=172.16.1.10:172.16.1.1::255.255.255.0:::off".to_string(),
        format!("{name}:9:8: error: root=/dev/nfsroot"),
        "corrected line 9: APPEND root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp ip=172.16.1.10:172.16.1.1::255.255.255.0:::off".to_string(),
        "10 problems found".to_string(),
    ];
    for e in &expect {
        assert!(
            r.stdout.lines().any(|l| l.starts_with(e.as_str())),
            "missing line starting {e:?} in:\n{}",
            r.stdout
        );
    }
    assert!(r
        .stdout
        .contains("no transport: older kernels mount the root over UDP"));
}

#[test]
fn seed_cmdline_as_argument() {
    let r = run(
        "diskless-mkimage",
        &[
            "check-cmdline",
            "root=/dev/nfsroot nfsroot=172.16.1.1:/home/common/cluster ip=172.16.1.10:172.16.1.1:172.16.1.255:255.255.255.0:::'off'",
        ],
    );
    assert_eq!(r.code, 1);
    let want = "cmdline:1:1: error: root=/dev/nfsroot is not a device the kernel knows; it mounts the NFS root only for root=/dev/nfs\n    fix: root=/dev/nfs\n";
    assert!(r.stdout.starts_with(want), "{}", r.stdout);
    assert!(r.stdout.contains("cmdline:1:19: error: nfsroot= no vers="));
    assert!(r
        .stdout
        .contains("cmdline:1:59: error: ip= contains quotes"));
    assert!(r.stdout.ends_with(
        "corrected: root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp ip=172.16.1.10:172.16.1.1::255.255.255.0:::off\n4 problems found\n"
    ));
}

#[test]
fn clean_cmdline_exits_0() {
    let r = run(
        "diskless-mkimage",
        &[
            "check-cmdline",
            "root=/dev/nfs",
            "nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp",
            "ip=172.16.1.10:172.16.1.1::255.255.255.0:cartman:eth0:off",
            "console=ttyS0,115200",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.stdout, "clean: no problems found\n");
}

#[test]
fn backslash_in_a_cmdline_is_reported() {
    let r = run(
        "diskless-mkimage",
        &[
            "check-cmdline",
            "root=/dev/nfs\\ ip=dhcp nfsroot=10.0.0.1:/r,vers=3,tcp",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("pxelinux does not join lines"),
        "{}",
        r.stdout
    );
}

#[test]
fn unreadable_input_exits_2() {
    let r = run(
        "diskless-mkimage",
        &[
            "check-cmdline",
            "--pxelinux",
            "/nonexistent/pxelinux.cfg/default",
        ],
    );
    assert_eq!(r.code, 2);
    assert!(r
        .stderr
        .contains("cannot read --pxelinux /nonexistent/pxelinux.cfg/default"));

    let tmp = TempDir::new("cmdline-binary");
    let bin = tmp.0.join("pxelinux.0");
    std::fs::write(&bin, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let r = run(
        "diskless-mkimage",
        &["check-cmdline", "--pxelinux", bin.to_str().unwrap()],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not text"), "{}", r.stderr);

    let r = run("diskless-mkimage", &["check-cmdline"]);
    assert_eq!(r.code, 2, "no input at all is a usage error");
}
