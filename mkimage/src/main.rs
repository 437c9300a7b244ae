//! `diskless-mkimage`: initramfs images, `check-kernel`, `check-cmdline`.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod check_cmdline;
mod check_kernel;
mod initramfs;
mod inventory_nics;
mod list;

#[derive(Parser)]
#[command(
    name = "diskless-mkimage",
    version,
    about,
    long_about = None,
    after_help = "Examples:
  diskless-mkimage check-cmdline --pxelinux /tftpboot/pxelinux.cfg/01-00-18-f3-70-91-b9
  diskless-mkimage check-cmdline \"root=/dev/nfs nfsroot=172.16.1.1:/srv/root,vers=3,tcp ip=dhcp\"
  diskless-mkimage check-kernel --help

Man pages: diskless-mkimage generate-man DIR; completions: diskless-mkimage completions bash"
)]
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
    /// Write man pages into DIR (generated from these definitions).
    #[command(hide = true)]
    GenerateMan(diskless_common::cli::ManArgs),
    /// Print a shell completion script.
    #[command(hide = true)]
    Completions(diskless_common::cli::CompletionArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::CheckCmdline(a) => check_cmdline::run(a),
        Command::CheckKernel(a) => check_kernel::run(a),
        Command::Initramfs(a) => initramfs::run(a),
        Command::List(a) => list::run(a),
        Command::GenerateMan(a) => {
            diskless_common::cli::man(Cli::command(), &a).map_err(anyhow::Error::msg)
        }
        Command::Completions(a) => {
            diskless_common::cli::completions(Cli::command(), &a).map_err(anyhow::Error::msg)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("diskless-mkimage: {e:#}");
            ExitCode::from(2)
        }
    }
}
