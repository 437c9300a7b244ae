//! Who gets what: firmware and loaders, unknown MACs, relays, proxy mode,
//! malformed packets and pool checks.

use super::*;

#[test]
fn firmware_picks_the_loader() {
    let mut d = server(DhcpMode::Authoritative, false);
    let uefi = [&[60, 9][..], b"PXEClient", &[93, 2, 0, 7]].concat();
    let (r, _) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[&uefi])),
        Port::Dhcp,
    );
    assert_eq!(opt(&r, 67), Some(&b"syslinux.efi"[..]));
    let ipxe = [&[77, 4][..], b"iPXE", &[93, 2, 0, 0]].concat();
    let (r, _) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[&ipxe])),
        Port::Dhcp,
    );
    let url = b"http://172.16.1.1:8080/boot.ipxe?mac=00-18-f3-70-91-b9";
    assert_eq!(opt(&r, 67), Some(&url[..]));
    assert_eq!(
        &r[108..108 + url.len()],
        url,
        "file field holds the URL too"
    );
    assert_eq!(r[108 + url.len()], 0);
}

#[test]
fn ipxe_without_scripts_gets_the_bios_loader() {
    // `ipxe_scripts = false` (the seed's path): iPXE is booted like plain
    // PXE firmware, with pxelinux over TFTP.
    let mut cfg = config(DhcpMode::Authoritative, false);
    cfg.ipxe_scripts = false;
    let mut d = Dhcp::new(cfg, inventory(), &[]).unwrap();
    let ipxe = [&[77, 4][..], b"iPXE", &[93, 2, 0, 0]].concat();
    let (r, _) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[&ipxe])),
        Port::Dhcp,
    );
    assert_eq!(opt(&r, 67), Some(&b"pxelinux.0"[..]));
    // iPXE on UEFI (arch 7) gets the UEFI loader.
    let ipxe_efi = [&[77, 4][..], b"iPXE", &[93, 2, 0, 7]].concat();
    let (r, _) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[&ipxe_efi])),
        Port::Dhcp,
    );
    assert_eq!(opt(&r, 67), Some(&b"syslinux.efi"[..]));
}

#[test]
fn unknown_mac_without_pool_is_ignored_and_counted() {
    let mut d = server(DhcpMode::Authoritative, false);
    for _ in 0..3 {
        assert_eq!(
            d.handle(
                &request(STRANGER, ZERO, ZERO, false, &with(1, &[])),
                Port::Dhcp,
                src(),
                0
            ),
            Default::default()
        );
    }
    assert_eq!(
        d.events
            .counters
            .ignored_unknown
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[test]
fn relayed_requests_get_the_relays_subnet() {
    let mut d = server(DhcpMode::Authoritative, true);
    let relay = [10, 9, 0, 1];
    let (r, dest) = reply_of(
        &mut d,
        &request(STRANGER, ZERO, relay, false, &with(1, &[])),
        Port::Dhcp,
    );
    assert_eq!(dest, Dest::Relay(Ipv4Addr::new(10, 9, 0, 1)));
    assert_eq!(ip(&r, 16), [10, 9, 0, 100]);
    assert_eq!(ip(&r, 24), relay, "giaddr kept");
    assert_eq!(opt(&r, 3), Some(&relay[..]));
    // A known node behind the relay gets its static address.
    let remote = [0x00, 0x18, 0xf3, 0x70, 0x91, 0xc1];
    let (r, _) = reply_of(
        &mut d,
        &request(remote, ZERO, relay, false, &with(1, &[])),
        Port::Dhcp,
    );
    assert_eq!(ip(&r, 16), [10, 9, 0, 20]);
    // NAKs through a relay carry the broadcast bit.
    let nak = request(
        remote,
        ZERO,
        relay,
        false,
        &with(3, &[&[50, 4, 10, 9, 0, 99]]),
    );
    let (r, dest) = reply_of(&mut d, &nak, Port::Dhcp);
    assert_eq!(
        (opt(&r, 53), dest),
        (Some(&[6][..]), Dest::Relay(Ipv4Addr::new(10, 9, 0, 1)))
    );
    assert_eq!(&r[10..12], &[0x80, 0]);
    // Unknown relay subnet: silence.
    assert_eq!(
        d.handle(
            &request(STRANGER, ZERO, [192, 168, 9, 1], false, &with(1, &[])),
            Port::Dhcp,
            src(),
            0
        ),
        Default::default()
    );
}

#[test]
fn proxy_mode_offers_boot_info_only() {
    let mut d = server(DhcpMode::Proxy, false);
    let (r, dest) = reply_of(
        &mut d,
        &request(CARTMAN, ZERO, ZERO, false, &with(1, &[PXE_BIOS])),
        Port::Dhcp,
    );
    assert_eq!(dest, Dest::Broadcast);
    assert_eq!(opt(&r, 53), Some(&[2][..]));
    assert_eq!(ip(&r, 16), ZERO, "proxy offers no address");
    assert_eq!(ip(&r, 20), SERVER);
    assert_eq!(opt(&r, 60), Some(&b"PXEClient"[..]));
    assert_eq!(opt(&r, 43), Some(&[6, 1, 8, 255][..]));
    assert_eq!(opt(&r, 67), Some(&b"pxelinux.0"[..]));
    assert_eq!(opt(&r, 51), None);
    // Non-PXE DHCP and REQUESTs on 67 belong to the site server.
    assert_eq!(
        d.handle(
            &request(CARTMAN, ZERO, ZERO, false, &with(1, &[])),
            Port::Dhcp,
            src(),
            0
        ),
        Default::default()
    );
    assert_eq!(
        d.handle(
            &request(CARTMAN, ZERO, ZERO, false, &with(3, &[PXE_BIOS])),
            Port::Dhcp,
            src(),
            0
        ),
        Default::default()
    );
    // Port 4011: ACK straight back to the sender.
    let from = SocketAddrV4::new(Ipv4Addr::new(172, 16, 1, 50), 68);
    let out = d.handle(
        &request(
            CARTMAN,
            [172, 16, 1, 50],
            ZERO,
            false,
            &with(3, &[PXE_BIOS]),
        ),
        Port::Pxe,
        from,
        0,
    );
    let (r, dest) = out.reply.unwrap();
    assert_eq!(dest, Dest::Source(from));
    assert_eq!(opt(&r, 53), Some(&[5][..]));
    assert_eq!(ip(&r, 12), [172, 16, 1, 50]);
    assert_eq!(opt(&r, 67), Some(&b"pxelinux.0"[..]));
}

#[test]
fn malformed_packets_are_counted_not_answered() {
    let mut d = server(DhcpMode::Authoritative, true);
    let good = request(CARTMAN, ZERO, ZERO, false, &with(1, &[]));
    for bad in [
        &good[..100],
        &request(CARTMAN, ZERO, ZERO, false, &[])[..],
        &request(CARTMAN, ZERO, ZERO, false, &[53, 1, 1, 80, 3, 0, 0, 0]),
    ] {
        assert_eq!(d.handle(bad, Port::Dhcp, src(), 0), Default::default());
    }
    let mut reply = good.clone();
    reply[0] = 2;
    assert_eq!(d.handle(&reply, Port::Dhcp, src(), 0), Default::default());
    assert_eq!(d.events.malformed(), 4);
}

#[test]
fn pool_overlapping_a_node_is_rejected() {
    let mut cfg = config(DhcpMode::Authoritative, true);
    cfg.subnets[0].pool = Some(PoolRange {
        start: Ipv4Addr::new(172, 16, 1, 5),
        end: Ipv4Addr::new(172, 16, 1, 20),
    });
    let err = Dhcp::new(cfg, inventory(), &[]).err().unwrap();
    assert!(err.to_string().contains("cartman"), "{err}");
}
