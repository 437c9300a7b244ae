//! Shared by the `nfs_*` tests: an in-process server on loopback that can
//! be stopped and started again (a restart), and a raw RPC client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use diskless_nfs::rpc::{self, Cred};
use diskless_nfs::xdr::{Reader, Writer};
use diskless_nfs::{ExportSpec, Listen, NfsServer, Service};

pub const NFS: u32 = 100003;
pub const MOUNT: u32 = 100005;

/// An NFS server in its own runtime; dropping it closes every socket.
pub struct Server {
    rt: Option<tokio::runtime::Runtime>,
    pub port: u16,
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Server {
    pub fn start(specs: &[ExportSpec], key: &Path, port: u16) -> Server {
        let svc = Arc::new(Service::new(specs, key, port).expect("service"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listen = Listen {
            addr: "0.0.0.0".parse().unwrap(),
            nfs_port: port,
            portmap: false,
        };
        let server = rt.block_on(NfsServer::bind(svc, listen)).expect("bind");
        rt.spawn(server.run(std::future::pending()));
        Server { rt: Some(rt), port }
    }

    /// libnfs URL for `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!(
            "nfs://127.0.0.1{path}?version=3&nfsport={p}&mountport={p}",
            p = self.port
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

pub fn spec(path: &Path, writable: bool, allowed: &[&str]) -> ExportSpec {
    ExportSpec {
        path: path.to_path_buf(),
        writable,
        root: !writable,
        allowed: allowed
            .iter()
            .map(|a| a.parse::<Ipv4Addr>().unwrap())
            .collect(),
    }
}

/// A blocking RPC client over TCP, optionally from a chosen source address.
pub struct Client {
    s: TcpStream,
    xid: u32,
    pub cred: Cred,
}

impl Client {
    pub fn connect(port: u16, source: Option<Ipv4Addr>) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let s = rt.block_on(async {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            if let Some(src) = source {
                sock.bind(SocketAddr::new(src.into(), 0)).unwrap();
            }
            sock.connect(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port))
                .await
                .unwrap()
                .into_std()
                .unwrap()
        });
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Client {
            s,
            xid: 1,
            cred: Cred::default(),
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.s
    }

    /// Sends one call; returns the accept_stat and the result body.
    pub fn call(&mut self, prog: u32, proc_: u32, args: &[u8]) -> (u32, Vec<u8>) {
        self.xid += 1;
        let mut rec = vec![0u8; 4];
        let mut w = Writer::new(&mut rec);
        rpc::emit_call(&mut w, self.xid, prog, 3, proc_, Some(&self.cred.clone()));
        rec.extend_from_slice(args);
        let n = (rec.len() - 4) as u32 | 1 << 31;
        rec[..4].copy_from_slice(&n.to_be_bytes());
        self.s.write_all(&rec).unwrap();
        let reply = self.read_record().expect("reply");
        let mut r = Reader::new(&reply);
        assert_eq!(r.u32().unwrap(), self.xid);
        assert_eq!(r.u32().unwrap(), 1);
        assert_eq!(r.u32().unwrap(), 0, "call denied");
        r.u32().unwrap();
        r.opaque(400).unwrap();
        let stat = r.u32().unwrap();
        (stat, r.rest().to_vec())
    }

    /// One reply record, or `None` if the server closed the connection.
    pub fn read_record(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let mut h = [0u8; 4];
            self.s.read_exact(&mut h).ok()?;
            let (last, len) = rpc::fragment_header(h);
            let at = out.len();
            out.resize(at + len, 0);
            self.s.read_exact(&mut out[at..]).ok()?;
            if last {
                return Some(out);
            }
        }
    }

    /// MOUNT MNT: (status, handle).
    pub fn mnt(&mut self, path: &str) -> (u32, Vec<u8>) {
        let mut a = Vec::new();
        Writer::new(&mut a).opaque(path.as_bytes());
        let (st, body) = self.call(MOUNT, 1, &a);
        assert_eq!(st, 0);
        let mut r = Reader::new(&body);
        let status = r.u32().unwrap();
        let fh = if status == 0 {
            r.opaque(64).unwrap().to_vec()
        } else {
            vec![]
        };
        (status, fh)
    }

    /// NFS call returning (nfsstat3, rest of the result).
    pub fn nfs(&mut self, proc_: u32, args: &[u8]) -> (u32, Vec<u8>) {
        let (st, body) = self.call(NFS, proc_, args);
        assert_eq!(st, 0, "accept_stat");
        let status = u32::from_be_bytes(body[..4].try_into().unwrap());
        (status, body[4..].to_vec())
    }

    pub fn getattr(&mut self, fh: &[u8]) -> u32 {
        let mut a = Vec::new();
        Writer::new(&mut a).opaque(fh);
        self.nfs(1, &a).0
    }

    /// LOOKUP: (status, handle).
    pub fn lookup(&mut self, dir: &[u8], name: &str) -> (u32, Vec<u8>) {
        let mut a = Vec::new();
        let mut w = Writer::new(&mut a);
        w.opaque(dir);
        w.opaque(name.as_bytes());
        let (status, body) = self.nfs(3, &a);
        let fh = if status == 0 {
            Reader::new(&body).opaque(64).unwrap().to_vec()
        } else {
            vec![]
        };
        (status, fh)
    }

    /// READ: (status, data).
    pub fn read(&mut self, fh: &[u8], offset: u64, count: u32) -> (u32, Vec<u8>) {
        let mut a = Vec::new();
        let mut w = Writer::new(&mut a);
        w.opaque(fh);
        w.u64(offset);
        w.u32(count);
        let (status, body) = self.nfs(6, &a);
        if status != 0 {
            return (status, vec![]);
        }
        let mut r = Reader::new(&body);
        assert!(r.bool().unwrap());
        r.fixed(84).unwrap();
        let _count = r.u32().unwrap();
        let _eof = r.bool().unwrap();
        (0, r.opaque(1 << 21).unwrap().to_vec())
    }

    /// WRITE (unstable): (status, verifier).
    pub fn write(&mut self, fh: &[u8], offset: u64, data: &[u8]) -> (u32, Vec<u8>) {
        let mut a = Vec::new();
        let mut w = Writer::new(&mut a);
        w.opaque(fh);
        w.u64(offset);
        w.u32(data.len() as u32);
        w.u32(0);
        w.opaque(data);
        let (status, body) = self.nfs(7, &a);
        if status != 0 {
            return (status, vec![]);
        }
        (status, body[body.len() - 8..].to_vec())
    }
}

/// A scratch tree: `ro/` (file, big file, symlink out of the export,
/// subdirectory) and `rw/`, plus the key path.
pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir_all(ro.join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join("rw")).unwrap();
        std::fs::write(ro.join("hello.txt"), b"hello from diskless\n").unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(ro.join("big.bin"), big).unwrap();
        std::fs::write(ro.join("sub/deep.txt"), b"deep\n").unwrap();
        std::fs::write(dir.path().join("secret"), b"outside\n").unwrap();
        std::os::unix::fs::symlink("../secret", ro.join("escape")).unwrap();
        Tree { dir }
    }
    pub fn ro(&self) -> PathBuf {
        self.dir.path().join("ro")
    }
    pub fn rw(&self) -> PathBuf {
        self.dir.path().join("rw")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("state/handle.key")
    }
    pub fn specs(&self, allowed: &[&str]) -> Vec<ExportSpec> {
        vec![
            spec(&self.ro(), false, allowed),
            spec(&self.rw(), true, allowed),
        ]
    }
}

/// Runs a libnfs tool; returns (success, stdout bytes, stderr).
pub fn libnfs(tool: &str, args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = std::process::Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} not runnable ({e}): apt-get install libnfs-utils"));
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `diskless-server`, built once per test process so it is never stale.
pub fn server_bin() -> PathBuf {
    diskless_tests::workspace_bin("diskless-server", "diskless-server")
}
