//! `diskless-server import`: ISC dhcpd.conf (+ pxelinux.cfg files) → inventory.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use diskless_common::import::{import, ImportOptions, PxeFile};
use diskless_common::inventory;

#[derive(clap::Args)]
#[command(after_help = "\
Every statement that has no place in the inventory, every bug that was
corrected on the way (root=/dev/nfsroot, quoted 'off', a broadcast address as
gateway, backslash continuations, nfsroot without vers=/tcp) and everything
the importer had to assume is printed on stderr as FILE:LINE: kind: message.

Exit status: 0 the inventory was written and is valid, 1 it was written but
does not validate yet (problems printed), 2 the input could not be read.

Examples:
  diskless-server import --dhcpd /etc/dhcp/dhcpd.conf
  diskless-server import --dhcpd /etc/dhcp/dhcpd.conf \\
      --pxelinux-dir /tftpboot/pxelinux.cfg -o /etc/diskless/inventory.toml
  diskless-server check --inventory /etc/diskless/inventory.toml")]
pub struct Args {
    /// ISC dhcpd configuration to read.
    #[arg(long, value_name = "FILE")]
    pub dhcpd: PathBuf,
    /// Directory of pxelinux configs (files named 01-<mac>, <HEXIP> or
    /// default; a prefix such as `pxelinux.cfg-` is allowed).
    #[arg(long, value_name = "DIR")]
    pub pxelinux_dir: Option<PathBuf>,
    /// Write the inventory here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The server's address, when dhcpd.conf has no next-server.
    #[arg(long, value_name = "IP")]
    pub server: Option<Ipv4Addr>,
    /// Cluster name for the inventory.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

fn read_pxelinux_dir(dir: &Path) -> anyhow::Result<Vec<PxeFile>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list --pxelinux-dir {}", dir.display()))?;
    for e in entries {
        let e = e?;
        if !e.file_type()?.is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let looks_like_cfg = name == "default"
            || name.contains("01-")
            || (name.len() == 8 && name.chars().all(|c| c.is_ascii_hexdigit()));
        if !looks_like_cfg {
            continue;
        }
        match std::fs::read_to_string(e.path()) {
            Ok(text) => out.push(PxeFile {
                name: e.path().display().to_string(),
                text,
            }),
            Err(err) => eprintln!("{}: not read: {err}", e.path().display()),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.dhcpd)
        .with_context(|| format!("cannot read --dhcpd {}", args.dhcpd.display()))?;
    let pxe = match &args.pxelinux_dir {
        Some(d) => read_pxelinux_dir(d)?,
        None => Vec::new(),
    };
    let origin = args.dhcpd.display().to_string();
    let opts = ImportOptions {
        server: args.server,
        cluster_name: args.name.clone(),
    };
    let imported = import(&text, &origin, &pxe, &opts)
        .context("nothing was written; fix dhcpd.conf or pass the missing value as a flag")?;
    for n in &imported.notes {
        eprintln!("{n}");
    }
    let out_name = match &args.output {
        Some(p) => {
            std::fs::write(p, &imported.toml)
                .with_context(|| format!("cannot write {}", p.display()))?;
            p.display().to_string()
        }
        None => {
            print!("{}", imported.toml);
            "<stdout>".to_string()
        }
    };
    eprintln!(
        "imported {} nodes from {origin} and {} pxelinux files ({} notes above)",
        imported.nodes,
        pxe.len(),
        imported.notes.len()
    );
    match inventory::load_str(&imported.toml, &out_name) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("the imported inventory does not validate yet: fix the problems above in it");
            Ok(ExitCode::from(1))
        }
    }
}
