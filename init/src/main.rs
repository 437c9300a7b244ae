//! `diskless-init`: PID 1 of a diskless node, `--check` for offline
//! validation, and `reboot`/`poweroff`/`halt` when invoked by those names.

use diskless_init::stage::{self, Stage};
use diskless_init::sys::linux::LinuxSys;
use diskless_init::{boot, check, initramfs, log};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "\
diskless-init: PID 1 for diskless NFS-root nodes

USAGE:
    diskless-init                      run as PID 1 (kernel argument init=/sbin/diskless-init)
    diskless-init --check [--root DIR] validate DIR/etc/diskless/init.toml and DIR/etc/fstab
    diskless-init reboot|poweroff|halt ask PID 1 to shut down (also as argv[0]: ln -s diskless-init /sbin/poweroff)

OPTIONS:
    --check        validate the configuration offline; exits 1 naming file:line on errors
    --root DIR     the node root to check (default /)
    -h, --help     print this help
    -V, --version  print the version

AS PID 1:
    mounts /proc /sys /dev (devtmpfs, or tmpfs + device nodes) /dev/pts /dev/shm /run /tmp,
    sets the hostname (ip= field 5), starts the services of /etc/diskless/init.toml
    (default: sshd -D first, then rpcbind and gmond at nice 19 for the first 5 s),
    sets the clock by SNTP (server from diskless.sntp=/ip=/nfsroot=) and mounts the rest
    of /etc/fstab in the background beside them, reaps zombies.
    SIGTERM/SIGINT reboot, SIGUSR1 halts, SIGUSR2 powers off.

AS /init OF AN INITRAMFS (diskless-mkimage initramfs; root is ramfs/tmpfs):
    loads the image's modules (diskless.load), brings up the ip= device or the
    first with a link, configures it from ip= or by DHCP, mounts nfsroot= (or
    the DHCP root path) read-only under a tmpfs overlay, switch_roots and execs
    init= (default /sbin/diskless-init). Arguments: diskless.overlay=none,
    diskless.modules=a,b, diskless.timeout=SECS; see docs/initramfs.md.

EXAMPLES:
    diskless-init --check --root /srv/nodes/root
    ssh node07 poweroff
";

fn request_shutdown(verb: &str) -> ExitCode {
    use nix::sys::signal::{kill, Signal};
    let sig = match verb {
        "reboot" => Signal::SIGTERM,
        "poweroff" => Signal::SIGUSR2,
        _ => Signal::SIGUSR1,
    };
    match kill(nix::unistd::Pid::from_raw(1), sig) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{verb}: could not signal PID 1: {e} (run it as root)");
            ExitCode::FAILURE
        }
    }
}

fn pid1(t0: Duration) -> ! {
    // /proc is not mounted yet in an initramfs: no cmdline means "detect
    // by the root filesystem" (the stage reads the cmdline itself later).
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let magic = nix::sys::statfs::statfs("/")
        .ok()
        .map(|s| s.filesystem_type().0);
    if stage::detect(magic, &cmdline) == Stage::Initramfs {
        // No signalfd here: the blocked mask would survive the exec of a
        // foreign init= (sysvinit), which then never sees its signals.
        initramfs::run(&mut LinuxSys::new());
    }
    let mut sys = LinuxSys::for_pid1();
    boot::run(&mut sys, t0)
}

fn main() -> ExitCode {
    // As PID 1, arguments are whatever the kernel did not understand on its
    // command line (`single`, `nosplash`, …): never a reason to exit.
    // The start-up is timed from here (the bench compares it with the
    // kernel's "Run /sbin/diskless-init" line).
    let t0 = log::uptime();
    if std::process::id() == 1 {
        pid1(t0);
    }
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let argv0 = args.first().map(String::as_str).unwrap_or("");
    let name = argv0.rsplit('/').next().unwrap_or(argv0);
    if matches!(name, "reboot" | "poweroff" | "halt") {
        return request_shutdown(name);
    }
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match rest.as_slice() {
        [] => {
            eprintln!(
                "diskless-init: not PID 1. Boot with init=/sbin/diskless-init, or validate a root with `diskless-init --check --root DIR` (see --help)"
            );
            ExitCode::from(2)
        }
        ["-h"] | ["--help"] => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        ["-V"] | ["--version"] => {
            println!("diskless-init {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        [verb @ ("reboot" | "poweroff" | "halt")] => request_shutdown(verb),
        ["--check"] => run_check(PathBuf::from("/")),
        ["--check", "--root", dir] | ["--root", dir, "--check"] => run_check(PathBuf::from(dir)),
        _ => {
            eprintln!("diskless-init: unexpected arguments {rest:?}; see diskless-init --help");
            ExitCode::from(2)
        }
    }
}

fn run_check(root: PathBuf) -> ExitCode {
    log::set_quiet(true);
    if !root.is_dir() {
        eprintln!(
            "diskless-init --check: {} is not a directory; pass the node root with --root DIR",
            root.display()
        );
        return ExitCode::from(2);
    }
    let r = check::check(&root);
    for n in &r.notes {
        println!("note: {n}");
    }
    for e in &r.errors {
        eprintln!("error: {e}");
    }
    if r.errors.is_empty() {
        println!("ok: {} is ready for diskless-init", root.display());
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "{} error(s); fix them and run the check again",
            r.errors.len()
        );
        ExitCode::FAILURE
    }
}
