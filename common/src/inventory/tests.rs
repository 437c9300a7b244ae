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

const RELAY: &str = r#"
[[relay_subnets]]
subnet = "10.9.0.0/24"
router = "10.9.0.1"
pool = "10.9.0.100-10.9.0.200"
dns = ["10.9.0.2"]
domain = "rack2.example"

[[relay_subnets]]
subnet = "10.10.0.0/16"

[[nodes]]
name = "remote"
mac = "52:54:00:00:00:09"
ip = "10.9.0.20"
"#;

#[test]
fn relay_subnets_and_lease_file_load() {
    let text = MINI.replace(
        "kernel = \"vmlinuz\"",
        "kernel = \"vmlinuz\"\nlease_file = \"/var/lib/x/leases\"",
    );
    let inv = load_str(&format!("{text}{RELAY}"), "t").unwrap_or_else(|e| panic!("{e}"));
    let c = &inv.cluster;
    assert_eq!(
        c.lease_file.as_deref(),
        Some(Path::new("/var/lib/x/leases"))
    );
    assert_eq!(c.relay_subnets.len(), 2);
    let r = &c.relay_subnets[0];
    assert_eq!(r.subnet.to_string(), "10.9.0.0/24");
    assert_eq!(r.router, Some("10.9.0.1".parse().unwrap()));
    assert_eq!(
        r.pool.unwrap().end,
        "10.9.0.200".parse::<std::net::Ipv4Addr>().unwrap()
    );
    assert_eq!(r.dns.as_deref(), Some(&["10.9.0.2".parse().unwrap()][..]));
    assert_eq!(r.domain.as_deref(), Some("rack2.example"));
    assert_eq!(c.relay_subnets[1].dns, None, "inherits the cluster's");
    // A node behind the relay gets its own subnet's mask and gateway.
    let remote = inv.node_by_name("remote").unwrap();
    assert!(
        node_cmdline(&inv, remote).contains("ip=10.9.0.20:10.0.0.1:10.9.0.1:255.255.255.0:remote:"),
        "{}",
        node_cmdline(&inv, remote)
    );
}

#[test]
fn relay_subnet_problems_have_positions() {
    let cases = [
        (
            "[[relay_subnets]]\nsubnet = \"10.0.0.128/25\"\n",
            "t.toml:8:10: relay subnet 10.0.0.128/25 overlaps the cluster subnet 10.0.0.0/24",
        ),
        (
            "[[relay_subnets]]\nsubnet = \"10.9.0.0/16\"\n[[relay_subnets]]\nsubnet = \"10.9.4.0/24\"\n",
            "t.toml:10:10: relay subnet 10.9.4.0/24 overlaps relay subnet 10.9.0.0/16 (line 8)",
        ),
        (
            "[[relay_subnets]]\nsubnet = \"10.9.0.1/24\"\n",
            "t.toml:8:10: `10.9.0.1/24` has host bits set: did you mean 10.9.0.0/24?",
        ),
        (
            "[[relay_subnets]]\nsubnet = \"10.9.0.0/24\"\npool = \"10.9.1.5-10.9.1.9\"\n",
            "t.toml:9:8: pool 10.9.1.5-10.9.1.9 is not inside 10.9.0.0/24",
        ),
        (
            "[[relay_subnets]]\nsubnet = \"10.9.0.0/24\"\npool = \"10.9.0.0-10.9.0.9\"\n",
            "t.toml:9:8: pool 10.9.0.0-10.9.0.9 includes the network or broadcast address of 10.9.0.0/24",
        ),
        (
            "[[relay_subnets]]\nsubnet = \"10.9.0.0/24\"\nrouter = \"10.9.0.5\"\npool = \"10.9.0.2-10.9.0.9\"\n",
            "t.toml:10:8: pool 10.9.0.2-10.9.0.9 contains the router address 10.9.0.5",
        ),
        (
            "[[relay_subnets]]\nsubnet = \"10.9.0.0/24\"\nrouter = \"10.9.1.1\"\n",
            "t.toml:9:10: router 10.9.1.1 is not a host address in relay subnet 10.9.0.0/24",
        ),
        (
            "[[relay_subnets]]\nsubnet = \"10.9.0.0/24\"\npool = \"10.9.0.10-10.9.0.20\"\n\
             [[nodes]]\nname = \"a\"\nmac = \"52:54:00:00:00:01\"\nip = \"10.9.0.15\"\n",
            "t.toml:13:6: ip 10.9.0.15 lies inside the relay subnet's pool, so it could be leased to a stranger",
        ),
        (
            "[[relay_subnets]]\nsubnet = \"10.9.0.0/24\"\n\
             [[nodes]]\nname = \"a\"\nmac = \"52:54:00:00:00:01\"\nip = \"10.8.0.15\"\n",
            "t.toml:12:6: ip 10.8.0.15 is outside the cluster subnet 10.0.0.0/24 and every relay subnet (10.9.0.0/24)",
        ),
        (
            "[[relay_subnets]]\nsubnet = \"10.9.0.0/24\"\ngateway = \"10.9.0.1\"\n",
            "t.toml:9:1: unknown field `gateway`",
        ),
    ];
    for (extra, want) in cases {
        let p = problems(extra);
        assert_eq!(p.len(), 1, "{extra}: {p:#?}");
        assert!(
            p[0].starts_with(want),
            "{extra}\nwant {want}\ngot  {}",
            p[0]
        );
        assert!(p[0].contains("hint:"), "{}", p[0]);
    }
    let bad_lease = MINI.replace(
        "kernel = \"vmlinuz\"",
        "kernel = \"vmlinuz\"\nlease_file = \"leases\"",
    );
    let e = load_str(&bad_lease, "t.toml").unwrap_err().to_string();
    assert!(
        e.contains("t.toml:7:14: lease_file `leases` is not an absolute path"),
        "{e}"
    );
}

#[test]
fn router_advertisement_interval_is_bounded() {
    let ok = MINI.replace(
        "kernel = \"vmlinuz\"",
        "kernel = \"vmlinuz\"\nrouter_advertisement_interval = 30",
    );
    assert_eq!(
        load_str(&ok, "t")
            .unwrap()
            .cluster
            .router_advertisement_interval,
        30
    );
    assert_eq!(
        load_str(MINI, "t")
            .unwrap()
            .cluster
            .router_advertisement_interval,
        600
    );
    let bad = MINI.replace(
        "kernel = \"vmlinuz\"",
        "kernel = \"vmlinuz\"\nrouter_advertisement_interval = 2",
    );
    let e = load_str(&bad, "t.toml").unwrap_err().to_string();
    assert!(
        e.contains("t.toml:7:33: router_advertisement_interval 2 is outside 4..=1800 seconds"),
        "{e}"
    );
}
