//! `diskless-server check`: validate an inventory and say exactly what to fix.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use diskless_common::inventory::{self, LoadError, LoadOptions};

#[derive(clap::Args)]
#[command(after_help = "\
Exit status: 0 the inventory is valid, 1 it has problems (each printed as
FILE:LINE:COL: message, followed by a hint), 2 it could not be read.

Examples:
  diskless-server check --inventory /etc/diskless/inventory.toml
  # an inventory written for another machine (export paths not present here):
  diskless-server check --inventory cluster.toml --no-path-check
  # convert and check in one go:
  diskless-server import --dhcpd /etc/dhcp/dhcpd.conf -o inv.toml && diskless-server check -i inv.toml")]
pub struct Args {
    /// Inventory file to validate.
    #[arg(short, long, value_name = "FILE")]
    pub inventory: PathBuf,
    /// Do not require export paths (and nfs_root) to exist on this machine.
    #[arg(long)]
    pub no_path_check: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = LoadOptions {
        check_paths: !args.no_path_check,
    };
    match inventory::load_file_with(&args.inventory, &opts) {
        Ok(inv) => {
            let profiles: std::collections::BTreeSet<_> = inv
                .nodes
                .iter()
                .filter_map(|n| n.profile.as_deref())
                .collect();
            println!(
                "{}: valid: cluster `{}`, {} nodes, {} profiles in use, {} exports",
                args.inventory.display(),
                inv.cluster.name,
                inv.nodes.len(),
                profiles.len(),
                inv.exports.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ LoadError::Invalid(_)) => {
            let n = e.problems().len();
            eprintln!("{e}");
            eprintln!(
                "{}: {n} problem{} found; fix {} and run check again",
                args.inventory.display(),
                if n == 1 { "" } else { "s" },
                if n == 1 { "it" } else { "them" }
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e).context("nothing was checked; pass an existing file to --inventory"),
    }
}
