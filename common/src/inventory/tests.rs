//! Loader tests on small inline inventories (file-based cases live in
//! `tests/tests/inventory_*.rs`).

use super::*;
use crate::cmdline::node_cmdline;
use crate::render::{ipxe_script, pxelinux_config};

const SEED: &str = include_str!("../../../examples/seed-inventory.toml");

#[test]
fn seed_example_loads_and_renders_cartman() {
    let inv = load_str(SEED, "seed-inventory.toml").unwrap();
    let cartman = inv.node_by_name("cartman").unwrap();
    assert_eq!(
        node_cmdline(&inv, cartman),
        "root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp \
         ip=172.16.1.10:172.16.1.1::255.255.255.0:cartman:eth0:off:172.16.1.1 \
         console=tty0 console=ttyS0,115200"
    );
    let p = pxelinux_config(&inv, cartman);
    assert!(p.contains("  KERNEL linux-cls1\n"), "{p}");
    let kenny = inv.node_by_name("kenny").unwrap();
    assert_eq!(kenny.boot.kernel, "linux-cls2");
    assert!(node_cmdline(&inv, kenny)
        .ends_with("console=ttyS0,115200 processor.max_cstate=1 diskless.debug"));
    let s = ipxe_script(&inv, kenny, "http://172.16.1.1:8080/");
    assert!(s.starts_with("#!ipxe\n"));
    assert!(s.contains("kernel http://172.16.1.1:8080/linux-cls2 root=/dev/nfs "));
}

#[test]
fn exports_expand_profiles_and_star() {
    let inv = load_str(SEED, "seed").unwrap();
    let culc = inv
        .exports
        .iter()
        .find(|e| e.path == Path::new("/home/common/culc"))
        .unwrap();
    assert_eq!(culc.access, Access::Rw);
    assert_eq!(culc.nodes, ["cartman", "stan", "kenny"]);
    assert!(!culc.root);
    let root = inv
        .root_export_of(inv.node_by_name("stan").unwrap())
        .unwrap();
    assert!(root.root);
    assert_eq!(root.nodes.len(), 3);
    assert_eq!(inv.exports_for("172.16.1.11".parse().unwrap()).count(), 2);
}

const MINI: &str = r#"
[cluster]
server = "10.0.0.1"
subnet = "10.0.0.0/24"
nfs_root = "/srv/root"
kernel = "vmlinuz"
"#;

fn problems(extra: &str) -> Vec<String> {
    match load_str(&format!("{MINI}{extra}"), "t.toml") {
        Ok(_) => vec![],
        Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn minimal_inventory_gets_implicit_root_export() {
    let inv = load_str(
        &format!("{MINI}[[nodes]]\nname = \"a\"\nmac = \"52:54:00:00:00:01\"\nip = \"10.0.0.2\"\n"),
        "t",
    )
    .unwrap();
    assert_eq!(inv.exports.len(), 1);
    assert_eq!(inv.exports[0].nodes, ["a"]);
    assert_eq!(inv.cluster.http_port, 80);
    assert_eq!(inv.cluster.nfs_options, "vers=3,tcp");
}

#[test]
fn every_problem_is_reported_with_position() {
    let p = problems(
        "[[nodes]]\nname = \"a\"\nmac = \"52:54:00:00:00:zz\"\nip = \"10.0.1.2\"\n\
         [[nodes]]\nname = \"a\"\nmac = \"52:54:00:00:00:02\"\nip = \"10.0.0.255\"\nprofile = \"x\"\n",
    );
    assert_eq!(p.len(), 5, "{p:#?}");
    assert!(
        p[0].starts_with("t.toml:9:7: `52:54:00:00:00:zz` is not a MAC address"),
        "{}",
        p[0]
    );
    assert!(p[1].starts_with("t.toml:10:6: ip 10.0.1.2 is outside the cluster subnet 10.0.0.0/24"));
    assert!(p[1].contains("hint: use an address from 10.0.0.1 to 10.0.0.254"));
    assert!(p[2].starts_with("t.toml:12:8: duplicate node name `a` (first defined on line 8)"));
    assert!(p[3].contains("broadcast address"));
    assert!(p[4].contains("unknown profile `x`"));
}

#[test]
fn syntax_errors_have_position_and_hint() {
    let p = problems("[[nodes]]\nname = \"a\"\nmacc = \"x\"\n");
    assert_eq!(p.len(), 1);
    assert!(p[0].starts_with("t.toml:"), "{}", p[0]);
    assert!(p[0].contains("unknown field `macc`"), "{}", p[0]);
    assert!(p[0].contains("hint:"));
}
