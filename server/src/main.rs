//! `diskless-server`: one daemon for DHCP, TFTP, HTTP, NFSv3 and time,
//! driven by one cluster inventory file.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod generated;
mod http;
mod import;
mod notify;
mod serve;

#[derive(Parser)]
#[command(name = "diskless-server", version, about, long_about = None)]
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import(a) => import::run(a),
        Command::Check(a) => check::run(a),
        Command::Serve(a) => serve::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("diskless-server: {e:#}");
            ExitCode::from(2)
        }
    }
}
