//! `diskless-qemu bench initramfs`: build time and image size of
//! `diskless-mkimage initramfs` vs Debian's `mkinitramfs` (`MODULES=netboot`,
//! `BOOT=nfs`) for the same stock kernel, medians over several runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::kernel::stock_kernel;
use crate::peers::{dracut, mkinitramfs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Runs of our builder.
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Runs of mkinitramfs (each takes seconds).
    #[arg(long, default_value_t = 3)]
    peer_runs: usize,
    /// Runs of dracut (`-m "nfs network base"`, unpacked from its .debs;
    /// always gzip); 0 skips it.
    #[arg(long, default_value_t = 1)]
    dracut_runs: usize,
    /// Compression for ours and mkinitramfs: gzip or zstd.
    #[arg(long, default_value = "gzip")]
    compress: String,
    /// Our builder [default: diskless-mkimage from target/release].
    #[arg(long)]
    mkimage: Option<PathBuf>,
    /// Static init for /init [default: the workspace's static diskless-init,
    /// else /bin/busybox from busybox-static].
    #[arg(long)]
    init: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    if args.runs == 0 || args.peer_runs == 0 {
        bail!("--runs and --peer-runs must be at least 1");
    }
    let k = stock_kernel()?;
    let mkimage = match &args.mkimage {
        Some(p) => p.clone(),
        None => release_mkimage()?,
    };
    let init = match &args.init {
        Some(p) => p.clone(),
        None => default_init()?,
    };
    let work =
        std::env::temp_dir().join(format!("diskless-bench-initramfs-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = bench(&args, &k, &mkimage, &init, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn bench(
    args: &Args,
    k: &crate::kernel::StockKernel,
    mkimage: &Path,
    init: &Path,
    work: &Path,
) -> Result<()> {
    println!(
        "kernel {}, compression {}, builder {}, init {}",
        k.version,
        args.compress,
        mkimage.display(),
        init.display()
    );
    let ours_img = work.join("ours.img");
    let ours_args = |out: &Path, nics: &[&str]| {
        let mut c = Command::new(mkimage);
        c.arg("initramfs")
            .arg("--modules-dir")
            .arg(&k.modules_dir)
            .arg("--init")
            .arg(init)
            .arg("--compress")
            .arg(&args.compress)
            .arg("-o")
            .arg(out)
            .args(nics)
            .env("SOURCE_DATE_EPOCH", "0");
        c
    };
    // Warm the page cache for both builders alike.
    run_ok(&mut ours_args(&ours_img, &["--all-nics"]))?;
    let mut ours = Vec::new();
    for _ in 0..args.runs {
        let t = Instant::now();
        run_ok(&mut ours_args(&ours_img, &["--all-nics"]))?;
        ours.push(t.elapsed());
    }
    let ours_size = std::fs::metadata(&ours_img)?.len();
    let small_img = work.join("small.img");
    run_ok(&mut ours_args(
        &small_img,
        &["--nic", "e1000", "--nic", "virtio_net"],
    ))?;
    let small_size = std::fs::metadata(&small_img)?.len();

    let peer_img = work.join("mkinitramfs.img");
    let opts = mkinitramfs::Options {
        compress: args.compress.clone(),
        ..Default::default()
    };
    let mut peer = Vec::new();
    for _ in 0..args.peer_runs {
        peer.push(mkinitramfs::build(k, &opts, &peer_img)?);
    }
    let peer_size = std::fs::metadata(&peer_img)?.len();

    // dracut is optional: it has to be unpacked from the mirror, and a
    // failure there must not hide the main comparison.
    let mut dr = Vec::new();
    let mut dracut_size = 0;
    let dracut_img = work.join("dracut.img");
    for _ in 0..args.dracut_runs {
        match dracut::build(k, &dracut_img) {
            Ok(t) => dr.push(t),
            Err(e) => {
                println!("dracut skipped: {e:#}");
                break;
            }
        }
        dracut_size = std::fs::metadata(&dracut_img).map(|m| m.len()).unwrap_or(0);
    }

    let (o, p) = (median(&mut ours), median(&mut peer));
    println!(
        "ours (--all-nics): median {:.3} s over {} runs, {:.1} MiB",
        o.as_secs_f64(),
        ours.len(),
        mib(ours_size)
    );
    println!(
        "ours (--nic e1000 --nic virtio_net): {:.1} MiB",
        mib(small_size)
    );
    println!(
        "mkinitramfs (MODULES=netboot BOOT=nfs): median {:.3} s over {} runs, {:.1} MiB",
        p.as_secs_f64(),
        peer.len(),
        mib(peer_size)
    );
    if !dr.is_empty() {
        println!(
            "dracut (-m \"nfs network base\", gzip): median {:.3} s over {} runs, {:.1} MiB",
            median(&mut dr).as_secs_f64(),
            dr.len(),
            mib(dracut_size)
        );
    }
    println!(
        "size: ours {:.1} MiB, mkinitramfs {:.1} MiB, ratio {:.1}x",
        mib(ours_size),
        mib(peer_size),
        peer_size as f64 / ours_size as f64
    );
    println!(
        "ours {:.3} s, mkinitramfs {:.3} s, ratio {:.1}x",
        o.as_secs_f64(),
        p.as_secs_f64(),
        p.as_secs_f64() / o.as_secs_f64()
    );
    Ok(())
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run_ok(c: &mut Command) -> Result<()> {
    let out = c.output().with_context(|| format!("running {c:?}"))?;
    if !out.status.success() {
        bail!(
            "{c:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// diskless-mkimage from a release build next to this binary.
fn release_mkimage() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory")?;
    let p = target.join("release").join("diskless-mkimage");
    if p.is_file() {
        return Ok(p);
    }
    bail!(
        "{} is missing: run `cargo build --release -p diskless-mkimage` (the benchmark times a \
         release build), or pass --mkimage FILE",
        p.display()
    )
}

fn default_init() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    if let Some(target) = exe.parent().and_then(Path::parent) {
        let p = target.join("x86_64-unknown-linux-gnu/init/diskless-init");
        if p.is_file() {
            return Ok(p);
        }
    }
    let bb = PathBuf::from("/bin/busybox");
    if bb.is_file() {
        eprintln!("no static diskless-init built: timing with /bin/busybox as /init");
        return Ok(bb);
    }
    bail!("no static init: build diskless-init (see docs/initramfs.md) or pass --init FILE")
}
