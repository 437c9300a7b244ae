//! SNTP: `ntpdate -q` (ntpsec) in a client namespace asks
//! `diskless-server serve` for the time and finds it within 50 ms of its
//! own clock (same host clock, so any larger offset is a protocol bug).
//! Also a raw client-mode request gets a well-formed server reply.

mod dhcp_support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dhcp_support::*;
use diskless_common::sntp::{Mode, Repr, Timestamp};

#[test]
fn ntpdate_gets_the_time_within_50_ms() {
    let mut bed = Bed::new("sntp", "02:00:00:00:0b:01", Some("172.16.1.50/24"));
    bed.start_server(&seed_inventory_text(), &["--no-tftp", "--no-http"]);
    bed.wait_log("SNTP server listening", Duration::from_secs(10));
    let out = bed
        .cli
        .exec(&["timeout", "30", "ntpdate", "-q", "172.16.1.1"])
        .unwrap_or_else(|e| panic!("ntpdate: {e}\n{}", bed.log()));
    // `2026-11-25 13:38:26.658847 (+0000) +0.000146 +/- 0.000253 172.16.1.1 s10 no-leap`
    let line = out
        .lines()
        .find(|l| l.contains("172.16.1.1"))
        .unwrap_or_else(|| panic!("no answer line:\n{out}"));
    let offset: f64 = line
        .split_whitespace()
        .find(|w| {
            w.starts_with('+')
                || (w.starts_with('-') && w.len() > 1 && w.as_bytes()[1].is_ascii_digit())
        })
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {line:?}"));
    assert!(offset.abs() < 0.050, "offset {offset} s: {line}");
    assert!(line.contains(" s10 "), "stratum 10 expected: {line}");

    let sent = Timestamp::from_unix(SystemTime::now().duration_since(UNIX_EPOCH).unwrap());
    let reply = bed
        .cli
        .run_in(move || {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let to = SocketAddr::from((Ipv4Addr::new(172, 16, 1, 1), 123));
            // Garbage first: ignored, and the server keeps answering.
            s.send_to(&[0xde, 0xad], to).unwrap();
            s.send_to(&Repr::client_request(sent).to_bytes(), to)
                .unwrap();
            let mut buf = [0u8; 100];
            let (n, _) = s.recv_from(&mut buf).expect("an SNTP reply");
            Repr::parse_bytes(&buf[..n]).unwrap()
        })
        .unwrap();
    assert_eq!(reply.mode, Mode::Server);
    assert_eq!(reply.originate_ts, sent);
    reply.check_reply(sent).unwrap();
}
