//! dracut, unpacked into the cache with `apt-get download` + `dpkg -x`
//! (it conflicts with initramfs-tools, so it cannot be installed beside
//! it), run against the cached stock kernel with `dracutbasedir` pointing
//! at the unpacked tree. Nothing on the host changes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cache;
use crate::kernel::StockKernel;

const PACKAGES: &[&str] = &["dracut", "dracut-core", "dracut-network"];

/// The unpacked dracut tree (`…/root/usr/bin/dracut`), fetched once.
pub fn unpacked() -> Result<PathBuf> {
    let dir = cache::subdir("dracut")?;
    let root = dir.join("root");
    let stamp = dir.join(".done");
    if stamp.exists() {
        return Ok(root);
    }
    let _lock = cache::lock("dracut")?;
    if stamp.exists() {
        return Ok(root);
    }
    let _s = cache::Step::new("downloading dracut (apt-get download, no install)");
    let _ = std::fs::remove_dir_all(&root);
    let out = Command::new("apt-get")
        .current_dir(&dir)
        .args(["download", "-q"])
        .args(PACKAGES)
        .output()
        .context("running apt-get download")?;
    if !out.status.success() {
        bail!(
            "apt-get download {} failed: {}",
            PACKAGES.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for e in std::fs::read_dir(&dir)?.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "deb") {
            let st = Command::new("dpkg").arg("-x").arg(&p).arg(&root).status()?;
            if !st.success() {
                bail!("dpkg -x {} failed", p.display());
            }
            std::fs::remove_file(&p)?;
        }
    }
    std::fs::write(&stamp, "")?;
    Ok(root)
}

/// Build `out` with `dracut -m "nfs network base"` (not host-only, gzip);
/// returns the wall time of the dracut run.
pub fn build(k: &StockKernel, out: &Path) -> Result<Duration> {
    let root = unpacked()?;
    let confdir = std::env::temp_dir().join(format!("diskless-dracut-conf-{}", std::process::id()));
    std::fs::create_dir_all(&confdir)?;
    let start = Instant::now();
    let res = Command::new("bash")
        .arg(root.join("usr/bin/dracut"))
        .args([
            "--no-hostonly",
            "--force",
            "--gzip",
            "-m",
            "nfs network base",
        ])
        .arg("--kmoddir")
        .arg(&k.modules_dir)
        .args(["--kver", &k.version, "--conf", "/dev/null", "--confdir"])
        .arg(&confdir)
        .arg(out)
        .env("dracutbasedir", root.join("usr/lib/dracut"))
        .output()
        .context("running dracut")?;
    let took = start.elapsed();
    let _ = std::fs::remove_dir_all(&confdir);
    if !res.status.success() {
        let err = String::from_utf8_lossy(&res.stderr);
        let tail: Vec<&str> = err.lines().rev().take(10).collect();
        bail!(
            "dracut failed ({}): {}",
            res.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(took)
}
