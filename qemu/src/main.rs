//! `diskless-qemu`: the test bed's command line. The work is in the
//! `diskless_qemu` library; benchmarks are in `bench/<name>.rs`.

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "diskless-qemu",
    version,
    about = "Test bed for diskless: QEMU nodes, network namespaces, cached kernels and root, benchmarks",
    after_help = "Examples:
  sudo diskless-qemu setup            # install packages, build the kernel and node root (cached)
  diskless-qemu test                  # setup, then cargo test --workspace (what CI runs)
  diskless-qemu bench boot --stack seed   # PXE-boot a node with the seed's stack, print its timeline
  diskless-qemu demo                  # boot a node from diskless-server and open its shell

Caches live in ~/.cache/diskless (override with DISKLESS_CACHE).
Everything that sends packets runs in network namespaces created by the tool, with no route out."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the Debian packages the tests need and fill the caches (idempotent; needs root).
    Setup,
    /// PXE-boot a node from diskless-server and open its shell (the README's main command).
    Demo {
        /// Run this command on the node instead of opening a shell.
        #[arg(long)]
        exec: Option<String>,
    },
    /// Run `setup`, then `cargo test --workspace` (what .ci/run does); exits with its status.
    ///
    /// Arguments after `--` go to cargo test; with `-p <crate>` only that crate is tested.
    Test {
        /// Extra arguments for `cargo test` (after `--`).
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Benchmarks: each runs ours and the peer in one run and prints
    /// `ours <v> <unit>, <peer> <v> <unit>, ratio <r>x` as its last line.
    #[command(subcommand)]
    Bench(diskless_qemu::bench::Bench),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DISKLESS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let r: Result<i32> = match cli.cmd {
        Cmd::Setup => diskless_qemu::setup::run().map(|_| 0),
        Cmd::Demo { exec } => demo(exec),
        Cmd::Test { cargo_args } => test(&cargo_args),
        Cmd::Bench(b) => diskless_qemu::bench::run(b).map(|_| 0),
    };
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("diskless-qemu: error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn demo(exec: Option<String>) -> Result<i32> {
    diskless_qemu::demo::run(exec)
}

/// Setup, then the workspace's tests with their output forwarded.
fn test(cargo_args: &[String]) -> Result<i32> {
    diskless_qemu::setup::run()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // `-p X` narrows the run; otherwise the whole workspace is tested.
    let narrowed = cargo_args
        .iter()
        .any(|a| a == "-p" || a.starts_with("--package") || a.starts_with("-p"));
    // All failures in one CI run, not just the first test binary's.
    let mut args = vec!["test".to_string(), "--no-fail-fast".to_string()];
    if !narrowed {
        args.push("--workspace".into());
    }
    args.extend(cargo_args.iter().cloned());
    eprintln!("==> cargo {}", args.join(" "));
    let st = std::process::Command::new(cargo).args(&args).status()?;
    Ok(st.code().unwrap_or(1))
}
