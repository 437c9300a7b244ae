//! `diskless-qemu setup`: install what the tests and benchmarks need (apt,
//! idempotent) and fill the caches (kernels, node root).

use crate::cache::Step;
use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};

/// Debian packages the test bed, the tests and the benchmarks use.
pub const PACKAGES: &[&str] = &[
    // QEMU and firmware
    "qemu-system-x86",
    "ipxe-qemu",
    "ovmf",
    "pxelinux",
    "syslinux-common",
    "syslinux-efi",
    // node root, kernels
    "debootstrap",
    "linux-source-6.1",
    "build-essential",
    "bc",
    "bison",
    "flex",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "xz-utils",
    "zstd",
    "lz4",
    "bzip2",
    "kmod",
    "e2fsprogs",
    "initramfs-tools",
    // harness
    "iproute2",
    "openssh-client",
    "curl",
    "socat",
    "tcpdump",
    "busybox-static",
    // packet-loss fallback where the kernel has no sch_netem
    "nftables",
    // peers for the benchmarks
    "dnsmasq",
    "atftpd",
    "atftp",
    "tftp-hpa",
    "kea-dhcp4-server",
    "kea-admin",
    "nfs-ganesha",
    "nfs-ganesha-vfs",
    "rpcbind",
    "libnfs-utils",
    "iperf3",
    "ntpsec-ntpdate",
];

/// Packages from `PACKAGES` that dpkg does not report as installed.
pub fn missing_packages() -> Result<Vec<String>> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Abbrev}\n"])
        .args(PACKAGES)
        .stderr(Stdio::null())
        .output()
        .context("running dpkg-query (is this Debian?)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let installed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, st)| st.starts_with("ii"))
        .map(|(p, _)| p)
        .collect();
    Ok(PACKAGES
        .iter()
        .filter(|p| !installed.contains(p))
        .map(|p| p.to_string())
        .collect())
}

/// apt-installs what is missing (one `apt-get update` first if needed).
pub fn install_packages() -> Result<()> {
    let missing = missing_packages()?;
    if missing.is_empty() {
        eprintln!("==> all {} Debian packages are installed", PACKAGES.len());
        return Ok(());
    }
    if !nix::unistd::Uid::effective().is_root() {
        bail!(
            "missing packages: {}. Run `sudo diskless-qemu setup` (setup needs root to apt-get install)",
            missing.join(" ")
        );
    }
    let _s = Step::new(format!("apt-get install {}", missing.join(" ")));
    let apt = |args: &[&str]| -> Result<bool> {
        Ok(Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .context("running apt-get")?
            .success())
    };
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(missing.iter().map(|s| s.as_str()));
    if !apt(&args)? {
        eprintln!("==> apt-get install failed; running apt-get update once and retrying");
        if !apt(&["update", "-q"])? || !apt(&args)? {
            bail!(
                "apt-get install {} failed; see the apt output above",
                missing.join(" ")
            );
        }
    }
    // The services these packages ship must not run on the host: the tests
    // start their own copies inside namespaces.
    for svc in ["dnsmasq", "atftpd", "kea-dhcp4-server", "nfs-ganesha"] {
        let _ = Command::new("systemctl")
            .args(["disable", "--now", svc])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    Ok(())
}

/// The whole setup: packages, then every cache. Prints what it does.
pub fn run() -> Result<()> {
    let t = std::time::Instant::now();
    eprintln!(
        "diskless-qemu setup: installing packages and filling {}",
        crate::cache::dir().display()
    );
    install_packages()?;
    let k = crate::kernel::custom_kernel()?;
    eprintln!("==> custom kernel: {}", k.bzimage.display());
    let s = crate::kernel::stock_kernel()?;
    eprintln!("==> stock kernel {}: {}", s.version, s.vmlinuz.display());
    let r = crate::rootfs::tarball()?;
    eprintln!("==> node root: {}", r.display());
    let accel = crate::vm::accel();
    eprintln!("==> QEMU accelerator: {accel}");
    eprintln!(
        "diskless-qemu setup: done in {:.1}s (cache {} MiB)",
        t.elapsed().as_secs_f64(),
        crate::cache::size_of(&crate::cache::dir()) >> 20
    );
    Ok(())
}
