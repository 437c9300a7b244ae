//! `diskless-server check` on inventories with `[[relay_subnets]]` and
//! `lease_file`: the valid one passes, and each bad fixture (one mistake
//! each) is reported once as `file:line:col: message` with a hint.

mod inventory_support;

use inventory_support::{fixture, run};

fn check(name: &str) -> (i32, String, String) {
    let f = fixture(&format!("inventory/{name}"));
    let r = run(
        "diskless-server",
        &[
            "check",
            "--inventory",
            f.to_str().unwrap(),
            "--no-path-check",
        ],
    );
    (r.code, r.stdout, r.stderr)
}

fn bad(name: &str, loc: &str, message: &str) {
    let (code, stdout, stderr) = check(name);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    let f = fixture(&format!("inventory/{name}"));
    assert_eq!(
        stderr.lines().next().unwrap_or(""),
        format!("{}:{loc}: {message}", f.display()),
        "whole stderr:\n{stderr}"
    );
    assert!(
        stderr
            .lines()
            .nth(1)
            .unwrap_or("")
            .starts_with("    hint: "),
        "{stderr}"
    );
    assert!(stderr.contains("1 problem found"), "{stderr}");
}

#[test]
fn relay_subnet_inventory_is_valid() {
    let (code, stdout, stderr) = check("relay_valid.toml");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 nodes"), "{stdout}");
}

#[test]
fn relay_subnet_overlapping_the_cluster_subnet() {
    bad(
        "relay_overlaps_cluster.toml",
        "11:10",
        "relay subnet 172.16.0.0/16 overlaps the cluster subnet 172.16.1.0/24",
    );
}

#[test]
fn relay_subnets_overlapping_each_other() {
    bad(
        "relay_overlaps_relay.toml",
        "14:10",
        "relay subnet 10.9.4.0/24 overlaps relay subnet 10.9.0.0/16 (line 11)",
    );
}

#[test]
fn relay_pool_outside_its_subnet() {
    bad(
        "relay_pool_outside.toml",
        "12:8",
        "pool 10.9.1.100-10.9.1.200 is not inside 10.9.0.0/24",
    );
}

#[test]
fn relay_router_outside_its_subnet() {
    bad(
        "relay_router_outside.toml",
        "12:10",
        "router 172.16.1.254 is not a host address in relay subnet 10.9.0.0/24",
    );
}

#[test]
fn node_inside_a_relay_pool() {
    bad(
        "relay_node_in_pool.toml",
        "17:6",
        "ip 10.9.0.150 lies inside the relay subnet's pool, so it could be leased to a stranger",
    );
}

#[test]
fn lease_file_must_be_absolute() {
    bad(
        "lease_file_relative.toml",
        "9:14",
        "lease_file `dhcp.leases` is not an absolute path",
    );
}

#[test]
fn dhcp_pool_holding_the_server_address() {
    bad(
        "pool_holds_server.toml",
        "9:13",
        "dhcp_pool 172.16.1.1-172.16.1.50 contains the server address 172.16.1.1",
    );
}
