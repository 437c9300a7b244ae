//! Real DHCP clients against `diskless-server serve` in a network namespace:
//! busybox udhcpc gets the seed's address for cartman's MAC, an unknown MAC
//! gets a pool address that lands in the lease file, perfdhcp gets leases.

mod dhcp_support;

use std::process::Command;

use dhcp_support::*;

fn udhcpc(bed: &Bed) -> String {
    let out = bed.dir.path().join("udhcpc.out");
    let script = bed.dir.path().join("udhcpc.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1 ip=$ip subnet=$subnet router=$router siaddr=$siaddr boot_file=$boot_file \
             hostname=$hostname domain=$domain dns=$dns lease=$lease ntpsrv=$ntpsrv\" >> {}\n",
            out.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let log = bed
        .cli
        .exec(&[
            "timeout",
            "60",
            "busybox",
            "udhcpc",
            "-i",
            "veth",
            "-f",
            "-q",
            "-n",
            "-t",
            "5",
            "-T",
            "2",
            "-O",
            "ntpsrv",
            "-s",
            script.to_str().unwrap(),
        ])
        .unwrap_or_else(|e| panic!("udhcpc failed: {e}\nserver log:\n{}", bed.log()));
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    got.lines()
        .find(|l| l.starts_with("bound"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            panic!(
                "udhcpc got no lease:\n{log}\n{got}\nserver log:\n{}",
                bed.log()
            )
        })
}

#[test]
fn udhcpc_gets_the_seed_address_for_cartman() {
    let mut bed = Bed::new("udc", CARTMAN_MAC, None);
    bed.start_server(&seed_inventory_text(), &[]);
    let bound = udhcpc(&bed);
    for want in [
        "ip=172.16.1.10 ",
        "subnet=255.255.255.0 ",
        "router= ",
        "siaddr=172.16.1.1 ",
        "boot_file=pxelinux.0 ",
        "hostname=cartman ",
        "domain=cluster.vlug ",
        "dns=172.16.1.1 ",
        "lease=",
        "ntpsrv=172.16.1.1",
    ] {
        assert!(bound.contains(want), "{want:?} missing in {bound}");
    }
    // Static leases are not journalled.
    let leases = std::fs::read_to_string(bed.lease_file()).unwrap_or_default();
    assert!(leases.is_empty(), "{leases}");
}

#[test]
fn unknown_mac_gets_a_pool_address_that_is_persisted() {
    let mut bed = Bed::new("udp", "02:00:00:00:00:77", None);
    bed.start_server(&seed_inventory_text(), &[]);
    let bound = udhcpc(&bed);
    assert!(bound.contains("ip=172.16.1.200 "), "{bound}");
    assert!(!bound.contains("hostname=cartman"), "{bound}");
    let leases = std::fs::read_to_string(bed.lease_file()).unwrap();
    assert!(
        leases.starts_with("L 02:00:00:00:00:77 172.16.1.200 "),
        "{leases}"
    );
}

#[test]
fn perfdhcp_gets_leases() {
    let mut bed = Bed::new("perf", "02:00:00:00:01:01", Some("172.16.1.5/24"));
    let inv = seed_inventory_text().replace(
        r#"dhcp_pool = "172.16.1.200-172.16.1.250""#,
        r#"dhcp_pool = "172.16.1.100-172.16.1.250""#,
    );
    bed.start_server(&inv, &[]);
    // 100 clients at 50/s, as a relay (perfdhcp sets giaddr to veth's address).
    // perfdhcp exits 3 when some packets went unanswered; the report on
    // stdout is what we check either way.
    let out = bed
        .cli
        .command("timeout")
        .args([
            "60", "perfdhcp", "-4", "-l", "veth", "-r", "50", "-R", "100", "-n", "100", "-p", "10",
        ])
        .output()
        .expect("perfdhcp");
    let out =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let ack_section = out
        .split("REQUEST-ACK")
        .nth(1)
        .unwrap_or_else(|| panic!("no REQUEST-ACK stats:\n{out}"));
    let received: u64 = ack_section
        .lines()
        .find_map(|l| l.trim().strip_prefix("received packets: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("cannot read perfdhcp output:\n{out}"));
    assert!(received > 0, "perfdhcp got no ACKs:\n{out}\n{}", bed.log());
    let leases = std::fs::read_to_string(bed.lease_file()).unwrap();
    assert!(
        leases.lines().count() as u64 >= received,
        "every ACK is journalled first:\n{leases}"
    );
}

#[test]
fn seed_dhcpd_conf_imported_and_served() {
    // The seed's real dhcpd.conf → inventory (issue 2's importer) → served.
    let mut bed = Bed::new("imp", CARTMAN_MAC, None);
    let inv = bed.dir.path().join("imported.toml");
    let out = Command::new(server_bin())
        .args([
            "import",
            "--dhcpd",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/fixtures/inventory/seed/dhcpd.conf"
            ),
            "-o",
        ])
        .arg(&inv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&inv).unwrap();
    bed.start_server(&text, &["--no-tftp", "--no-http"]);
    let bound = udhcpc(&bed);
    for want in [
        "ip=172.16.1.10 ",
        "siaddr=172.16.1.1 ",
        "boot_file=pxelinux.0 ",
        "hostname=cartman ",
    ] {
        assert!(bound.contains(want), "{want:?} missing in {bound}");
    }
}
