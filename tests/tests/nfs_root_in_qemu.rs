//! A QEMU node (the test bed's custom kernel) boots with its root over
//! NFSv3 from `diskless-server serve`, mounts the writable /culc export,
//! writes, renames, removes and reads back, lists /usr exactly as the host
//! sees it, and keeps working while the server is killed and restarted.
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

mod nfs_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use diskless_qemu::is_root;
use diskless_qemu::netns::{Netns, Proc};
use diskless_qemu::vm::{Nic, NicModel, Vm, VmConfig};
use diskless_qemu::{kernel, rootfs, test_lock};
use nfs_support::server_bin;

const NODE_IP: &str = "172.16.1.10";

/// The guest's PID 1: checks, then a read+write round every second.
const CHECK_SCRIPT: &str = r#"#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
echo "NFSCHECK-ROOT $(grep ' / ' /proc/mounts)"
if mount -t nfs -o vers=3,proto=@PROTO@,nolock,addr=172.16.1.1 172.16.1.1:@CULC@ /mnt; then
  cd /mnt
  echo one > a && echo two >> a && mv a b && [ "$(cat b)" = "$(printf 'one\ntwo')" ] \
    && mkdir d && mv b d/c && ln -s d/c l && [ "$(cat l)" = "$(printf 'one\ntwo')" ] \
    && rm l d/c && rmdir d && [ -z "$(ls -A)" ] && echo NFSCHECK-CULC-OK
  dd if=/dev/zero of=big bs=64k count=64 2>/dev/null && [ "$(wc -c < big)" = 4194304 ] && echo NFSCHECK-BIG-OK
  cd /
else
  echo NFSCHECK-MOUNT-FAIL
fi
echo "NFSCHECK-LSR $(ls -lnR --time-style=+%s /usr | md5sum | cut -c1-32)"
i=0
while true; do
  i=$((i+1))
  if ls /usr/bin > /dev/null && cat /etc/hostname > /dev/null && echo $i > /mnt/round \
      && [ "$(cat /mnt/round)" = "$i" ]; then
    echo "NFSCHECK-ROUND-$i-OK"
  else
    echo "NFSCHECK-ROUND-$i-FAIL"
  fi
  sleep 1
done
"#;

fn start_server(ns: &Netns, dir: &Path, n: u32) -> Proc {
    let bin = server_bin();
    let inv = dir.join("inventory.toml").display().to_string();
    let key = dir.join("nfs.key").display().to_string();
    let log = dir.join(format!("server-{n}.log"));
    let argv = [
        bin.to_str().unwrap(),
        "serve",
        "--inventory",
        &inv,
        "--no-tftp",
        "--no-http",
        "--no-dhcp",
        "--listen",
        "172.16.1.1",
        "--nfs-key",
        &key,
    ];
    let p = ns.spawn(&argv, Some(&log)).expect("spawn diskless-server");
    // Wait until it serves (bounded).
    for _ in 0..200 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("ready:") {
            return p;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "server did not start:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

fn round_after(vm: &Vm, after: u32) -> Option<u32> {
    vm.console_text()
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("NFSCHECK-ROUND-")?
                .strip_suffix("-OK")?
                .parse()
                .ok()
        })
        .filter(|n| *n > after)
        .max()
}

fn boot(proto: &str) -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, QEMU taps)");
        return Ok(());
    }
    let _slot = test_lock();
    let k = kernel::custom_kernel()?;
    let config = std::fs::read_to_string(&k.config).unwrap_or_default();
    if proto == "udp" && config.contains("CONFIG_NFS_DISABLE_UDP_SUPPORT=y") {
        eprintln!(
            "skipped: the test bed's kernel has CONFIG_NFS_DISABLE_UDP_SUPPORT=y \
             (add `# CONFIG_NFS_DISABLE_UDP_SUPPORT is not set` to qemu/kernel/diskless.fragment)"
        );
        return Ok(());
    }
    let work = std::env::temp_dir().join(format!("nfsroot-{proto}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("root");
    let culc = work.join("culc");
    std::fs::create_dir_all(&culc)?;
    std::fs::create_dir_all(work.join("boot"))?;
    rootfs::unpack(&root)?;
    rootfs::set_hostname(&root, "node1")?;
    let script = CHECK_SCRIPT
        .replace("@CULC@", &culc.display().to_string())
        .replace("@PROTO@", proto);
    std::fs::write(root.join("nfs-check.sh"), script)?;
    Command::new("chmod")
        .args(["755"])
        .arg(root.join("nfs-check.sh"))
        .status()?;
    std::fs::write(
        work.join("inventory.toml"),
        format!(
            r#"[cluster]
name = "nfsroot"
server = "172.16.1.1"
subnet = "172.16.1.0/24"
boot_root = "{boot}"
nfs_root = "{root}"
kernel = "bzImage"
boot_mode = "direct"

[[nodes]]
name = "node1"
mac = "52:54:00:12:34:10"
ip = "{NODE_IP}"

[[exports]]
path = "{root}"
access = "ro"
nodes = ["*"]

[[exports]]
path = "{culc}"
access = "rw"
nodes = ["node1"]
"#,
            boot = work.join("boot").display(),
            root = root.display(),
            culc = culc.display(),
        ),
    )?;
    // What the host sees, with the root's own ls.
    let host = Command::new("/usr/sbin/chroot")
        .arg(&root)
        .args([
            "/bin/sh",
            "-c",
            "ls -lnR --time-style=+%s /usr | md5sum | cut -c1-32",
        ])
        .env_clear()
        .output()?;
    let host_sum = String::from_utf8_lossy(&host.stdout).trim().to_string();

    let ns = Netns::new(&format!("nfs{proto}"))?;
    ns.add_tap("tap0")?;
    let mut server = start_server(&ns, &work, 1);
    let append = format!(
        "root=/dev/nfs nfsroot=172.16.1.1:{},vers=3,{proto} ip={NODE_IP}::172.16.1.1:255.255.255.0:node1:eth0:off init=/nfs-check.sh",
        root.display()
    );
    let mut cfg = VmConfig::direct(&format!("nfs{proto}"), k.bzimage.clone(), &append);
    cfg.nics.push(Nic {
        tap: "tap0".into(),
        mac: "52:54:00:12:34:10".into(),
        model: NicModel::VirtioNet,
    });
    let mut vm = Vm::start(&cfg, &ns)?;
    vm.wait_for("NFSCHECK-ROUND-1-", Duration::from_secs(900))?;
    let text = vm.console_text();
    assert!(text.contains("NFSCHECK-ROOT"), "{}", vm.diagnostics());
    assert!(
        text.contains(" nfs ") && text.contains("vers=3"),
        "root not NFSv3:\n{}",
        vm.diagnostics()
    );
    assert!(
        text.contains("NFSCHECK-CULC-OK"),
        "culc checks failed:\n{}",
        vm.diagnostics()
    );
    assert!(
        text.contains("NFSCHECK-BIG-OK"),
        "culc write failed:\n{}",
        vm.diagnostics()
    );
    assert!(
        text.contains(&format!("NFSCHECK-LSR {host_sum}")),
        "ls -lR /usr differs from the host ({host_sum}):\n{}",
        vm.diagnostics()
    );

    // Restart while the node runs: kill, start again, rounds continue.
    let before = round_after(&vm, 0).unwrap_or(1);
    server.kill();
    std::thread::sleep(Duration::from_secs(3));
    let _server = start_server(&ns, &work, 2);
    let target = before + 5;
    vm.wait_for(
        &format!("NFSCHECK-ROUND-{target}-OK"),
        Duration::from_secs(300),
    )?;
    let text = vm.console_text();
    assert!(!text.contains("-FAIL"), "{}", vm.diagnostics());
    assert!(
        !text.to_lowercase().contains("stale file handle"),
        "{}",
        vm.diagnostics()
    );
    eprintln!("timeline:\n{}", vm.timeline());
    drop(vm);
    drop(ns);
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

#[test]
fn node_boots_nfs_root_over_tcp_and_survives_server_restart() -> anyhow::Result<()> {
    boot("tcp")
}

#[test]
fn node_boots_nfs_root_over_udp_and_survives_server_restart() -> anyhow::Result<()> {
    boot("udp")
}
