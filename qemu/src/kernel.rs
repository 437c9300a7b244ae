//! Kernels for the nodes: a small custom kernel (tinyconfig + the repo's
//! fragment, everything built in) and Debian's stock kernel with its modules.

use crate::cache::{self, Step};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod fragment;
pub use fragment::{verify, Dropped};

/// `qemu/kernel/diskless.fragment`, compiled in (it is part of the cache key).
pub const FRAGMENT: &str = include_str!("../kernel/diskless.fragment");

const SOURCE_PACKAGE: &str = "linux-source-6.1";
const SOURCE_TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";

/// The custom kernel: `bzimage` boots, `config` is its verified `.config`.
#[derive(Debug, Clone)]
pub struct CustomKernel {
    pub bzimage: PathBuf,
    pub config: PathBuf,
}

/// Debian's stock kernel, unpacked (not installed).
#[derive(Debug, Clone)]
pub struct StockKernel {
    pub vmlinuz: PathBuf,
    pub config: PathBuf,
    /// `…/lib/modules/<version>`.
    pub modules_dir: PathBuf,
    /// e.g. `6.1.0-56-amd64`.
    pub version: String,
}

fn source_version() -> Result<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", SOURCE_PACKAGE])
        .output()
        .context("running dpkg-query")?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || v.is_empty() || !Path::new(SOURCE_TARBALL).exists() {
        bail!("{SOURCE_PACKAGE} is not installed: run `diskless-qemu setup` (or apt-get install {SOURCE_PACKAGE})");
    }
    Ok(v)
}

/// The unpacked Debian `linux-source-6.1` tree (cached per package version).
pub fn source_tree() -> Result<PathBuf> {
    let ver = source_version()?;
    let src = cache::subdir("src")?;
    let dir = src.join(format!("{SOURCE_PACKAGE}-{ver}"));
    let stamp = dir.join(".diskless-unpacked");
    if stamp.exists() {
        return Ok(dir);
    }
    let _lock = cache::lock(&format!("src-{ver}"))?;
    if stamp.exists() {
        return Ok(dir);
    }
    let _s = Step::new(format!("unpacking {SOURCE_TARBALL} (once, ~1 min)"));
    let tmp = src.join(format!(".tmp-{ver}"));
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&tmp)?;
    run(Command::new("tar")
        .arg("-C")
        .arg(&tmp)
        .args(["-xJf", SOURCE_TARBALL]))?;
    std::fs::rename(tmp.join(SOURCE_PACKAGE), &dir)?;
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::write(&stamp, "")?;
    Ok(dir)
}

/// The custom kernel, built once per (source version, fragment) and cached.
/// Fails, naming them, if options of the fragment did not survive.
pub fn custom_kernel() -> Result<CustomKernel> {
    let ver = source_version()?;
    let key = cache::key(&[
        SOURCE_PACKAGE.as_bytes(),
        b" ",
        ver.as_bytes(),
        b"\n",
        FRAGMENT.as_bytes(),
    ]);
    let dir = cache::subdir("kernel")?.join(format!("custom-{key}"));
    let out = CustomKernel {
        bzimage: dir.join("bzImage"),
        config: dir.join("config"),
    };
    if out.bzimage.exists() && out.config.exists() {
        return Ok(out);
    }
    let tree = source_tree()?;
    let _lock = cache::lock(&format!("kernel-{key}"))?;
    if out.bzimage.exists() && out.config.exists() {
        return Ok(out);
    }
    let build = dir.join("build");
    std::fs::create_dir_all(&build)?;
    let step = Step::new(format!(
        "building the custom kernel {key} (tinyconfig + qemu/kernel/diskless.fragment; ~10 min on 2 cores under load, once)"
    ));
    let o = format!("O={}", build.display());
    run(Command::new("make")
        .current_dir(&tree)
        .args(["-s", &o, "tinyconfig"]))?;
    let cfg_path = build.join(".config");
    let mut cfg = std::fs::read_to_string(&cfg_path)?;
    cfg.push_str(FRAGMENT);
    std::fs::write(&cfg_path, cfg)?;
    run(Command::new("make")
        .current_dir(&tree)
        .args(["-s", &o, "olddefconfig"]))?;
    let final_cfg = std::fs::read_to_string(&cfg_path)?;
    let dropped = verify(FRAGMENT, &final_cfg);
    if !dropped.is_empty() {
        let list: Vec<String> = dropped.iter().map(|d| d.to_string()).collect();
        bail!(
            "kernel config: {} option(s) of qemu/kernel/diskless.fragment did not survive olddefconfig \
             (a dependency is missing or the symbol does not exist; add the dependency to the fragment):\n  {}",
            list.len(),
            list.join("\n  ")
        );
    }
    let jobs = format!(
        "-j{}",
        std::env::var("DISKLESS_KERNEL_JOBS").unwrap_or_else(|_| "2".into())
    );
    make_with_progress(&tree, &[&o, &jobs, "bzImage"], &step)?;
    std::fs::copy(build.join("arch/x86/boot/bzImage"), &out.bzimage)?;
    std::fs::copy(&cfg_path, &out.config)?;
    Ok(out)
}

/// Runs `make`, printing a progress line every ~15 s instead of every file.
fn make_with_progress(tree: &Path, args: &[&str], step: &Step) -> Result<()> {
    let mut child = Command::new("make")
        .current_dir(tree)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running make (install build-essential: `diskless-qemu setup`)")?;
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr {
            for l in BufReader::new(e).lines().map_while(Result::ok) {
                s.push_str(&l);
                s.push('\n');
            }
        }
        s
    });
    let mut last = std::time::Instant::now();
    let mut n = 0usize;
    if let Some(o) = child.stdout.take() {
        for l in BufReader::new(o).lines().map_while(Result::ok) {
            n += 1;
            if last.elapsed().as_secs() >= 15 {
                step.progress(&format!("{n} steps, now: {}", l.trim()));
                last = std::time::Instant::now();
            }
        }
    }
    let st = child.wait()?;
    let err = err_thread.join().unwrap_or_default();
    if !st.success() {
        let tail: Vec<&str> = err.lines().rev().take(30).collect();
        bail!(
            "kernel build failed ({st}):\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

/// Name of the newest stock kernel package, from `linux-image-amd64`'s dependency.
fn stock_package() -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["depends", "linux-image-amd64"])
        .output()
        .context("running apt-cache")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(|p| p.trim().to_string())
        .find(|p| p.starts_with("linux-image-6.1") && p.ends_with("-amd64"))
        .context("no linux-image-6.1*-amd64 in the apt lists: run `apt-get update`")
}

/// Debian's stock kernel (newest 6.1 in the apt lists), via `apt-get
/// download` + `dpkg -x`, cached per package, with `modules.dep` made by
/// depmod (dpkg -x skips the package's postinst).
pub fn stock_kernel() -> Result<StockKernel> {
    let k = stock_kernel_unpacked()?;
    crate::peers::mkinitramfs::ensure_modules_dep(&k)?;
    Ok(k)
}

fn stock_kernel_unpacked() -> Result<StockKernel> {
    let pkg = stock_package()?;
    let version = pkg.trim_start_matches("linux-image-").to_string();
    let dir = cache::subdir("stock")?.join(&pkg);
    let root = dir.join("root");
    let out = StockKernel {
        vmlinuz: root.join(format!("boot/vmlinuz-{version}")),
        config: root.join(format!("boot/config-{version}")),
        modules_dir: root.join(format!("lib/modules/{version}")),
        version: version.clone(),
    };
    let stamp = dir.join(".done");
    if stamp.exists() {
        return Ok(out);
    }
    let _lock = cache::lock(&format!("stock-{pkg}"))?;
    if stamp.exists() {
        return Ok(out);
    }
    let _s = Step::new(format!(
        "downloading Debian's stock kernel {pkg} (apt-get download, no install)"
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    run(Command::new("apt-get")
        .current_dir(&dir)
        .args(["download", "-q", &pkg]))?;
    let deb = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download produced no .deb")?;
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root))?;
    std::fs::remove_file(&deb)?;
    if !out.vmlinuz.exists() || !out.modules_dir.is_dir() {
        bail!(
            "{pkg} unpacked without {} or {}",
            out.vmlinuz.display(),
            out.modules_dir.display()
        );
    }
    std::fs::write(&stamp, "")?;
    Ok(out)
}

/// Runs a command, failing with its stderr.
pub(crate) fn run(c: &mut Command) -> Result<()> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {c:?}"))?;
    if !out.status.success() {
        bail!(
            "{c:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
