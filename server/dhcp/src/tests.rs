//! Byte-vector tests of the state machine: requests are written out byte by
//! byte (not through dhcproto), replies are checked field by field and
//! option by option at the wire level.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use diskless_common::inventory::{load_str, DhcpMode, Inventory, Mac};

use crate::config::{DhcpConfig, PoolRange, SubnetConfig};
use crate::journal::Record;
use crate::policy::{Dhcp, Port};
use crate::reply::Dest;

pub(crate) const INVENTORY: &str = r#"
[cluster]
server = "172.16.1.1"
subnet = "172.16.1.0/24"
dns = ["172.16.1.1"]
domain = "cluster.vlug"
nfs_root = "/srv/root"
kernel = "linux"
lease_time = 3600
loader_uefi = "syslinux.efi"
http_port = 8080

[[nodes]]
name = "cartman"
mac = "00:18:f3:70:91:b9"
ip = "172.16.1.10"
"#;

pub(crate) const CARTMAN: [u8; 6] = [0x00, 0x18, 0xf3, 0x70, 0x91, 0xb9];
const STRANGER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x42];
const SERVER: [u8; 4] = [172, 16, 1, 1];

/// The inventory plus a node behind a relay (the loader only accepts nodes
/// inside the cluster subnet, so it is added to the model directly).
fn inventory() -> Arc<Inventory> {
    let inv = load_str(INVENTORY, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let mut nodes = inv.nodes.clone();
    let mut remote = nodes[0].clone();
    remote.name = "remote".into();
    remote.mac = Mac([0x00, 0x18, 0xf3, 0x70, 0x91, 0xc1]);
    remote.ip = Ipv4Addr::new(10, 9, 0, 20);
    nodes.push(remote);
    Arc::new(Inventory::from_parts(
        inv.cluster.clone(),
        nodes,
        inv.exports.clone(),
    ))
}

fn config(mode: DhcpMode, pool: bool) -> DhcpConfig {
    let inv = inventory();
    let mut cfg = DhcpConfig::from_inventory(&inv);
    cfg.mode = mode;
    cfg.sntp = false;
    cfg.subnets.push(SubnetConfig {
        subnet: "10.9.0.0/24".parse().unwrap(),
        router: Some(Ipv4Addr::new(10, 9, 0, 1)),
        pool: None,
        dns: None,
        domain: None,
    });
    if pool {
        cfg.subnets[0].pool = Some(PoolRange {
            start: Ipv4Addr::new(172, 16, 1, 200),
            end: Ipv4Addr::new(172, 16, 1, 201),
        });
        cfg.subnets[1].pool = Some(PoolRange {
            start: Ipv4Addr::new(10, 9, 0, 100),
            end: Ipv4Addr::new(10, 9, 0, 101),
        });
        cfg.lease_file = Some("/nonexistent/leases".into());
    }
    cfg
}

fn server(mode: DhcpMode, pool: bool) -> Dhcp {
    Dhcp::new(config(mode, pool), inventory(), &[]).unwrap()
}

/// A BOOTREQUEST: op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr,
/// siaddr, giaddr, chaddr(16), sname(64), file(128), cookie, options, end.
pub(crate) fn request(
    mac: [u8; 6],
    ciaddr: [u8; 4],
    giaddr: [u8; 4],
    broadcast: bool,
    opts: &[u8],
) -> Vec<u8> {
    let mut p = vec![1, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0];
    p.extend_from_slice(if broadcast { &[0x80, 0] } else { &[0, 0] });
    p.extend_from_slice(&ciaddr);
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&giaddr);
    p.extend_from_slice(&mac);
    p.extend_from_slice(&[0; 10 + 64 + 128]);
    p.extend_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(opts);
    p.push(255);
    p
}

/// Option 60 and 93 as a BIOS PXE ROM sends them, plus a UUID (97).
const PXE_BIOS: &[u8] = &[
    60, 32, b'P', b'X', b'E', b'C', b'l', b'i', b'e', b'n', b't', b':', b'A', b'r', b'c', b'h',
    b':', b'0', b'0', b'0', b'0', b'0', b':', b'U', b'N', b'D', b'I', b':', b'0', b'0', b'2', b'0',
    b'0', b'1', //
    93, 2, 0, 0, //
    97, 17, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
];

fn with(kind: u8, extra: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![53, 1, kind];
    for e in extra {
        v.extend_from_slice(e);
    }
    v
}

const ZERO: [u8; 4] = [0; 4];

fn src() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)
}

/// The value of option `code` in a reply.
fn opt(reply: &[u8], code: u8) -> Option<&[u8]> {
    let mut i = 240;
    while i < reply.len() {
        match reply[i] {
            0 => i += 1,
            255 => return None,
            c => {
                let len = reply[i + 1] as usize;
                if c == code {
                    return Some(&reply[i + 2..i + 2 + len]);
                }
                i += 2 + len;
            }
        }
    }
    None
}

fn ip(r: &[u8], at: usize) -> [u8; 4] {
    r[at..at + 4].try_into().unwrap()
}

fn reply_of(d: &mut Dhcp, pkt: &[u8], port: Port) -> (Vec<u8>, Dest) {
    d.handle(pkt, port, src(), 1000).reply.expect("a reply")
}

#[test]
fn discover_from_pxe_bios_gets_full_offer() {
    let mut d = server(DhcpMode::Authoritative, false);
    let (r, dest) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[PXE_BIOS])),
        Port::Dhcp,
    );
    assert_eq!(dest, Dest::Broadcast);
    assert_eq!(&r[..4], &[2, 1, 6, 0], "BOOTREPLY, Ethernet");
    assert_eq!(&r[4..8], &[0xde, 0xad, 0xbe, 0xef], "xid echoed");
    assert_eq!(ip(&r, 16), [172, 16, 1, 10], "yiaddr");
    assert_eq!(ip(&r, 20), SERVER, "siaddr = next-server");
    assert_eq!(&r[28..34], &CARTMAN);
    assert_eq!(&r[108..119], b"pxelinux.0\0", "file field");
    assert_eq!(&r[236..240], &[99, 130, 83, 99]);
    assert_eq!(opt(&r, 53), Some(&[2][..]));
    assert_eq!(opt(&r, 54), Some(&SERVER[..]));
    assert_eq!(opt(&r, 1), Some(&[255, 255, 255, 0][..]));
    assert_eq!(opt(&r, 28), Some(&[172, 16, 1, 255][..]));
    assert_eq!(
        opt(&r, 3),
        None,
        "no router configured: none sent (the seed's bug was a bogus one)"
    );
    assert_eq!(opt(&r, 6), Some(&SERVER[..]));
    assert_eq!(opt(&r, 15), Some(&b"cluster.vlug"[..]));
    assert_eq!(opt(&r, 12), Some(&b"cartman"[..]));
    assert_eq!(opt(&r, 51), Some(&[0, 0, 0x0e, 0x10][..]));
    assert_eq!(opt(&r, 66), Some(&b"172.16.1.1"[..]));
    assert_eq!(opt(&r, 67), Some(&b"pxelinux.0"[..]));
    assert_eq!(opt(&r, 60), Some(&b"PXEClient"[..]));
    assert_eq!(opt(&r, 97), Some(&PXE_BIOS[40..57]), "UUID echoed");
    assert!(r.len() >= 300);
    let ev = d.events.get(&Mac(CARTMAN)).unwrap();
    assert_eq!(
        (ev.seen, ev.offered, ev.last_file.as_deref()),
        (1, 1, Some("pxelinux.0"))
    );
}

#[test]
fn request_selecting_gets_ack_and_broadcast_bit_is_kept() {
    let mut d = server(DhcpMode::Authoritative, false);
    let pkt = request(
        CARTMAN,
        ZERO,
        ZERO,
        true,
        &with(3, &[&[50, 4, 172, 16, 1, 10], &[54, 4, 172, 16, 1, 1]]),
    );
    let out = d.handle(&pkt, Port::Dhcp, src(), 5);
    assert_eq!(out.persist, None, "static leases need no journal");
    let (r, dest) = out.reply.unwrap();
    assert_eq!(dest, Dest::Broadcast);
    assert_eq!(&r[10..12], &[0x80, 0]);
    assert_eq!(opt(&r, 53), Some(&[5][..]));
    assert_eq!(ip(&r, 16), [172, 16, 1, 10]);
}

#[test]
fn request_for_wrong_address_gets_exact_nak() {
    let mut d = server(DhcpMode::Authoritative, false);
    let pkt = request(
        CARTMAN,
        ZERO,
        ZERO,
        false,
        &with(3, &[&[50, 4, 172, 16, 1, 99]]),
    );
    let (r, dest) = reply_of(&mut d, &pkt, Port::Dhcp);
    assert_eq!(dest, Dest::Broadcast);
    let mut want = vec![2, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0];
    want.extend_from_slice(&[0; 16]);
    want.extend_from_slice(&CARTMAN);
    want.extend_from_slice(&[0; 10 + 64 + 128]);
    want.extend_from_slice(&[99, 130, 83, 99, 53, 1, 6, 54, 4, 172, 16, 1, 1, 255]);
    want.resize(300, 0);
    assert_eq!(r, want);
}

#[test]
fn request_to_another_server_is_ignored() {
    let mut d = server(DhcpMode::Authoritative, false);
    let pkt = request(
        CARTMAN,
        ZERO,
        ZERO,
        false,
        &with(3, &[&[50, 4, 172, 16, 1, 10], &[54, 4, 172, 16, 1, 2]]),
    );
    assert_eq!(d.handle(&pkt, Port::Dhcp, src(), 5), Default::default());
}

#[test]
fn renewing_request_is_unicast_to_ciaddr() {
    let mut d = server(DhcpMode::Authoritative, false);
    let pkt = request(CARTMAN, [172, 16, 1, 10], ZERO, false, &with(3, &[]));
    let (r, dest) = reply_of(&mut d, &pkt, Port::Dhcp);
    assert_eq!(dest, Dest::Unicast(Ipv4Addr::new(172, 16, 1, 10)));
    assert_eq!(opt(&r, 53), Some(&[5][..]));
}

#[test]
fn inform_gets_options_without_lease() {
    let mut d = server(DhcpMode::Authoritative, false);
    let (r, dest) = reply_of(
        &mut d,
        &request(CARTMAN, [172, 16, 1, 10], ZERO, false, &with(8, &[])),
        Port::Dhcp,
    );
    assert_eq!(dest, Dest::Unicast(Ipv4Addr::new(172, 16, 1, 10)));
    assert_eq!(opt(&r, 53), Some(&[5][..]));
    assert_eq!(ip(&r, 16), ZERO, "no yiaddr for INFORM");
    assert_eq!(opt(&r, 51), None);
    assert_eq!(opt(&r, 1), Some(&[255, 255, 255, 0][..]));
}

#[test]
fn decline_and_release_get_no_reply() {
    let mut d = server(DhcpMode::Authoritative, true);
    let m = Mac(STRANGER);
    let disc = d.handle(
        &request(STRANGER, ZERO, ZERO, false, &with(1, &[])),
        Port::Dhcp,
        src(),
        0,
    );
    assert_eq!(&disc.reply.unwrap().0[16..20], &[172, 16, 1, 200]);
    let req = request(
        STRANGER,
        ZERO,
        ZERO,
        false,
        &with(3, &[&[50, 4, 172, 16, 1, 200], &[54, 4, 172, 16, 1, 1]]),
    );
    let out = d.handle(&req, Port::Dhcp, src(), 1);
    assert_eq!(
        out.persist,
        Some(Record::Lease {
            mac: m,
            ip: Ipv4Addr::new(172, 16, 1, 200),
            expires: 3601
        })
    );
    assert_eq!(opt(&out.reply.unwrap().0, 53), Some(&[5][..]));
    let rel = d.handle(
        &request(STRANGER, [172, 16, 1, 200], ZERO, false, &with(7, &[])),
        Port::Dhcp,
        src(),
        2,
    );
    assert_eq!(rel.reply, None);
    assert_eq!(
        rel.persist,
        Some(Record::Release {
            mac: m,
            ip: Ipv4Addr::new(172, 16, 1, 200)
        })
    );
    d.handle(&req, Port::Dhcp, src(), 3);
    let dec = d.handle(
        &request(
            STRANGER,
            ZERO,
            ZERO,
            false,
            &with(4, &[&[50, 4, 172, 16, 1, 200]]),
        ),
        Port::Dhcp,
        src(),
        4,
    );
    assert_eq!(dec.reply, None);
    assert!(matches!(dec.persist, Some(Record::Release { .. })));
    let again = d.handle(
        &request(STRANGER, ZERO, ZERO, false, &with(1, &[])),
        Port::Dhcp,
        src(),
        5,
    );
    assert_eq!(
        &again.reply.unwrap().0[16..20],
        &[172, 16, 1, 201],
        "declined address avoided"
    );
}

#[test]
fn firmware_picks_the_loader() {
    let mut d = server(DhcpMode::Authoritative, false);
    let uefi = [&[60, 9][..], b"PXEClient", &[93, 2, 0, 7]].concat();
    let (r, _) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[&uefi])),
        Port::Dhcp,
    );
    assert_eq!(opt(&r, 67), Some(&b"syslinux.efi"[..]));
    let ipxe = [&[77, 4][..], b"iPXE", &[93, 2, 0, 0]].concat();
    let (r, _) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[&ipxe])),
        Port::Dhcp,
    );
    let url = b"http://172.16.1.1:8080/boot.ipxe?mac=00-18-f3-70-91-b9";
    assert_eq!(opt(&r, 67), Some(&url[..]));
    assert_eq!(
        &r[108..108 + url.len()],
        url,
        "file field holds the URL too"
    );
    assert_eq!(r[108 + url.len()], 0);
}

#[test]
fn ipxe_without_scripts_gets_the_bios_loader() {
    // `ipxe_scripts = false` (the seed's path): iPXE is booted like plain
    // PXE firmware, with pxelinux over TFTP.
    let mut cfg = config(DhcpMode::Authoritative, false);
    cfg.ipxe_scripts = false;
    let mut d = Dhcp::new(cfg, inventory(), &[]).unwrap();
    let ipxe = [&[77, 4][..], b"iPXE", &[93, 2, 0, 0]].concat();
    let (r, _) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[&ipxe])),
        Port::Dhcp,
    );
    assert_eq!(opt(&r, 67), Some(&b"pxelinux.0"[..]));
    // iPXE on UEFI (arch 7) gets the UEFI loader.
    let ipxe_efi = [&[77, 4][..], b"iPXE", &[93, 2, 0, 7]].concat();
    let (r, _) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[&ipxe_efi])),
        Port::Dhcp,
    );
    assert_eq!(opt(&r, 67), Some(&b"syslinux.efi"[..]));
}

#[test]
fn unknown_mac_without_pool_is_ignored_and_counted() {
    let mut d = server(DhcpMode::Authoritative, false);
    for _ in 0..3 {
        assert_eq!(
            d.handle(
                &request(STRANGER, ZERO, ZERO, false, &with(1, &[])),
                Port::Dhcp,
                src(),
                0
            ),
            Default::default()
        );
    }
    assert_eq!(
        d.events
            .counters
            .ignored_unknown
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[test]
fn relayed_requests_get_the_relays_subnet() {
    let mut d = server(DhcpMode::Authoritative, true);
    let relay = [10, 9, 0, 1];
    let (r, dest) = reply_of(
        &mut d,
        &request(STRANGER, ZERO, relay, false, &with(1, &[])),
        Port::Dhcp,
    );
    assert_eq!(dest, Dest::Relay(Ipv4Addr::new(10, 9, 0, 1)));
    assert_eq!(ip(&r, 16), [10, 9, 0, 100]);
    assert_eq!(ip(&r, 24), relay, "giaddr kept");
    assert_eq!(opt(&r, 3), Some(&relay[..]));
    // A known node behind the relay gets its static address.
    let remote = [0x00, 0x18, 0xf3, 0x70, 0x91, 0xc1];
    let (r, _) = reply_of(
        &mut d,
        &request(remote, ZERO, relay, false, &with(1, &[])),
        Port::Dhcp,
    );
    assert_eq!(ip(&r, 16), [10, 9, 0, 20]);
    // NAKs through a relay carry the broadcast bit.
    let nak = request(
        remote,
        ZERO,
        relay,
        false,
        &with(3, &[&[50, 4, 10, 9, 0, 99]]),
    );
    let (r, dest) = reply_of(&mut d, &nak, Port::Dhcp);
    assert_eq!(
        (opt(&r, 53), dest),
        (Some(&[6][..]), Dest::Relay(Ipv4Addr::new(10, 9, 0, 1)))
    );
    assert_eq!(&r[10..12], &[0x80, 0]);
    // Unknown relay subnet: silence.
    assert_eq!(
        d.handle(
            &request(STRANGER, ZERO, [192, 168, 9, 1], false, &with(1, &[])),
            Port::Dhcp,
            src(),
            0
        ),
        Default::default()
    );
}

#[test]
fn proxy_mode_offers_boot_info_only() {
    let mut d = server(DhcpMode::Proxy, false);
    let (r, dest) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[PXE_BIOS])),
        Port::Dhcp,
    );
    assert_eq!(dest, Dest::Broadcast);
    assert_eq!(opt(&r, 53), Some(&[2][..]));
    assert_eq!(ip(&r, 16), ZERO, "proxy offers no address");
    assert_eq!(ip(&r, 20), SERVER);
    assert_eq!(opt(&r, 60), Some(&b"PXEClient"[..]));
    assert_eq!(opt(&r, 43), Some(&[6, 1, 8, 255][..]));
    assert_eq!(opt(&r, 67), Some(&b"pxelinux.0"[..]));
    assert_eq!(opt(&r, 51), None);
    // Non-PXE DHCP and REQUESTs on 67 belong to the site server.
    assert_eq!(
        d.handle(
            &request(CARTMAN, ZERO, ZERO, false, &with(1, &[])),
            Port::Dhcp,
            src(),
            0
        ),
        Default::default()
    );
    assert_eq!(
        d.handle(
            &request(CARTMAN, ZERO, ZERO, false, &with(3, &[PXE_BIOS])),
            Port::Dhcp,
            src(),
            0
        ),
        Default::default()
    );
    // Port 4011: ACK straight back to the sender.
    let from = SocketAddrV4::new(Ipv4Addr::new(172, 16, 1, 50), 68);
    let out = d.handle(
        &request(
            CARTMAN,
            [172, 16, 1, 50],
            ZERO,
            false,
            &with(3, &[PXE_BIOS]),
        ),
        Port::Pxe,
        from,
        0,
    );
    let (r, dest) = out.reply.unwrap();
    assert_eq!(dest, Dest::Source(from));
    assert_eq!(opt(&r, 53), Some(&[5][..]));
    assert_eq!(ip(&r, 12), [172, 16, 1, 50]);
    assert_eq!(opt(&r, 67), Some(&b"pxelinux.0"[..]));
}

#[test]
fn malformed_packets_are_counted_not_answered() {
    let mut d = server(DhcpMode::Authoritative, true);
    let good = request(CARTMAN, ZERO, ZERO, false, &with(1, &[]));
    for bad in [
        &good[..100],
        &request(CARTMAN, ZERO, ZERO, false, &[])[..],
        &request(CARTMAN, ZERO, ZERO, false, &[53, 1, 1, 80, 3, 0, 0, 0]),
    ] {
        assert_eq!(d.handle(bad, Port::Dhcp, src(), 0), Default::default());
    }
    let mut reply = good.clone();
    reply[0] = 2;
    assert_eq!(d.handle(&reply, Port::Dhcp, src(), 0), Default::default());
    assert_eq!(d.events.malformed(), 4);
}

#[test]
fn pool_overlapping_a_node_is_rejected() {
    let mut cfg = config(DhcpMode::Authoritative, true);
    cfg.subnets[0].pool = Some(PoolRange {
        start: Ipv4Addr::new(172, 16, 1, 5),
        end: Ipv4Addr::new(172, 16, 1, 20),
    });
    let err = Dhcp::new(cfg, inventory(), &[]).err().unwrap();
    assert!(err.to_string().contains("cartman"), "{err}");
}
