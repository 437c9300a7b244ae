//! `diskless-mkimage initramfs`: build the image that lets a stock
//! distribution kernel boot a diskless node from NFS.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use diskless_initramfs::{build, Compression, ImageSpec};

const EXAMPLES: &str = "\
Examples:
  # Debian's kernel, the QEMU NICs only:
  diskless-mkimage initramfs --kernel-version 6.1.0-56-amd64 --nic e1000 --nic virtio_net -o initrd.img
  # Kernel modules unpacked elsewhere, every common wired NIC, zstd:
  diskless-mkimage initramfs --modules-dir /srv/k/lib/modules/6.1.0-56-amd64 --all-nics --compress zstd -o initrd.img
  # The NICs named by the nodes of one inventory profile:
  diskless-mkimage initramfs --kernel-version 6.1.0-56-amd64 --inventory cluster.toml --profile compute -o initrd.img

The image holds /init (the static diskless-init), the NFS client, overlay and
NIC modules with their dependencies from modules.dep, and
/lib/modules/VERSION/diskless.load (the load order). Builds are reproducible:
set SOURCE_DATE_EPOCH to choose the timestamps (default 0).";

#[derive(clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Args {
    /// Kernel release whose modules are in /lib/modules/VERSION.
    #[arg(long, value_name = "VERSION", conflicts_with = "modules_dir")]
    kernel_version: Option<String>,
    /// Modules directory (…/lib/modules/VERSION, after depmod).
    #[arg(long, value_name = "DIR", required_unless_present = "kernel_version")]
    modules_dir: Option<PathBuf>,
    /// A NIC driver to include (repeatable); an error if the kernel lacks it.
    #[arg(long = "nic", value_name = "NAME")]
    nics: Vec<String>,
    /// Include every common wired NIC driver the kernel has.
    #[arg(long)]
    all_nics: bool,
    /// Take NIC drivers from the inventory's nodes (their `nic` setting).
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Only the nodes of this profile (with --inventory).
    #[arg(long, value_name = "NAME", requires = "inventory")]
    profile: Option<String>,
    /// Image compression: gzip, zstd or none.
    #[arg(long, value_name = "ALGO", default_value = "gzip")]
    compress: Compression,
    /// The static init binary to store as /init. Without it, the static
    /// build of this workspace is used (target/x86_64-unknown-linux-gnu/init/diskless-init).
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,
    /// Where to write the image.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let modules_dir = match (&args.modules_dir, &args.kernel_version) {
        (Some(d), _) => d.clone(),
        (None, Some(v)) => Path::new("/lib/modules").join(v),
        (None, None) => bail!("give --kernel-version VERSION or --modules-dir DIR"),
    };
    if !modules_dir.is_dir() {
        bail!(
            "{} does not exist: install the kernel's modules, or point --modules-dir at them",
            modules_dir.display()
        );
    }
    let mut nics = args.nics.clone();
    if let Some(inv) = &args.inventory {
        nics.extend(crate::inventory_nics::inventory_nics(
            inv,
            args.profile.as_deref(),
        )?);
    }
    let all_nics = args.all_nics || nics.is_empty();
    if all_nics && !args.all_nics {
        eprintln!("no --nic given: including every common wired NIC driver (--all-nics)");
    }
    let init = match &args.init {
        Some(p) => p.clone(),
        None => default_init()?,
    };
    let spec = ImageSpec {
        modules_dir,
        init,
        nics,
        all_nics,
        compression: args.compress,
        mtime: source_date_epoch()?,
    };
    let image = build(&spec)?;
    write_atomically(&args.output, &image.bytes)?;
    let mut summary = format!(
        "{}: {} bytes ({} uncompressed), kernel {}, {} modules",
        args.output.display(),
        image.bytes.len(),
        image.cpio_len,
        image.version,
        image.modules.len()
    );
    if !image.builtin.is_empty() {
        summary.push_str(&format!(", built in: {}", image.builtin.join(" ")));
    }
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// The static init next to this workspace's build output.
fn default_init() -> anyhow::Result<PathBuf> {
    const REL: &str = "x86_64-unknown-linux-gnu/init/diskless-init";
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        candidates.push(Path::new(&dir).join(REL));
    }
    // target/<profile>/diskless-mkimage → target/
    if let Ok(exe) = std::env::current_exe() {
        if let Some(target) = exe.parent().and_then(Path::parent) {
            candidates.push(target.join(REL));
        }
    }
    candidates.push(Path::new("target").join(REL));
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    bail!(
        "no --init given and no static diskless-init at {}: build it with \
         `RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build -p diskless-init --profile init \
         --target x86_64-unknown-linux-gnu`, or pass --init FILE",
        candidates[0].display()
    )
}

fn source_date_epoch() -> anyhow::Result<u32> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(0),
        Ok(v) => v.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds (0..=4294967295)")
        }),
    }
}

/// Write to a temporary file beside `out`, then rename: a failed build never
/// leaves half an image where a node would boot it. (No fsync: ext4 and xfs
/// flush a file replaced by rename before the rename itself.)
fn write_atomically(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = out
        .file_name()
        .with_context(|| format!("{} is not a file name", out.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        std::fs::rename(&tmp, out)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", out.display()));
    }
    Ok(())
}
