//! What each boot path needs from the kernel, and the check of a config
//! against it.

use serde::Serialize;

use crate::config::{Config, Tristate};
use crate::kconfig::Eval;
use crate::nic::{self, Nic};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Boot {
    /// The kernel configures the NIC (`ip=`) and mounts the NFS root itself.
    Direct,
    /// Our initramfs loads modules, configures the NIC and mounts NFS.
    Initramfs,
}

impl Boot {
    pub fn title(self) -> &'static str {
        match self {
            Boot::Direct => "direct boot (the kernel mounts the NFS root itself, no initramfs)",
            Boot::Initramfs => "initramfs boot (our initramfs loads modules and mounts NFS)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// `=y`.
    BuiltIn,
    /// `=y` or `=m`.
    Present,
}

impl Need {
    pub fn min(self) -> Tristate {
        match self {
            Need::BuiltIn => Tristate::Y,
            Need::Present => Tristate::M,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Failing it fails the verdict.
    Required,
    /// Reported, never fails.
    Advice,
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// Any one of these satisfies the rule.
    pub any_of: Vec<&'static str>,
    pub need: Need,
    pub level: Level,
    pub reason: &'static str,
}

fn rule(any_of: &[&'static str], need: Need, level: Level, reason: &'static str) -> Rule {
    Rule {
        any_of: any_of.to_vec(),
        need,
        level,
        reason,
    }
}

/// Menus and options each checked symbol sits under, for a fix written
/// without a kernel source tree to compute them.
pub fn prereqs(sym: &str) -> &'static [&'static str] {
    match sym {
        "INET" | "UNIX" | "PACKET" => &["NET"],
        "IP_PNP" => &["NET", "INET"],
        "IP_PNP_DHCP" | "IP_PNP_BOOTP" => &["NET", "INET", "IP_PNP"],
        "NFS_FS" | "NFS_V3" | "NFS_V2" => &[
            "NET",
            "INET",
            "MULTIUSER",
            "FILE_LOCKING",
            "NETWORK_FILESYSTEMS",
            "NFS_FS",
        ],
        "ROOT_NFS" => &["IP_PNP", "NFS_FS"],
        "UNIX98_PTYS" => &["TTY"],
        "SERIAL_8250_CONSOLE" => &["TTY", "SERIAL_8250"],
        "RD_GZIP" => &["BLK_DEV_INITRD"],
        "DEVTMPFS_MOUNT" => &["DEVTMPFS"],
        _ => nic::TABLE
            .iter()
            .find(|n| n.symbols.contains(&sym))
            .map_or(&[], |n| n.prereqs),
    }
}

/// The module that provides `sym` when it is `=m`.
pub fn module_for(sym: &str) -> Option<&'static str> {
    match sym {
        "NFS_FS" => Some("nfs"),
        "NFS_V3" => Some("nfsv3"),
        "NFS_V2" => Some("nfsv2"),
        "OVERLAY_FS" => Some("overlay"),
        "UNIX" => Some("unix"),
        "PACKET" => Some("af_packet"),
        _ => nic::module_for(sym),
    }
}

pub fn rules(boot: Boot, nic: Option<&Nic>) -> Vec<Rule> {
    use Level::*;
    use Need::*;
    let mut v = vec![
        rule(
            &["INET"],
            BuiltIn,
            Required,
            "TCP/IP: NFS, DHCP and ssh all run over it",
        ),
        rule(
            &["PROC_FS"],
            BuiltIn,
            Required,
            "/proc: init, ps and mount(8) read it",
        ),
        rule(&["SYSFS"], BuiltIn, Required, "/sys: device discovery"),
        rule(
            &["DEVTMPFS"],
            BuiltIn,
            Required,
            "/dev is a devtmpfs on an NFS root",
        ),
        rule(
            &["TMPFS"],
            BuiltIn,
            Required,
            "tmpfs for /run and /tmp (the NFS root is shared)",
        ),
        rule(
            &["FILE_LOCKING"],
            BuiltIn,
            Required,
            "NFS_FS depends on it; flock() and lockd need it",
        ),
        rule(
            &["UNIX98_PTYS"],
            BuiltIn,
            Required,
            "sshd allocates ptys from /dev/pts",
        ),
    ];
    match boot {
        Boot::Direct => {
            v.extend([
                rule(&["UNIX"], BuiltIn, Required, "AF_UNIX sockets for rpcbind, sshd and syslog, before any module could load"),
                rule(&["IP_PNP"], BuiltIn, Required, "the kernel must configure the NIC itself (ip= on the command line) before it can mount the root"),
                rule(&["IP_PNP_DHCP", "IP_PNP_BOOTP"], BuiltIn, Required, "ip=dhcp (or ip=bootp) needs the kernel's DHCP/BOOTP client; only a fully static ip= needs neither"),
                rule(&["NFS_FS"], BuiltIn, Required, "the NFS client must be built in: there is no initramfs to load nfs.ko from"),
                rule(&["NFS_V3", "NFS_V2"], BuiltIn, Required, "nfsroot mounts with NFSv3 (or v2)"),
                rule(&["ROOT_NFS"], BuiltIn, Required, "root=/dev/nfs support"),
            ]);
            if let Some(n) = nic {
                for s in n.symbols {
                    v.push(Rule {
                        any_of: vec![s],
                        need: BuiltIn,
                        level: Required,
                        reason: "the node's NIC driver must be built in (=y): a module cannot be loaded before the root is mounted",
                    });
                }
            }
            v.push(rule(
                &["DEVTMPFS_MOUNT"],
                BuiltIn,
                Advice,
                "mounts /dev before init starts (diskless-init mounts it anyway)",
            ));
        }
        Boot::Initramfs => {
            v.extend([
                rule(
                    &["UNIX"],
                    Present,
                    Required,
                    "AF_UNIX sockets for rpcbind, sshd and syslog",
                ),
                rule(
                    &["BLK_DEV_INITRD"],
                    BuiltIn,
                    Required,
                    "the kernel must accept an initramfs",
                ),
                rule(
                    &["RD_GZIP"],
                    BuiltIn,
                    Required,
                    "our initramfs is gzip-compressed",
                ),
                rule(
                    &["NFS_FS"],
                    Present,
                    Required,
                    "the NFS client (built in or loaded by the initramfs)",
                ),
                rule(
                    &["NFS_V3", "NFS_V2"],
                    Present,
                    Required,
                    "the root is mounted with NFSv3 (or v2)",
                ),
                rule(
                    &["OVERLAY_FS"],
                    Present,
                    Required,
                    "the writable overlay over the shared read-only root",
                ),
            ]);
            if let Some(n) = nic {
                for s in n.symbols {
                    v.push(Rule {
                        any_of: vec![s],
                        need: Present,
                        level: Required,
                        reason: "the node's NIC driver (built in, or a module in the initramfs)",
                    });
                }
            }
        }
    }
    v.push(rule(
        &["SERIAL_8250_CONSOLE"],
        BuiltIn,
        Advice,
        "console=ttyS0: without it the boot log is invisible",
    ));
    v
}

/// Turns module names into `.ko` files (dependencies first). The binary
/// implements it over the initramfs crate's `modules.dep` index so that the
/// list printed here is exactly what the image builder would pack.
pub trait ModuleResolver {
    /// Paths relative to the module directory, in load order; names that
    /// are neither modules nor built in go to `Err` with the reason.
    fn resolve(&self, names: &[&str]) -> (Vec<String>, Vec<String>);
}

/// One rule applied to one config.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub symbols: Vec<String>,
    pub need: Need,
    pub level: Level,
    pub reason: String,
    /// How each symbol reads in the config (`CONFIG_NFS_FS=m`).
    pub found: Vec<String>,
    pub ok: bool,
    /// Why it is missing, from the Kconfig tree (`--source`), else a hint.
    pub why: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub boot: Boot,
    pub pass: bool,
    pub checks: Vec<Check>,
    /// Modules the initramfs must load (names), when anything is `=m`.
    pub modules: Vec<String>,
    /// The exact `.ko` files in load order (with `--modules`).
    pub module_files: Vec<String>,
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| !c.ok && c.level == Level::Required)
    }
}

pub fn check(
    boot: Boot,
    nic: Option<&Nic>,
    config: &Config,
    eval: Option<&Eval>,
    modules: Option<&dyn ModuleResolver>,
) -> Verdict {
    let mut checks = Vec::new();
    let mut wanted_modules: Vec<&str> = Vec::new();
    for r in rules(boot, nic) {
        let ok = r.any_of.iter().any(|s| config.get(s) >= r.need.min());
        let found = r.any_of.iter().map(|s| config.describe(s)).collect();
        let mut why = Vec::new();
        if !ok {
            let first = r.any_of[0];
            match eval {
                Some(ev) => why = ev.why(first, r.need.min()),
                None if config.get(first) == Tristate::M => why.push(format!(
                    "{first} is a module (=m); this path has nothing to load it from: set CONFIG_{first}=y"
                )),
                None => why.push(format!(
                    "pass --source DIR (the kernel tree) to see why {first} is off"
                )),
            }
        } else if r.need == Need::Present {
            for s in &r.any_of {
                if config.get(s) == Tristate::M {
                    if let Some(m) = module_for(s) {
                        wanted_modules.push(m);
                    }
                    break;
                }
            }
        }
        checks.push(Check {
            symbols: r.any_of.iter().map(|s| s.to_string()).collect(),
            need: r.need,
            level: r.level,
            reason: r.reason.to_string(),
            found,
            ok,
            why,
        });
    }
    let mut notes = Vec::new();
    if nic.is_none() {
        notes.push(format!(
            "no --nic given: the NIC driver was not checked (known: {})",
            nic::names().join(", ")
        ));
    }
    let mut module_files = Vec::new();
    if boot == Boot::Initramfs && !wanted_modules.is_empty() {
        // Modules at all only work with MODULES=y.
        let ok = config.get("MODULES") == Tristate::Y;
        checks.push(Check {
            symbols: vec!["MODULES".into()],
            need: Need::BuiltIn,
            level: Level::Required,
            reason: "options needed at boot are modules (=m)".into(),
            found: vec![config.describe("MODULES")],
            ok,
            why: if ok {
                vec![]
            } else {
                vec!["set CONFIG_MODULES=y or build the =m options in".into()]
            },
        });
        match modules {
            Some(resolver) => {
                let (files, problems) = resolver.resolve(&wanted_modules);
                module_files = files;
                notes.extend(problems);
            }
            None => notes.push(
                "pass --modules /lib/modules/VERSION to list the exact .ko files with their dependencies"
                    .into(),
            ),
        }
    }
    let pass = checks.iter().all(|c| c.ok || c.level == Level::Advice);
    Verdict {
        boot,
        pass,
        checks,
        modules: wanted_modules.iter().map(|s| s.to_string()).collect(),
        module_files,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "CONFIG_INET=y\nCONFIG_PROC_FS=y\nCONFIG_SYSFS=y\nCONFIG_DEVTMPFS=y\nCONFIG_TMPFS=y\nCONFIG_FILE_LOCKING=y\nCONFIG_UNIX98_PTYS=y\nCONFIG_UNIX=y\n";

    fn verdict(boot: Boot, extra: &str) -> Verdict {
        let c = Config::parse(&format!("{BASE}{extra}")).unwrap();
        check(boot, nic::find("virtio_net"), &c, None, None)
    }

    fn failed(v: &Verdict) -> Vec<&str> {
        v.failed().map(|c| c.symbols[0].as_str()).collect()
    }

    #[test]
    fn direct_needs_everything_built_in() {
        let all = "CONFIG_IP_PNP=y\nCONFIG_IP_PNP_BOOTP=y\nCONFIG_NFS_FS=y\nCONFIG_NFS_V2=y\nCONFIG_ROOT_NFS=y\nCONFIG_VIRTIO_NET=y\nCONFIG_VIRTIO_PCI=y\n";
        let v = verdict(Boot::Direct, all);
        assert!(v.pass, "{:?}", failed(&v));
        // Advice never fails the verdict.
        assert!(v.checks.iter().any(|c| !c.ok && c.level == Level::Advice));
        let v = verdict(Boot::Direct, &all.replace("VIRTIO_PCI=y", "VIRTIO_PCI=m"));
        assert_eq!(failed(&v), ["VIRTIO_PCI"]);
        assert!(v
            .checks
            .iter()
            .find(|c| c.symbols[0] == "VIRTIO_PCI")
            .unwrap()
            .why[0]
            .contains("set CONFIG_VIRTIO_PCI=y"));
    }

    #[test]
    fn initramfs_takes_modules_and_lists_them() {
        let mods = "CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\nCONFIG_NFS_FS=m\nCONFIG_NFS_V3=m\nCONFIG_OVERLAY_FS=m\nCONFIG_VIRTIO_NET=m\nCONFIG_VIRTIO_PCI=y\n";
        let v = verdict(Boot::Initramfs, &format!("{mods}CONFIG_MODULES=y\n"));
        assert!(v.pass, "{:?}", failed(&v));
        assert_eq!(v.modules, ["nfs", "nfsv3", "overlay", "virtio_net"]);
        let v = verdict(Boot::Initramfs, mods);
        assert_eq!(failed(&v), ["MODULES"]);
    }

    #[test]
    fn absent_symbols_count_as_not_set() {
        let v = verdict(Boot::Initramfs, "");
        let f = failed(&v);
        for s in [
            "BLK_DEV_INITRD",
            "NFS_FS",
            "NFS_V3",
            "OVERLAY_FS",
            "VIRTIO_NET",
        ] {
            assert!(f.contains(&s), "{s} in {f:?}");
        }
    }
}
