//! The boot as data: [`Facts`] (kernel command line, config files, what
//! exists) go in, an ordered list of [`Step`]s plus the services and
//! background mounts come out. [`execute`] runs steps through [`Sys`],
//! logging each one; no step can stop the boot.

use crate::clock::{self, ClockJob};
use crate::config::{self, Config};
use crate::fstab;
use crate::mount_table::{self, Mounted};
use crate::service::ServiceSpec;
use crate::sys::{errno, MountArgs, Sys};
use crate::{info, warn};
use diskless_common::cmdline::{Cmdline, DisklessArgs, IpConfig, IpParam, NfsRoot};
use std::collections::BTreeSet;
use std::time::Duration;

/// The kernel command line as the root stage reads it: `diskless_common`'s
/// model, leniently (a field the kernel could not use is a note and the
/// rest still counts, as in the kernel itself).
#[derive(Debug, Clone, Default)]
pub struct KernelCmdline {
    /// The long form of `ip=` (or `nfsaddrs=`); empty for `ip=dhcp` & co.
    pub ip: IpConfig,
    pub nfsroot: Option<NfsRoot>,
    pub diskless: DisklessArgs,
    pub notes: Vec<String>,
}

impl KernelCmdline {
    pub fn read(line: &str) -> KernelCmdline {
        let c = Cmdline::parse(line);
        let mut k = KernelCmdline {
            diskless: DisklessArgs::from_cmdline(&c),
            ..Default::default()
        };
        if let Some(v) = c.get("ip").or_else(|| c.get("nfsaddrs")) {
            let (param, errors) = IpParam::parse_lenient(v);
            for e in errors {
                k.notes.push(format!(
                    "{e} (the kernel ignores that field; see diskless-mkimage check-cmdline)"
                ));
            }
            if let IpParam::Static(ip) = param {
                k.ip = ip;
            }
        }
        match c.nfsroot() {
            Some(Ok(n)) => k.nfsroot = Some(n),
            Some(Err(e)) => k.notes.push(e.to_string()),
            None => {}
        }
        for (key, v) in &k.diskless.invalid {
            k.notes.push(format!("{key}={v} is not valid; ignored"));
        }
        k
    }
}

/// Paths whose existence the plan depends on, in groups of alternatives:
/// the plan uses the first that exists, so probing stops there (each probe
/// of a cold path is a disk read, or a LOOKUP round trip over NFS).
pub const PROBES: &[&[&str]] = &[
    &[
        "/usr/sbin/rpcbind",
        "/sbin/rpcbind",
        "/usr/sbin/portmap",
        "/sbin/portmap",
    ],
    &["/usr/sbin/gmond", "/usr/local/sbin/gmond"],
    &["/usr/sbin/sshd", "/sbin/sshd"],
    &["/usr/bin/ssh-keygen", "/bin/ssh-keygen"],
    &["/etc/ssh/ssh_host_ed25519_key"],
    &["/proc/sys/kernel/hotplug"],
];

/// Everything the plan is computed from.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub cmdline: String,
    pub mounts: Vec<Mounted>,
    pub hostname: String,
    pub etc_hostname: Option<String>,
    pub pnp: Option<String>,
    pub config_path: String,
    pub config: Option<String>,
    pub fstab: Option<String>,
    pub existing: BTreeSet<String>,
}

impl Facts {
    /// Reads the facts through `sys` (after `/proc` is mounted).
    pub fn gather(sys: &dyn Sys) -> Facts {
        let cmdline = sys.read_file("/proc/cmdline").unwrap_or_default();
        let k = KernelCmdline::read(&cmdline);
        let hostname = sys.hostname().unwrap_or_default();
        // /etc/hostname is a read from the root (NFS): only when neither
        // ip= nor the kernel named the node.
        let etc_hostname = if k.ip.hostname.is_none() && !has_name(&hostname) {
            sys.read_file("/etc/hostname").ok()
        } else {
            None
        };
        // The DHCP boot server is the clock's last resort: not read when
        // the command line names a time server or turns SNTP off.
        let pnp = match clock::choose_server(None, &k, None) {
            Ok(None) => sys.read_file("/proc/net/pnp").ok(),
            _ => None,
        };
        let config_path = k
            .diskless
            .config
            .unwrap_or_else(|| config::PATH.to_string());
        Facts {
            mounts: mount_table::parse_mounts(&sys.read_file("/proc/mounts").unwrap_or_default()),
            hostname,
            etc_hostname,
            pnp,
            config: sys.read_file(&config_path).ok(),
            config_path,
            fstab: sys.read_file("/etc/fstab").ok(),
            existing: PROBES
                .iter()
                .filter_map(|group| group.iter().find(|p| sys.exists(p)))
                .map(|p| p.to_string())
                .collect(),
            cmdline,
        }
    }

    fn is_mounted(&self, target: &str) -> bool {
        self.mounts.iter().any(|m| m.target == target)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the mount point if needed and mount; on failure run `fallback`.
    Mount {
        args: MountArgs,
        mode: u32,
        fallback: Vec<Step>,
    },
    Mkdir {
        path: String,
        mode: u32,
    },
    Mknod {
        path: String,
        mode: u32,
        major: u32,
        minor: u32,
    },
    Symlink {
        target: String,
        link: String,
    },
    WriteFile {
        path: String,
        contents: String,
        mode: u32,
    },
    OpenConsole,
    SetHostname {
        name: String,
        from: String,
    },
    LinkUp(String),
}

/// A background fstab mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountJobSpec {
    pub line: usize,
    pub args: MountArgs,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Before any service starts: what services may rely on at exec.
    pub steps: Vec<Step>,
    /// Right after the first services were spawned: files nothing needs
    /// before a login (each costs a write to the root filesystem or /proc,
    /// milliseconds under emulation or over NFS).
    pub late_steps: Vec<Step>,
    pub services: Vec<ServiceSpec>,
    pub mounts: Vec<MountJobSpec>,
    /// The SNTP step, run beside the services.
    pub clock: Option<ClockJob>,
    pub stop_timeout: Duration,
    /// Things worth a line on the console.
    pub notes: Vec<String>,
    /// Broken configuration (the boot goes on around it).
    pub errors: Vec<String>,
}

/// Computes the boot from the facts.
pub fn plan(f: &Facts) -> Plan {
    let mut p = Plan::default();
    let k = KernelCmdline::read(&f.cmdline);
    p.notes.extend(k.notes.iter().cloned());

    // 1. Early mounts; /dev falls back to tmpfs + nodes without devtmpfs.
    // Before the services: what a program may need at exec (/proc, /dev)
    // and sshd's /run/sshd. The rest is mounted right after the spawns,
    // while init still runs ahead of its children.
    for m in mount_table::early_mounts() {
        if f.is_mounted(&m.args.target) {
            continue;
        }
        let fallback =
            if m.args.fstype == "devtmpfs" {
                let mut fb = vec![Step::Mount {
                    args: mount_table::dev_fallback(),
                    mode: 0o755,
                    fallback: vec![],
                }];
                fb.extend(mount_table::ESSENTIAL_DEVICES.iter().map(
                    |&(path, mode, major, minor)| Step::Mknod {
                        path: path.into(),
                        mode,
                        major,
                        minor,
                    },
                ));
                fb
            } else {
                vec![]
            };
        let is_dev = m.args.target == "/dev";
        let early = mount_table::BEFORE_SERVICES.contains(&m.args.target.as_str());
        let step = Step::Mount {
            args: m.args,
            mode: m.mode,
            fallback,
        };
        if early {
            p.steps.push(step);
        } else {
            p.late_steps.push(step);
        }
        if is_dev {
            p.steps.push(Step::OpenConsole);
        }
    }
    // 2. Links, directories, files Rcinit made: nothing needs them before
    // a login, so they are late steps. Mounts come first there: they never
    // wait for the disk, so no service runs before they are done.
    for (target, link) in mount_table::DEV_LINKS {
        p.late_steps.push(Step::Symlink {
            target: target.into(),
            link: link.into(),
        });
    }
    p.late_steps.push(Step::Mkdir {
        path: "/run/lock".into(),
        mode: 0o1777,
    });
    // Nothing the default services do at start needs loopback (they bind
    // the wildcard address).
    p.late_steps.push(Step::LinkUp("lo".into()));
    // sshd's privilege separation directory is /run/sshd on Debian (the
    // service creates it); builds that use /var/empty check it only after
    // loading their keys, long after this runs.
    p.late_steps.push(Step::Mkdir {
        path: "/var/empty".into(),
        mode: 0o755,
    });
    // utmp is written at the first login.
    p.late_steps.push(Step::WriteFile {
        path: "/run/utmp".into(),
        contents: String::new(),
        mode: 0o644,
    });
    if f.existing.contains("/proc/sys/kernel/hotplug") {
        // No usermode hotplug helper: devtmpfs creates the nodes.
        p.late_steps.push(Step::WriteFile {
            path: "/proc/sys/kernel/hotplug".into(),
            contents: "\n".into(),
            mode: 0o644,
        });
    }
    // 3. Hostname: ip= wins, then what the kernel got from DHCP, then /etc/hostname.
    let kernel_has_name = has_name(&f.hostname);
    if let Some(h) = &k.ip.hostname {
        p.steps.push(Step::SetHostname {
            name: h.clone(),
            from: "ip=".into(),
        });
    } else if kernel_has_name {
        p.notes.push(format!(
            "hostname {} (set by the kernel, e.g. from DHCP)",
            f.hostname
        ));
    } else if let Some(h) = f
        .etc_hostname
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        p.steps.push(Step::SetHostname {
            name: h.to_string(),
            from: "/etc/hostname".into(),
        });
    }

    // 4. Configuration.
    let exists = |path: &str| f.existing.contains(path);
    let cfg = match &f.config {
        None => {
            let c = Config::defaults(&exists);
            p.notes.push(format!(
                "no {}; using the default services: {}",
                f.config_path,
                names(&c.services)
            ));
            c
        }
        Some(text) => Config::parse(text, &f.config_path, &exists).unwrap_or_else(|errs| {
            p.errors.extend(errs.iter().map(|e| e.to_string()));
            let c = Config::defaults(&exists);
            p.errors.push(format!(
                "{} is broken (run `diskless-init --check`); using the default services: {}",
                f.config_path,
                names(&c.services)
            ));
            c
        }),
    };
    p.stop_timeout = cfg.stop_timeout;

    // 5. Clock: config, then our arguments, then ip=/nfsroot=/DHCP servers.
    if cfg.clock.enabled {
        let pnp = f.pnp.as_deref().and_then(clock::pnp_bootserver);
        match clock::choose_server(cfg.clock.server, &k, pnp) {
            Ok(Some((server, from))) => {
                p.clock = Some(ClockJob {
                    server,
                    budget: cfg.clock.budget,
                    from: from.into(),
                })
            }
            Ok(None) => p.notes.push(
                "clock: no time server known (no nfsroot=, ip= or [clock] server); not set".into(),
            ),
            Err(off) => p.notes.push(format!("clock: not set ({off})")),
        }
    }

    // 6. fstab lines the early boot did not cover, mounted in the background.
    if let Some(text) = &f.fstab {
        let tab = fstab::parse(text);
        p.notes
            .extend(tab.notes.iter().map(|n| format!("/etc/fstab {n}")));
        p.errors.extend(
            tab.errors
                .iter()
                .map(|e| format!("/etc/fstab {e} (line skipped)")),
        );
        for e in tab.entries {
            if e.is_noauto()
                || e.fstype == "swap"
                || e.target == "/"
                || mount_table::EARLY_TARGETS.contains(&e.target.as_str())
                || f.is_mounted(&e.target)
            {
                continue;
            }
            match e.mount_args(&mut p.notes) {
                Ok(args) => p.mounts.push(MountJobSpec { line: e.line, args }),
                Err(m) => p
                    .errors
                    .push(format!("/etc/fstab line {}: {m} (line skipped)", e.line)),
            }
        }
    }
    // A service waiting for a mount nobody makes would wait forever.
    let targets: BTreeSet<&str> = p.mounts.iter().map(|m| m.args.target.as_str()).collect();
    let mut services = cfg.services;
    for s in &mut services {
        s.after.retain(|a| {
            let ok = !a.starts_with('/') || targets.contains(a.as_str());
            if !ok {
                p.errors.push(format!(
                    "service {}: waits for mount {a}, which /etc/fstab does not mount; not waiting",
                    s.name
                ));
            }
            ok
        });
    }
    p.services = services;
    p
}

/// The kernel's hostname is a real name (not unset).
fn has_name(h: &str) -> bool {
    !h.is_empty() && h != "(none)"
}

fn names(s: &[ServiceSpec]) -> String {
    if s.is_empty() {
        return "none found".into();
    }
    s.iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the steps in order. Failures are logged, never fatal.
pub fn execute(sys: &mut dyn Sys, steps: &[Step]) {
    for step in steps {
        run_step(sys, step);
    }
}

fn run_step(sys: &mut dyn Sys, step: &Step) {
    let eexist = |e: &std::io::Error| errno(e) == libc::EEXIST;
    match step {
        Step::Mount {
            args,
            mode,
            fallback,
        } => {
            if let Err(e) = sys.mkdir(&args.target, *mode) {
                if !eexist(&e) {
                    warn!("mkdir {}: {e}", args.target);
                }
            }
            match sys.mount(args) {
                Ok(()) => info!(
                    "mounted {} on {} ({})",
                    args.fstype,
                    args.target,
                    opts(args)
                ),
                Err(e) if !fallback.is_empty() => {
                    warn!(
                        "mount {} on {}: {e}; falling back",
                        args.fstype, args.target
                    );
                    execute(sys, fallback);
                }
                Err(e) => warn!(
                    "mount {} on {}: {e} (continuing without it)",
                    args.fstype, args.target
                ),
            }
        }
        Step::Mkdir { path, mode } => match sys.mkdir(path, *mode) {
            Ok(()) => info!("created {path}"),
            Err(e) if eexist(&e) => {}
            Err(e) => warn!("mkdir {path}: {e}"),
        },
        Step::Mknod {
            path,
            mode,
            major,
            minor,
        } => match sys.mknod_char(path, *mode, *major, *minor) {
            Ok(()) => {}
            Err(e) if eexist(&e) => {}
            Err(e) => warn!("mknod {path} c {major} {minor}: {e}"),
        },
        Step::Symlink { target, link } => match sys.symlink(target, link) {
            Ok(()) => {}
            Err(e) if eexist(&e) => {}
            Err(e) => warn!("ln -s {target} {link}: {e}"),
        },
        Step::WriteFile {
            path,
            contents,
            mode,
        } => {
            if let Err(e) = sys.write_file(path, contents.as_bytes(), *mode) {
                warn!("write {path}: {e}");
            }
        }
        Step::OpenConsole => sys.open_console(),
        Step::SetHostname { name, from } => match sys.sethostname(name) {
            Ok(()) => info!("hostname {name} (from {from})"),
            Err(e) => warn!("sethostname {name}: {e}"),
        },
        Step::LinkUp(ifname) => match sys.link_up(ifname) {
            Ok(()) => info!("{ifname} up"),
            Err(e) => warn!("bringing {ifname} up: {e}"),
        },
    }
}

fn opts(a: &MountArgs) -> &str {
    if a.data.is_empty() {
        "defaults"
    } else {
        &a.data
    }
}
