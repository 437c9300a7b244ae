//! `kill -9` of the server in the middle of a burst of pool allocations
//! loses no lease that a client saw acknowledged: every ACK is sent only
//! after its journal line is fsync'd. After a restart the replayed leases
//! are still owned (another MAC asking for one is refused).

mod dhcp_support;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use dhcp_support::*;
use diskless_common::inventory::Mac;
use diskless_dhcp::journal::{self, Record};
use socket2::{Domain, Protocol, Socket, Type};

const INVENTORY: &str = r#"
[cluster]
server = "172.16.1.1"
subnet = "172.16.0.0/16"
nfs_root = "/srv/root"
kernel = "linux"
dhcp_pool = "172.16.100.0-172.16.119.255"
router_advertisements = false
sntp = false

[[nodes]]
name = "cartman"
mac = "00:18:f3:70:91:b9"
ip = "172.16.1.10"
"#;

const RELAY: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 5);
const SERVER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(172, 16, 1, 1)), 67);
const BURST: u32 = 3000;

fn mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [2, 0x99, b[0], b[1], b[2], b[3]]
}

fn ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 100, 0)) + i)
}

/// REQUEST for a given address, relayed (giaddr = our veth address), naming
/// the server: the pool grants it if free, so many can be in flight at once.
fn relayed_request(i: u32, mac: [u8; 6], want: Ipv4Addr) -> Vec<u8> {
    let mut p = packet(
        mac,
        0x4b00_0000 | i,
        Ipv4Addr::UNSPECIFIED,
        &[53, 1, 3, 50, 4],
    );
    p.pop(); // end option; more options follow
    p.extend_from_slice(&want.octets());
    p.extend_from_slice(&[54, 4, 172, 16, 1, 1, 255]);
    p[24..28].copy_from_slice(&RELAY.octets());
    p
}

fn relay_socket() -> UdpSocket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind_device(Some(b"veth")).unwrap();
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 67)).into())
        .unwrap();
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s
}

#[test]
fn kill_9_during_pool_allocation_loses_no_acknowledged_lease() {
    let mut bed = Bed::new("k9", "02:00:00:00:0a:01", Some("172.16.1.5/16"));
    // The server namespace's bridge has 172.16.1.1/24; widen it to the /16.
    let n = bed.srv.name().to_string();
    Command::new("ip")
        .args(["-n", &n, "addr", "add", "172.16.1.1/16", "dev", "br0"])
        .status()
        .unwrap();
    Command::new("ip")
        .args(["-n", &n, "addr", "del", "172.16.1.1/24", "dev", "br0"])
        .status()
        .unwrap();
    bed.start_server(INVENTORY, &["--no-tftp", "--no-http"]);
    let pid = bed.server.as_ref().unwrap().pid();

    let acked: Vec<(u32, [u8; 6], Ipv4Addr)> = bed
        .cli
        .run_in(move || {
            let sock = relay_socket();
            let rx = sock.try_clone().unwrap();
            let sender = std::thread::spawn(move || {
                for i in 0..BURST {
                    let _ = sock.send_to(&relayed_request(i, mac(i), ip(i)), SERVER);
                    if i % 64 == 63 {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            });
            let mut acked = Vec::new();
            let mut killed = false;
            let mut last = Instant::now();
            let mut buf = [0u8; 1500];
            while last.elapsed() < Duration::from_secs(2) {
                let Ok((n, _)) = rx.recv_from(&mut buf) else {
                    continue;
                };
                last = Instant::now();
                let r = Reply {
                    bytes: buf[..n].to_vec(),
                };
                if n < 240 || r.msg_type() != Some(5) {
                    continue;
                }
                let i = r.xid() & 0x00ff_ffff;
                acked.push((i, mac(i), r.yiaddr()));
                if !killed && acked.len() >= 300 {
                    Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .status()
                        .unwrap();
                    killed = true;
                }
            }
            sender.join().unwrap();
            acked
        })
        .unwrap();
    assert!(
        acked.len() >= 300,
        "only {} ACKs before the kill:\n{}",
        acked.len(),
        bed.log()
    );
    eprintln!(
        "{} of {BURST} requests acknowledged before kill -9",
        acked.len()
    );

    let replay = journal::replay(&bed.lease_file()).unwrap();
    let on_disk: HashSet<(Mac, Ipv4Addr)> = replay
        .records
        .iter()
        .filter_map(|r| match *r {
            Record::Lease { mac, ip, .. } => Some((mac, ip)),
            Record::Release { .. } => None,
        })
        .collect();
    for (i, m, a) in &acked {
        assert_eq!(*a, ip(*i), "ACK for request {i} carries another address");
        assert!(
            on_disk.contains(&(Mac(*m), *a)),
            "ACKed lease {i} ({a}) missing from the lease file after kill -9"
        );
    }

    // Restart on the same file: the acknowledged addresses are still taken.
    bed.server = None;
    std::fs::write(bed.log_path(), "").unwrap();
    bed.start_server(INVENTORY, &["--no-tftp", "--no-http"]);
    let (_, _, taken) = acked[0];
    let nak = bed
        .cli
        .run_in(move || {
            let sock = relay_socket();
            let thief = [2, 0x77, 0, 0, 0, 1];
            let req = relayed_request(0x77, thief, taken);
            for _ in 0..10 {
                sock.send_to(&req, SERVER).unwrap();
                let mut buf = [0u8; 1500];
                let t0 = Instant::now();
                while t0.elapsed() < Duration::from_millis(500) {
                    if let Ok((n, _)) = sock.recv_from(&mut buf) {
                        let r = Reply {
                            bytes: buf[..n].to_vec(),
                        };
                        if r.xid() == 0x4b00_0077 {
                            return r.msg_type();
                        }
                    }
                }
            }
            None
        })
        .unwrap();
    assert_eq!(
        nak,
        Some(6),
        "a replayed lease was handed to another MAC:\n{}",
        bed.log()
    );
}
