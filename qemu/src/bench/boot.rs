//! `diskless-qemu bench boot`: PXE-boot a node (BIOS, QEMU's iPXE ROM on a
//! virtio-net or e1000 NIC) to its SSH banner and print the timeline of each
//! boot and the medians. Both stacks boot the same node: firmware, NIC,
//! kernel, root and console handling.

use crate::netns::Netns;
use crate::peers::seed::{SeedNode, SeedOptions, SeedStack};
use crate::ssh::{Ssh, SshKey};
use crate::timeline::Timeline;
use crate::vm::{Vm, VmConfig};
use anyhow::{bail, Result};
use std::time::Duration;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    Seed,
    Ours,
    Both,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OurPath {
    Ipxe,
    Pxelinux,
}

/// The node's NIC (and so the iPXE ROM QEMU gives it).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeNic {
    /// virtio-net-pci with iPXE's virtio driver (`efi-virtio.rom`).
    Virtio,
    /// QEMU's e1000 with iPXE's intel driver (`efi-e1000.rom`).
    E1000,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which stack serves the boot.
    #[arg(long, value_enum, default_value = "seed")]
    pub stack: Stack,
    /// Boots per stack (medians are reported).
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Also send IPv6 router advertisements (iPXE otherwise waits ~13 s for IPv6).
    #[arg(long)]
    pub ra: bool,
    /// Our stack's boot path: `ipxe` (per-node iPXE script, kernel over HTTP;
    /// the fastest) or `pxelinux` (the seed's path: pxelinux.0 and the kernel
    /// over TFTP). The seed stack always boots its own way (pxelinux).
    #[arg(long, value_enum, default_value = "ipxe")]
    pub path: OurPath,
    /// Boot our stack with the plain `console=ttyS0` instead of
    /// `stack::FAST_CMDLINE` (`acpi=noirq`), to see what the tuning buys.
    #[arg(long)]
    pub plain_cmdline: bool,
    /// The node's NIC, for both stacks. QEMU's e1000 model holds back every
    /// received frame for 1 s after each write of its receive control
    /// register (hw/net/e1000.c `flush_queue_timer`): iPXE's DHCP and the
    /// kernel's NFS root mount each wait that second out. virtio-net has no
    /// such delay.
    #[arg(long, value_enum, default_value = "virtio")]
    pub nic: NodeNic,
    /// Let iPXE's "Press Ctrl-B" prompt run out its 2 s on both stacks
    /// instead of answering it (see `VmConfig::skip_ipxe_prompt`), to see
    /// what answering it saves.
    #[arg(long)]
    pub ipxe_prompt_wait: bool,
    /// Give up on a boot after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

const NODE: (&str, &str, &str) = ("cartman", "52:54:00:70:91:b9", "172.16.1.10");

pub fn run(args: Args) -> Result<()> {
    let kernel = crate::kernel::custom_kernel()?;
    let want = |s: Stack| args.stack == s || args.stack == Stack::Both;
    let runs = args.runs.max(1);
    eprintln!(
        "==> node: BIOS + iPXE on {:?}, Ctrl-B prompt {}, {runs} boot(s) per stack",
        args.nic,
        if args.ipxe_prompt_wait {
            "waited out (2 s)"
        } else {
            "answered"
        }
    );
    // Our stack's binaries are built before any boot is timed.
    let ours_bins = if want(Stack::Ours) {
        Some((
            crate::stack::init_binary()?,
            crate::stack::server_binary_release()?,
        ))
    } else {
        None
    };
    let mut ours = Vec::new();
    let mut seed = Vec::new();
    for i in 0..runs {
        if let Some((init, server)) = &ours_bins {
            eprintln!("==> our stack, boot {}/{runs}", i + 1);
            let t = boot_ours(&kernel.bzimage, init, server, &args)?;
            println!("ours boot {}:\n{t}", i + 1);
            ours.push(t);
        }
        if want(Stack::Seed) {
            eprintln!("==> seed stack, boot {}/{runs}", i + 1);
            let t = boot_seed(&kernel.bzimage, &args)?;
            println!("seed boot {}:\n{t}", i + 1);
            seed.push(t);
        }
    }
    println!("medians over {runs} boot(s) per stack, seconds since power-on:");
    for name in crate::timeline::MILESTONES
        .iter()
        .map(|m| m.name)
        .chain(["SSH banner"])
    {
        println!(
            "  {name:<16} ours {:>7.2}   seed {:>7.2}",
            median(&ours, name),
            median(&seed, name)
        );
    }
    let o = median(&ours, "SSH banner");
    let s = median(&seed, "SSH banner");
    let fmt = |v: f64| {
        if v.is_nan() {
            "-".to_string()
        } else {
            format!("{v:.2}")
        }
    };
    let ratio = if o.is_nan() || s.is_nan() {
        "-".to_string()
    } else {
        format!("{:.2}", s / o)
    };
    println!("ours {} s, seed {} s, ratio {ratio}x", fmt(o), fmt(s));
    Ok(())
}

/// One boot on our stack: the same firmware, kernel and root as the seed's,
/// on `--path` (diskless-server: DHCP+RA+SNTP, TFTP/HTTP, NFS; diskless-init).
fn boot_ours(
    kernel: &std::path::Path,
    init: &std::path::Path,
    server: &std::path::Path,
    args: &Args,
) -> Result<Timeline> {
    use crate::stack::{BootPath, OurNode, OurOptions, OurStack};
    let _slot = crate::test_lock();
    let key = SshKey::generate()?;
    let ns = Netns::new("ours")?;
    ns.add_tap("tap0")?;
    let node = OurNode {
        hostname: NODE.0.into(),
        mac: NODE.1.into(),
        ip: NODE.2.into(),
    };
    let cmdline = if args.plain_cmdline {
        crate::stack::NODE_CMDLINE
    } else {
        crate::stack::FAST_CMDLINE
    };
    let stack = OurStack::start_with_cmdline(
        &ns,
        &OurOptions {
            kernel: kernel.to_path_buf(),
            nodes: vec![node.clone()],
            ssh_pubkey: key.public_key()?,
            path: match args.path {
                OurPath::Ipxe => BootPath::Ipxe,
                OurPath::Pxelinux => BootPath::Pxelinux,
            },
            uefi_loader: None,
            init_bin: init.to_path_buf(),
            server_bin: server.to_path_buf(),
        },
        cmdline,
    )?;
    let files = format!("our stack files: {}", stack.dir().display());
    boot_node("ours-node", &ns, &key, args, &files)
}

/// Boots the bench node and times it to the SSH banner; checks it is
/// `NODE`. `files` names the stack's directory for the error.
fn boot_node(name: &str, ns: &Netns, key: &SshKey, args: &Args, files: &str) -> Result<Timeline> {
    let mut vm = Vm::start(&node_vm(name, NODE.1, args), ns)?;
    let ssh = Ssh::new(ns, NODE.2, key);
    let at = match ssh.wait_boot(&mut vm, Duration::from_secs(args.timeout)) {
        Ok(at) => at,
        Err(e) => bail!("{e}\n({files})"),
    };
    let mut t = vm.timeline();
    t.push("SSH banner", at);
    let host = ssh.check("hostname")?;
    if host.trim() != NODE.0 {
        bail!("node answered as {host:?}, expected {}", NODE.0);
    }
    Ok(t)
}

/// The node both stacks boot: the same firmware, NIC and console handling.
fn node_vm(name: &str, mac: &str, args: &Args) -> VmConfig {
    let mut c = VmConfig::pxe(name, "tap0", mac);
    c.skip_ipxe_prompt = !args.ipxe_prompt_wait;
    c.nics[0].model = match args.nic {
        NodeNic::Virtio => crate::vm::NicModel::VirtioNet,
        NodeNic::E1000 => crate::vm::NicModel::E1000,
    };
    c
}

/// Median of an event over the timelines, in seconds.
pub fn median(ts: &[Timeline], event: &str) -> f64 {
    let mut v: Vec<f64> = ts
        .iter()
        .filter_map(|t| t.get(event))
        .map(|d| d.as_secs_f64())
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn boot_seed(kernel: &std::path::Path, args: &Args) -> Result<Timeline> {
    let _slot = crate::test_lock();
    let key = SshKey::generate()?;
    let ns = Netns::new("seed")?;
    ns.add_tap("tap0")?;
    let node = SeedNode {
        hostname: NODE.0.into(),
        mac: NODE.1.into(),
        ip: NODE.2.into(),
    };
    let stack = SeedStack::start(
        &ns,
        &SeedOptions {
            kernel: kernel.to_path_buf(),
            nodes: vec![node.clone()],
            ssh_pubkey: key.public_key()?,
            ra: args.ra,
        },
    )?;
    let files = format!("seed stack files: {}", stack.dir().display());
    boot_node("seed-node", &ns, &key, args, &files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::NicModel;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn node(argv: &[&str]) -> VmConfig {
        let cli = Cli::try_parse_from(std::iter::once("boot").chain(argv.iter().copied())).unwrap();
        node_vm("n", NODE.1, &cli.args)
    }

    #[test]
    fn both_stacks_boot_a_virtio_node_that_answers_the_ipxe_prompt_by_default() {
        let c = node(&[]);
        assert_eq!(c.nics[0].model, NicModel::VirtioNet);
        assert!(c.answers_ipxe_prompt());
    }

    #[test]
    fn the_e1000_and_the_full_prompt_wait_can_be_chosen() {
        let c = node(&["--nic", "e1000", "--ipxe-prompt-wait"]);
        assert_eq!(c.nics[0].model, NicModel::E1000);
        assert!(!c.answers_ipxe_prompt());
    }
}
