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

/// A relay subnet with one node on it, as an admin writes it.
const RELAY: &str = r#"
[[relay_subnets]]
subnet = "10.9.0.0/24"
router = "10.9.0.1"

[[nodes]]
name = "remote"
mac = "00:18:f3:70:91:c1"
ip = "10.9.0.20"
"#;

/// The inventory plus a node behind a relay.
fn inventory() -> Arc<Inventory> {
    let text = format!("{INVENTORY}{RELAY}");
    Arc::new(load_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e}")))
}

fn config(mode: DhcpMode, pool: bool) -> DhcpConfig {
    let inv = inventory();
    let mut cfg = DhcpConfig::from_inventory(&inv);
    cfg.mode = mode;
    cfg.sntp = false;
    assert_eq!(
        cfg.subnets[1],
        SubnetConfig {
            subnet: "10.9.0.0/24".parse().unwrap(),
            router: Some(Ipv4Addr::new(10, 9, 0, 1)),
            pool: None,
            dns: None,
            domain: None,
        },
        "the inventory's relay subnet"
    );
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

mod messages;
mod modes;
