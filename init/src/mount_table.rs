//! The mounts init makes itself before anything else runs, and the kernel's
//! view of what is mounted (`/proc/mounts`).

use crate::sys::{MountArgs, MountFlags as F};

/// One early mount: where, what, and whether the boot can live without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyMount {
    pub args: MountArgs,
    pub mode: u32,
}

/// Mount points the early boot owns; fstab lines for them are skipped.
pub const EARLY_TARGETS: [&str; 7] = [
    "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/run", "/tmp",
];

/// The early mounts made before any service starts (what a program may
/// need at exec: `/proc`, `/dev`, and `/run` for sshd's privilege
/// separation directory); the others follow right after the spawns.
pub const BEFORE_SERVICES: [&str; 3] = ["/proc", "/dev", "/run"];

/// The seed's limits: `/dev` 1M, `/tmp` 10M (its `/run` lived in `/tmp`).
pub fn early_mounts() -> Vec<EarlyMount> {
    let m = |src: &str, target: &str, fs: &str, flags: u64, data: &str, mode: u32| EarlyMount {
        args: MountArgs::new(src, target, fs, flags, data),
        mode,
    };
    vec![
        m(
            "proc",
            "/proc",
            "proc",
            F::NOSUID | F::NODEV | F::NOEXEC,
            "",
            0o555,
        ),
        m(
            "sysfs",
            "/sys",
            "sysfs",
            F::NOSUID | F::NODEV | F::NOEXEC,
            "",
            0o555,
        ),
        m(
            "devtmpfs",
            "/dev",
            "devtmpfs",
            F::NOSUID,
            "mode=0755",
            0o755,
        ),
        m(
            "devpts",
            "/dev/pts",
            "devpts",
            F::NOSUID | F::NOEXEC,
            "gid=5,mode=620,ptmxmode=000",
            0o755,
        ),
        m(
            "tmpfs",
            "/dev/shm",
            "tmpfs",
            F::NOSUID | F::NODEV,
            "mode=1777",
            0o1777,
        ),
        m(
            "tmpfs",
            "/run",
            "tmpfs",
            F::NOSUID | F::NODEV,
            "size=10M,mode=0755",
            0o755,
        ),
        m(
            "tmpfs",
            "/tmp",
            "tmpfs",
            F::NOSUID | F::NODEV,
            "size=10M,mode=1777",
            0o1777,
        ),
    ]
}

/// `/dev` when the kernel has no devtmpfs: a small tmpfs (the seed's 1M).
pub fn dev_fallback() -> MountArgs {
    MountArgs::new("tmpfs", "/dev", "tmpfs", F::NOSUID, "size=1M,mode=0755")
}

/// Device nodes a tmpfs `/dev` needs: (name, mode, major, minor).
pub const ESSENTIAL_DEVICES: [(&str, u32, u32, u32); 9] = [
    ("/dev/null", 0o666, 1, 3),
    ("/dev/zero", 0o666, 1, 5),
    ("/dev/full", 0o666, 1, 7),
    ("/dev/random", 0o666, 1, 8),
    ("/dev/urandom", 0o666, 1, 9),
    ("/dev/kmsg", 0o644, 1, 11),
    ("/dev/tty", 0o666, 5, 0),
    ("/dev/console", 0o600, 5, 1),
    ("/dev/ptmx", 0o666, 5, 2),
];

/// The `/dev` links Rcinit made by hand.
pub const DEV_LINKS: [(&str, &str); 4] = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
];

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounted {
    pub source: String,
    pub target: String,
    pub fstype: String,
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Parses `/proc/mounts`, in mount order.
pub fn parse_mounts(text: &str) -> Vec<Mounted> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(Mounted {
                source: unescape(w.next()?),
                target: unescape(w.next()?),
                fstype: w.next()?.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_mounts() {
        let m = parse_mounts(
            "/dev/root / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\nx /a\\040b tmpfs rw 0 0\nbroken\n",
        );
        assert_eq!(m.len(), 3);
        assert_eq!(m[2].target, "/a b");
    }

    #[test]
    fn early_targets_match_table() {
        let t: Vec<String> = early_mounts().into_iter().map(|m| m.args.target).collect();
        assert_eq!(t, EARLY_TARGETS);
    }
}
