//! 10 % packet loss each way on a veth between two namespaces of ours:
//! transfers still complete with identical bytes. Needs root. Loss comes
//! from `tc … netem loss 10%`; kernels without sch_netem (like this
//! project's VMs) get the same 10 % from an nftables `numgen random` drop
//! rule on each namespace's incoming UDP (dropping on output would
//! make the sender's `sendto` fail with EPERM instead of losing packets).

mod tftp_support;

use diskless_qemu::netns::Netns;
use tftp_support::*;

#[test]
fn transfer_completes_under_10_percent_loss() {
    let server_ns = Netns::new("tftploss").expect("network namespace (run as root)");
    // Every Netns carries a bridge with a server address; give the client's
    // an unrelated one so 172.16.1.1 is only the server's.
    let client_ns = Netns::with_server("tftplossc", "10.254.254.1/24")
        .expect("network namespace (run as root)");
    server_ns
        .add_veth_peer("tl0", &client_ns, "tl1", Some("172.16.1.2/24"))
        .unwrap();
    for (ns, dev) in [(&server_ns, "tl0"), (&client_ns, "tl1")] {
        lose_10_percent(ns, dev);
    }
    let root = TempDir::new("loss");
    let data = pattern(128 * 1024 + 77, 31);
    std::fs::write(root.path().join("kernel"), &data).unwrap();
    let log = root.path().join("serve.log");
    let bin = server_bin();
    let inv = seed_inventory();
    let mut argv = vec![
        bin.to_str().unwrap(),
        "serve",
        "--inventory",
        inv.to_str().unwrap(),
        "--boot-root",
        root.path().to_str().unwrap(),
        "--listen",
        "172.16.1.1",
        "--tftp-port",
        "69",
        "--http-port",
        "8080",
        "--tftp-timeout-ms",
        "200",
        "--tftp-retries",
        "30",
    ];
    argv.extend_from_slice(ONLY_FILES);
    let _server = server_ns.spawn(&argv, Some(&log)).unwrap();
    // Wait until it listens (HTTP is up once TFTP is bound).
    let mut up = false;
    for _ in 0..200 {
        if client_ns
            .exec(&[
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "--max-time",
                "2",
                "http://172.16.1.1:8080/status",
            ])
            .is_ok()
        {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        up,
        "server did not come up: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // The lossy run uses tftp-hpa: curl gives up when its first packet is
    // lost ("getpeername() failed"), and atftp aborts on a retransmitted
    // OACK ("unexpected OACK") when its ACK 0 was the one lost.
    let out = root.path().join("got-hpa");
    let res = client_ns.exec(&[
        "timeout",
        "300",
        "tftp",
        "-m",
        "binary",
        "172.16.1.1",
        "-c",
        "get",
        "kernel",
        out.to_str().unwrap(),
    ]);
    assert!(res.is_ok(), "tftp-hpa: {res:?}");
    assert!(
        std::fs::read(&out).unwrap() == data,
        "tftp-hpa bytes differ"
    );
}

fn lose_10_percent(ns: &Netns, dev: &str) {
    let netem = ns.exec(&[
        "tc", "qdisc", "add", "dev", dev, "root", "netem", "loss", "10%",
    ]);
    if netem.is_ok() {
        return;
    }
    eprintln!("netem unavailable ({netem:?}); using nftables numgen");
    ns.exec(&["nft", "add", "table", "inet", "loss"])
        .expect("nft (install nftables) or sch_netem");
    ns.exec(&[
        "nft",
        "add chain inet loss in { type filter hook input priority 0 ; }",
    ])
    .unwrap();
    ns.exec(&[
        "nft",
        "add rule inet loss in meta l4proto udp numgen random mod 10 0 drop",
    ])
    .unwrap();
}
