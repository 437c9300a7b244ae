//! Batched send/receive and IP_PKTINFO on loopback sockets.

use super::*;
use bytes::Bytes;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;

#[test]
fn raw_addresses_roundtrip() {
    for a in ["127.0.0.1:69", "[::1]:6969", "172.16.1.3:65535"] {
        let a: SocketAddr = a.parse().unwrap();
        let (raw, _) = to_raw(&a);
        assert_eq!(from_raw(&raw), Some(a));
    }
}

#[test]
fn batch_send_and_receive_with_pktinfo() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    enable_pktinfo(&rx).unwrap();
    let tx = UdpSocket::bind("0.0.0.0:0").unwrap();
    let to = rx.local_addr().unwrap();
    let mut s = SendBatch::new();
    let body = Bytes::from_static(b"payload");
    for i in 0..5u8 {
        s.push(
            &to,
            Some(Ipv4Addr::new(127, 0, 0, 1)),
            &[0, 3, 0, i],
            body.slice(..i as usize),
        );
    }
    s.flush(&tx).unwrap();
    assert!(s.is_empty());
    let mut r = RecvBatch::new(8, 64);
    let mut got = Vec::new();
    while got.len() < 5 {
        poll_readable(&[rx.as_fd()], 5000).unwrap();
        let n = r.recv(&rx).unwrap();
        for i in 0..n {
            let d = r.get(i).unwrap();
            assert_eq!(d.to, Some(Ipv4Addr::new(127, 0, 0, 1)));
            assert_eq!(d.from.port(), tx.local_addr().unwrap().port());
            got.push(d.data.to_vec());
        }
    }
    assert_eq!(got[3], b"\x00\x03\x00\x03pay");
}
