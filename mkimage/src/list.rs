//! `diskless-mkimage list`: what an initramfs holds, ours or anyone's.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use diskless_initramfs::list_image;

const EXAMPLES: &str = "\
Examples:
  diskless-mkimage list initrd.img
  diskless-mkimage list --names /boot/initrd.img-6.1.0-56-amd64 | grep '\\.ko$'

Handles what the kernel accepts: several cpio archives in a row (Debian puts an
uncompressed early-microcode archive before the main one), each plain or
compressed with gzip, zstd, xz, lzma, bzip2 or lz4.";

#[derive(clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Args {
    /// The initramfs image.
    file: PathBuf,
    /// Print only the paths, one per line (no segment headers).
    #[arg(long)]
    names: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let segments = list_image(&data)
        .with_context(|| format!("{} is not a readable initramfs", args.file.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut total = 0;
    for (i, seg) in segments.iter().enumerate() {
        total += seg.entries.len();
        if !args.names {
            writeln!(
                out,
                "# archive {} at byte {}: {}, {} bytes stored, {} entries",
                i + 1,
                seg.offset,
                seg.format.name(),
                seg.stored_len,
                seg.entries.len()
            )?;
        }
        for e in &seg.entries {
            if args.names {
                writeln!(out, "{}", e.name)?;
                continue;
            }
            let size = if e.mode & 0o170000 == 0o020000 || e.mode & 0o170000 == 0o060000 {
                format!("{},{}", e.rdev.0, e.rdev.1)
            } else {
                e.size.to_string()
            };
            write!(
                out,
                "{} {:>4} {:>4} {:>10} {}",
                e.mode_string(),
                e.uid,
                e.gid,
                size,
                e.name
            )?;
            if let Some(t) = &e.target {
                write!(out, " -> {t}")?;
            }
            writeln!(out)?;
        }
    }
    if !args.names {
        writeln!(out, "# {total} entries in {} archive(s)", segments.len())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
