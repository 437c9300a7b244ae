//! A retransmitted RRQ (same bytes, same client address and port) must not
//! start a second transfer: clients resend their request when the first
//! reply is slow, and two transfers to one TID would interleave DATA.

mod tftp_support;

use std::time::Duration;

use diskless_tftp::wire::{self, Packet};
use tftp_support::*;

#[test]
fn repeated_rrq_from_the_same_port_is_one_transfer() {
    // A long retransmit timeout: any second copy of block 1 seen below
    // can only come from a second transfer.
    let s = Server::start(&["--tftp-timeout-ms", "10000"]);
    let data = pattern(512 * 4 + 100, 21);
    s.put("kernel", &data);
    let c = RawClient::new(s.tftp_port);
    for _ in 0..3 {
        c.rrq(b"kernel", &[]);
    }
    let (first, server_tid) = c.recv().expect("block 1");
    assert!(matches!(
        Packet::parse(&first).unwrap(),
        Packet::Data { block: 1, .. }
    ));
    c.sock
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(c.recv().is_none(), "a second transfer sent block 1 again");
    assert_eq!(s.active_sessions(), 1);

    // Finish the one transfer: the bytes are whole and nothing failed.
    let mut got = match Packet::parse(&first).unwrap() {
        Packet::Data { data, .. } => data.to_vec(),
        _ => unreachable!(),
    };
    c.sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut block = 1u16;
    loop {
        let mut ack = Vec::new();
        wire::emit_ack(&mut ack, block);
        c.sock.send_to(&ack, server_tid).unwrap();
        let (b, from) = c.recv().expect("next block");
        assert_eq!(from, server_tid);
        let Packet::Data { block: n, data: d } = Packet::parse(&b).unwrap() else {
            panic!("expected DATA")
        };
        assert_eq!(n, block + 1);
        got.extend_from_slice(d);
        block = n;
        if d.len() < 512 {
            let mut ack = Vec::new();
            wire::emit_ack(&mut ack, block);
            c.sock.send_to(&ack, server_tid).unwrap();
            break;
        }
    }
    assert!(got == data);
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while s.active_sessions() != 0 {
        assert!(std::time::Instant::now() < until, "transfer never ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = s.status();
    assert_eq!(st["tftp"]["completed"].as_u64(), Some(1));
    assert_eq!(st["tftp"]["failed"].as_u64(), Some(0));
}

#[test]
fn a_new_request_from_the_same_port_replaces_the_old_transfer() {
    let s = Server::start(&["--tftp-timeout-ms", "10000"]);
    s.put("a", &pattern(5000, 22));
    let b = pattern(300, 23);
    s.put("b", &b);
    let c = RawClient::new(s.tftp_port);
    c.rrq(b"a", &[]);
    let (first, _) = c.recv().expect("block 1 of a");
    assert!(matches!(
        Packet::parse(&first).unwrap(),
        Packet::Data { block: 1, .. }
    ));
    // The client gave up on `a` and asks for `b` from the same port.
    assert_eq!(c.fetch(b"b").unwrap(), b);
    assert_eq!(s.active_sessions(), 0);
}
