//! Hostile names never leave the boot root, over TFTP and HTTP; refusals
//! are logged with the client address.

mod tftp_support;

use std::os::unix::fs::symlink;

use tftp_support::*;

const NOT_FOUND: Option<u16> = Some(1);
const ACCESS: Option<u16> = Some(2);

#[test]
fn traversal_names_are_refused_over_tftp() {
    let s = Server::start(&[]);
    s.put("ok", b"fine");
    let outside = TempDir::new("outside");
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    symlink(
        outside.path().join("secret"),
        s.root.path().join("abs-link"),
    )
    .unwrap();
    symlink(
        "../../../../../../../../etc/passwd",
        s.root.path().join("rel-link"),
    )
    .unwrap();
    symlink("ok", s.root.path().join("good-link")).unwrap();
    let c = RawClient::new(s.tftp_port);

    assert_eq!(c.first_error(b"../etc/passwd"), ACCESS);
    assert_eq!(c.first_error(b"../../../../../../etc/passwd"), ACCESS);
    assert_eq!(c.first_error(b"..\\..\\..\\etc\\passwd"), ACCESS);
    assert_eq!(c.first_error(b"pxelinux.cfg/../../etc/passwd"), ACCESS);
    // An absolute name is taken relative to the root: no such file there.
    assert_eq!(c.first_error(b"/etc/passwd"), NOT_FOUND);
    // TFTP names are not URL-decoded: this is a literal (missing) name.
    assert_eq!(c.first_error(b"%2e%2e%2fetc%2fpasswd"), NOT_FOUND);
    assert_eq!(c.first_error(b"abs-link"), ACCESS);
    assert_eq!(c.first_error(b"rel-link"), ACCESS);
    assert_eq!(
        c.first_error(b"pxelinux.cfg"),
        ACCESS,
        "directories are refused"
    );
    // Links that stay inside are fine.
    assert_eq!(c.fetch(b"good-link").unwrap(), b"fine");
    assert!(
        s.log_text().contains("127.0.0.1"),
        "refusals name the client"
    );
}

#[test]
fn device_files_and_fifos_are_refused() {
    let s = Server::start(&[]);
    let c = RawClient::new(s.tftp_port);
    let fifo = s.root.path().join("fifo");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert_eq!(c.first_error(b"fifo"), ACCESS);
    // A character device needs root to create; CI runs as root.
    let dev = s.root.path().join("null");
    if std::process::Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|st| st.success())
    {
        assert_eq!(c.first_error(b"null"), ACCESS);
    }
}

#[test]
fn write_requests_are_refused() {
    let s = Server::start(&[]);
    let mut v = Vec::new();
    diskless_tftp::wire::emit_request(&mut v, true, b"evil", diskless_tftp::wire::Mode::Octet, &[]);
    let c = RawClient::new(s.tftp_port);
    c.sock.send_to(&v, c.server).unwrap();
    let (b, _) = c.recv().unwrap();
    assert!(matches!(
        diskless_tftp::wire::Packet::parse(&b).unwrap(),
        diskless_tftp::wire::Packet::Error {
            code: diskless_tftp::wire::ErrorCode::AccessViolation,
            ..
        }
    ));
    assert!(!s.root.path().join("evil").exists());
}

#[test]
fn malformed_requests_get_an_error_not_a_crash() {
    let s = Server::start(&[]);
    let c = RawClient::new(s.tftp_port);
    for junk in [
        &b"\x00\x01noterm"[..],
        b"\x00\x01f\x00mail\x00",
        b"\x00",
        b"\x00\x09ab",
    ] {
        c.sock.send_to(junk, c.server).unwrap();
    }
    // Still serving.
    s.put("after", b"alive");
    let c2 = RawClient::new(s.tftp_port);
    assert_eq!(c2.fetch(b"after").unwrap(), b"alive");
}

#[test]
fn traversal_is_refused_over_http() {
    let s = Server::start(&[]);
    s.put("ok", b"fine");
    let outside = TempDir::new("outside-http");
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    symlink(
        outside.path().join("secret"),
        s.root.path().join("abs-link"),
    )
    .unwrap();
    for path in [
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/..%5c..%5cetc%5cpasswd",
        "/abs-link",
    ] {
        let r = s.http(path, &[]);
        assert_eq!(r.status, 403, "{path}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("root:"),
            "{path}"
        );
    }
    assert_eq!(s.http("/etc/passwd", &[]).status, 404);
    assert_eq!(s.http("/ok", &[]).body, b"fine");
}
