//! Malformed RPC input never panics: a million generated records go
//! straight into the service (random bytes, and valid calls for every
//! program and procedure with bytes flipped, truncated or extended), and
//! over TCP a huge fragment length or a non-call closes the connection
//! while the server keeps serving others.

mod nfs_support;
use std::io::Write;

use diskless_nfs::handle::Key;
use diskless_nfs::rpc::{self, Cred};
use diskless_nfs::xdr::Writer;
use diskless_nfs::Service;
use nfs_support::*;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn call(prog: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let cred = Cred {
        uid: 1000,
        gid: 1000,
        gids: vec![1000],
    };
    rpc::emit_call(&mut Writer::new(&mut v), 7, prog, 3, proc_, Some(&cred));
    v.extend_from_slice(args);
    v
}

#[test]
fn a_million_malformed_records_never_panic() {
    let tree = Tree::new();
    let specs = tree.specs(&["127.0.0.1"]);
    let svc = Service::with_key(&specs, Key::from_bytes([3; 32]), 2049).unwrap();
    let root = svc.exports().iter().nth(1).unwrap().root_handle.clone();
    // Templates: every procedure of every program with plausible args
    // (the writable export's root handle, a name, offsets, counts).
    let mut templates = Vec::new();
    for (prog, procs) in [(100003u32, 0..23u32), (100005, 0..7), (100000, 0..6)] {
        for p in procs {
            let mut a = Vec::new();
            let mut w = Writer::new(&mut a);
            if prog == 100005 {
                w.opaque(tree.rw().display().to_string().as_bytes());
            } else {
                w.opaque(&root);
                w.opaque(b"fuzzname");
                w.u64(0);
                w.u32(4096);
                w.u32(0);
                w.opaque(b"data");
            }
            templates.push(call(prog, p, &a));
        }
    }
    let peer = "127.0.0.1".parse().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(1 << 16);
    let mut input = Vec::new();
    let mut answered = 0u32;
    for i in 0..1_000_000u32 {
        input.clear();
        if i % 4 == 0 {
            let n = rng.below(160);
            input.extend((0..n).map(|_| rng.next() as u8));
        } else {
            input.extend_from_slice(&templates[rng.below(templates.len())]);
            for _ in 0..1 + rng.below(4) {
                match rng.below(4) {
                    0 if !input.is_empty() => {
                        let at = rng.below(input.len());
                        input[at] = rng.next() as u8;
                    }
                    1 if !input.is_empty() => {
                        let at = rng.below(input.len());
                        input.truncate(at);
                    }
                    2 => input.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
                    _ if input.len() >= 4 => {
                        // A length-looking word set to something huge.
                        let at = rng.below(input.len() / 4) * 4;
                        input[at..at + 4].copy_from_slice(&[0xff, 0xff, 0xff, rng.next() as u8]);
                    }
                    _ => {}
                }
            }
        }
        out.clear();
        if svc.handle(peer, i % 2 == 0, &input, &mut out).is_ok() {
            answered += 1;
            assert!(
                out.len() >= 12,
                "every answered call gets at least a reply header"
            );
        }
    }
    assert!(
        answered > 100_000,
        "the mutations should often still parse as calls"
    );
}

#[test]
fn hostile_tcp_records_close_the_connection_only() {
    let tree = Tree::new();
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);

    // A fragment header announcing 2 GiB: closed without reading it.
    let mut c = Client::connect(port, None);
    c.stream().write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    assert!(c.read_record().is_none());

    // Many non-last fragments adding up past the limit.
    let mut c = Client::connect(port, None);
    let frag = vec![0u8; 60_000];
    let mut closed = false;
    for _ in 0..40 {
        let mut rec = (frag.len() as u32).to_be_bytes().to_vec();
        rec.extend_from_slice(&frag);
        if c.stream().write_all(&rec).is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed || c.read_record().is_none());

    // A record that is not an RPC call (a reply, then garbage).
    let mut c = Client::connect(port, None);
    c.stream()
        .write_all(&[0x80, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 1])
        .unwrap();
    assert!(c.read_record().is_none());

    // A short record followed by end of stream.
    let mut c = Client::connect(port, None);
    c.stream().write_all(&[0x80, 0, 0, 40, 1, 2, 3]).unwrap();
    c.stream().shutdown(std::net::Shutdown::Write).unwrap();
    assert!(c.read_record().is_none());

    // Bad XDR in the arguments of a valid call: GARBAGE_ARGS, connection kept.
    let mut c = Client::connect(port, None);
    let (st, _) = c.call(NFS, 1, &[0xff, 0xff]);
    assert_eq!(st, 4, "GARBAGE_ARGS");
    let (st, _) = c.call(NFS, 0, &[]);
    assert_eq!(st, 0, "same connection still answers");

    // And the server still serves everyone else.
    let mut c = Client::connect(port, None);
    assert_eq!(c.mnt(&tree.ro().display().to_string()).0, 0);
}

#[test]
fn udp_calls_are_answered_and_garbage_is_dropped() {
    let tree = Tree::new();
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    sock.connect(("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 65536];
    // Garbage first: no reply, and the socket keeps serving.
    sock.send(&[1, 2, 3]).unwrap();
    sock.send(&[0xff; 64]).unwrap();
    // MOUNT MNT over UDP, then GETATTR and READ with the handle.
    let mut a = Vec::new();
    Writer::new(&mut a).opaque(tree.ro().display().to_string().as_bytes());
    sock.send(&call(100005, 1, &a)).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    let mut r = diskless_nfs::xdr::Reader::new(&buf[..n]);
    for _ in 0..6 {
        r.u32().unwrap(); // xid, REPLY, ACCEPTED, verf flavor, verf len, SUCCESS
    }
    assert_eq!(r.u32().unwrap(), 0, "MNT3_OK over UDP");
    let fh = r.opaque(64).unwrap().to_vec();
    let mut g = Vec::new();
    Writer::new(&mut g).opaque(&fh);
    sock.send(&call(100003, 1, &g)).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(n, 24 + 4 + 84, "header, status, fattr3");
    assert_eq!(&buf[24..28], &[0, 0, 0, 0], "GETATTR NFS3_OK over UDP");
}
