//! Shared by the tftp_*/http_* tests: a `diskless-server serve` on loopback
//! high ports with a temporary boot root, a raw TFTP client, and a tiny
//! HTTP/1.0 getter (so the tests need no HTTP client crate).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diskless_tftp::wire::{self, Mode, Packet};

/// `diskless-server`, built once per test process so it is never stale.
pub fn server_bin() -> PathBuf {
    diskless_tests::workspace_bin("diskless-server", "diskless-server")
}

pub fn seed_inventory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed-inventory.toml")
}

#[allow(unused_imports)]
pub use diskless_tests::TempDir;

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Two free loopback ports (UDP for TFTP, TCP for HTTP).
pub fn free_ports() -> (u16, u16) {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        u.local_addr().unwrap().port(),
        t.local_addr().unwrap().port(),
    )
}

/// Flags that keep `serve` to TFTP + HTTP (no NFS exports or DHCP
/// interface needed on the test machine).
pub const ONLY_FILES: &[&str] = &["--no-nfs", "--no-dhcp"];

/// A running `diskless-server serve`; SIGTERMed (by PID) on drop.
pub struct Server {
    pub child: Child,
    pub root: TempDir,
    pub tftp_port: u16,
    pub http_port: u16,
    pub log: PathBuf,
}

impl Server {
    /// Serves the seed inventory with a boot root the caller fills via
    /// `root.path()` (the inventory's `/tftpboot` is stripped from names).
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with(&seed_inventory(), extra)
    }

    pub fn start_with(inventory: &Path, extra: &[&str]) -> Server {
        let mut root = TempDir::new("boot");
        std::fs::create_dir_all(root.path().join("pxelinux.cfg")).unwrap();
        let log = std::env::temp_dir().join(format!(
            "diskless-serve-{}-{}.log",
            std::process::id(),
            root.path().file_name().unwrap().to_string_lossy()
        ));
        let mut last_log = String::new();
        for _ in 0..5 {
            let (tftp_port, http_port) = free_ports();
            let child = Command::new(server_bin())
                .arg("serve")
                .arg("--inventory")
                .arg(inventory)
                .arg("--boot-root")
                .arg(root.path())
                .args(["--listen", "127.0.0.1"])
                .args(["--tftp-port", &tftp_port.to_string()])
                .args(["--http-port", &http_port.to_string()])
                .args(ONLY_FILES)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("start diskless-server");
            let mut s = Server {
                child,
                root,
                tftp_port,
                http_port,
                log: log.clone(),
            };
            if s.wait_ready() {
                return s;
            }
            // Port raced with someone else: try others.
            let _ = s.child.kill();
            let _ = s.child.wait();
            last_log = s.log_text();
            root = TempDir(std::mem::take(&mut s.root.0));
        }
        panic!("diskless-server did not start; log: {last_log}");
    }

    fn wait_ready(&mut self) -> bool {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.http_port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn put(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.root.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }

    pub fn tftp_url(&self, name: &str) -> String {
        format!("tftp://127.0.0.1:{}/{name}", self.tftp_port)
    }

    pub fn http(&self, path: &str, headers: &[&str]) -> HttpReply {
        http_get(self.http_port, "GET", path, headers)
    }

    pub fn status(&self) -> serde_json::Value {
        let r = self.http("/status", &[]);
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).expect("status is JSON")
    }

    pub fn active_sessions(&self) -> u64 {
        self.status()["tftp"]["active_sessions"].as_u64().unwrap()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to 20 s for `text` in the server's log (panics with the log).
    pub fn wait_log(&self, text: &str) {
        let until = Instant::now() + Duration::from_secs(20);
        while !self.log_text().contains(text) {
            assert!(
                Instant::now() < until,
                "no {text:?} in the log: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// HTTP/1.0 request with a raw path (no client-side normalisation).
pub fn http_get(port: u16, method: &str, path: &str, headers: &[&str]) -> HttpReply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: test\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// A raw TFTP client socket for protocol-level tests.
pub struct RawClient {
    pub sock: UdpSocket,
    pub server: std::net::SocketAddr,
}

impl RawClient {
    pub fn new(port: u16) -> RawClient {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawClient {
            sock,
            server: ([127, 0, 0, 1], port).into(),
        }
    }

    pub fn rrq(&self, name: &[u8], opts: &[(&str, String)]) {
        let mut v = Vec::new();
        wire::emit_request(&mut v, false, name, Mode::Octet, opts);
        self.sock.send_to(&v, self.server).unwrap();
    }

    /// Next datagram: (bytes, sender).
    pub fn recv(&self) -> Option<(Vec<u8>, std::net::SocketAddr)> {
        let mut buf = vec![0u8; 65536];
        match self.sock.recv_from(&mut buf) {
            Ok((n, from)) => Some((buf[..n].to_vec(), from)),
            Err(_) => None,
        }
    }

    /// Sends RRQ `name` and returns the first reply's ERROR code, if it is
    /// an ERROR.
    pub fn first_error(&self, name: &[u8]) -> Option<u16> {
        self.rrq(name, &[]);
        let (b, _) = self.recv().expect("a reply");
        match Packet::parse(&b).unwrap() {
            Packet::Error { code, .. } => Some(code as u16),
            _ => None,
        }
    }

    /// Lockstep fetch (RFC 1350, no options); returns the bytes.
    pub fn fetch(&self, name: &[u8]) -> Result<Vec<u8>, String> {
        self.rrq(name, &[]);
        let mut out = Vec::new();
        let mut expect: u16 = 1;
        loop {
            let (b, from) = self.recv().ok_or("timeout")?;
            match Packet::parse(&b).map_err(|e| e.to_string())? {
                Packet::Data { block, data } => {
                    let mut ack = Vec::new();
                    wire::emit_ack(&mut ack, block);
                    self.sock.send_to(&ack, from).unwrap();
                    if block == expect {
                        out.extend_from_slice(data);
                        expect = expect.wrapping_add(1);
                        if data.len() < 512 {
                            return Ok(out);
                        }
                    }
                }
                Packet::Error { code, message } => {
                    return Err(format!(
                        "error {code:?}: {}",
                        String::from_utf8_lossy(message)
                    ))
                }
                p => return Err(format!("unexpected {p:?}")),
            }
        }
    }
}

/// Runs a command, returns (success, stdout+stderr).
pub fn sh(cmd: &mut Command) -> (bool, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run command");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}
