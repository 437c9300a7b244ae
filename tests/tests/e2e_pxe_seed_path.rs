//! End to end, the seed's path on our stack: BIOS iPXE → our DHCP → our TFTP
//! `pxelinux.0` → generated `pxelinux.cfg/01-<mac>` → the custom kernel with
//! `root=/dev/nfs` → our NFSv3 root → diskless-init → sshd, rpcbind, gmond.
//! One boot is shared by every check: hostname from the inventory, /culc
//! mounted read-write, clock set by SNTP (QEMU starts at 2001-01-01), then a
//! server restart under the running node (a read and a write still work).
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

mod e2e_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diskless_qemu::kernel;
use diskless_qemu::ssh::Ssh;
use diskless_qemu::stack::{self, BootPath, OurNode};
use diskless_qemu::vm::{Vm, VmConfig};

#[test]
fn node_boots_seed_path_from_our_stack() -> anyhow::Result<()> {
    let node = OurNode {
        hostname: "cartman".into(),
        mac: "52:54:00:70:91:b9".into(),
        ip: "172.16.1.10".into(),
    };
    let Some((_slot, ns, key, mut ours)) = e2e_support::one_node(
        "e2eseed",
        &node,
        || Ok(kernel::custom_kernel()?.bzimage),
        BootPath::Pxelinux,
        None,
    )?
    else {
        return Ok(());
    };
    let server_bin = stack::server_binary()?;
    let mut cfg = VmConfig::pxe("e2e-seed", "tap0", &node.mac);
    cfg.rtc_base = Some("2001-01-01".into());
    let mut vm = Vm::start(&cfg, &ns)?;
    let ssh = Ssh::new(&ns, &node.ip, &key);
    let banner = ssh
        .wait_boot(&mut vm, Duration::from_secs(600))
        .map_err(|e| anyhow::anyhow!("{e}\nserver log:\n{}", ours.server_log()))?;
    let mut t = vm.timeline();
    t.push("SSH banner", banner);
    eprintln!("timeline:\n{t}");
    let console = vm.console_text();

    // The path really was pxelinux over TFTP with the generated config.
    assert!(console.contains("PXELINUX"), "{}", vm.diagnostics());
    assert!(
        console.contains("root=/dev/nfs"),
        "kernel command line without root=/dev/nfs:\n{}",
        vm.diagnostics()
    );
    assert_eq!(ssh.check("hostname")?.trim(), node.hostname);
    assert_eq!(ssh.check("cat /proc/1/comm")?.trim(), "diskless-init");
    let root = ssh.check("grep ' / ' /proc/mounts")?;
    assert!(root.contains(" nfs ") && root.contains("vers=3"), "{root}");
    for p in ["sshd", "rpcbind", "gmond"] {
        let out = ssh.run(&format!("pidof {p}"))?;
        assert!(
            out.status == 0,
            "{p} is not running on the node\n{}",
            vm.diagnostics()
        );
    }
    // /culc is mounted read-write (the mount helper may still be retrying).
    let culc = ssh.check(
        "for i in $(seq 60); do grep -q ' /culc nfs' /proc/mounts && break; sleep 1; done; \
         grep ' /culc ' /proc/mounts; echo hello > /culc/probe && cat /culc/probe",
    )?;
    assert!(culc.contains(" rw,") && culc.contains("hello"), "{culc}");
    // Clock: from SNTP, within 1 s of ours (QEMU started in 2001).
    let host = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let node_now: f64 = ssh.check("date +%s.%N")?.trim().parse()?;
    let after = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    // The ssh round trip is in [host, after]; the clock must fall inside it ±1 s.
    assert!(
        node_now > host - 1.0 && node_now < after + 1.0,
        "node clock {node_now} vs host {host}..{after}\n{}",
        vm.diagnostics()
    );

    // `diskless-server status`: the node reached "init up" (init's report).
    let inv = ours.dir().join("inventory.toml").display().to_string();
    let status = ns.exec(&[
        &server_bin.display().to_string(),
        "status",
        "--inventory",
        &inv,
        "--json",
    ])?;
    let status: serde_json::Value = serde_json::from_str(&status)?;
    eprintln!(
        "{}",
        ns.exec(&[
            &server_bin.display().to_string(),
            "status",
            "--inventory",
            &inv
        ])?
    );
    assert_eq!(
        status["nodes"][0]["stage"],
        "init",
        "{status:#}\n{}",
        ours.server_log()
    );

    // Server restart while the node runs: its root and /culc keep working.
    ours.stop_server();
    std::thread::sleep(Duration::from_secs(2));
    ours.start_server(&ns)?;
    let out = ssh.check(
        "ls /usr/bin > /dev/null && cat /etc/os-release > /dev/null && \
         echo after-restart > /culc/probe2 && cat /culc/probe2",
    )?;
    assert!(out.contains("after-restart"), "{out}");
    drop(vm);
    drop(ours);
    Ok(())
}
