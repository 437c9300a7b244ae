//! HTTP serves the same boot root and generated files as TFTP: whole
//! files, ranges, HEAD, iPXE scripts and `GET /status`.

mod tftp_support;

use tftp_support::*;

#[test]
fn whole_file_with_content_length() {
    let s = Server::start(&[]);
    let data = pattern(1_234_567, 21);
    s.put("linux-cls1", &data);
    let r = s.http("/linux-cls1", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1234567"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert!(r.body == data);
    // The seed-style absolute name works over HTTP too.
    assert!(s.http("/tftpboot/linux-cls1", &[]).body == data);
}

#[test]
fn range_requests() {
    let s = Server::start(&[]);
    let data = pattern(10_000, 22);
    s.put("initrd", &data);
    let r = s.http("/initrd", &["Range: bytes=100-199"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-199/10000"));
    assert_eq!(r.header("content-length"), Some("100"));
    assert_eq!(r.body, &data[100..200]);
    let r = s.http("/initrd", &["Range: bytes=-10"]);
    assert_eq!(r.body, &data[9990..]);
    let r = s.http("/initrd", &["Range: bytes=9000-"]);
    assert_eq!(r.body, &data[9000..]);
    let r = s.http("/initrd", &["Range: bytes=20000-"]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10000"));
}

#[test]
fn head_gives_length_without_body() {
    let s = Server::start(&[]);
    s.put("k", &pattern(4096, 23));
    let r = http_get(s.http_port, "HEAD", "/k", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("4096"));
    assert!(r.body.is_empty());
    assert_eq!(http_get(s.http_port, "POST", "/k", &[]).status, 405);
}

#[test]
fn missing_file_is_404() {
    let s = Server::start(&[]);
    assert_eq!(s.http("/nope", &[]).status, 404);
}

#[test]
fn ipxe_script_by_mac_and_pxelinux_config() {
    let s = Server::start(&[]);
    let r = s.http("/boot.ipxe?mac=00:1c:c0:12:34:56", &[]);
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.starts_with("#!ipxe"), "{text}");
    assert!(
        text.contains(&format!("http://172.16.1.1:{}/linux-cls2", s.http_port)),
        "{text}"
    );
    // Dash form and percent-encoded colons work too.
    let r2 = s.http("/boot.ipxe?mac=00%3a1c%3ac0%3a12%3a34%3a56", &[]);
    assert_eq!(String::from_utf8(r2.body).unwrap(), text);
    // Unknown MAC, and by client address (127.0.0.1 is no node): 404.
    assert_eq!(s.http("/boot.ipxe?mac=02:00:00:00:00:01", &[]).status, 404);
    assert_eq!(s.http("/boot.ipxe", &[]).status, 404);
    let r = s.http("/pxelinux.cfg/01-00-18-f3-70-91-b9", &[]);
    assert!(String::from_utf8(r.body)
        .unwrap()
        .contains("KERNEL linux-cls1"));
}

#[test]
fn status_is_json() {
    let s = Server::start(&[]);
    let st = s.status();
    assert_eq!(st["cluster"], "vlug");
    assert_eq!(st["nodes"], 3);
    assert_eq!(st["tftp"]["active_sessions"], 0);
}
