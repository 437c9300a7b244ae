//! `diskless-mkimage check-cmdline`.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`check-cmdline` is not implemented yet")
}
