//! `diskless-mkimage`: initramfs images, `check-kernel`, `check-cmdline`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check_cmdline;
mod check_kernel;
mod initramfs;
mod list;

#[derive(Parser)]
#[command(name = "diskless-mkimage", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lint a kernel command line (or a pxelinux config) for NFS-root boots.
    CheckCmdline(check_cmdline::Args),
    /// Will this kernel boot diskless nodes from NFS? And if not, what to change.
    CheckKernel(check_kernel::Args),
    /// Build an initramfs that boots a stock kernel from an NFS root.
    Initramfs(initramfs::Args),
    /// Show what an initramfs holds (ours or any distribution's).
    List(list::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::CheckCmdline(a) => check_cmdline::run(a),
        Command::CheckKernel(a) => check_kernel::run(a),
        Command::Initramfs(a) => initramfs::run(a),
        Command::List(a) => list::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("diskless-mkimage: {e:#}");
            ExitCode::from(2)
        }
    }
}
