//! Real TFTP clients (curl, atftp, tftp-hpa) fetch the same bytes as on
//! disk from `diskless-server serve` on loopback.

mod tftp_support;

use std::process::Command;

use tftp_support::*;

fn curl(s: &Server, name: &str, blksize: Option<u32>, out: &std::path::Path) -> (bool, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "120", "-o"]).arg(out);
    if let Some(b) = blksize {
        c.args(["--tftp-blksize", &b.to_string()]);
    }
    c.arg(s.tftp_url(name));
    sh(&mut c)
}

/// tftp-hpa fetches `name` in `mode` ("binary" or "ascii") into `out`.
fn tftp_hpa(s: &Server, mode: &str, name: &str, out: &std::path::Path) -> (bool, String) {
    let port = s.tftp_port.to_string();
    sh(Command::new("timeout")
        .args([
            "60",
            "tftp",
            "127.0.0.1",
            &port,
            "-m",
            mode,
            "-c",
            "get",
            name,
        ])
        .arg(out))
}

#[test]
fn curl_fetches_identical_bytes_at_blksize_512_and_1468() {
    let s = Server::start(&[]);
    let data = pattern(3_000_001, 1);
    s.put("linux-cls1", &data);
    let out = TempDir::new("curl");
    for b in [None, Some(512), Some(1468)] {
        let f = out.path().join("k");
        let (ok, log) = curl(&s, "linux-cls1", b, &f);
        assert!(ok, "curl blksize {b:?}: {log}");
        assert!(
            std::fs::read(&f).unwrap() == data,
            "bytes differ at blksize {b:?}"
        );
    }
}

#[test]
fn seed_style_absolute_name_is_served_from_the_root() {
    // The seed's dhcpd.conf says filename "/tftpboot/pxelinux.0".
    let s = Server::start(&[]);
    s.put("pxelinux.0", b"loader");
    let out = TempDir::new("seed");
    let f = out.path().join("p");
    let (ok, log) = curl(&s, "/tftpboot/pxelinux.0", None, &f);
    assert!(ok, "{log}");
    assert_eq!(std::fs::read(&f).unwrap(), b"loader");
}

#[test]
fn atftp_with_windowsize_1_16_64() {
    let s = Server::start(&[]);
    let data = pattern(2_500_000, 2);
    s.put("initrd.img", &data);
    let out = TempDir::new("atftp");
    for w in [1, 16, 64] {
        let f = out.path().join(format!("w{w}"));
        let (ok, log) = sh(Command::new("timeout")
            .args(["120", "atftp", "--option"])
            .arg(format!("windowsize {w}"))
            .args(["--option", "blksize 1468", "-g", "-r", "initrd.img", "-l"])
            .arg(&f)
            .args(["127.0.0.1", &s.tftp_port.to_string()]));
        assert!(ok, "atftp windowsize {w}: {log}");
        assert!(
            std::fs::read(&f).unwrap() == data,
            "bytes differ at windowsize {w}"
        );
    }
}

#[test]
fn tftp_hpa_binary_and_netascii() {
    let s = Server::start(&[]);
    let data = pattern(700_000, 3);
    s.put("bin", &data);
    let text = b"line one\nline two\r\nbare\rcr\n".repeat(100);
    s.put("text", &text);
    let out = TempDir::new("hpa");
    let f = out.path().join("bin");
    let (ok, log) = tftp_hpa(&s, "binary", "bin", &f);
    assert!(ok && !log.contains("Error"), "tftp-hpa: {log}");
    assert!(std::fs::read(&f).unwrap() == data);
    // netascii: the client converts CR LF back, so the text round-trips.
    let f = out.path().join("text");
    let (ok, log) = tftp_hpa(&s, "ascii", "text", &f);
    assert!(ok && !log.contains("Error"), "tftp-hpa ascii: {log}");
    assert_eq!(std::fs::read(&f).unwrap(), text);
}

#[test]
fn zero_byte_and_exact_multiples_of_blksize() {
    let s = Server::start(&[]);
    let out = TempDir::new("sizes");
    // curl 7.88 fails on any 0-byte TFTP file (also against atftpd:
    // "getpeername() failed"), so the empty file is fetched with tftp-hpa.
    s.put("empty", b"");
    let f = out.path().join("empty");
    let (ok, log) = tftp_hpa(&s, "binary", "empty", &f);
    assert!(ok && !log.contains("Error"), "tftp-hpa empty: {log}");
    assert_eq!(std::fs::metadata(&f).unwrap().len(), 0);
    let cases: [(&str, usize, Option<u32>); 3] = [
        ("x512", 512 * 8, None),
        ("x1468", 1468 * 5, Some(1468)),
        ("one", 1, Some(1468)),
    ];
    for (name, len, b) in cases {
        let data = pattern(len, len as u64 + 7);
        s.put(name, &data);
        let f = out.path().join(name);
        let (ok, log) = curl(&s, name, b, &f);
        assert!(ok, "{name}: {log}");
        assert_eq!(std::fs::read(&f).unwrap().len(), len, "{name}");
        assert!(std::fs::read(&f).unwrap() == data, "{name}");
    }
    // Our own lockstep client checks the final empty block too.
    let c = RawClient::new(s.tftp_port);
    assert_eq!(c.fetch(b"x512").unwrap().len(), 512 * 8);
    assert_eq!(c.fetch(b"empty").unwrap().len(), 0);
}

#[test]
fn block_numbers_roll_over_past_32_mib_at_blksize_512() {
    let s = Server::start(&[]);
    // 65535 blocks of 512 = 32 MiB - 512; go well past it.
    let data = pattern(33 << 20, 5);
    s.put("big", &data);
    let c = RawClient::new(s.tftp_port);
    let got = c.fetch(b"big").expect("rollover fetch");
    assert!(got == data, "bytes differ after rollover");
    let out = TempDir::new("roll");
    let f = out.path().join("big");
    let (ok, log) = curl(&s, "big", None, &f);
    assert!(ok, "curl: {log}");
    assert!(
        std::fs::read(&f).unwrap() == data,
        "curl bytes differ after rollover"
    );
}

#[test]
fn missing_file_is_a_tftp_error() {
    let s = Server::start(&[]);
    let c = RawClient::new(s.tftp_port);
    assert_eq!(c.first_error(b"no-such-kernel"), Some(1));
    let out = TempDir::new("missing");
    let (ok, _) = curl(&s, "no-such-kernel", None, &out.path().join("x"));
    assert!(!ok, "curl must fail on a missing file");
}

#[test]
fn generated_pxelinux_config_for_an_inventory_node() {
    let s = Server::start(&[]);
    let c = RawClient::new(s.tftp_port);
    let cfg = c.fetch(b"pxelinux.cfg/01-00-18-f3-70-91-b9").unwrap();
    let cfg = String::from_utf8(cfg).unwrap();
    assert!(cfg.contains("KERNEL linux-cls1"), "{cfg}");
    assert!(cfg.contains("ip=172.16.1.10:"), "{cfg}");
    // The by-address fallback name gives the same text.
    let by_ip = c.fetch(b"pxelinux.cfg/AC10010A").unwrap();
    assert_eq!(by_ip, cfg.as_bytes());
    // Unknown MAC: pxelinux falls back, and `default` only exists if on disk.
    assert_eq!(c.first_error(b"pxelinux.cfg/01-02-00-00-00-00-01"), Some(1));
    assert_eq!(c.first_error(b"pxelinux.cfg/default"), Some(1));
    s.put("pxelinux.cfg/default", b"DEFAULT local\n");
    assert_eq!(
        c.fetch(b"pxelinux.cfg/default").unwrap(),
        b"DEFAULT local\n"
    );
}
