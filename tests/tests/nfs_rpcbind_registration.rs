//! When a system rpcbind (Debian's) already owns port 111, `diskless-server
//! serve` registers NFS v3 and MOUNT v3 with it instead of failing, and a
//! client that only knows the server's address (libnfs through the
//! portmapper) mounts and lists the export.
//!
//! Runs in a private network namespace with a private /run (so the
//! rpcbind socket is never the host's). Needs root.

mod nfs_support;

use std::path::Path;
use std::time::Duration;

use diskless_qemu::is_root;
use diskless_qemu::netns::Netns;
use nfs_support::server_bin;

fn inventory(dir: &Path) -> String {
    format!(
        r#"[cluster]
name = "rpcbind"
server = "127.0.0.254"
subnet = "127.0.0.0/8"
boot_root = "{boot}"
nfs_root = "{root}"
kernel = "bzImage"

[[nodes]]
name = "host"
mac = "52:54:00:00:00:01"
ip = "127.0.0.1"

[[exports]]
path = "{root}"
access = "ro"
nodes = ["*"]
"#,
        boot = dir.join("boot").display(),
        root = dir.join("root").display(),
    )
}

#[test]
fn registers_with_a_running_rpcbind() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespace, private /run)");
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("boot"))?;
    std::fs::create_dir_all(dir.join("root"))?;
    std::fs::write(dir.join("root/hello.txt"), b"hello\n")?;
    std::fs::write(dir.join("inventory.toml"), inventory(dir))?;
    let ns = Netns::new("nfsrpcb")?;
    ns.exec(&["ip", "link", "set", "lo", "up"])?;

    // rpcbind first (it takes 111), then our server in the same mount
    // namespace so it finds /run/rpcbind.sock.
    let rpcbind_pid = dir.join("rpcbind.pid");
    let log = dir.join("server.log");
    let script = format!(
        "set -e; mount -t tmpfs -o mode=755 tmpfs /run; \
         rpcbind -f & echo $! > {pid}; \
         for i in $(seq 100); do [ -S /run/rpcbind.sock ] && break; sleep 0.1; done; \
         exec {bin} serve --inventory {inv} --no-tftp --no-http --no-dhcp \
           --listen 127.0.0.1 --nfs-port 2049 --nfs-key {key}",
        pid = rpcbind_pid.display(),
        bin = server_bin().display(),
        inv = dir.join("inventory.toml").display(),
        key = dir.join("nfs.key").display(),
    );
    let argv = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ];
    let mut server = ns.spawn(&argv, Some(&log))?;
    let mut ready = false;
    for _ in 0..300 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("ready:") {
            ready = true;
            break;
        }
        if server.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = (|| -> anyhow::Result<()> {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        anyhow::ensure!(ready, "server did not start next to rpcbind:\n{text}");
        anyhow::ensure!(
            text.contains("registered with rpcbind"),
            "no registration in the log:\n{text}"
        );
        // rpcbind now answers for us.
        let map = ns.exec(&["rpcinfo", "-p", "127.0.0.1"])?;
        for (prog, proto) in [
            ("100003", "tcp"),
            ("100003", "udp"),
            ("100005", "tcp"),
            ("100005", "udp"),
        ] {
            let found = map.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() >= 4 && f[0] == prog && f[1] == "3" && f[2] == proto && f[3] == "2049"
            });
            anyhow::ensure!(found, "{prog} v3 {proto} not registered:\n{map}");
        }
        // A client that asks the portmapper for both ports.
        let url = format!(
            "nfs://127.0.0.1{}/hello.txt?version=3",
            dir.join("root").display()
        );
        let out = ns.exec(&["nfs-cat", &url])?;
        anyhow::ensure!(out == "hello\n", "nfs-cat through rpcbind read {out:?}");
        Ok(())
    })();
    server.kill();
    if let Ok(pid) = std::fs::read_to_string(&rpcbind_pid) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    drop(ns);
    result
}
