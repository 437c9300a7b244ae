//! The linter on the seed's bugs and on correct lines.

use super::*;

const SEED_LINE: &str = "root=/dev/nfsroot nfsroot=172.16.1.1:/home/common/cluster ip=172.16.1.10:172.16.1.1:172.16.1.255:255.255.255.0:::'off'";

#[test]
fn seed_line_every_bug_with_its_fix() {
    let r = lint(SEED_LINE, Server::default());
    let msgs: Vec<_> = r
        .findings
        .iter()
        .map(|f| (f.offset, f.fix.as_str()))
        .collect();
    assert_eq!(
        msgs,
        [
            (0, "root=/dev/nfs"),
            (18, "nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp"),
            (58, "ip=172.16.1.10:172.16.1.1::255.255.255.0:::off"),
            (
                58,
                "ip=172.16.1.10:172.16.1.1::255.255.255.0:::off (or put your router in field 3)"
            ),
        ]
    );
    assert!(r.findings[2].message.contains("quotes"));
    assert!(r.findings[3]
        .message
        .contains("broadcast address of 172.16.1.0/24"));
    assert_eq!(
        r.corrected,
        "root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp ip=172.16.1.10:172.16.1.1::255.255.255.0:::off"
    );
}

#[test]
fn corrected_line_is_clean() {
    let r = lint(SEED_LINE, Server::default());
    assert_eq!(lint(&r.corrected, Server::default()).findings, []);
    let good = "root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp ip=172.16.1.10:172.16.1.1::255.255.255.0:cartman:eth0:off console=ttyS0";
    let r = lint(good, Server::default());
    assert_eq!(r.findings, []);
    assert_eq!(r.corrected, good);
}

#[test]
fn backslash_is_reported_and_removed() {
    let r = lint(
        "root=/dev/nfs\\ ip=dhcp nfsroot=10.0.0.1:/r,vers=3,tcp",
        Server::default(),
    );
    assert_eq!(r.findings.len(), 1);
    assert!(r.findings[0]
        .message
        .contains("pxelinux does not join lines"));
    assert_eq!(
        r.corrected,
        "root=/dev/nfs ip=dhcp nfsroot=10.0.0.1:/r,vers=3,tcp"
    );
}

#[test]
fn other_problems() {
    let r = lint(
        "root=/dev/nfs nfsroot=/r,vers=4,tcp ip=10.0.0.5 init=sbin/init diskless.bogus=1 diskless.overlay=zram",
        Server::default(),
    );
    let m: Vec<_> = r.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(m.iter().any(|m| m.contains("NFS version 4")), "{m:?}");
    assert!(m.iter().any(|m| m.contains("names no server")));
    assert!(m.iter().any(|m| m.contains("no netmask")));
    assert!(m.iter().any(|m| m.contains("not an absolute path")));
    assert!(m.iter().any(|m| m.contains("`diskless.bogus` is not")));
    assert!(m.iter().any(|m| m.contains("diskless.overlay=zram")));
}

#[test]
fn quoted_method() {
    let r = lint("ip='dhcp'", Server::default());
    assert_eq!(r.findings[0].fix, "ip=dhcp");
    assert_eq!(r.corrected, "ip=dhcp");
}

#[test]
fn missing_root_and_ip() {
    let r = lint("nfsroot=10.0.0.1:/r,vers=3,tcp", Server::default());
    assert_eq!(r.findings[0].fix, "add root=/dev/nfs");
    let r = lint(
        "root=/dev/nfs nfsroot=10.0.0.1:/r,vers=3,tcp",
        Server::default(),
    );
    assert!(r.findings[0].message.contains("without ip="));
}

#[test]
fn gateway_off_subnet_and_conflicting_duplicates() {
    let r = lint(
        "ip=10.0.0.5:10.0.0.1:10.0.1.1:255.255.255.0:n::off ip=dhcp",
        Server::default(),
    );
    let m: Vec<_> = r.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        m.iter().any(|m| m.contains("not on the node's subnet")),
        "{m:?}"
    );
    assert!(m.iter().any(|m| m.contains("given 2 times")));
}
