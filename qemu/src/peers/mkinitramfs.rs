//! Debian's `mkinitramfs` (initramfs-tools) run against the cached stock
//! kernel, without installing that kernel on the host.
//!
//! mkinitramfs insists on `/lib/modules/VERSION` and `/boot/config-VERSION`.
//! We give it both inside a private mount namespace (`unshare -m`): an
//! overlay on `/usr/lib` adds `modules/VERSION` as a link to the cache, and a
//! tmpfs on `/boot` holds the config. Nothing on the host changes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cache;
use crate::kernel::StockKernel;

/// `dpkg -x` does not run the package's postinst, so the stock kernel comes
/// without `modules.dep`; run depmod once into the cache.
pub fn ensure_modules_dep(k: &StockKernel) -> Result<()> {
    if k.modules_dir.join("modules.dep").is_file() {
        return Ok(());
    }
    let _lock = cache::lock(&format!("depmod-{}", k.version))?;
    if k.modules_dir.join("modules.dep").is_file() {
        return Ok(());
    }
    let root = stock_root(k)?;
    let out = Command::new("depmod")
        .arg("-b")
        .arg(&root)
        .arg(&k.version)
        .output()
        .context("running depmod (package kmod)")?;
    if !out.status.success() {
        bail!(
            "depmod -b {} {} failed: {}",
            root.display(),
            k.version,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `ROOT` of `ROOT/lib/modules/VERSION`.
fn stock_root(k: &StockKernel) -> Result<PathBuf> {
    k.modules_dir
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .with_context(|| {
            format!(
                "{} is not ROOT/lib/modules/VERSION",
                k.modules_dir.display()
            )
        })
}

/// Settings for one mkinitramfs run.
#[derive(Clone, Debug)]
pub struct Options {
    /// `MODULES=`: most, netboot, dep, list.
    pub modules: String,
    /// `BOOT=`: local or nfs.
    pub boot: String,
    /// `COMPRESS=`: gzip, zstd, xz, lz4…
    pub compress: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            modules: "netboot".into(),
            boot: "nfs".into(),
            compress: "gzip".into(),
        }
    }
}

/// Build `out` with mkinitramfs for the stock kernel; returns the wall time
/// of the mkinitramfs run itself.
pub fn build(k: &StockKernel, opts: &Options, out: &Path) -> Result<Duration> {
    ensure_modules_dep(k)?;
    if !Path::new("/usr/sbin/mkinitramfs").exists() {
        bail!("mkinitramfs is missing: apt-get install initramfs-tools");
    }
    let work = tempdir("mkinitramfs")?;
    let confdir = work.join("conf");
    copy_dir(Path::new("/etc/initramfs-tools"), &confdir)?;
    let conf = confdir.join("initramfs.conf");
    let text = std::fs::read_to_string(&conf).unwrap_or_default();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            !["MODULES=", "BOOT=", "COMPRESS="]
                .iter()
                .any(|k| l.trim_start().starts_with(k))
        })
        .collect();
    let text = format!(
        "{}\nMODULES={}\nBOOT={}\nCOMPRESS={}\n",
        kept.join("\n"),
        opts.modules,
        opts.boot,
        opts.compress
    );
    std::fs::write(&conf, text)?;
    let stage = work.join("stage");
    std::fs::create_dir_all(stage.join("modules"))?;
    std::os::unix::fs::symlink(&k.modules_dir, stage.join("modules").join(&k.version))?;

    let script = r#"set -e
mount --make-rprivate /
mount -t tmpfs diskless-boot /boot
cp "$CONFIG" "/boot/config-$VERSION"
mount -t overlay diskless-lib -o "lowerdir=$STAGE:/usr/lib" /usr/lib
exec mkinitramfs -d "$CONFDIR" -o "$OUT" "$VERSION"
"#;
    let out_abs = std::path::absolute(out)?;
    let start = Instant::now();
    let res = Command::new("unshare")
        .args(["-m", "sh", "-c", script])
        .env("CONFIG", &k.config)
        .env("VERSION", &k.version)
        .env("STAGE", &stage)
        .env("CONFDIR", &confdir)
        .env("OUT", &out_abs)
        .output()
        .context("running unshare -m … mkinitramfs")?;
    let took = start.elapsed();
    let _ = std::fs::remove_dir_all(&work);
    if !res.status.success() {
        bail!(
            "mkinitramfs failed ({}): {}",
            res.status,
            String::from_utf8_lossy(&res.stderr)
        );
    }
    Ok(took)
}

fn tempdir(tag: &str) -> Result<PathBuf> {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("diskless-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let t = to.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_dir(&e.path(), &t)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &t)?;
        } else {
            std::fs::copy(e.path(), &t)?;
        }
    }
    Ok(())
}
