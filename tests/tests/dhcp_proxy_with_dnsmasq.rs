//! proxyDHCP: dnsmasq is the site's DHCP server on the same segment (its
//! own namespace, joined to the server's bridge), `diskless-server` runs
//! with `dhcp_mode = "proxy"`. A plain client gets its address from dnsmasq
//! only; a PXE DISCOVER gets dnsmasq's address offer *and* our boot-only
//! offer; a PXE REQUEST to port 4011 gets the boot file back.

mod dhcp_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use dhcp_support::*;
use diskless_qemu::netns::Netns;

const CARTMAN: [u8; 6] = [0x00, 0x18, 0xf3, 0x70, 0x91, 0xb9];
const PXE_OPTS: &[u8] = &[
    60, 9, b'P', b'X', b'E', b'C', b'l', b'i', b'e', b'n', b't', //
    93, 2, 0, 0, //
    97, 17, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
];

#[test]
fn proxy_mode_beside_dnsmasq() {
    let mut bed = Bed::new("prx", CARTMAN_MAC, None);
    let site = Netns::with_server("prxsite", "192.0.2.2/32").unwrap();
    bed.srv
        .add_veth_peer("v1", &site, "site0", Some("172.16.1.2/24"))
        .unwrap();
    let dnsmasq_leases = bed.dir.path().join("dnsmasq.leases");
    let dnsmasq_log = bed.dir.path().join("dnsmasq.log");
    let _dnsmasq = site
        .spawn(
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--port=0",
                "--interface=site0",
                "--bind-interfaces",
                "--dhcp-authoritative",
                "--dhcp-range=172.16.1.100,172.16.1.150,255.255.255.0,1h",
                &format!("--dhcp-leasefile={}", dnsmasq_leases.display()),
                "--log-dhcp",
                "--log-facility=-",
                "--pid-file=",
            ],
            Some(&dnsmasq_log),
        )
        .unwrap();
    let inv = seed_inventory_text().replace(
        r#"dhcp_pool = "172.16.1.200-172.16.1.250""#,
        r#"dhcp_mode = "proxy""#,
    );
    assert!(inv.contains("dhcp_mode"));
    bed.start_server(&inv, &["--no-tftp", "--no-http"]);
    std::thread::sleep(Duration::from_millis(500));

    let (offers, ack) = bed
        .cli
        .run_in(|| {
            let c = Client::new("veth", 68);
            // A PXE DISCOVER: dnsmasq offers an address, we offer boot info.
            let xid = 0x5058_4531;
            let disc = packet(
                CARTMAN,
                xid,
                Ipv4Addr::UNSPECIFIED,
                &[[53, 1, 1].as_slice(), PXE_OPTS].concat(),
            );
            c.broadcast(&disc);
            let offers = c.collect(xid, Duration::from_secs(3));
            // The boot-server request on 4011 (from the address dnsmasq
            // offered, as a PXE ROM does after its DHCP is done).
            let xid2 = 0x5058_4532;
            let req = packet(
                CARTMAN,
                xid2,
                Ipv4Addr::new(172, 16, 1, 120),
                &[[53, 1, 3].as_slice(), PXE_OPTS].concat(),
            );
            let mut ack = None;
            for _ in 0..5 {
                c.send(&req, SocketAddr::from((Ipv4Addr::new(172, 16, 1, 1), 4011)));
                ack = c
                    .collect(xid2, Duration::from_millis(500))
                    .into_iter()
                    .find(|r| r.msg_type() == Some(5));
                if ack.is_some() {
                    break;
                }
            }
            (offers, ack)
        })
        .unwrap();
    let dump = |what: &str| {
        format!(
            "{what}\nserver log:\n{}\ndnsmasq log:\n{}",
            bed.log(),
            std::fs::read_to_string(&dnsmasq_log).unwrap_or_default()
        )
    };
    let ours = offers
        .iter()
        .find(|r| r.opt(54) == Some(&[172, 16, 1, 1][..]))
        .unwrap_or_else(|| panic!("{}", dump("no proxy offer from us")));
    assert_eq!(ours.msg_type(), Some(2));
    assert_eq!(
        ours.yiaddr(),
        Ipv4Addr::UNSPECIFIED,
        "proxy offers carry no address"
    );
    assert_eq!(ours.siaddr(), Ipv4Addr::new(172, 16, 1, 1));
    assert_eq!(ours.opt(60), Some(&b"PXEClient"[..]));
    assert_eq!(ours.opt(43), Some(&[6, 1, 8, 255][..]));
    assert_eq!(ours.opt(67), Some(&b"pxelinux.0"[..]));
    let site_offer = offers
        .iter()
        .find(|r| r.opt(54) == Some(&[172, 16, 1, 2][..]))
        .unwrap_or_else(|| panic!("{}", dump("no offer from dnsmasq")));
    let a = site_offer.yiaddr().octets();
    assert!(
        a[..3] == [172, 16, 1] && (100..=150).contains(&a[3]),
        "dnsmasq offered {a:?}"
    );

    let ack = ack.unwrap_or_else(|| panic!("{}", dump("no ACK on port 4011")));
    assert_eq!(ack.opt(67), Some(&b"pxelinux.0"[..]));
    assert_eq!(ack.yiaddr(), Ipv4Addr::UNSPECIFIED);

    // A plain (non-PXE) client is left to the site server.
    let out = bed
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
            "-s",
            "/bin/true",
        ])
        .unwrap_or_else(|e| panic!("{}", dump(&format!("udhcpc: {e}"))));
    let _ = out;
    let leases = std::fs::read_to_string(&dnsmasq_leases).unwrap_or_default();
    assert!(
        leases.contains("00:18:f3:70:91:b9 172.16.1.1"),
        "{}",
        dump(&format!("dnsmasq leases: {leases}"))
    );
}
