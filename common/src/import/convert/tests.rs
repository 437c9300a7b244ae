//! The importer on small dhcpd.conf/pxelinux inputs and on the seed.

use super::*;
use crate::cmdline::node_cmdline;
use crate::inventory::load_str;

const DHCPD: &str = include_str!("../../../../tests/fixtures/inventory/seed/dhcpd.conf");
const PXE: &str =
    include_str!("../../../../tests/fixtures/inventory/seed/pxelinux.cfg-01-00-18-f3-70-91-b9");

fn seed() -> Imported {
    let pxe = [PxeFile {
        name: "pxelinux.cfg-01-00-18-f3-70-91-b9".into(),
        text: PXE.into(),
    }];
    import(DHCPD, "dhcpd.conf", &pxe, &ImportOptions::default()).unwrap()
}

#[test]
fn seed_imports_and_cartman_is_corrected() {
    let imp = seed();
    assert_eq!(imp.nodes, 2);
    let inv = load_str(&imp.toml, "imported").unwrap();
    assert_eq!(inv.cluster.boot_root, Path::new("/tftpboot"));
    assert_eq!(inv.cluster.loader_bios, "pxelinux.0");
    let cartman = inv.node_by_name("cartman").unwrap();
    assert_eq!(
        node_cmdline(&inv, cartman),
        "root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp ip=172.16.1.10:172.16.1.1::255.255.255.0:cartman:eth0:off"
    );
    assert!(imp
        .toml
        .contains("# First cluster, first rack\n[[nodes]]\nname = \"cartman\""));
}

#[test]
fn seed_notes_cover_every_bug_and_unmapped_statement() {
    let notes: Vec<String> = seed().notes.iter().map(|n| n.to_string()).collect();
    let has = |s: &str| notes.iter().any(|n| n.contains(s));
    assert!(
        has("dhcpd.conf:1: not mapped: `ddns-update-style ad-hoc;`"),
        "{notes:#?}"
    );
    assert!(has("includes the TFTP root"));
    assert!(has(
        "pxelinux.cfg-01-00-18-f3-70-91-b9:3: fixed: lines 3-5 end in `\\`"
    ));
    assert!(has("root=/dev/nfsroot"));
    assert!(has("contains quotes"));
    assert!(has("broadcast address"));
    assert!(has("no vers="));
    assert!(has("`TIMEOUT 1`"));
    assert!(has("no pxelinux config for `stan`"));
}

#[test]
fn groups_subnets_and_unknown_statements() {
    let conf = r#"
option domain-name "c.lan";
option domain-name-servers 10.0.0.1, 10.0.0.2;
subnet 10.0.0.0 netmask 255.255.255.0 {
  range 10.0.0.200 10.0.0.250;
  option routers 10.0.0.254;
  group {
filename "pxelinux.0";
next-server 10.0.0.1;
host a.c.lan { hardware ethernet 52:54:00:00:00:01; fixed-address 10.0.0.2; }
host b_1 { hardware ethernet 52:54:00:00:00:02; fixed-address 10.0.0.3; filename "ipxe.efi"; }
host c { fixed-address 10.0.0.4; }
  }
  log-facility local7;
}
subnet 192.168.9.0 netmask 255.255.255.0 { }
"#;
    let imp = import(conf, "d", &[], &ImportOptions::default()).unwrap();
    let inv = load_str(&imp.toml, "x").unwrap();
    assert_eq!(inv.nodes.len(), 2);
    assert_eq!(
        inv.node_by_name("b-1").unwrap().ip,
        Ipv4Addr::new(10, 0, 0, 3)
    );
    assert_eq!(inv.cluster.router, Some(Ipv4Addr::new(10, 0, 0, 254)));
    assert_eq!(inv.cluster.dns.len(), 2);
    assert_eq!(inv.cluster.loader_uefi.as_deref(), Some("ipxe.efi"));
    assert!(inv.cluster.dhcp_pool.is_some());
    let notes: Vec<String> = imp.notes.iter().map(|n| n.to_string()).collect();
    let has = |s: &str| notes.iter().any(|n| n.contains(s));
    assert!(has("`host c { … }` is skipped"), "{notes:#?}");
    assert!(has("`log-facility local7;` has no inventory equivalent"));
    assert!(has("subnet 192.168.9.0/24 is not carried over"));
    assert!(has("host `a.c.lan` is named `a`"));
    assert!(has("kernel = \"vmlinuz\""));
}

#[test]
fn errors() {
    let e = import("host a {", "d", &[], &ImportOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "d:1: this `{` is never closed");
    let e = import(
        "subnet 10.0.0.0 netmask 255.0.0.0 {}",
        "d",
        &[],
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ImportError::NoServer(_)));
    let e = import("next-server 10.0.0.1;", "d", &[], &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, ImportError::NoSubnet(_)));
}
