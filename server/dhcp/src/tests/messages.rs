//! Each message type through the authoritative state machine: DISCOVER,
//! REQUEST (SELECTING, wrong address, other server, RENEWING), INFORM,
//! DECLINE and RELEASE.

use super::*;

#[test]
fn discover_from_pxe_bios_gets_full_offer() {
    let mut d = server(DhcpMode::Authoritative, false);
    let (r, dest) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[PXE_BIOS])),
        Port::Dhcp,
    );
    assert_eq!(dest, Dest::Broadcast);
    assert_eq!(&r[..4], &[2, 1, 6, 0], "BOOTREPLY, Ethernet");
    assert_eq!(&r[4..8], &[0xde, 0xad, 0xbe, 0xef], "xid echoed");
    assert_eq!(ip(&r, 16), [172, 16, 1, 10], "yiaddr");
    assert_eq!(ip(&r, 20), SERVER, "siaddr = next-server");
    assert_eq!(&r[28..34], &CARTMAN);
    assert_eq!(&r[108..119], b"pxelinux.0\0", "file field");
    assert_eq!(&r[236..240], &[99, 130, 83, 99]);
    assert_eq!(opt(&r, 53), Some(&[2][..]));
    assert_eq!(opt(&r, 54), Some(&SERVER[..]));
    assert_eq!(opt(&r, 1), Some(&[255, 255, 255, 0][..]));
    assert_eq!(opt(&r, 28), Some(&[172, 16, 1, 255][..]));
    assert_eq!(
        opt(&r, 3),
        None,
        "no router configured: none sent (the seed's bug was a bogus one)"
    );
    assert_eq!(opt(&r, 6), Some(&SERVER[..]));
    assert_eq!(opt(&r, 15), Some(&b"cluster.vlug"[..]));
    assert_eq!(opt(&r, 12), Some(&b"cartman"[..]));
    assert_eq!(opt(&r, 51), Some(&[0, 0, 0x0e, 0x10][..]));
    assert_eq!(opt(&r, 66), Some(&b"172.16.1.1"[..]));
    assert_eq!(opt(&r, 67), Some(&b"pxelinux.0"[..]));
    assert_eq!(opt(&r, 60), Some(&b"PXEClient"[..]));
    assert_eq!(opt(&r, 97), Some(&PXE_BIOS[40..57]), "UUID echoed");
    assert!(r.len() >= 300);
    let ev = d.events.get(&Mac(CARTMAN)).unwrap();
    assert_eq!(
        (ev.seen, ev.offered, ev.last_file.as_deref()),
        (1, 1, Some("pxelinux.0"))
    );
}

#[test]
fn request_selecting_gets_ack_and_broadcast_bit_is_kept() {
    let mut d = server(DhcpMode::Authoritative, false);
    let pkt = request(
        CARTMAN,
        ZERO,
        ZERO,
        true,
        &with(3, &[&[50, 4, 172, 16, 1, 10], &[54, 4, 172, 16, 1, 1]]),
    );
    let out = d.handle(&pkt, Port::Dhcp, src(), 5);
    assert_eq!(out.persist, None, "static leases need no journal");
    let (r, dest) = out.reply.unwrap();
    assert_eq!(dest, Dest::Broadcast);
    assert_eq!(&r[10..12], &[0x80, 0]);
    assert_eq!(opt(&r, 53), Some(&[5][..]));
    assert_eq!(ip(&r, 16), [172, 16, 1, 10]);
}

#[test]
fn request_for_wrong_address_gets_exact_nak() {
    let mut d = server(DhcpMode::Authoritative, false);
    let pkt = request(
        CARTMAN,
        ZERO,
        ZERO,
        false,
        &with(3, &[&[50, 4, 172, 16, 1, 99]]),
    );
    let (r, dest) = reply_of(&mut d, &pkt, Port::Dhcp);
    assert_eq!(dest, Dest::Broadcast);
    let mut want = vec![2, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0];
    want.extend_from_slice(&[0; 16]);
    want.extend_from_slice(&CARTMAN);
    want.extend_from_slice(&[0; 10 + 64 + 128]);
    want.extend_from_slice(&[99, 130, 83, 99, 53, 1, 6, 54, 4, 172, 16, 1, 1, 255]);
    want.resize(300, 0);
    assert_eq!(r, want);
}

#[test]
fn request_to_another_server_is_ignored() {
    let mut d = server(DhcpMode::Authoritative, false);
    let pkt = request(
        CARTMAN,
        ZERO,
        ZERO,
        false,
        &with(3, &[&[50, 4, 172, 16, 1, 10], &[54, 4, 172, 16, 1, 2]]),
    );
    assert_eq!(d.handle(&pkt, Port::Dhcp, src(), 5), Default::default());
}

#[test]
fn renewing_request_is_unicast_to_ciaddr() {
    let mut d = server(DhcpMode::Authoritative, false);
    let pkt = request(CARTMAN, [172, 16, 1, 10], ZERO, false, &with(3, &[]));
    let (r, dest) = reply_of(&mut d, &pkt, Port::Dhcp);
    assert_eq!(dest, Dest::Unicast(Ipv4Addr::new(172, 16, 1, 10)));
    assert_eq!(opt(&r, 53), Some(&[5][..]));
}

#[test]
fn inform_gets_options_without_lease() {
    let mut d = server(DhcpMode::Authoritative, false);
    let (r, dest) = reply_of(
        &mut d,
        &request(CARTMAN, [172, 16, 1, 10], ZERO, false, &with(8, &[])),
        Port::Dhcp,
    );
    assert_eq!(dest, Dest::Unicast(Ipv4Addr::new(172, 16, 1, 10)));
    assert_eq!(opt(&r, 53), Some(&[5][..]));
    assert_eq!(ip(&r, 16), ZERO, "no yiaddr for INFORM");
    assert_eq!(opt(&r, 51), None);
    assert_eq!(opt(&r, 1), Some(&[255, 255, 255, 0][..]));
}

#[test]
fn decline_and_release_get_no_reply() {
    let mut d = server(DhcpMode::Authoritative, true);
    let m = Mac(STRANGER);
    let disc = d.handle(
        &request(STRANGER, ZERO, ZERO, false, &with(1, &[])),
        Port::Dhcp,
        src(),
        0,
    );
    assert_eq!(&disc.reply.unwrap().0[16..20], &[172, 16, 1, 200]);
    let req = request(
        STRANGER,
        ZERO,
        ZERO,
        false,
        &with(3, &[&[50, 4, 172, 16, 1, 200], &[54, 4, 172, 16, 1, 1]]),
    );
    let out = d.handle(&req, Port::Dhcp, src(), 1);
    assert_eq!(
        out.persist,
        Some(Record::Lease {
            mac: m,
            ip: Ipv4Addr::new(172, 16, 1, 200),
            expires: 3601
        })
    );
    assert_eq!(opt(&out.reply.unwrap().0, 53), Some(&[5][..]));
    let rel = d.handle(
        &request(STRANGER, [172, 16, 1, 200], ZERO, false, &with(7, &[])),
        Port::Dhcp,
        src(),
        2,
    );
    assert_eq!(rel.reply, None);
    assert_eq!(
        rel.persist,
        Some(Record::Release {
            mac: m,
            ip: Ipv4Addr::new(172, 16, 1, 200)
        })
    );
    d.handle(&req, Port::Dhcp, src(), 3);
    let dec = d.handle(
        &request(
            STRANGER,
            ZERO,
            ZERO,
            false,
            &with(4, &[&[50, 4, 172, 16, 1, 200]]),
        ),
        Port::Dhcp,
        src(),
        4,
    );
    assert_eq!(dec.reply, None);
    assert!(matches!(dec.persist, Some(Record::Release { .. })));
    let again = d.handle(
        &request(STRANGER, ZERO, ZERO, false, &with(1, &[])),
        Port::Dhcp,
        src(),
        5,
    );
    assert_eq!(
        &again.reply.unwrap().0[16..20],
        &[172, 16, 1, 201],
        "declined address avoided"
    );
}
