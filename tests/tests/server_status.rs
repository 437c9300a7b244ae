//! `diskless-server status` against a server in a network namespace, fed
//! by a "node" in a second namespace that does what a booting node does:
//! DHCP discover/request, TFTP of the loader and the kernel, MOUNT of the
//! root export, and diskless-init's "services up" report. Also: reports
//! from strangers and malformed ones are refused, and `status` says what
//! to do when no server runs.
//!
//! Needs root (network namespaces); no route out of either namespace.

mod dhcp_support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use dhcp_support::{packet, Bed, Client, CARTMAN_MAC};
use diskless_common::report::{Report, Stage, ACK};
use diskless_nfs::rpc;
use diskless_nfs::xdr::Writer;

const SERVER: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 1);
const CARTMAN: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 10);
const STRANGER: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 99);

use diskless_qemu::is_root;

fn inventory(dir: &std::path::Path) -> String {
    format!(
        "[cluster]\nname = \"statustest\"\nserver = \"172.16.1.1\"\nsubnet = \"172.16.1.0/24\"\n\
         boot_root = \"{boot}\"\nnfs_root = \"{root}\"\nkernel = \"bzImage\"\ninitrd = \"initrd.img\"\n\
         boot_mode = \"direct\"\nnfs_options = \"vers=3,tcp\"\n\n\
         [[nodes]]\nname = \"cartman\"\nmac = \"{CARTMAN_MAC}\"\nip = \"172.16.1.10\"\n\n\
         [[nodes]]\nname = \"kenny\"\nmac = \"00:1c:c0:12:34:56\"\nip = \"172.16.1.30\"\n\n\
         [[exports]]\npath = \"{root}\"\naccess = \"ro\"\nnodes = [\"*\"]\n",
        boot = dir.join("boot").display(),
        root = dir.join("root").display(),
    )
}

/// One TFTP read of a small file (one DATA block), from `src`.
fn tftp_get(src: Ipv4Addr, name: &str) -> Vec<u8> {
    let s = UdpSocket::bind((src, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(name.as_bytes());
    rrq.extend_from_slice(b"\0octet\0");
    s.send_to(&rrq, (SERVER, 69)).unwrap();
    let mut buf = [0u8; 600];
    let (n, from) = s.recv_from(&mut buf).expect("TFTP DATA");
    assert_eq!(&buf[..4], &[0, 3, 0, 1], "TFTP answer to {name}");
    s.send_to(&[0, 4, 0, 1], from).unwrap();
    buf[4..n].to_vec()
}

/// An HTTP/1.0 GET from `src`; the whole answer.
fn http_get(src: Ipv4Addr, path: &str) -> String {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((src, 0)).into()).unwrap();
    sock.connect_timeout(
        &SocketAddr::from((SERVER, 80)).into(),
        Duration::from_secs(5),
    )
    .unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// MOUNT MNT over TCP from `src`; the mount status (0 = OK).
fn mount(src: Ipv4Addr, path: &str) -> u32 {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((src, 0)).into()).unwrap();
    sock.connect_timeout(
        &SocketAddr::from((SERVER, 2049)).into(),
        Duration::from_secs(5),
    )
    .unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rec = vec![0u8; 4];
    let mut w = Writer::new(&mut rec);
    rpc::emit_call(&mut w, 7, 100_005, 3, 1, Some(&rpc::Cred::default()));
    w.opaque(path.as_bytes());
    let n = (rec.len() - 4) as u32 | 1 << 31;
    rec[..4].copy_from_slice(&n.to_be_bytes());
    s.write_all(&rec).unwrap();
    let mut h = [0u8; 4];
    s.read_exact(&mut h).unwrap();
    let (_, len) = rpc::fragment_header(h);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    // xid, REPLY, MSG_ACCEPTED, verifier (flavor, empty body), SUCCESS, mountstat3
    u32::from_be_bytes(body[24..28].try_into().unwrap())
}

/// Sends a report from `src`; the answer, if any within 1 s.
fn report(src: Ipv4Addr, bytes: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind((src, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    s.send_to(bytes, (SERVER, 80)).unwrap();
    let mut buf = [0u8; 64];
    s.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

fn dhcp(c: &Client, mac: [u8; 6]) {
    let discover = packet(mac, 0x5151, Ipv4Addr::UNSPECIFIED, &[53, 1, 1]);
    let offer = c.exchange(&discover, 0x5151, 2, 5).expect("OFFER");
    assert_eq!(offer.yiaddr(), CARTMAN);
    let mut opts = vec![53, 1, 3, 50, 4];
    opts.extend_from_slice(&CARTMAN.octets());
    opts.extend_from_slice(&[54, 4]);
    opts.extend_from_slice(&SERVER.octets());
    let request = packet(mac, 0x5152, Ipv4Addr::UNSPECIFIED, &opts);
    c.exchange(&request, 0x5152, 5, 5).expect("ACK");
}

#[test]
fn status_follows_a_node_from_dhcp_to_init_up() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces)");
        return;
    }
    let mut bed = Bed::new("stat", CARTMAN_MAC, Some("172.16.1.10/24"));
    let dir = bed.dir.path().to_path_buf();
    std::fs::create_dir_all(dir.join("boot")).unwrap();
    std::fs::create_dir_all(dir.join("root")).unwrap();
    std::fs::write(dir.join("boot/pxelinux.0"), b"loader").unwrap();
    std::fs::write(dir.join("boot/bzImage"), b"kernel").unwrap();
    std::fs::write(dir.join("boot/initrd.img"), b"initrd").unwrap();
    let inv = dir.join("inventory.toml");
    std::fs::write(&inv, inventory(&dir)).unwrap();
    let bin = dhcp_support::server_bin();
    let (bin_s, inv_s) = (bin.display().to_string(), inv.display().to_string());
    let key = dir.join("nfs.key").display().to_string();
    let lease = bed.lease_file().display().to_string();
    let log = bed.log_path();
    let argv = [
        bin_s.as_str(),
        "serve",
        "--inventory",
        &inv_s,
        "--nfs-key",
        &key,
        "--no-portmap",
        "--lease-file",
        &lease,
    ];
    bed.server = Some(bed.srv.spawn(&argv, Some(&log)).expect("spawn server"));
    bed.wait_log("ready:", Duration::from_secs(30));
    bed.wait_log("DHCP listening", Duration::from_secs(30));
    let status_json = |bed: &Bed| -> serde_json::Value {
        let out = bed
            .srv
            .exec(&[&bin_s, "status", "--inventory", &inv_s, "--json"])
            .expect("diskless-server status --json");
        serde_json::from_str(&out).expect("JSON")
    };

    // Nothing yet: every node listed, no stage.
    let v = status_json(&bed);
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{v:#}");
    assert!(nodes.iter().all(|n| n["stage"].is_null()), "{v:#}");

    let mac: Vec<u8> = CARTMAN_MAC
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    let mac: [u8; 6] = mac.try_into().unwrap();
    bed.cli
        .run_in(move || dhcp(&Client::new("veth", 68), mac))
        .unwrap();
    let v = status_json(&bed);
    assert_eq!(v["nodes"][0]["stage"], "dhcp", "{v:#}");
    assert!(
        v["nodes"][0]["stages"]["dhcp"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("ack"),
        "{v:#}"
    );

    // iPXE's script over HTTP is a loader too.
    let script = bed.cli.run_in(|| http_get(CARTMAN, "/boot.ipxe")).unwrap();
    assert!(script.contains("#!ipxe"), "{script}");
    let v = status_json(&bed);
    assert_eq!(v["nodes"][0]["stage"], "loader", "{v:#}");
    assert_eq!(
        v["nodes"][0]["stages"]["loader"]["detail"],
        "boot.ipxe (http)"
    );

    let files = bed
        .cli
        .run_in(|| {
            (
                tftp_get(CARTMAN, "pxelinux.0"),
                tftp_get(CARTMAN, "bzImage"),
                tftp_get(CARTMAN, "initrd.img"),
            )
        })
        .unwrap();
    assert_eq!(files.1, b"kernel");
    // Recorded when the server has the last ACK, a moment after ours left.
    let t0 = std::time::Instant::now();
    let mut v = status_json(&bed);
    while v["nodes"][0]["stages"]["kernel"]["detail"] != "initrd initrd.img (tftp)"
        && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
        v = status_json(&bed);
    }
    let c = &v["nodes"][0];
    assert_eq!(c["stage"], "kernel", "{v:#}");
    assert_eq!(c["stages"]["loader"]["detail"], "pxelinux.0 (tftp)");
    assert_eq!(c["stages"]["kernel"]["detail"], "initrd initrd.img (tftp)");

    let root = dir.join("root").display().to_string();
    let st = bed.cli.run_in(move || mount(CARTMAN, &root)).unwrap();
    assert_eq!(st, 0, "MOUNT of the root export\n{}", bed.log());
    let v = status_json(&bed);
    assert_eq!(v["nodes"][0]["stage"], "root", "{v:#}\n{}", bed.log());

    // init's report: acked, and the node is "init up" with its timings.
    let mut r = Report::new(Stage::ServicesUp);
    r.host = Some("cartman".into());
    r.running = Some(3);
    r.timings = vec![("init".into(), 398), ("boot".into(), 4211)];
    let bytes = r.emit().unwrap();
    let b = bytes.clone();
    let ack = bed.cli.run_in(move || report(CARTMAN, &b)).unwrap();
    assert_eq!(ack.as_deref(), Some(ACK), "{}", bed.log());

    // A minutely "alive" report: acked, init up keeps its time.
    let mut alive = r.clone();
    alive.stage = Stage::Alive;
    let a = alive.emit().unwrap();
    let ack = bed.cli.run_in(move || report(CARTMAN, &a)).unwrap();
    assert_eq!(ack.as_deref(), Some(ACK), "{}", bed.log());
    let v = status_json(&bed);
    let c = &v["nodes"][0];
    assert!(
        c["last_seen_ms"].as_u64() >= c["stages"]["init"]["at_ms"].as_u64(),
        "{v:#}"
    );

    // Strangers and garbage: no ack, nothing recorded.
    let n = bed.cli.name().to_string();
    let st = std::process::Command::new("ip")
        .args(["-n", &n, "addr", "add", "172.16.1.99/24", "dev", "veth"])
        .status()
        .unwrap();
    assert!(st.success());
    let b = bytes.clone();
    let stranger = bed.cli.run_in(move || report(STRANGER, &b)).unwrap();
    assert_eq!(stranger, None);
    let garbage = bed
        .cli
        .run_in(|| report(CARTMAN, b"GET /status HTTP/1.0\r\n\r\n"))
        .unwrap();
    assert_eq!(garbage, None);

    let v = status_json(&bed);
    let c = &v["nodes"][0];
    assert_eq!(c["name"], "cartman");
    assert_eq!(c["stage"], "init", "{v:#}");
    assert_eq!(c["stages"]["init"]["detail"], "services up, 3 running");
    assert_eq!(c["init"]["timings_ms"]["init"], 398);
    assert_eq!(c["init"]["timings_ms"]["boot"], 4211);
    for s in ["dhcp", "loader", "kernel", "root", "init"] {
        assert!(c["stages"][s]["at_ms"].as_u64().unwrap() > 0, "{s}: {v:#}");
    }
    assert!(v["nodes"][1]["stage"].is_null(), "kenny did nothing: {v:#}");
    let log = bed.log();
    assert!(
        log.contains("report refused: not an inventory node"),
        "{log}"
    );
    assert!(
        log.contains("report refused: not a diskless report"),
        "{log}"
    );

    // The human table.
    let table = bed
        .srv
        .exec(&[&bin_s, "status", "--url", "http://172.16.1.1:80"])
        .unwrap();
    eprintln!("{table}");
    let line = table.lines().find(|l| l.starts_with("cartman")).unwrap();
    assert!(
        line.contains("172.16.1.10") && line.contains("init up"),
        "{table}"
    );
    assert!(line.contains("init 398 ms"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("kenny")), "{table}");

    // A restart keeps the history: the status file (beside the lease
    // file) is rewritten within seconds of a change, and read at start.
    let saved = dir.join("status.json");
    let t0 = std::time::Instant::now();
    while !std::fs::read_to_string(&saved).is_ok_and(|t| t.contains("services up")) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{} never written",
            saved.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = status_json(&bed)["nodes"][0]["stages"]["init"]["at_ms"].clone();
    if let Some(mut p) = bed.server.take() {
        p.kill();
    }
    let log2 = dir.join("server-restarted.log");
    bed.server = Some(bed.srv.spawn(&argv, Some(&log2)).expect("restart server"));
    let t0 = std::time::Instant::now();
    let log2_text = || std::fs::read_to_string(&log2).unwrap_or_default();
    while !log2_text().contains("ready:") {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no restart\n{}",
            log2_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let v = status_json(&bed);
    let c = &v["nodes"][0];
    assert_eq!(c["stage"], "init", "after a restart: {v:#}");
    assert_eq!(c["stages"]["init"]["at_ms"], before, "{v:#}");
    assert_eq!(c["init"]["timings_ms"]["init"], 398, "{v:#}");
    assert!(v["nodes"][1]["stage"].is_null(), "{v:#}");

    // No server: one line that says what to do, exit 2.
    if let Some(mut p) = bed.server.take() {
        p.kill();
    }
    let out = bed
        .srv
        .command(&bin_s)
        .args(["status", "--inventory", &inv_s])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no diskless-server answers at http://172.16.1.1:80") && err.contains("--url"),
        "{err}"
    );
}
