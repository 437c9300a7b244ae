//! `diskless-server check --inventory FILE` on real files: exit 0 for a
//! valid inventory, 1 with `file:line:col: message` + hint for each bad one.

mod inventory_support;

use inventory_support::{fixture, run};

/// Runs check on one bad fixture and returns stderr after asserting it
/// reports exactly one problem at `loc` with a hint.
fn bad(name: &str, loc: &str, message: &str, path_check: bool) -> String {
    let f = fixture(&format!("inventory/{name}"));
    let f = f.to_str().unwrap();
    let mut args = vec!["check", "--inventory", f];
    if !path_check {
        args.push("--no-path-check");
    }
    let r = run("diskless-server", &args);
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let first = r.stderr.lines().next().unwrap_or("");
    assert_eq!(
        first,
        format!("{f}:{loc}: {message}"),
        "whole stderr:\n{}",
        r.stderr
    );
    assert!(
        r.stderr
            .lines()
            .nth(1)
            .unwrap_or("")
            .starts_with("    hint: "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("1 problem found"), "{}", r.stderr);
    r.stderr
}

#[test]
fn valid_inventory_exits_0() {
    let f = fixture("inventory/valid.toml");
    let r = run(
        "diskless-server",
        &[
            "check",
            "--inventory",
            f.to_str().unwrap(),
            "--no-path-check",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r
        .stdout
        .contains("valid: cluster `vlug`, 3 nodes, 2 profiles in use, 2 exports"));
}

#[test]
fn example_seed_inventory_is_valid() {
    let f =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed-inventory.toml");
    let r = run(
        "diskless-server",
        &["check", "-i", f.to_str().unwrap(), "--no-path-check"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn bad_mac() {
    bad(
        "bad_mac.toml",
        "25:7",
        "`00:18:f3:70:91` is not a MAC address: expected six hex pairs like 00:18:f3:70:91:b9",
        false,
    );
}

#[test]
fn bad_ip() {
    bad(
        "bad_ip.toml",
        "26:6",
        "node `stan` ip `172.16.1.311` is not an IPv4 address",
        false,
    );
}

#[test]
fn ip_outside_subnet() {
    let e = bad(
        "ip_outside_subnet.toml",
        "26:6",
        "ip 172.16.2.11 is outside the cluster subnet 172.16.1.0/24",
        false,
    );
    assert!(e.contains("use an address from 172.16.1.1 to 172.16.1.254"));
}

#[test]
fn duplicate_mac() {
    bad(
        "duplicate_mac.toml",
        "25:7",
        "duplicate MAC 00:18:f3:70:91:b9: node `cartman` on line 19 has it too",
        false,
    );
}

#[test]
fn duplicate_ip() {
    bad(
        "duplicate_ip.toml",
        "26:6",
        "duplicate ip 172.16.1.10: node `cartman` on line 20 has it too",
        false,
    );
}

#[test]
fn duplicate_name() {
    bad(
        "duplicate_name.toml",
        "24:8",
        "duplicate node name `cartman` (first defined on line 18)",
        false,
    );
}

#[test]
fn unknown_profile_suggests_the_near_one() {
    let e = bad(
        "unknown_profile.toml",
        "27:11",
        "unknown profile `athlone`",
        false,
    );
    assert!(e.contains("hint: did you mean `athlon`?"));
}

#[test]
fn export_path_missing() {
    bad(
        "export_path_missing.toml",
        "15:8",
        "export path /nonexistent/diskless-test/scratch does not exist on this server",
        true,
    );
}

#[test]
fn ip_is_server() {
    bad(
        "ip_is_server.toml",
        "26:6",
        "ip 172.16.1.1 is the server's own address",
        false,
    );
}

#[test]
fn ip_is_broadcast() {
    bad(
        "ip_is_broadcast.toml",
        "26:6",
        "ip 172.16.1.255 is the broadcast address of 172.16.1.0/24",
        false,
    );
}

#[test]
fn ip_is_network() {
    bad(
        "ip_is_network.toml",
        "26:6",
        "ip 172.16.1.0 is the network address of 172.16.1.0/24",
        false,
    );
}

#[test]
fn export_names_unknown_node() {
    bad(
        "export_unknown_node.toml",
        "32:20",
        "export /home/common/culc: `kyle` is neither a node nor a profile",
        false,
    );
}

#[test]
fn unknown_key_is_named() {
    let e = bad(
        "unknown_key.toml",
        "25:1",
        "unknown field `hwaddr`, expected one of `name`, `mac`, `ip`, `profile`, `kernel`, `initrd`, `cmdline`, `cmdline_append`, `boot_mode`, `nic`, `nfs_root`, `ip_device`, `init`, `modules`, `overlay`",
        false,
    );
    assert!(e.contains("hint: check the spelling"));
}

#[test]
fn missing_file_exits_2_with_advice() {
    let r = run(
        "diskless-server",
        &["check", "--inventory", "/nonexistent/inventory.toml"],
    );
    assert_eq!(r.code, 2);
    assert!(r
        .stderr
        .contains("cannot read inventory /nonexistent/inventory.toml"));
}

#[test]
fn path_check_catches_missing_nfs_root() {
    let f = fixture("inventory/valid.toml");
    let r = run("diskless-server", &["check", "-i", f.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r
        .stderr
        .contains(":7:12: nfs_root /home/common/cluster does not exist on this server"));
}
