//! IPv6: a router solicitation from the client namespace gets a router
//! advertisement from `diskless-server serve` — lifetime 0, no prefix, hop
//! limit 255 — which is what stops iPXE waiting for IPv6 autoconfiguration.

mod dhcp_support;

use std::mem::MaybeUninit;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use dhcp_support::*;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// `ip -n NS link show IF` starts with `<index>: <name>@…`.
fn ifindex(ns: &str, name: &str) -> u32 {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", name])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    s.split(':')
        .next()
        .and_then(|i| i.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ifindex in {s:?}"))
}

#[test]
fn router_solicitation_gets_an_advertisement_without_prefix() {
    let mut bed = Bed::new("ra", "02:00:00:00:0c:01", None);
    bed.start_server(&seed_inventory_text(), &["--no-tftp", "--no-http"]);
    bed.wait_log(
        "answering IPv6 router solicitations",
        Duration::from_secs(10),
    );
    let idx = ifindex(bed.cli.name(), "veth");
    let ra = bed
        .cli
        .run_in(move || {
            let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).unwrap();
            s.bind_device(Some(b"veth")).unwrap();
            s.set_multicast_hops_v6(255).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            s.set_multicast_if_v6(idx).unwrap();
            let all_routers = SockAddr::from(SocketAddrV6::new(
                Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2),
                0,
                0,
                idx,
            ));
            let t0 = Instant::now();
            let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
            // The link-local address needs DAD first: retry for a while.
            while t0.elapsed() < Duration::from_secs(20) {
                let _ = s.send_to(&[133, 0, 0, 0, 0, 0, 0, 0], &all_routers);
                let t1 = Instant::now();
                while t1.elapsed() < Duration::from_millis(500) {
                    if let Ok((n, _)) = s.recv_from(&mut buf) {
                        let pkt: Vec<u8> = buf[..n]
                            .iter()
                            .map(|b| unsafe { b.assume_init() })
                            .collect();
                        if pkt.first() == Some(&134) {
                            return Some(pkt);
                        }
                    }
                }
            }
            None
        })
        .unwrap()
        .unwrap_or_else(|| panic!("no router advertisement\n{}", bed.log()));
    assert_eq!(ra[1], 0, "code");
    assert_eq!(ra[4], 64, "cur hop limit");
    assert_eq!(ra[5], 0, "no DHCPv6 flags");
    assert_eq!(
        &ra[6..8],
        &[0, 0],
        "router lifetime 0: not a default router"
    );
    // Options: only the source link-layer address, no prefix information.
    let mut i = 16;
    while i + 2 <= ra.len() {
        assert_ne!(ra[i], 3, "a prefix was announced: {ra:?}");
        let len = ra[i + 1] as usize * 8;
        assert!(len > 0);
        i += len;
    }
}

/// Without any solicitation the server still multicasts advertisements,
/// at RFC 4861 intervals (here `router_advertisement_interval = 4`, so
/// every 3-4 s): a listener that never solicits hears several.
#[test]
fn unsolicited_advertisements_repeat_at_the_configured_interval() {
    let mut bed = Bed::new("rau", "02:00:00:00:0c:02", None);
    let inv = seed_inventory_text().replace(
        "[cluster]\n",
        "[cluster]\nrouter_advertisement_interval = 4\n",
    );
    bed.start_server(&inv, &["--no-tftp", "--no-http"]);
    bed.wait_log(
        "sending periodic router advertisements",
        Duration::from_secs(10),
    );
    let heard = bed
        .cli
        .run_in(move || {
            let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).unwrap();
            s.bind_device(Some(b"veth")).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let t0 = Instant::now();
            let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
            let mut heard = 0;
            // Bounded: at most 40 s, normally ~8 s.
            while heard < 3 && t0.elapsed() < Duration::from_secs(40) {
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    // SAFETY: recv_from initialised the first n bytes.
                    let first = unsafe { buf[0].assume_init() };
                    if n >= 16 && first == 134 {
                        heard += 1;
                    }
                }
            }
            heard
        })
        .unwrap();
    assert!(
        heard >= 3,
        "heard {heard} unsolicited advertisements\n{}",
        bed.log()
    );
}
