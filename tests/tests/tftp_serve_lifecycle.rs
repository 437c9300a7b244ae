//! `diskless-server serve` as an admin meets it: a taken port, SIGHUP with
//! a good and a broken inventory, SIGTERM, systemd readiness.

mod tftp_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tftp_support::*;

#[test]
fn taken_port_is_refused_with_a_clear_message() {
    let s = Server::start(&[]);
    let out = Command::new(server_bin())
        .args(["serve", "--inventory"])
        .arg(seed_inventory())
        .arg("--boot-root")
        .arg(s.root.path())
        .args([
            "--listen",
            "127.0.0.1",
            "--tftp-port",
            &s.tftp_port.to_string(),
            "--http-port",
            "0",
        ])
        .args(ONLY_FILES)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already taken") && err.contains("--tftp-port"),
        "{err}"
    );
}

#[test]
fn missing_boot_root_is_a_clear_error() {
    let out = Command::new(server_bin())
        .args(["serve", "--inventory"])
        .arg(seed_inventory())
        .args([
            "--boot-root",
            "/nonexistent/diskless-boot",
            "--listen",
            "127.0.0.1",
        ])
        .args(["--tftp-port", "0", "--http-port", "0"])
        .args(ONLY_FILES)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--boot-root"), "{err}");
}

#[test]
fn sighup_reloads_and_keeps_old_inventory_on_errors() {
    let dir = TempDir::new("hup");
    let inv = dir.path().join("inv.toml");
    let seed = std::fs::read_to_string(seed_inventory()).unwrap();
    std::fs::write(&inv, &seed).unwrap();
    let s = Server::start_with(&inv, &[]);
    assert_eq!(s.status()["nodes"], 3);

    // A broken inventory: refused, old one keeps serving.
    std::fs::write(&inv, "[cluster]\nname = 3\n").unwrap();
    s.signal("HUP");
    s.wait_log("reload refused");
    assert_eq!(s.status()["nodes"], 3);
    let c = RawClient::new(s.tftp_port);
    assert!(c.fetch(b"pxelinux.cfg/01-00-18-f3-70-91-b9").is_ok());

    // A valid new inventory where kenny got a new NIC: picked up.
    let moved = seed.replace("00:1c:c0:12:34:56", "00:1c:c0:12:34:57");
    assert_ne!(moved, seed);
    std::fs::write(&inv, moved).unwrap();
    s.signal("HUP");
    s.wait_log("inventory reloaded");
    assert_eq!(c.first_error(b"pxelinux.cfg/01-00-1c-c0-12-34-56"), Some(1));
    let cfg = c.fetch(b"pxelinux.cfg/01-00-1c-c0-12-34-57").unwrap();
    assert!(String::from_utf8(cfg).unwrap().contains("kenny"));
}

#[test]
fn sighup_with_boot_root_strips_the_new_inventory_root() {
    // Files come from --boot-root; clients name them under the inventory's
    // boot_root (the seed's `/tftpboot/pxelinux.0`). When a reload moves
    // boot_root, the new prefix is the one stripped.
    let dir = TempDir::new("hup-root");
    let inv = dir.path().join("inv.toml");
    let seed = std::fs::read_to_string(seed_inventory()).unwrap();
    std::fs::write(&inv, &seed).unwrap();
    let s = Server::start_with(&inv, &[]);
    s.put("pxelinux.0", b"pxe");
    let c = RawClient::new(s.tftp_port);
    assert_eq!(c.fetch(b"/tftpboot/pxelinux.0").unwrap(), b"pxe");

    let moved = seed.replace(
        "boot_root = \"/tftpboot\"",
        "boot_root = \"/srv/diskless-boot\"",
    );
    assert_ne!(moved, seed);
    std::fs::write(&inv, moved).unwrap();
    s.signal("HUP");
    s.wait_log("inventory reloaded");
    assert_eq!(
        c.fetch(b"/srv/diskless-boot/pxelinux.0").unwrap(),
        b"pxe",
        "new boot_root prefix stripped; files still from --boot-root"
    );
    assert_eq!(c.fetch(b"pxelinux.0").unwrap(), b"pxe");
    // The old prefix is now just a directory name that does not exist.
    assert_eq!(c.first_error(b"/tftpboot/pxelinux.0"), Some(1));
}

#[test]
fn sigterm_stops_cleanly() {
    let mut s = Server::start(&[]);
    s.signal("TERM");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            assert!(st.success(), "exit status {st}");
            break;
        }
        assert!(Instant::now() < until, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn notifies_systemd_when_sockets_are_bound() {
    let dir = TempDir::new("notify");
    let sock_path = dir.path().join("notify.sock");
    let rx = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let root = TempDir::new("notify-root");
    let mut child = Command::new(server_bin())
        .args(["serve", "--inventory"])
        .arg(seed_inventory())
        .arg("--boot-root")
        .arg(root.path())
        .args([
            "--listen",
            "127.0.0.1",
            "--tftp-port",
            "0",
            "--http-port",
            "0",
        ])
        .env("NOTIFY_SOCKET", &sock_path)
        .args(ONLY_FILES)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 128];
    let n = rx.recv(&mut buf);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert_eq!(&buf[..n.expect("READY=1 within 20 s")], b"READY=1");
}
