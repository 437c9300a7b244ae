//! Property test of the whole DHCP packet path (structural check, dhcproto
//! decode, policy, reply encode): 10⁶ mutated packets — bit flips, byte
//! overwrites, truncations, extensions, option-length lies, pure noise — must
//! never panic, and every reply must be a well-formed BOOTREPLY for the
//! request's transaction. `DHCP_FUZZ_ITERS` raises the count.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use diskless_common::inventory::{load_str, DhcpMode};
use diskless_dhcp::{Dhcp, DhcpConfig, PoolRange, Port};

const INVENTORY: &str = r#"
[cluster]
server = "172.16.1.1"
subnet = "172.16.1.0/24"
dns = ["172.16.1.1"]
domain = "cluster.vlug"
nfs_root = "/srv/root"
kernel = "linux"
loader_uefi = "syslinux.efi"
dhcp_pool = "172.16.1.100-172.16.1.110"

[[nodes]]
name = "cartman"
mac = "00:18:f3:70:91:b9"
ip = "172.16.1.10"
"#;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn packet(mac: [u8; 6], ciaddr: [u8; 4], giaddr: [u8; 4], opts: &[u8]) -> Vec<u8> {
    let mut p = vec![1, 1, 6, 0, 1, 2, 3, 4, 0, 0, 0, 0];
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

fn seeds() -> Vec<Vec<u8>> {
    let cartman = [0x00, 0x18, 0xf3, 0x70, 0x91, 0xb9];
    let other = [2, 0, 0, 0, 0, 9];
    let z = [0; 4];
    let pxe: &[u8] = &[
        60, 9, b'P', b'X', b'E', b'C', b'l', b'i', b'e', b'n', b't', 93, 2, 0, 7, 97, 3, 0, 1, 2,
    ];
    let ipxe: &[u8] = &[
        77, 4, b'i', b'P', b'X', b'E', 55, 4, 1, 3, 6, 67, 57, 2, 5, 192,
    ];
    let fqdn: &[u8] = &[81, 6, 0, 0, 0, 1, b'a', 0, 12, 3, b'b', b'o', b'x'];
    vec![
        packet(cartman, z, z, &[[53, 1, 1].as_slice(), pxe].concat()),
        packet(cartman, z, z, &[[53, 1, 1].as_slice(), ipxe].concat()),
        packet(other, z, z, &[[53, 1, 1].as_slice(), fqdn].concat()),
        packet(
            cartman,
            z,
            z,
            &[53, 1, 3, 50, 4, 172, 16, 1, 10, 54, 4, 172, 16, 1, 1],
        ),
        packet(
            other,
            z,
            z,
            &[53, 1, 3, 50, 4, 172, 16, 1, 100, 54, 4, 172, 16, 1, 1],
        ),
        packet(other, [172, 16, 1, 100], z, &[53, 1, 3]),
        packet(cartman, [172, 16, 1, 10], z, &[53, 1, 8]),
        packet(
            other,
            [172, 16, 1, 100],
            z,
            &[53, 1, 7, 54, 4, 172, 16, 1, 1],
        ),
        packet(other, z, z, &[53, 1, 4, 50, 4, 172, 16, 1, 100]),
        packet(
            other,
            z,
            [172, 16, 1, 5],
            &[53, 1, 1, 82, 6, 1, 4, 0, 0, 0, 1],
        ),
        packet(
            cartman,
            [172, 16, 1, 50],
            z,
            &[[53, 1, 3].as_slice(), pxe].concat(),
        ),
    ]
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut p = seed.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(8) {
            0 => {
                let i = rng.below(p.len());
                p[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(p.len());
                p[i] = rng.next() as u8;
            }
            2 => {
                // Options area: lie about a length or a code.
                let i = 240 + rng.below(p.len().saturating_sub(240));
                if i < p.len() {
                    p[i] = [0, 1, 2, 3, 4, 6, 255, rng.next() as u8][rng.below(8)];
                }
            }
            3 => p.truncate(rng.below(p.len() + 1)),
            4 => {
                let n = rng.below(64);
                for _ in 0..n {
                    p.push(rng.next() as u8);
                }
            }
            5 => {
                // Splice a random option in before the end.
                let code = [
                    50, 51, 53, 54, 55, 57, 60, 61, 77, 80, 81, 82, 93, 94, 97, 119, 121, 151, 152,
                    255,
                ][rng.below(20)];
                let len = rng.below(12);
                let at = 240.min(p.len()) + rng.below(p.len().saturating_sub(240));
                let mut opt = vec![code, len as u8];
                opt.extend((0..len).map(|_| rng.next() as u8));
                p.splice(at..at, opt);
            }
            6 => {
                let i = rng.below(p.len());
                p.remove(
                    i.min(p.len().saturating_sub(1))
                        .min(p.len().wrapping_sub(1)),
                );
            }
            _ => {
                let n = rng.below(600);
                p = (0..n).map(|_| rng.next() as u8).collect();
                if n > 240 && rng.below(2) == 0 {
                    p[..4].copy_from_slice(&[1, 1, 6, 0]);
                    p[236..240].copy_from_slice(&[99, 130, 83, 99]);
                }
            }
        }
        if p.is_empty() {
            break;
        }
    }
    p
}

fn server(mode: DhcpMode) -> Dhcp {
    let inv = Arc::new(load_str(INVENTORY, "fuzz.toml").unwrap_or_else(|e| panic!("{e}")));
    let mut cfg = DhcpConfig::from_inventory(&inv);
    cfg.mode = mode;
    cfg.lease_file = Some("/nonexistent/leases".into());
    cfg.subnets[0].pool = Some(PoolRange {
        start: Ipv4Addr::new(172, 16, 1, 100),
        end: Ipv4Addr::new(172, 16, 1, 110),
    });
    Dhcp::new(cfg, inv, &[]).unwrap()
}

#[test]
fn a_million_mutated_packets_never_panic_and_replies_are_well_formed() {
    let iters: u64 = std::env::var("DHCP_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seeds = seeds();
    let mut servers = [server(DhcpMode::Authoritative), server(DhcpMode::Proxy)];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let src = SocketAddrV4::new(Ipv4Addr::new(172, 16, 1, 50), 68);
    let (mut replies, mut dropped) = (0u64, 0u64);
    for i in 0..iters {
        let seed = &seeds[rng.below(seeds.len())];
        let pkt = mutate(&mut rng, seed);
        let port = if rng.below(4) == 0 {
            Port::Pxe
        } else {
            Port::Dhcp
        };
        let d = &mut servers[(i % 2) as usize];
        // Time moves so offers and leases expire and get reused.
        let out = d.handle(&pkt, port, src, i / 1000);
        match out.reply {
            Some((r, _)) => {
                replies += 1;
                assert!(r.len() >= 300, "reply shorter than BOOTP minimum");
                assert_eq!(r[0], 2, "not a BOOTREPLY");
                assert_eq!(&r[4..8], &pkt[4..8], "xid not echoed");
                assert_eq!(&r[236..240], &[99, 130, 83, 99]);
                assert_eq!(&r[28..34], &pkt[28..34], "chaddr not echoed");
            }
            None => dropped += 1,
        }
    }
    // The mutations must exercise both outcomes, or the test proves little.
    assert!(replies > iters / 100, "only {replies} replies");
    assert!(dropped > iters / 10, "only {dropped} drops");
    let malformed: u64 = servers.iter().map(|s| s.events.malformed()).sum();
    assert!(malformed > 0);
}
