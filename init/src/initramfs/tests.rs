//! The whole stage against the fake: DHCP boot with overlay, static ip=,
//! and a failure.

use super::*;
use crate::sys::fake::{Call, FakeSys};

const D: &str = "/lib/modules/6.1.0-1-amd64";

fn node() -> FakeSys {
    let mut s = FakeSys::new()
        .with_dir("/lib/modules")
        .with_dir(D)
        .with_file(
            &format!("{D}/diskless.load"),
            "core overlay kernel/overlay.ko\nnic e1000 kernel/e1000.ko\n",
        )
        .with_file(&format!("{D}/kernel/overlay.ko"), "")
        .with_file(&format!("{D}/kernel/e1000.ko"), "")
        .with_dir("/sys/class/net")
        .with_dir("/sys/class/net/eth0")
        .with_file("/sys/class/net/eth0/carrier", "1\n")
        .with_file("/sys/class/net/eth0/address", "52:54:00:12:34:56\n")
        .with_file("/newroot/sbin/diskless-init", "");
    s.dhcp_reply = Some(Box::new(|m, _| dhcp_client::tests_server(m)));
    s
}

fn mounts(s: &FakeSys) -> Vec<(String, String, String)> {
    s.calls
        .iter()
        .filter_map(|c| match c {
            Call::Mount(a) => Some((a.fstype.clone(), a.target.clone(), a.data.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn dhcp_boot_mounts_nfs_under_a_tmpfs_overlay() {
    let mut s = node();
    let cfg = StageConfig::from_cmdline("console=ttyS0");
    let init = prepare(&mut s, &cfg).unwrap();
    assert_eq!(init, "/sbin/diskless-init");
    assert!(s.calls.contains(&Call::SetIpv4(
        "eth0".into(),
        Ipv4Addr::new(172, 16, 1, 10),
        Ipv4Addr::new(255, 255, 255, 0)
    )));
    assert!(s
        .calls
        .contains(&Call::DefaultRoute(Ipv4Addr::new(172, 16, 1, 254))));
    assert_eq!(s.hostname, "cartman");
    assert_eq!(
        mounts(&s),
        [
            (
                "nfs".into(),
                "/lower".into(),
                "vers=3,proto=tcp,nolock,addr=172.16.1.1".into()
            ),
            ("tmpfs".into(), "/rw".into(), "mode=0755".into()),
            (
                "overlay".into(),
                "/newroot".into(),
                "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work".into()
            ),
        ]
    );
}

#[test]
fn static_ip_without_overlay_mounts_rw_and_needs_no_dhcp() {
    let mut s = node();
    s.dhcp_reply = None;
    let cfg = StageConfig::from_cmdline(
        "ip=172.16.1.20:172.16.1.1::255.255.0.0:kyle:eth0:off nfsroot=/srv/r rw diskless.overlay=none",
    );
    prepare(&mut s, &cfg).unwrap();
    assert!(!s.calls.iter().any(|c| matches!(c, Call::Dhcp(_))));
    assert!(!s.calls.iter().any(|c| matches!(c, Call::DefaultRoute(_))));
    assert_eq!(s.hostname, "kyle");
    let m = mounts(&s);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].1, "/newroot");
    assert!(s.calls.iter().any(|c| matches!(c, Call::Mount(a) if a.source == "172.16.1.1:/srv/r" && !a.flags.has(F::RDONLY))));
}

#[test]
fn missing_init_in_root_fails_before_switching() {
    let mut s = node();
    s.files.remove("/newroot/sbin/diskless-init");
    let e = prepare(&mut s, &StageConfig::from_cmdline("")).unwrap_err();
    assert!(e.contains("/sbin/init"), "{e}");
}

#[test]
fn emergency_shell_then_reboot() {
    let mut s = FakeSys::new().with_file("/bin/sh", "");
    s.behaviour.insert(
        "/bin/sh".into(),
        crate::sys::fake::Behaviour::ExitAfter(Duration::from_secs(3), 0),
    );
    emergency(&mut s);
    assert_eq!(s.spawned(), [vec!["/bin/sh".to_string()]]);
    assert!(s.calls.contains(&Call::Reboot(RebootCmd::Restart)));
    let mut s = FakeSys::new();
    emergency(&mut s);
    assert!(s.calls.contains(&Call::Sleep(Duration::from_secs(10))));
    assert!(s.calls.contains(&Call::Reboot(RebootCmd::Restart)));
}
