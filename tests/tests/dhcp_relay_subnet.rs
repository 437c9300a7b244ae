//! Relayed requests: the client namespace plays a relay agent (172.16.1.50
//! on the boot segment, 10.9.0.1 on the remote subnet, UDP port 67) and
//! forwards DISCOVER/REQUEST with `giaddr` 10.9.0.1. The server answers from
//! the inventory's `[[relay_subnets]]` entry — the remote node's fixed
//! address, or a pool address of that subnet journalled to the inventory's
//! `lease_file` — with that subnet's mask, router, DNS and domain, sent back
//! to the relay on port 67.

mod dhcp_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use dhcp_support::*;

const RELAY_ON_SEGMENT: &str = "172.16.1.50";
const GIADDR: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const REMOTE_MAC: [u8; 6] = [0x00, 0x18, 0xf3, 0x70, 0x92, 0x01];
const STRANGER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x09, 0x42];

fn inventory(lease_file: &str) -> String {
    seed_inventory_text().replace(
        "[cluster]\n",
        &format!("[cluster]\nlease_file = \"{lease_file}\"\n"),
    ) + r#"
[[relay_subnets]]
subnet = "10.9.0.0/24"
router = "10.9.0.1"
pool = "10.9.0.100-10.9.0.110"
dns = ["10.9.0.2"]
domain = "rack2.cluster"

[[nodes]]
name = "remote"
mac = "00:18:f3:70:92:01"
ip = "10.9.0.20"
"#
}

fn ip(ns: &str, args: &[&str]) {
    let st = Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "ip -n {ns} {args:?}");
}

fn check_subnet_options(r: &Reply) {
    assert_eq!(
        r.opt(1),
        Some(&[255, 255, 255, 0][..]),
        "mask of 10.9.0.0/24"
    );
    assert_eq!(
        r.opt(3),
        Some(&[10, 9, 0, 1][..]),
        "the relay subnet's router"
    );
    assert_eq!(r.opt(28), Some(&[10, 9, 0, 255][..]), "broadcast");
    assert_eq!(r.opt(6), Some(&[10, 9, 0, 2][..]), "the relay subnet's DNS");
    assert_eq!(
        r.opt(15),
        Some(&b"rack2.cluster"[..]),
        "the relay subnet's domain"
    );
    assert_eq!(r.opt(54), Some(&[172, 16, 1, 1][..]), "server id");
    assert_eq!(&r.bytes[24..28], &GIADDR.octets(), "giaddr kept");
}

/// DISCOVER then REQUEST through the relay; returns the ACK.
fn dora(c: &Client, mac: [u8; 6], xid: u32) -> (Reply, Reply) {
    let server = SocketAddr::from((Ipv4Addr::new(172, 16, 1, 1), 67));
    let discover = relayed(mac, xid, GIADDR, &[53, 1, 1]);
    let mut offer = None;
    for _ in 0..10 {
        c.send(&discover, server);
        offer = c
            .collect(xid, Duration::from_millis(500))
            .into_iter()
            .find(|r| r.msg_type() == Some(2));
        if offer.is_some() {
            break;
        }
    }
    let offer = offer.expect("no OFFER through the relay");
    let yi = offer.yiaddr().octets();
    let mut opts = vec![53, 1, 3, 50, 4];
    opts.extend_from_slice(&yi);
    opts.extend_from_slice(&[54, 4, 172, 16, 1, 1]);
    let request = relayed(mac, xid + 1, GIADDR, &opts);
    let mut ack = None;
    for _ in 0..10 {
        c.send(&request, server);
        ack = c
            .collect(xid + 1, Duration::from_millis(500))
            .into_iter()
            .find(|r| r.msg_type() == Some(5));
        if ack.is_some() {
            break;
        }
    }
    (offer, ack.expect("no ACK through the relay"))
}

#[test]
fn relayed_requests_are_answered_from_the_relay_subnet() {
    let mut bed = Bed::new("relay", "02:00:00:00:0d:01", Some("172.16.1.50/24"));
    let cli = bed.cli.name().to_string();
    let srv = bed.srv.name().to_string();
    ip(&cli, &["addr", "add", "10.9.0.1/24", "dev", "veth"]);
    ip(
        &srv,
        &["route", "add", "10.9.0.0/24", "via", RELAY_ON_SEGMENT],
    );
    let leases = bed.dir.path().join("state/relay.leases");
    let text = inventory(&leases.display().to_string());
    bed.start_server_with(&text, &["--no-tftp", "--no-http"]);

    let (node, stranger) = bed
        .cli
        .run_in(|| {
            let c = Client::new("veth", 67);
            (dora(&c, REMOTE_MAC, 0x7001), dora(&c, STRANGER_MAC, 0x7101))
        })
        .unwrap();

    let (offer, ack) = node;
    assert_eq!(
        offer.yiaddr(),
        Ipv4Addr::new(10, 9, 0, 20),
        "remote's fixed address"
    );
    assert_eq!(ack.yiaddr(), Ipv4Addr::new(10, 9, 0, 20));
    check_subnet_options(&offer);
    check_subnet_options(&ack);
    assert_eq!(ack.opt(12), Some(&b"remote"[..]), "host name");

    let (offer, ack) = stranger;
    let pool = u32::from(Ipv4Addr::new(10, 9, 0, 100))..=u32::from(Ipv4Addr::new(10, 9, 0, 110));
    assert!(
        pool.contains(&u32::from(offer.yiaddr())),
        "{}",
        offer.yiaddr()
    );
    assert_eq!(ack.yiaddr(), offer.yiaddr());
    check_subnet_options(&ack);

    // The pool lease was journalled to the inventory's lease_file before
    // the ACK went out.
    let journal = std::fs::read_to_string(&leases)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", leases.display(), bed.log()));
    assert!(
        journal.contains(&format!("L 02:00:00:00:09:42 {} ", ack.yiaddr())),
        "{journal}"
    );
}
