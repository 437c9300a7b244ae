//! diskless-init as PID 1 on the test bed's custom kernel, root on an ext4
//! image (until our NFS server serves roots): SSH works, rpcbind and gmond
//! run, /dev/pts and /dev/fd exist, the clock comes from SNTP (QEMU starts
//! in 2001), orphans are reaped, an unreachable NFS line in fstab holds up
//! nothing, and `poweroff` over SSH shuts the node down in order and ends
//! the QEMU process (ACPI power-off).
//!
//! Needs root and QEMU (CI runs as root after `diskless-qemu setup`).

mod init_support;

use diskless_qemu::netns::Netns;
use diskless_qemu::ssh::{Ssh, SshKey};
use diskless_qemu::vm::{Nic, NicModel, Vm, VmConfig};
use diskless_qemu::{kernel, test_lock};
use init_support::{host_time, is_root, root_image, SntpResponder};
use std::time::{Duration, Instant};

const NODE_IP: &str = "172.16.1.10";
const SERVER_IP: &str = "172.16.1.1";

// /culc points at a server with no NFS service: it must be retried in the
// background while everything else comes up.
const FSTAB: &str = "/dev/vda / ext4 defaults 0 0
proc /proc proc defaults,noauto 0 0
none /tmp tmpfs defaults,noauto,size=10M,nodev,nosuid 0 0
172.16.1.1:/home/common/culc /culc nfs\\
  hard,intr,nodev,rw,defaults,proto=tcp 0  0
";

#[test]
fn diskless_init_boots_supervises_and_powers_off() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, QEMU taps)");
        return Ok(());
    }
    let _slot = test_lock();
    let k = kernel::custom_kernel()?;
    let key = SshKey::generate()?;
    let work = std::env::temp_dir().join(format!("init-qemu-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    // No init.toml: the defaults (rpcbind, gmond, sshd) must be found.
    let img = root_image(&work, &key.public_key()?, FSTAB, None)?;

    let ns = Netns::new("init")?;
    ns.add_tap("tap0")?;
    let sntp = SntpResponder::start(&ns, SERVER_IP)?;
    // Gateway set so gmond's multicast channel has a route (inside the netns).
    let mut cfg = VmConfig::direct(
        "init",
        k.bzimage.clone(),
        &format!(
            "root=/dev/vda rw init=/sbin/diskless-init \
             ip={NODE_IP}:{SERVER_IP}:{SERVER_IP}:255.255.255.0:node10:eth0:off"
        ),
    );
    cfg.rtc_base = Some("2001-01-01".into());
    cfg.nics.push(Nic {
        tap: "tap0".into(),
        mac: "52:54:00:12:34:10".into(),
        model: NicModel::VirtioNet,
    });
    cfg.disks.push(img.clone());
    let mut vm = Vm::start(&cfg, &ns)?;
    vm.wait_for(
        "diskless-init: all services spawned",
        Duration::from_secs(240),
    )?;

    let ssh = Ssh::new(&ns, NODE_IP, &key);
    let banner = ssh
        .wait_banner(Duration::from_secs(120))
        .map_err(|e| anyhow::anyhow!("{e}\n{}", vm.diagnostics()))?;
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "banner: {banner}");

    // Clock: QEMU's RTC said 2001; SNTP must have set it to within 1 s of
    // the host's. TCG guests drift (no ACPI PM timer/HPET, TSC calibrated
    // under emulation), so compare at the moment of setting: the guest's
    // realtime now minus the monotonic time since init logged the step.
    let before = host_time();
    let out = ssh.check("date +%s.%N; cut -d' ' -f1 /proc/uptime")?;
    let after = host_time();
    let mut it = out.split_whitespace().map(|v| v.parse::<f64>());
    let (guest, uptime) = (it.next().unwrap_or(Ok(0.0))?, it.next().unwrap_or(Ok(0.0))?);
    let answers = sntp.stop();
    let answered = *answers.last().expect("the SNTP responder was never asked");
    let console = vm.console_text();
    let set_line = console
        .lines()
        .find(|l| l.contains("diskless-init: clock set from 172.16.1.1:123"))
        .unwrap_or_else(|| panic!("no clock line\n{}", vm.diagnostics()));
    let set_at: f64 = set_line
        .trim_start_matches('[')
        .split(']')
        .next()
        .and_then(|t| t.trim().parse().ok())
        .expect("console stamp");
    let guest_at_set = guest - (uptime - set_at);
    eprintln!(
        "clock: guest {guest:.3} vs host {before:.3}..{after:.3}; at the SNTP step guest {guest_at_set:.3} vs answer {answered:.3}"
    );
    assert!(
        (guest_at_set - answered).abs() < 1.0,
        "clock set {guest_at_set} but the server said {answered}\n{}",
        vm.diagnostics()
    );
    assert!(
        (guest - after).abs() < 60.0,
        "guest clock {guest} is not the host's {after}"
    );

    let out = ssh.check(
        "hostname; ps -e -o comm=; test -d /dev/pts && echo PTS; test -e /dev/fd/0 && echo FD; \
         findmnt -n -o FSTYPE /run; grep VmRSS /proc/1/status",
    )?;
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "node10", "hostname from ip= wins: {out}");
    for p in ["rpcbind", "gmond", "sshd"] {
        assert!(
            lines.contains(&p),
            "{p} not running:\n{out}\n{}",
            vm.diagnostics()
        );
    }
    assert!(lines.contains(&"PTS") && lines.contains(&"FD"), "{out}");
    assert!(lines.contains(&"tmpfs"), "/run is not tmpfs: {out}");
    let rss = lines
        .iter()
        .find(|l| l.starts_with("VmRSS"))
        .copied()
        .unwrap_or("?");
    eprintln!("PID 1 {rss}");

    // Orphans: background sleeps whose parents exit are reparented to PID 1;
    // when they end, PID 1 must reap them.
    ssh.check("for i in 1 2 3 4 5 6 7 8; do sh -c 'sleep 1 &'; done")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let z = ssh.check("ps -e -o stat=,comm= | grep -c '^Z' || true")?;
        let sleeping = ssh.check("ps -e -o comm= | grep -c '^sleep$' || true")?;
        if z.trim() == "0" && sleeping.trim() == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "zombies remain: {z} / sleeps {sleeping}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The unreachable /culc is being retried, and it delayed nothing above.
    let console = vm.console_text();
    assert!(console.contains("on /culc failed"), "{}", vm.diagnostics());
    assert!(
        console.contains("clock set from 172.16.1.1:123"),
        "{}",
        vm.diagnostics()
    );

    // poweroff over SSH: an ordered shutdown on the console, then ACPI S5
    // ends the QEMU process by itself (QEMU runs with -no-reboot, so the
    // kernel's "Power down" line is what tells power-off from reboot).
    let _ = ssh.run("poweroff");
    let deadline = Instant::now() + Duration::from_secs(120);
    while vm.is_running() {
        assert!(
            Instant::now() < deadline,
            "QEMU still running 120 s after poweroff\n{}",
            vm.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(300)); // let the reader drain
    let console = vm.console_text();
    let at = |what: &str| {
        console
            .find(what)
            .unwrap_or_else(|| panic!("no {what:?} on the console\n{}", vm.diagnostics()))
    };
    let order = [
        at("diskless-init: shutdown (power off): stopping"),
        at("diskless-init: shutdown: every process stopped; syncing"),
        at("diskless-init: shutdown: unmounted "),
        at("diskless-init: shutdown: / remounted read-only"),
        at("diskless-init: shutdown took"),
        at("reboot: Power down"),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "shutdown steps out of order {order:?}\n{}",
        vm.diagnostics()
    );
    let stopping = order[0];
    for svc in ["rpcbind", "gmond", "sshd"] {
        let stopped = console[stopping..]
            .find(&format!("diskless-init: {svc} (pid "))
            .map(|i| i + stopping)
            .unwrap_or_else(|| panic!("{svc} not stopped\n{}", vm.diagnostics()));
        assert!(stopped < order[1], "{svc} stopped after the sync");
    }
    let unmounted = console[order[2]..].lines().next().unwrap_or("");
    for m in ["/tmp", "/run", "/dev/pts"] {
        assert!(unmounted.contains(m), "{m} not unmounted: {unmounted}");
    }
    assert!(
        !console.contains("ignored SIGTERM"),
        "services must get an unblocked SIGTERM:\n{}",
        vm.diagnostics()
    );
    eprintln!("timeline:\n{}", vm.timeline());
    for l in vm
        .console_text()
        .lines()
        .filter(|l| l.contains("diskless-init:"))
    {
        eprintln!("{l}");
    }
    drop(vm);
    drop(ns);
    std::fs::remove_dir_all(&work)?;
    Ok(())
}
