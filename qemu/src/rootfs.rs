//! The node root: debootstrap bookworm (minbase + the services the seed runs),
//! cached as a tarball, unpacked fresh per run, optionally made into an ext4
//! image.

use crate::cache::{self, Step};
use crate::kernel::run;
use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Packages on top of minbase. `sysvinit-core` gives the seed's inittab path
/// an init; `nfs-common` gives `mount.nfs` for `/culc`.
pub const PACKAGES: &[&str] = &[
    "openssh-server",
    "rpcbind",
    "ganglia-monitor",
    "sysvinit-core",
    "iproute2",
    "procps",
    "kmod",
    "nfs-common",
    "netbase",
];

const SUITE: &str = "bookworm";

/// The Debian mirror from the machine's apt sources (debootstrap needs one we
/// can reach), else deb.debian.org.
pub fn mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if let Some(m) = mirror_in(&text) {
            return m;
        }
    }
    "http://deb.debian.org/debian".to_string()
}

/// First `.../debian` URI (not `-security`) in a one-line or deb822 sources file.
fn mirror_in(text: &str) -> Option<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .find(|w| {
            (w.starts_with("http://") || w.starts_with("https://"))
                && w.trim_end_matches('/').ends_with("/debian")
        })
        .map(|w| w.trim_end_matches('/').to_string())
}

/// The cached root tarball (zstd), built with debootstrap on first use.
pub fn tarball() -> Result<PathBuf> {
    let spec = format!("debootstrap {SUITE} minbase {}\n", PACKAGES.join(","));
    let key = cache::key(&[spec.as_bytes()]);
    let dir = cache::subdir("rootfs")?;
    let tar = dir.join(format!("{SUITE}-{key}.tar.zst"));
    if tar.exists() {
        return Ok(tar);
    }
    let _lock = cache::lock(&format!("rootfs-{key}"))?;
    if tar.exists() {
        return Ok(tar);
    }
    let mirror = mirror();
    let _s = Step::new(format!(
        "debootstrap {SUITE} (minbase + {}) from {mirror} (once, a few minutes)",
        PACKAGES.join(", ")
    ));
    let tmp = dir.join(format!("tmp-{key}"));
    let _ = std::fs::remove_dir_all(&tmp);
    let log = dir.join(format!("debootstrap-{key}.log"));
    let logf = std::fs::File::create(&log)?;
    let st = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={}", PACKAGES.join(",")),
        ])
        .arg(SUITE)
        .arg(&tmp)
        .arg(&mirror)
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .status()
        .context("running debootstrap (run `diskless-qemu setup`)")?;
    if !st.success() {
        bail!("debootstrap failed ({st}); see {}", log.display());
    }
    run(Command::new("chroot").arg(&tmp).args(["apt-get", "clean"]))?;
    let part = dir.join(format!("{SUITE}-{key}.tar.zst.part"));
    run(Command::new("tar")
        .arg("-C")
        .arg(&tmp)
        .args(["--numeric-owner", "--zstd", "-cpf"])
        .arg(&part)
        .arg("."))?;
    std::fs::rename(&part, &tar)?;
    std::fs::remove_dir_all(&tmp)?;
    Ok(tar)
}

/// Unpacks a fresh copy of the root into `dest` (created if missing).
pub fn unpack(dest: &Path) -> Result<()> {
    let tar = tarball()?;
    std::fs::create_dir_all(dest)?;
    run(Command::new("tar")
        .arg("-C")
        .arg(dest)
        .args(["--numeric-owner", "--zstd", "-xpf"])
        .arg(&tar))
}

/// Lets `pubkey` (an OpenSSH public key line) log in as root.
pub fn inject_ssh_key(root_dir: &Path, pubkey: &str) -> Result<()> {
    let ssh = root_dir.join("root/.ssh");
    std::fs::create_dir_all(&ssh)?;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700))?;
    let ak = ssh.join("authorized_keys");
    std::fs::write(&ak, format!("{}\n", pubkey.trim()))?;
    std::fs::set_permissions(&ak, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// Sets `/etc/hostname` in the root.
pub fn set_hostname(root_dir: &Path, name: &str) -> Result<()> {
    std::fs::write(root_dir.join("etc/hostname"), format!("{name}\n"))?;
    Ok(())
}

/// An ext4 image of `root_dir` (`mkfs.ext4 -d`), sized with headroom.
pub fn ext4_image(root_dir: &Path, out: &Path) -> Result<()> {
    if !root_dir.join("etc").is_dir() {
        bail!(
            "{} does not look like a root filesystem (no etc/)",
            root_dir.display()
        );
    }
    let used = cache::size_of(root_dir);
    let size = used + used / 3 + (256 << 20);
    let f = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    f.set_len(size)?;
    drop(f);
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "diskless-root", "-d"])
        .arg(root_dir)
        .arg(out))
    .context("mkfs.ext4 -d (e2fsprogs >= 1.43; run `diskless-qemu setup`)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_from_deb822_and_one_line_sources() {
        let deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/x\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n";
        assert_eq!(
            mirror_in(deb822).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let one = "deb http://ftp.de.debian.org/debian/ bookworm main\n";
        assert_eq!(
            mirror_in(one).as_deref(),
            Some("http://ftp.de.debian.org/debian")
        );
        assert_eq!(
            mirror_in("deb http://deb.debian.org/debian-security bookworm-security main"),
            None
        );
        assert_eq!(mirror_in(""), None);
    }

    #[test]
    fn ext4_image_refuses_a_non_root() {
        let d = std::env::temp_dir().join(format!("dl-notroot-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let err = ext4_image(&d, &d.join("x.img")).unwrap_err();
        assert!(err.to_string().contains("no etc/"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
