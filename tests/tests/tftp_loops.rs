//! `serve --tftp-loops N`: the number of TFTP event loops (threads, each
//! with a data socket of its own) is what the admin asked for, transfers
//! spread over them, and every client still gets its bytes whole.

mod tftp_support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;

use diskless_tftp::wire::{self, Packet};
use tftp_support::*;

/// Names of the server's TFTP loop threads (`tftp-0`, `tftp-1`, …; not
/// the `tftp-resolve-N` workers). Call after a transfer, so the loops
/// certainly run.
fn loop_threads(pid: u32) -> BTreeSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .filter(|c| {
            c.strip_prefix("tftp-")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

/// Lockstep fetch that also reports the server's TID (its data socket).
fn fetch_with_tid(c: &RawClient, name: &[u8]) -> (Vec<u8>, SocketAddr) {
    c.rrq(name, &[]);
    let mut out = Vec::new();
    let mut expect: u16 = 1;
    let mut tid = None;
    loop {
        let (b, from) = c.recv().expect("DATA before the timeout");
        assert_eq!(*tid.get_or_insert(from), from, "one TID per transfer");
        let Packet::Data { block, data } = Packet::parse(&b).unwrap() else {
            panic!("expected DATA, got {:?}", Packet::parse(&b));
        };
        let mut ack = Vec::new();
        wire::emit_ack(&mut ack, block);
        c.sock.send_to(&ack, from).unwrap();
        if block == expect {
            out.extend_from_slice(data);
            expect = expect.wrapping_add(1);
            if data.len() < 512 {
                return (out, from);
            }
        }
    }
}

#[test]
fn three_loops_share_the_transfers() {
    let s = Server::start(&["--tftp-loops", "3"]);
    let data = pattern(512 * 5 + 17, 33);
    s.put("kernel", &data);

    // Clients on 24 ports: each hashes to one loop; all three loops being
    // skipped by 24 clients would be a 1-in-10^11 event, so the data
    // sockets seen must be more than one.
    let mut tids = BTreeSet::new();
    for _ in 0..24 {
        let c = RawClient::new(s.tftp_port);
        let (got, tid) = fetch_with_tid(&c, b"kernel");
        assert!(got == data, "bytes differ from the file");
        assert_ne!(tid.port(), s.tftp_port, "DATA comes from a data socket");
        tids.insert(tid);
    }
    assert!(tids.len() > 1 && tids.len() <= 3, "data sockets: {tids:?}");
    let want: BTreeSet<String> = ["tftp-0", "tftp-1", "tftp-2"]
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(loop_threads(s.child.id()), want);
}

#[test]
fn one_loop_serves_everything() {
    let s = Server::start(&["--tftp-loops", "1"]);
    let data = pattern(1000, 34);
    s.put("initrd", &data);
    let mut tids = BTreeSet::new();
    for _ in 0..4 {
        let (got, tid) = fetch_with_tid(&RawClient::new(s.tftp_port), b"initrd");
        assert!(got == data);
        tids.insert(tid);
    }
    assert_eq!(tids.len(), 1, "one loop, one data socket");
    assert_eq!(loop_threads(s.child.id()).len(), 1);
}

#[test]
fn too_many_loops_is_refused_with_the_range() {
    let (ok, out) = sh(Command::new(server_bin())
        .args(["serve", "--inventory"])
        .arg(seed_inventory())
        .args(["--tftp-loops", "1000"]));
    assert!(!ok);
    assert!(
        out.contains("--tftp-loops") && out.contains("0..=64"),
        "{out}"
    );
}
