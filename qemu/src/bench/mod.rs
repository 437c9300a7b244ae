//! `diskless-qemu bench <name>`: one module per benchmark. Each module owns
//! its `Args` (clap) and `run`; add a variant here to add a benchmark.

use anyhow::Result;
use clap::Subcommand;

pub mod boot;
pub mod dhcp;
pub mod init;
pub mod initramfs;
pub mod inventory;
pub mod nfs;
pub mod tftp;

#[derive(Subcommand)]
pub enum Bench {
    /// Power-on to SSH banner, per boot stage: our stack vs the seed's.
    Boot(boot::Args),
    /// diskless-init vs the seed's bash Rcinit: init start to services up.
    Init(init::Args),
    /// TFTP transfer throughput/latency: ours vs a peer server.
    Tftp(tftp::Args),
    /// DHCP leases per second: ours vs a peer server.
    Dhcp(dhcp::Args),
    /// NFS root throughput/latency: ours vs nfs-ganesha.
    Nfs(nfs::Args),
    /// Initramfs build time and size: ours vs a peer generator.
    Initramfs(initramfs::Args),
    /// Inventory load/validate time.
    Inventory(inventory::Args),
}

pub fn run(b: Bench) -> Result<()> {
    match b {
        Bench::Boot(a) => boot::run(a),
        Bench::Init(a) => init::run(a),
        Bench::Tftp(a) => tftp::run(a),
        Bench::Dhcp(a) => dhcp::run(a),
        Bench::Nfs(a) => nfs::run(a),
        Bench::Initramfs(a) => initramfs::run(a),
        Bench::Inventory(a) => inventory::run(a),
    }
}
