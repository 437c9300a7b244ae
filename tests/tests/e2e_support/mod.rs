//! The set-up the end-to-end tests share: root check, the static init and
//! the server built, the QEMU slot taken, a namespace with one tap per
//! node, a fresh SSH key and our stack serving the nodes.

#![allow(dead_code)]

use std::path::PathBuf;

use diskless_qemu::netns::Netns;
use diskless_qemu::ssh::SshKey;
use diskless_qemu::stack::{self, BootPath, OurNode, OurOptions, OurStack};
use diskless_qemu::{is_root, test_lock, TestLock};

/// Inventory nodes named `names`, the i-th at 172.16.1.(first+i) with MAC
/// 52:54:00:00:00:(first+i) written in decimal digits, so address and MAC
/// read alike.
pub fn nodes(names: &[&str], first: u8) -> Vec<OurNode> {
    names
        .iter()
        .zip(first..)
        .map(|(n, k)| OurNode {
            hostname: n.to_string(),
            mac: format!("52:54:00:00:00:{k:02}"),
            ip: format!("172.16.1.{k}"),
        })
        .collect()
}

/// The running set-up: bind as `let Some((_slot, ns, key, ours)) = …` so
/// the stack goes before the namespace and the slot is freed last.
pub type Bed = (TestLock, Netns, SshKey, OurStack);

/// `None` (after saying so) when not root. `taps` taps `tap0`… are made
/// (more than nodes: strangers). `kernel` runs once the slot is taken
/// (it may build things); it gets the static init's path.
pub fn cluster(
    ns_hint: &str,
    nodes: &[OurNode],
    taps: usize,
    kernel: impl FnOnce(&PathBuf) -> anyhow::Result<PathBuf>,
    path: BootPath,
    uefi_loader: Option<PathBuf>,
) -> anyhow::Result<Option<Bed>> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, QEMU taps)");
        return Ok(None);
    }
    let init_bin = stack::init_binary()?;
    let server_bin = stack::server_binary()?;
    let slot = test_lock();
    let kernel = kernel(&init_bin)?;
    let key = SshKey::generate()?;
    let ns = Netns::new(ns_hint)?;
    for i in 0..taps {
        ns.add_tap(&format!("tap{i}"))?;
    }
    let ours = OurStack::start(
        &ns,
        &OurOptions {
            kernel,
            nodes: nodes.to_vec(),
            ssh_pubkey: key.public_key()?,
            path,
            uefi_loader,
            init_bin,
            server_bin,
        },
    )?;
    Ok(Some((slot, ns, key, ours)))
}

/// [`cluster`] of one node on `tap0`.
pub fn one_node(
    ns_hint: &str,
    node: &OurNode,
    kernel: impl FnOnce() -> anyhow::Result<PathBuf>,
    path: BootPath,
    uefi_loader: Option<PathBuf>,
) -> anyhow::Result<Option<Bed>> {
    cluster(
        ns_hint,
        std::slice::from_ref(node),
        1,
        |_| kernel(),
        path,
        uefi_loader,
    )
}
