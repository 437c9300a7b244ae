//! `diskless-qemu bench init`: diskless-init against the seed's bash
//! `Rcinit` (run by sysvinit from the seed's inittab), on the same custom
//! kernel and the same ext4 root image (QEMU `snapshot=on`, so every boot
//! starts from identical bytes). Measured on the host from console arrival
//! times: "Run … as init process" → services spawned, and → SSH banner.
//!
//! The root's fstab has the seed's `proc`/`tmp`/`sys` lines but no `/culc`:
//! without an NFS server the seed's `mount /culc` would block its boot for
//! minutes (that is the seed's design flaw, not a fair race).
//!
//! The SSH banner is polled every 20 ms (a refused connect costs nothing),
//! so its figure is not rounded up to a coarse retry interval.
//!
//! For ours the guest's own clocks give the spawn figures without the
//! serial console's and the host's delays: the kernel stamps "Run
//! /sbin/diskless-init" with its printk clock, init stamps its lines
//! (`main() entered at`, "all services spawned … N ms after init start")
//! with CLOCK_MONOTONIC, and init's one `/dev/kmsg` line carries both, so
//! the two clocks (tens of ms apart at boot) are lined up per boot. That
//! splits "Run → all spawned" into the exec of init (kernel exec, libc and
//! Rust start-up, up to `main`) and init's own work.

use crate::netns::Netns;
use crate::ssh::{Ssh, SshKey};
use crate::vm::{Nic, NicModel, Vm, VmConfig};
use crate::{kernel, rootfs};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const RCINIT: &str = include_str!("../../peers/seed/Rcinit");
const INITTAB: &str = include_str!("../../peers/seed/inittab");
const FSTAB: &str = "/dev/vda / ext4 defaults 0 0
proc      /proc    proc    defaults,noauto          0  0
none      /tmp     tmpfs   defaults,noauto,size=10M,nodev,nosuid 0  0
none      /sys     sysfs   defaults,noauto          0  0
";
const NODE_IP: &str = "172.16.1.10";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Boots per init (medians are reported).
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// The static diskless-init to test (default: $DISKLESS_INIT_BIN, else
    /// built from this workspace, like the tests do).
    #[arg(long)]
    pub init_bin: Option<PathBuf>,
    /// Give up on a boot after this many seconds.
    #[arg(long, default_value_t = 240)]
    pub timeout: u64,
    /// Leave out the virtio-rng device. Without it sshd blocks in getrandom()
    /// until the kernel's entropy pool is ready (seconds under TCG), which
    /// hides what init itself costs.
    #[arg(long)]
    pub no_rng: bool,
    /// Boot only one side (ours or seed), e.g. to try a change quickly.
    #[arg(long, value_parser = ["ours", "seed"])]
    pub only: Option<String>,
    /// Keep each boot's serial console as DIR/<side>-<run>.log.
    #[arg(long, value_name = "DIR")]
    pub console_dir: Option<PathBuf>,
    /// After each boot, run this shell command on the node over SSH and
    /// print its output (e.g. `ps -eo pid,ni,time,comm`).
    #[arg(long, value_name = "CMD")]
    pub probe: Option<String>,
    /// Install FILE as the node's /etc/diskless/init.toml (ours only; e.g.
    /// to try other sshd flags). Default: none, so init's defaults run.
    #[arg(long, value_name = "FILE")]
    pub init_toml: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Ours,
    Seed,
}

/// One boot's figures, in seconds after "Run … as init process" arrived.
struct Sample {
    spawned: f64,
    banner: f64,
    /// Ours only: from the guest's own stamps.
    guest: Option<GuestTimes>,
}

/// Ours, on the guest's clocks (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
struct GuestTimes {
    /// init's `main()` → all services spawned (init's own clock).
    main_to_spawned: f64,
    /// Kernel "Run /sbin/diskless-init" → `main()`: the exec of init. `None`
    /// without init's /dev/kmsg line (an older init).
    run_to_main: Option<f64>,
}

/// `[    2.552544] text…` → (2.552544, "text…").
fn stamped(line: &str) -> Option<(f64, &str)> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (t, text) = rest.split_once(']')?;
    Some((t.trim().parse().ok()?, text.trim_start()))
}

/// The figures of one boot's console, see the module comment.
fn guest_times(console: &str) -> Option<GuestTimes> {
    let mut run = None;
    let mut main = None;
    let mut spawned = None;
    let mut offset = None;
    for (t, text) in console.lines().filter_map(stamped) {
        if text.starts_with("Run /sbin/diskless-init as init process") {
            run = Some(t);
        } else if let Some(m) = text
            .split_once("main() entered at ")
            .and_then(|(_, v)| v.trim_end_matches(')').parse::<f64>().ok())
        {
            main = Some(m);
        } else if text.starts_with("diskless-init: all services spawned") {
            // "… (3 running) 93.7 ms after init start; …"
            let ms = text.split(") ").nth(1)?.split(" ms").next()?;
            spawned = ms.trim().parse::<f64>().ok().map(|v| v / 1e3);
        } else if let Some(m) = text
            .strip_prefix("diskless-init: CLOCK_MONOTONIC at this line: ")
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            offset = Some(t - m);
        }
    }
    Some(GuestTimes {
        main_to_spawned: spawned?,
        run_to_main: match (run, main, offset) {
            (Some(r), Some(m), Some(o)) => Some(m + o - r),
            _ => None,
        },
    })
}

/// Connects to port 22 every 20 ms until a line starting with `SSH-`
/// arrives; returns when it did. Every attempt's outcome goes to `trace`
/// (ms since QEMU started), so a lost SYN or a slow accept shows.
fn wait_banner(
    ns: &Netns,
    vm: &mut Vm,
    timeout: Duration,
    trace: &mut Vec<String>,
) -> Result<Duration> {
    let addr: SocketAddr = format!("{NODE_IP}:22").parse()?;
    let deadline = Instant::now() + timeout;
    let t0 = vm.started();
    let ms = move || t0.elapsed().as_secs_f64() * 1e3;
    loop {
        let begun = ms();
        let got = ns.run_in(move || -> Result<f64, String> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                .map_err(|e| format!("connect: {e}"))?;
            let connected = ms();
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            let mut buf = [0u8; 64];
            let mut line = Vec::new();
            while !line.contains(&b'\n') && line.len() < 255 {
                match s.read(&mut buf) {
                    Ok(n) if n > 0 => line.extend_from_slice(&buf[..n]),
                    Ok(_) => return Err(format!("connected at {connected:.0}, closed")),
                    Err(e) => return Err(format!("connected at {connected:.0}, read: {e}")),
                }
            }
            if line.starts_with(b"SSH-") {
                Ok(connected)
            } else {
                Err(format!("connected at {connected:.0}, not a banner"))
            }
        })?;
        match got {
            Ok(connected) => {
                trace.push(format!(
                    "{begun:.0} connected at {connected:.0}, banner at {:.0}",
                    ms()
                ));
                return Ok(vm.started().elapsed());
            }
            Err(e) => trace.push(format!("{begun:.0} {e}")),
        }
        if Instant::now() >= deadline || !vm.is_running() {
            bail!("no SSH banner within {timeout:?}\n{}", vm.diagnostics());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn init_bin(args: &Args) -> Result<PathBuf> {
    // Without --init-bin, the test bed's own build (rebuilt when the source
    // changed), so the bench never times a stale binary.
    let Some(p) = args.init_bin.clone() else {
        return crate::stack::init_binary();
    };
    if !p.is_file() {
        bail!(
            "{} not found; pass the path of a static diskless-init, or leave --init-bin out to build one",
            p.display()
        );
    }
    Ok(p)
}

fn build_image(work: &Path, init: &Path, pubkey: &str, toml: Option<&Path>) -> Result<PathBuf> {
    let root = work.join("root");
    rootfs::unpack(&root)?;
    rootfs::inject_ssh_key(&root, pubkey)?;
    std::fs::copy(init, root.join("sbin/diskless-init"))
        .with_context(|| format!("copying {}", init.display()))?;
    let rc = root.join("usr/bin/Rcinit");
    std::fs::write(&rc, RCINIT)?;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o755))?;
    std::fs::write(root.join("etc/inittab"), INITTAB)?;
    std::fs::write(root.join("etc/fstab"), FSTAB)?;
    if let Some(t) = toml {
        std::fs::create_dir_all(root.join("etc/diskless"))?;
        std::fs::copy(t, root.join("etc/diskless/init.toml"))
            .with_context(|| format!("copying {}", t.display()))?;
    }
    let img = work.join("root.ext4");
    rootfs::ext4_image(&root, &img)?;
    std::fs::remove_dir_all(&root)?;
    Ok(img)
}

fn boot(
    which: Which,
    run: u32,
    bz: &Path,
    img: &Path,
    key: &SshKey,
    args: &Args,
) -> Result<Sample> {
    let timeout = Duration::from_secs(args.timeout);
    let ns = Netns::new("bench-init")?;
    ns.add_tap("tap0")?;
    let init = match which {
        Which::Ours => "/sbin/diskless-init",
        Which::Seed => "/sbin/init",
    };
    let mut cfg = VmConfig::direct(
        "bench-init",
        bz.to_path_buf(),
        &format!(
            "root=/dev/vda rw init={init} diskless.sntp=off \
             ip={NODE_IP}:172.16.1.1:172.16.1.1:255.255.255.0:node10:eth0:off"
        ),
    );
    cfg.nics.push(Nic {
        tap: "tap0".into(),
        mac: "52:54:00:12:34:10".into(),
        model: NicModel::VirtioNet,
    });
    cfg.extra_args.extend([
        "-drive".to_string(),
        format!(
            "file={},format=raw,if=none,id=root,snapshot=on",
            img.display()
        ),
        "-device".to_string(),
        "virtio-blk-pci,drive=root".to_string(),
    ]);
    cfg.rng = !args.no_rng;
    if let Some(dir) = &args.console_dir {
        std::fs::create_dir_all(dir)?;
        let side = if which == Which::Ours { "ours" } else { "seed" };
        cfg.serial_log = Some(dir.join(format!("{side}-{run}.log")));
    }
    let mut vm = Vm::start(&cfg, &ns)?;
    let t_init = vm.wait_for("as init process", timeout)?;
    let spawned_pat = match which {
        Which::Ours => "diskless-init: all services spawned",
        Which::Seed => "diskless: services up",
    };
    let mut trace = vec![];
    let banner = wait_banner(&ns, &mut vm, timeout, &mut trace);
    if let Some(dir) = &args.console_dir {
        let side = if which == Which::Ours { "ours" } else { "seed" };
        std::fs::write(
            dir.join(format!("{side}-{run}.attempts")),
            trace.join("\n") + "\n",
        )?;
    }
    let banner = banner?;
    let spawned = vm.wait_for(spawned_pat, Duration::from_secs(5))?;
    // The key works (the node is usable, not just listening).
    let ssh = Ssh::new(&ns, NODE_IP, key);
    ssh.check("true")?;
    if let Some(cmd) = &args.probe {
        eprintln!("{}", ssh.check(cmd)?);
    }
    Ok(Sample {
        spawned: (spawned.saturating_sub(t_init)).as_secs_f64(),
        banner: (banner.saturating_sub(t_init)).as_secs_f64(),
        guest: match which {
            Which::Ours => guest_times(&vm.console_text()),
            Which::Seed => None,
        },
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

pub fn run(args: Args) -> Result<()> {
    let init = init_bin(&args)?;
    // One QEMU at a time on this machine, or the numbers measure contention.
    let _slot = crate::test_lock();
    let k = kernel::custom_kernel()?;
    let key = SshKey::generate()?;
    let work = std::env::temp_dir().join(format!("bench-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let img = build_image(&work, &init, &key.public_key()?, args.init_toml.as_deref())?;
    let mut ours = vec![];
    let mut seed = vec![];
    for i in 0..args.runs.max(1) {
        for (which, out, name) in [
            (Which::Ours, &mut ours, "diskless-init"),
            (Which::Seed, &mut seed, "seed Rcinit"),
        ] {
            let side = if which == Which::Ours { "ours" } else { "seed" };
            if args.only.as_deref().is_some_and(|o| o != side) {
                continue;
            }
            let s = boot(which, i + 1, &k.bzimage, &img, &key, &args)?;
            let guest = s
                .guest
                .map(|g| {
                    let exec = g
                        .run_to_main
                        .map(|r| format!("Run → main() {:.1} ms, ", r * 1e3))
                        .unwrap_or_default();
                    format!(
                        " (guest clocks: {exec}main() → spawned {:.1} ms)",
                        g.main_to_spawned * 1e3
                    )
                })
                .unwrap_or_default();
            eprintln!(
                "run {}: {name}: services spawned {:.0} ms{guest}, SSH banner {:.0} ms after init start",
                i + 1,
                s.spawned * 1e3,
                s.banner * 1e3
            );
            out.push(s);
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    let med = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
    let (os, ss) = (med(&ours, |s| s.spawned), med(&seed, |s| s.spawned));
    let (ob, sb) = (med(&ours, |s| s.banner), med(&seed, |s| s.banner));
    let guest: Vec<GuestTimes> = ours.iter().filter_map(|s| s.guest).collect();
    let g_work = median(guest.iter().map(|g| g.main_to_spawned).collect());
    let g_exec = median(guest.iter().filter_map(|g| g.run_to_main).collect());
    let g_total = median(
        guest
            .iter()
            .filter_map(|g| Some(g.run_to_main? + g.main_to_spawned))
            .collect(),
    );
    let n = ours.len();
    println!("medians of {n} boots each (TCG; ms after the \"Run … as init process\" line reached the host):");
    println!("                                 diskless-init   seed Rcinit   ratio");
    println!(
        "  init start -> services spawned {:>10.0} ms {:>10.0} ms {:>6.2}x",
        os * 1e3,
        ss * 1e3,
        ss / os
    );
    println!(
        "  init start -> SSH banner       {:>10.0} ms {:>10.0} ms {:>6.2}x",
        ob * 1e3,
        sb * 1e3,
        sb / ob
    );
    println!("ours on the guest's clocks (kernel's printk stamp of \"Run /sbin/diskless-init\", init's CLOCK_MONOTONIC; goals 20 ms, SSH 1500 ms):");
    println!(
        "  Run /sbin/diskless-init -> all spawned {:>8.1} ms",
        g_total * 1e3
    );
    println!(
        "    of which Run -> init's main()       {:>8.1} ms  (kernel exec, libc and Rust start-up)",
        g_exec * 1e3
    );
    println!(
        "    of which main() -> all spawned      {:>8.1} ms  (init's own work)",
        g_work * 1e3
    );
    println!(
        "ours {:.0} ms, seed-rcinit {:.0} ms, ratio {:.2}x",
        ob * 1e3,
        sb * 1e3,
        sb / ob
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_times_line_up_the_two_clocks() {
        let console = "\
[    2.552544] Run /sbin/diskless-init as init process
[    2.618721] diskless-init: diskless-init 0.1.0 starting (root stage; main() entered at 2.600000)
[    2.691982] diskless-init: all services spawned (3 running) 20.5 ms after init start; diskless: services up
[    2.700000] diskless-init: CLOCK_MONOTONIC at this line: 2.710000
";
        let g = guest_times(console).unwrap();
        assert!((g.main_to_spawned - 0.0205).abs() < 1e-9);
        // main at 2.600000 monotonic = 2.590000 on the printk clock.
        assert!((g.run_to_main.unwrap() - 0.037456).abs() < 1e-6);
        // Without the kmsg line the exec part is unknown.
        let old = console.lines().take(3).collect::<Vec<_>>().join("\n");
        assert_eq!(guest_times(&old).unwrap().run_to_main, None);
        assert_eq!(guest_times("nothing"), None);
    }
}
