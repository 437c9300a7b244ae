//! A client that stops ACKing: the server retransmits a bounded number of
//! times, then ends the session and frees it (visible in `GET /status`).

mod tftp_support;

use std::time::{Duration, Instant};

use diskless_tftp::wire::Packet;
use tftp_support::*;

fn wait_for_sessions(s: &Server, n: u64) {
    // Generous bound: timeouts are 1 s x 2 retries here.
    let until = Instant::now() + Duration::from_secs(60);
    while s.active_sessions() != n {
        assert!(Instant::now() < until, "sessions never dropped to {n}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn silent_client_session_ends_and_is_freed() {
    let s = Server::start(&["--tftp-retries", "2"]);
    s.put("kernel", &pattern(100_000, 9));
    let c = RawClient::new(s.tftp_port);
    c.rrq(b"kernel", &[]);
    let (first, _) = c.recv().expect("block 1");
    assert!(matches!(
        Packet::parse(&first).unwrap(),
        Packet::Data { block: 1, .. }
    ));
    assert_eq!(s.active_sessions(), 1);
    // Never ACK: count the retransmissions of block 1, then the give-up.
    let mut repeats = 0;
    let mut gave_up = false;
    while let Some((b, _)) = c.recv() {
        match Packet::parse(&b).unwrap() {
            Packet::Data { block: 1, .. } => repeats += 1,
            Packet::Error { .. } => {
                gave_up = true;
                break;
            }
            p => panic!("unexpected {p:?}"),
        }
    }
    assert_eq!(repeats, 2, "retransmits exactly --tftp-retries times");
    assert!(gave_up, "server says it gave up");
    wait_for_sessions(&s, 0);
    let st = s.status();
    assert_eq!(st["tftp"]["failed"].as_u64(), Some(1));
}

#[test]
fn many_abandoned_sessions_are_all_freed() {
    let s = Server::start(&["--tftp-retries", "1"]);
    s.put("kernel", &pattern(50_000, 10));
    let clients: Vec<RawClient> = (0..50).map(|_| RawClient::new(s.tftp_port)).collect();
    for c in &clients {
        c.rrq(b"kernel", &[("blksize", "1468".into())]);
    }
    for c in &clients {
        assert!(c.recv().is_some());
    }
    drop(clients); // closed ports: ICMP unreachable or timeout ends them
    wait_for_sessions(&s, 0);
}

#[test]
fn duplicate_acks_do_not_double_the_traffic() {
    // Sorcerer's apprentice: ACK every block twice; the server must not
    // answer the duplicate with another copy of the next block.
    let s = Server::start(&[]);
    let data = pattern(512 * 20 + 3, 11);
    s.put("f", &data);
    let c = RawClient::new(s.tftp_port);
    c.rrq(b"f", &[]);
    let mut got = Vec::new();
    let mut datagrams = 0;
    loop {
        let (b, from) = c.recv().expect("data");
        datagrams += 1;
        let Packet::Data { block, data: d } = Packet::parse(&b).unwrap() else {
            panic!("expected data")
        };
        got.extend_from_slice(d);
        let mut ack = Vec::new();
        diskless_tftp::wire::emit_ack(&mut ack, block);
        c.sock.send_to(&ack, from).unwrap();
        c.sock.send_to(&ack, from).unwrap();
        if d.len() < 512 {
            break;
        }
    }
    assert!(got == data);
    assert_eq!(datagrams, 21, "one datagram per block");
    c.sock
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(c.recv().is_none(), "no extra copies after the last block");
}
