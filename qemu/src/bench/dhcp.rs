//! `diskless-qemu bench dhcp` (stub: the owning helper replaces this body).

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    anyhow::bail!("bench dhcp: not implemented yet")
}
