//! `diskless-qemu bench boot`: PXE-boot a node to its SSH banner and print the
//! timeline.

use anyhow::Result;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    Seed,
    Ours,
    Both,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which stack serves the boot.
    #[arg(long, value_enum, default_value = "seed")]
    pub stack: Stack,
    /// Boots per stack (the median is reported).
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Also send IPv6 router advertisements (iPXE otherwise waits ~13 s for IPv6).
    #[arg(long)]
    pub ra: bool,
}

pub fn run(_args: Args) -> Result<()> {
    anyhow::bail!("bench boot: being written")
}
