//! SNTP packets as byte vectors: parse, emit, time conversions, hostile input.

use super::*;

// A stratum-2 server reply laid out by hand per RFC 5905 figure 8.
const REPLY: [u8; 48] = [
    0x24, 0x02, 0x03, 0xe8, 0x00, 0x00, 0x02, 0x1b, 0x00, 0x00, 0x04, 0x3c, 0xc0, 0xa8, 0x01, 0x01,
    0xe9, 0x6b, 0x1f, 0x00, 0x10, 0x00, 0x00, 0x00, 0xe9, 0x6b, 0x1f, 0x10, 0x80, 0x00, 0x00, 0x00,
    0xe9, 0x6b, 0x1f, 0x10, 0x80, 0x10, 0x00, 0x00, 0xe9, 0x6b, 0x1f, 0x10, 0x80, 0x20, 0x00, 0x00,
];

#[test]
fn parses_reply_bytes() {
    let r = Repr::parse_bytes(&REPLY).unwrap();
    assert_eq!(r.leap, 0);
    assert_eq!(r.version, 4);
    assert_eq!(r.mode, Mode::Server);
    assert_eq!(r.stratum, 2);
    assert_eq!(r.poll, 3);
    assert_eq!(r.precision, -24);
    assert_eq!(r.root_delay, 0x21b);
    assert_eq!(r.reference_id, [192, 168, 1, 1]);
    assert_eq!(r.originate_ts.seconds, 0xe96b_1f10);
    assert_eq!(r.originate_ts.fraction, 0x8000_0000);
    assert_eq!(r.transmit_ts.fraction, 0x8020_0000);
    assert_eq!(r.check_reply(r.originate_ts), Ok(()));
}

#[test]
fn emit_parse_roundtrip() {
    let r = Repr::parse_bytes(&REPLY).unwrap();
    assert_eq!(r.to_bytes(), REPLY);
}

#[test]
fn client_request_bytes() {
    let t = Timestamp {
        seconds: 0x0102_0304,
        fraction: 0x0506_0708,
    };
    let b = Repr::client_request(t).to_bytes();
    assert_eq!(b[0], 0x23); // LI 0, VN 4, mode 3
    assert!(b[1..40].iter().all(|&x| x == 0));
    assert_eq!(&b[40..], &[1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn short_and_bad_version_rejected() {
    assert_eq!(Repr::parse_bytes(&REPLY[..47]), Err(Error::Truncated(47)));
    assert_eq!(Repr::parse_bytes(&[]), Err(Error::Truncated(0)));
    let mut b = REPLY;
    b[0] = 0x3c; // version 7
    assert_eq!(Repr::parse_bytes(&b), Err(Error::Version(7)));
    b[0] = 0x04; // version 0
    assert_eq!(Repr::parse_bytes(&b), Err(Error::Version(0)));
}

#[test]
fn longer_packets_parse_first_48_bytes() {
    let mut v = REPLY.to_vec();
    v.extend_from_slice(&[0xaa; 20]); // MAC / extension fields ignored
    assert!(Repr::parse_bytes(&v).is_ok());
}

#[test]
fn reply_checks() {
    let sent = Timestamp {
        seconds: 0xe96b_1f10,
        fraction: 0x8000_0000,
    };
    let ok = Repr::parse_bytes(&REPLY).unwrap();
    let mut r = ok;
    r.mode = Mode::Client;
    assert_eq!(r.check_reply(sent), Err(ReplyError::Mode(Mode::Client)));
    let mut r = ok;
    r.stratum = 0;
    r.reference_id = *b"RATE";
    assert!(matches!(
        r.check_reply(sent),
        Err(ReplyError::KissOfDeath(_))
    ));
    let mut r = ok;
    r.leap = 3;
    assert_eq!(r.check_reply(sent), Err(ReplyError::Unsynchronized));
    assert_eq!(ok.check_reply(Timestamp::ZERO), Err(ReplyError::NotOurs));
    let mut r = ok;
    r.transmit_ts = Timestamp::ZERO;
    assert_eq!(r.check_reply(sent), Err(ReplyError::NoTime));
}

#[test]
fn unix_conversion_and_eras() {
    let t = Timestamp::from_unix(Duration::new(0, 500_000_000));
    assert_eq!(t.seconds as u64, UNIX_OFFSET);
    assert_eq!(t.fraction, 0x8000_0000);
    assert_eq!(t.to_unix(), Some(Duration::new(0, 500_000_000)));
    // 2040 lies in era 1: seconds wrapped, top bit clear.
    let y2040 = Duration::from_secs(2_208_988_800);
    let t = Timestamp::from_unix(y2040);
    assert!(t.seconds & 0x8000_0000 == 0);
    assert_eq!(t.to_unix(), Some(y2040));
    // 1960 (top bit set, before the Unix epoch) is not representable.
    assert_eq!(
        Timestamp {
            seconds: 0x8000_0000,
            fraction: 0
        }
        .to_unix(),
        None
    );
}

#[test]
fn server_reply_echoes_request() {
    let req = Repr::client_request(Timestamp {
        seconds: 0xe000_0000,
        fraction: 7,
    });
    let rx = Timestamp::from_unix(Duration::from_secs(1_700_000_000));
    let rep = Repr::server_reply(&req, 1, *b"LOCL", rx, rx);
    assert_eq!(rep.originate_ts, req.transmit_ts);
    assert_eq!(rep.mode, Mode::Server);
    assert_eq!(rep.check_reply(req.transmit_ts), Ok(()));
    let back = Repr::parse_bytes(&rep.to_bytes()).unwrap();
    assert_eq!(back, rep);
}

#[test]
fn offset_maths() {
    let at = |s: u64, ms: u32| Timestamp::from_unix(Duration::new(s, ms * 1_000_000));
    // Client clock 100 s behind, 20 ms each way, 2 ms in the server.
    let t1 = at(1000, 0);
    let t2 = at(1100, 20);
    let t3 = at(1100, 22);
    let t4 = at(1000, 42);
    let (off, delay) = offset_and_delay(t1, t2, t3, t4).unwrap();
    // Fractions are 2^-32 s: allow rounding to a few nanoseconds.
    assert!((off - 100_000_000_000).abs() <= 2, "{off}");
    assert!((delay - 40_000_000).abs() <= 2, "{delay}");
}
