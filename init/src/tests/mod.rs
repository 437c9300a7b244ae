//! Whole-boot tests through the recording fake: plan + supervisor + shutdown.

use crate::boot;
use crate::clock::ClockJob;
use crate::plan::{self, Facts, Step};
use crate::service::State;
use crate::supervisor::{ClockState, MountState, Supervisor, STARTUP_WINDOW};
use crate::sys::fake::{Behaviour, Call, FakeSys};
use crate::sys::{RebootCmd, Signal, Sys};
use std::time::Duration;

const SEED_FSTAB: &str = "proc /proc proc defaults,noauto 0 0
none /tmp tmpfs defaults,noauto,size=10M,nodev,nosuid 0 0
172.16.1.1:/home/common/culc /culc nfs\\
  hard,intr,nodev,rw,defaults,proto=tcp 0  0
";
const CMDLINE: &str = "console=ttyS0 root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster \
                       ip=172.16.1.10:172.16.1.1::255.255.255.0:node10:eth0:off";

/// A Debian-like root with the three default daemons.
fn node() -> FakeSys {
    crate::log::set_quiet(true);
    let mut s = FakeSys::new()
        .with_dir("/proc/self")
        .with_file("/proc/cmdline", CMDLINE)
        .with_file(
            "/proc/mounts",
            "/dev/root / ext4 rw 0 0\nproc /proc proc rw 0 0\n",
        )
        .with_file("/etc/fstab", SEED_FSTAB)
        .with_file("/usr/sbin/rpcbind", "")
        .with_file("/usr/sbin/gmond", "")
        .with_file("/usr/sbin/sshd", "")
        .with_file("/usr/bin/ssh-keygen", "")
        .with_file("/etc/ssh/ssh_host_ed25519_key", "");
    s.behaviour
        .insert("/usr/sbin/rpcbind".into(), Behaviour::Daemon);
    s
}

fn run(sys: &mut FakeSys, ticks: usize) -> Supervisor {
    let mut sup = boot::boot(sys);
    for _ in 0..ticks {
        sup.tick(sys);
    }
    sup
}

fn names(sys: &FakeSys) -> Vec<String> {
    sys.spawned().iter().map(|a| a[0].clone()).collect()
}

/// The node's /etc/diskless/init.toml.
fn init_toml(sys: &mut FakeSys, toml: &str) {
    sys.files
        .insert("/etc/diskless/init.toml".into(), toml.into());
}

/// Why the service gave up (panics when it has not).
fn gave_up_why(sup: &Supervisor, name: &str) -> String {
    match &sup.service(name).unwrap().state {
        State::GaveUp(why) => why.clone(),
        s => panic!("{name}: {s:?}"),
    }
}

#[test]
fn missing_init_toml_starts_defaults() {
    let mut sys = node();
    let sup = run(&mut sys, 3);
    assert_eq!(
        names(&sys),
        ["/usr/sbin/sshd", "/usr/sbin/rpcbind", "/usr/sbin/gmond"]
    );
    assert_eq!(sys.spawned()[0], ["/usr/sbin/sshd", "-D"]);
    // Host keys exist: ssh-keygen skipped, sshd not held back by it.
    assert_eq!(sup.service("ssh-keygen").unwrap().state, State::Done(None));
    assert!(sys.dirs.contains("/run/sshd"));
}

fn mounts_made(sys: &FakeSys) -> Vec<String> {
    sys.calls
        .iter()
        .filter_map(|c| match c {
            Call::Mount(m) => Some(format!("{} {} {}", m.fstype, m.target, m.data)),
            _ => None,
        })
        .collect()
}

#[test]
fn early_boot_steps() {
    let mut sys = node();
    run(&mut sys, 0);
    // Before the services: only what a program may need at exec (/proc is
    // already mounted, so not again).
    assert_eq!(
        mounts_made(&sys),
        ["devtmpfs /dev mode=0755", "tmpfs /run size=10M,mode=0755"]
    );
    assert!(sys.calls.contains(&Call::SetHostname("node10".into())));
    assert!(!sys.calls.contains(&Call::LinkUp("lo".into())));
    assert!(!sys.calls.contains(&Call::Mkdir("/var/empty".into())));
    // The first tick spawns the services, then makes the rest.
    let mut sys = node();
    run(&mut sys, 1);
    assert_eq!(
        mounts_made(&sys),
        [
            "devtmpfs /dev mode=0755",
            "tmpfs /run size=10M,mode=0755",
            "sysfs /sys ",
            "devpts /dev/pts gid=5,mode=620,ptmxmode=000",
            "tmpfs /dev/shm mode=1777",
            "tmpfs /tmp size=10M,mode=1777",
        ]
    );
    for c in [
        Call::Symlink("/proc/self/fd".into(), "/dev/fd".into()),
        Call::Symlink("/proc/self/fd/2".into(), "/dev/stderr".into()),
        Call::Mkdir("/run/lock".into()),
        Call::LinkUp("lo".into()),
        Call::Mkdir("/var/empty".into()),
    ] {
        assert!(sys.calls.contains(&c), "missing {c:?} in {:#?}", sys.calls);
    }
}

#[test]
fn late_steps_run_right_after_the_first_spawns() {
    // /var/empty, utmp and the hotplug helper wait until sshd and the other
    // services are spawned, then run once (right after the first tick).
    let mut sys = node().with_file("/proc/sys/kernel/hotplug", "/sbin/hotplug\n");
    run(&mut sys, 3);
    let at = |what: &Call| {
        let all: Vec<usize> = sys
            .calls
            .iter()
            .enumerate()
            .filter(|(_, c)| *c == what)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(all.len(), 1, "{what:?} once in {:#?}", sys.calls);
        all[0]
    };
    let gmond = at(&Call::Spawn(vec!["/usr/sbin/gmond".into(), "-f".into()]));
    let sysfs = sys
        .calls
        .iter()
        .position(|c| matches!(c, Call::Mount(m) if m.target == "/sys"))
        .unwrap();
    assert!(sysfs > gmond);
    for late in [
        Call::LinkUp("lo".into()),
        Call::Symlink("/proc/self/fd".into(), "/dev/fd".into()),
        Call::Mkdir("/var/empty".into()),
        Call::WriteFile("/run/utmp".into(), String::new()),
        Call::WriteFile("/proc/sys/kernel/hotplug".into(), "\n".into()),
    ] {
        assert!(at(&late) > gmond, "{late:?} after the last spawn");
    }
}

#[test]
fn sshd_is_spawned_first_and_needs_only_its_mounts() {
    let mut sys = node();
    run(&mut sys, 1);
    let pos = |pred: &dyn Fn(&Call) -> bool| sys.calls.iter().position(pred).unwrap();
    let sshd = pos(&|c| matches!(c, Call::Spawn(a) if a[0] == "/usr/sbin/sshd"));
    let rpcbind = pos(&|c| matches!(c, Call::Spawn(a) if a[0] == "/usr/sbin/rpcbind"));
    assert!(sshd < rpcbind);
    for target in ["/dev", "/run"] {
        let m = pos(&|c| matches!(c, Call::Mount(m) if m.target == target));
        assert!(m < sshd, "{target} mounted before sshd starts");
    }
    assert!(pos(&|c| *c == Call::Mkdir("/run/sshd".into())) < sshd);
    // init runs ahead of its services until they are all spawned.
    let raised = pos(&|c| *c == Call::OwnPriority(true));
    let lowered = pos(&|c| *c == Call::OwnPriority(false));
    let gmond = pos(&|c| matches!(c, Call::Spawn(a) if a[0] == "/usr/sbin/gmond"));
    assert!(raised < sshd && gmond < lowered);
    // The mounts sshd needs only at a login come after the spawns, still
    // ahead of the services (before init lowers its priority).
    let pts = pos(&|c| matches!(c, Call::Mount(m) if m.target == "/dev/pts"));
    assert!(gmond < pts && pts < lowered);
}

#[test]
fn proc_mounted_first_when_absent() {
    let mut sys = node();
    sys.dirs.remove("/proc/self");
    run(&mut sys, 0);
    match sys.calls.iter().find(|c| matches!(c, Call::Mount(_))) {
        Some(Call::Mount(m)) => assert_eq!(m.target, "/proc"),
        c => panic!("{c:?}"),
    }
}

#[test]
fn devtmpfs_missing_falls_back_to_tmpfs_and_nodes() {
    let mut sys = node();
    sys.mount_errno.insert("/dev".into(), libc::ENODEV);
    run(&mut sys, 0);
    assert!(sys
        .calls
        .iter()
        .any(|c| matches!(c, Call::Mount(m) if m.fstype == "tmpfs" && m.target == "/dev")));
    assert!(sys.calls.contains(&Call::Mknod("/dev/null".into(), 1, 3)));
    assert!(sys
        .calls
        .contains(&Call::Mknod("/dev/console".into(), 5, 1)));
}

#[test]
fn fstab_garbage_does_not_stop_the_boot() {
    let mut sys = node();
    sys.files.insert(
        "/etc/fstab".into(),
        "\u{0}\u{7f}garbage\nonly two\n/x\n10.0.0.1:/data /data nfs ro 0 0\nhost:/x /y nfs\n"
            .into(),
    );
    let sup = run(&mut sys, 3);
    let p = plan::plan(&Facts::gather(&sys));
    assert_eq!(p.errors.len(), 4, "{:#?}", p.errors);
    assert!(p.errors[0].contains("line 1"), "{:?}", p.errors);
    assert!(p.errors[3].contains("not an IP address"), "{:?}", p.errors);
    assert_eq!(sup.mounts.len(), 1);
    assert_eq!(sup.mounts[0].spec.args.data, "addr=10.0.0.1,nolock,vers=3");
    assert_eq!(names(&sys).len(), 3, "services still start");
}

#[test]
fn sshd_does_not_wait_for_an_unreachable_nfs_mount() {
    let mut sys = node();
    sys.mount_job_failures.insert("/culc".into(), 3);
    sys.files.insert(
        "/etc/diskless/init.toml".into(),
        "[[service]]\nname = \"jobs\"\ncommand = [\"/usr/bin/jobs\"]\nafter = [\"/culc\"]\n".into(),
    );
    sys.files.insert("/usr/bin/jobs".into(), String::new());
    let mut sup = boot::boot(&mut sys);
    sup.tick(&mut sys);
    assert!(sup.service("sshd").unwrap().pid().is_some());
    assert!(sup.service("jobs").unwrap().pid().is_none());
    for _ in 0..20 {
        sup.tick(&mut sys);
    }
    assert_eq!(sup.mounts[0].state, MountState::Mounted);
    assert_eq!(sup.mounts[0].attempts, 4);
    assert!(sup.service("jobs").unwrap().pid().is_some());
    let m = &sup.mounts[0].spec.args;
    assert_eq!(m.data, "hard,proto=tcp,addr=172.16.1.1,nolock,vers=3");
}

#[test]
fn orphans_are_reaped() {
    let mut sys = node();
    let mut sup = run(&mut sys, 2);
    // Orphans reparented to init: fake processes nobody spawned via init.
    for pid in [900, 901, 902] {
        sys.procs.insert(
            pid,
            (
                "orphan".into(),
                Some((
                    sys.mono + Duration::from_millis(5),
                    crate::sys::ExitStatus::Code(0),
                )),
            ),
        );
    }
    for _ in 0..3 {
        sup.tick(&mut sys);
    }
    assert_eq!(sup.orphans_reaped, 3);
    assert!(!sys.procs.contains_key(&900));
}

#[test]
fn sigusr2_powers_off_in_order() {
    let mut sys = node();
    let mut sup = run(&mut sys, 2);
    let pids: Vec<i32> = sup.services.iter().filter_map(|s| s.pid()).collect();
    assert_eq!(pids.len(), 3);
    sys.signals.push((sys.mono, Signal::Usr2));
    sys.files.insert(
        "/proc/mounts".into(),
        "/dev/root / ext4 rw 0 0\nproc /proc proc rw 0 0\ntmpfs /run tmpfs rw 0 0\n".into(),
    );
    for _ in 0..10 {
        sup.tick(&mut sys);
    }
    let i = |c: &Call| {
        sys.calls
            .iter()
            .position(|x| x == c)
            .unwrap_or_else(|| panic!("no {c:?}"))
    };
    let term = i(&Call::Kill(pids[0], Signal::Term));
    let all_term = i(&Call::Kill(-1, Signal::Term));
    let all_kill = i(&Call::Kill(-1, Signal::Kill));
    let umount_run = i(&Call::Umount("/run".into()));
    let umount_proc = i(&Call::Umount("/proc".into()));
    let reboot = i(&Call::Reboot(RebootCmd::PowerOff));
    assert!(term < all_term && all_term < all_kill && all_kill < umount_run);
    assert!(umount_run < umount_proc && umount_proc < reboot);
    assert!(sys.calls[..reboot].contains(&Call::Sync));
    assert!(sup
        .services
        .iter()
        .all(|s| s.state == State::Stopped || s.state == State::Done(None)));
}

#[test]
fn plan_is_pure_and_names_clock_source() {
    let f = Facts {
        cmdline: "ip=dhcp".into(),
        pnp: Some("bootserver 10.1.1.1\n".into()),
        hostname: "fromdhcp".into(),
        ..Default::default()
    };
    let p = plan::plan(&f);
    assert_eq!(
        p.clock,
        Some(ClockJob {
            server: "10.1.1.1".parse().unwrap(),
            budget: Duration::from_secs(1),
            from: "DHCP boot server".into()
        })
    );
    assert!(!p
        .steps
        .iter()
        .any(|s| matches!(s, Step::SetHostname { .. })));
    assert!(p.services.is_empty());
    let off = plan::plan(&Facts {
        cmdline: "nfsroot=10.0.0.1:/r diskless.sntp=off".into(),
        ..Default::default()
    });
    assert_eq!(off.clock, None);
    assert!(off.notes.iter().any(|n| n.contains("diskless.sntp=off")));
}

#[test]
fn clock_runs_beside_the_services() {
    // A silent time server: the helper takes its whole budget, and only
    // the service that asked for the clock waits for it.
    let mut sys = node();
    sys.clock_helper_time = Duration::from_secs(1);
    sys.files.insert(
        "/etc/diskless/init.toml".into(),
        "[[service]]\nname = \"jobs\"\ncommand = [\"/usr/sbin/gmond\", \"-x\"]\nafter = [\"clock\"]\n"
            .into(),
    );
    let t0 = sys.mono;
    let mut sup = run(&mut sys, 1);
    assert_eq!(
        names(&sys),
        ["/usr/sbin/sshd", "/usr/sbin/rpcbind", "/usr/sbin/gmond"]
    );
    let spawn_at = |sys: &FakeSys, what: &Call| sys.calls.iter().position(|c| c == what);
    let clock = spawn_at(&sys, &Call::SpawnClock("172.16.1.1".parse().unwrap())).unwrap();
    let sshd = spawn_at(
        &sys,
        &Call::Spawn(vec!["/usr/sbin/sshd".into(), "-D".into()]),
    )
    .unwrap();
    assert!(sshd < clock, "services are forked before the SNTP helper");
    assert!(matches!(sup.clock, ClockState::Running { .. }));
    assert_eq!(sup.service("jobs").unwrap().state, State::Waiting);
    for _ in 0..5 {
        sup.tick(&mut sys);
    }
    assert_eq!(sup.clock, ClockState::Done);
    assert_eq!(names(&sys).len(), 4, "{:?}", names(&sys));
    assert!(sys.mono - t0 >= Duration::from_secs(1));
    assert_eq!(sup.orphans_reaped, 0, "the helper is not an orphan");
}

#[test]
fn broken_init_toml_falls_back_to_defaults() {
    let mut sys = node();
    sys.files
        .insert("/etc/diskless/init.toml".into(), "[[service]\nname=".into());
    run(&mut sys, 2);
    assert_eq!(names(&sys).len(), 3);
    let p = plan::plan(&Facts::gather(&sys));
    assert!(
        p.errors.iter().any(|e| e.contains("init.toml:1:")),
        "{:?}",
        p.errors
    );
}

#[test]
fn sys_trait_object_is_usable() {
    let sys: &dyn Sys = &FakeSys::new();
    assert!(!sys.exists("/nope"));
}

#[test]
fn sigterm_reboots_and_sighup_is_ignored() {
    let mut sys = node();
    let mut sup = run(&mut sys, 2);
    sys.signals.push((sys.mono, Signal::Hup));
    sup.tick(&mut sys);
    assert!(sup.shutdown.is_none());
    sys.signals.push((sys.mono, Signal::Term));
    for _ in 0..10 {
        sup.tick(&mut sys);
    }
    assert!(sys.calls.contains(&Call::Reboot(RebootCmd::Restart)));
}

#[test]
fn hostname_falls_back_to_etc_hostname() {
    let mut sys = node();
    sys.files
        .insert("/proc/cmdline".into(), "root=/dev/vda".into());
    sys.files
        .insert("/etc/hostname".into(), "fromfile\n".into());
    run(&mut sys, 0);
    assert!(sys.calls.contains(&Call::SetHostname("fromfile".into())));
    // A name the kernel already has (from DHCP) is kept.
    let mut sys = node();
    sys.files.insert("/proc/cmdline".into(), "ip=dhcp".into());
    sys.hostname = "dhcpname".into();
    run(&mut sys, 0);
    assert!(!sys.calls.iter().any(|c| matches!(c, Call::SetHostname(_))));
}

#[test]
fn early_boot_reads_only_what_it_needs() {
    // ip= names the node: /etc/hostname is not read; the first rpcbind and
    // sshd found end their probes.
    let mut sys = node();
    run(&mut sys, 0);
    let looked = sys.looked_at.borrow().clone();
    for skipped in [
        "/etc/hostname",
        "/sbin/rpcbind",
        "/usr/sbin/portmap",
        "/sbin/sshd",
        "/bin/ssh-keygen",
        "/usr/local/sbin/gmond",
    ] {
        assert!(
            !looked.iter().any(|p| p == skipped),
            "{skipped} in {looked:?}"
        );
    }
    assert!(looked.iter().any(|p| p == "/usr/sbin/rpcbind"));
    // nfsroot= names the time server: the DHCP boot server is not needed.
    assert!(!looked.iter().any(|p| p == "/proc/net/pnp"), "{looked:?}");
    // ip=dhcp: it is the last resort, so it is read.
    let mut sys = node().with_file("/proc/cmdline", "root=/dev/nfs ip=dhcp");
    run(&mut sys, 0);
    assert!(sys.looked_at.borrow().iter().any(|p| p == "/proc/net/pnp"));
}

mod supervision;
