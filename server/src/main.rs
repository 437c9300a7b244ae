//! `diskless-server`: one daemon for DHCP, TFTP, HTTP, NFSv3 and time,
//! driven by one cluster inventory file.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod check;
mod generated;
mod http;
mod import;
mod notify;
mod serve;
mod status;

#[derive(Parser)]
#[command(
    name = "diskless-server",
    version,
    about,
    long_about = None,
    after_help = "Examples:
  diskless-server import --dhcpd /etc/dhcp/dhcpd.conf --pxelinux-dir /tftpboot/pxelinux.cfg -o inventory.toml
  diskless-server check --inventory inventory.toml
  diskless-server serve --inventory inventory.toml
  diskless-server status --inventory inventory.toml

Man pages: diskless-server generate-man DIR; completions: diskless-server completions bash"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert ISC dhcpd.conf (+ pxelinux.cfg files) into an inventory.
    Import(import::Args),
    /// Validate an inventory file (exit 0 valid, 1 invalid).
    Check(check::Args),
    /// Run the services named by the inventory in the foreground.
    Serve(serve::Args),
    /// Show every node's boot stage (DHCP … init up) from a running server.
    Status(status::table::Args),
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
        Command::Import(a) => import::run(a),
        Command::Check(a) => check::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Status(a) => status::table::run(a),
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
            eprintln!("diskless-server: {e:#}");
            ExitCode::from(2)
        }
    }
}
