//! Shared by the dhcp_*/sntp_* tests: a server namespace (`br0`
//! 172.16.1.1/24) running `diskless-server serve`, a client namespace joined
//! to it by a veth, and a tiny DHCP client for the cases busybox cannot do
//! (PXE options, thousands of MACs). No route out of either namespace.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diskless_qemu::netns::{Netns, Proc};
use socket2::{Domain, Protocol, Socket, Type};

pub const CARTMAN_MAC: &str = "00:18:f3:70:91:b9";

/// `diskless-server`, built once per test process so it is never stale.
pub fn server_bin() -> PathBuf {
    diskless_tests::workspace_bin("diskless-server", "diskless-server")
}

pub fn seed_inventory_text() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed-inventory.toml");
    std::fs::read_to_string(p).expect("examples/seed-inventory.toml")
}

#[allow(unused_imports)]
pub use diskless_tests::TempDir;

/// Server namespace + client namespace, veth `veth` (client side) with a
/// chosen MAC.
pub struct Bed {
    pub srv: Netns,
    pub cli: Netns,
    pub dir: TempDir,
    pub server: Option<Proc>,
}

impl Bed {
    /// `client_cidr`: an address for the client's veth (None for DHCP
    /// clients that configure it themselves).
    pub fn new(tag: &str, client_mac: &str, client_cidr: Option<&str>) -> Bed {
        let srv = Netns::new(&format!("{tag}s")).expect("server netns");
        // The client namespace's own bridge gets an address nobody uses.
        let cli = Netns::with_server(&format!("{tag}c"), "192.0.2.1/32").expect("client netns");
        srv.add_veth_peer("v0", &cli, "veth", client_cidr)
            .expect("veth");
        let n = cli.name().to_string();
        for args in [
            vec!["-n", &n, "link", "set", "veth", "down"],
            vec!["-n", &n, "link", "set", "veth", "address", client_mac],
            vec!["-n", &n, "link", "set", "veth", "up"],
        ] {
            let st = Command::new("ip").args(&args).status().unwrap();
            assert!(st.success(), "ip {args:?}");
        }
        Bed {
            srv,
            cli,
            dir: TempDir::new(tag),
            server: None,
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn lease_file(&self) -> PathBuf {
        self.dir.path().join("dhcp.leases")
    }

    /// Writes `inventory` and starts `diskless-server serve` (no NFS) in the
    /// server namespace; waits until DHCP listens.
    pub fn start_server(&mut self, inventory: &str, extra: &[&str]) {
        let lease = self.lease_file().display().to_string();
        let mut args = vec!["--lease-file", lease.as_str()];
        args.extend_from_slice(extra);
        self.start_server_with(inventory, &args);
    }

    /// Like [`Bed::start_server`], but the lease file is whatever the
    /// inventory (or `extra`) says.
    pub fn start_server_with(&mut self, inventory: &str, extra: &[&str]) {
        let inv = self.dir.path().join("inventory.toml");
        std::fs::write(&inv, inventory).unwrap();
        let root = self.dir.path().join("boot");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("pxelinux.0"), b"loader").unwrap();
        let bin = server_bin();
        let mut argv: Vec<String> = vec![
            bin.display().to_string(),
            "serve".into(),
            "--inventory".into(),
            inv.display().to_string(),
            "--boot-root".into(),
            root.display().to_string(),
            "--no-nfs".into(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.server = Some(
            self.srv
                .spawn(&argv, Some(&self.log_path()))
                .expect("spawn server"),
        );
        self.wait_log("DHCP listening", Duration::from_secs(30));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server never logged {needle:?}:\n{}", self.log());
    }
}

/// A minimal DHCP client on the client namespace's `veth`: port 68,
/// broadcast to 255.255.255.255:67. Create it inside `Netns::run_in`.
pub struct Client {
    sock: UdpSocket,
}

pub struct Reply {
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn msg_type(&self) -> Option<u8> {
        self.opt(53).map(|v| v[0])
    }
    pub fn yiaddr(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[16],
            self.bytes[17],
            self.bytes[18],
            self.bytes[19],
        )
    }
    pub fn siaddr(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[20],
            self.bytes[21],
            self.bytes[22],
            self.bytes[23],
        )
    }
    pub fn xid(&self) -> u32 {
        u32::from_be_bytes(self.bytes[4..8].try_into().unwrap())
    }
    pub fn opt(&self, code: u8) -> Option<&[u8]> {
        let b = &self.bytes;
        let mut i = 240;
        while i + 1 < b.len() {
            match b[i] {
                0 => i += 1,
                255 => return None,
                c => {
                    let len = b[i + 1] as usize;
                    if c == code {
                        return b.get(i + 2..i + 2 + len);
                    }
                    i += 2 + len;
                }
            }
        }
        None
    }
}

/// [`packet`] as a relay agent forwards it: `giaddr` set, hops 1.
pub fn relayed(mac: [u8; 6], xid: u32, giaddr: Ipv4Addr, opts: &[u8]) -> Vec<u8> {
    let mut p = packet(mac, xid, Ipv4Addr::UNSPECIFIED, opts);
    p[3] = 1;
    p[24..28].copy_from_slice(&giaddr.octets());
    p
}

/// A BOOTREQUEST with `opts` (without the end option).
pub fn packet(mac: [u8; 6], xid: u32, ciaddr: Ipv4Addr, opts: &[u8]) -> Vec<u8> {
    let mut p = vec![1, 1, 6, 0];
    p.extend_from_slice(&xid.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x80, 0]); // broadcast bit
    p.extend_from_slice(&ciaddr.octets());
    p.extend_from_slice(&[0; 12]);
    p.extend_from_slice(&mac);
    p.extend_from_slice(&[0; 10 + 64 + 128]);
    p.extend_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(opts);
    p.push(255);
    p
}

impl Client {
    pub fn new(iface: &str, port: u16) -> Client {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_broadcast(true).unwrap();
        s.bind_device(Some(iface.as_bytes())).unwrap();
        s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
            .unwrap();
        let sock: UdpSocket = s.into();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Client { sock }
    }

    pub fn send(&self, pkt: &[u8], to: SocketAddr) {
        self.sock.send_to(pkt, to).unwrap();
    }

    pub fn broadcast(&self, pkt: &[u8]) {
        self.send(pkt, SocketAddr::from((Ipv4Addr::BROADCAST, 67)));
    }

    /// Replies with transaction id `xid` until `wait` passes.
    pub fn collect(&self, xid: u32, wait: Duration) -> Vec<Reply> {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        while t0.elapsed() < wait {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                let r = Reply {
                    bytes: buf[..n].to_vec(),
                };
                if n >= 240 && buf[0] == 2 && r.xid() == xid {
                    out.push(r);
                }
            }
        }
        out
    }

    /// The first reply with `xid` and message type `kind`, retrying the send.
    pub fn exchange(&self, pkt: &[u8], xid: u32, kind: u8, tries: u32) -> Option<Reply> {
        let mut buf = [0u8; 1500];
        for _ in 0..tries {
            self.broadcast(pkt);
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_millis(500) {
                if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                    let r = Reply {
                        bytes: buf[..n].to_vec(),
                    };
                    if n >= 240 && buf[0] == 2 && r.xid() == xid && r.msg_type() == Some(kind) {
                        return Some(r);
                    }
                }
            }
        }
        None
    }
}
