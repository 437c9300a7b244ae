//! The set-up the single-node end-to-end tests share: root check, the
//! static init and the server built, the QEMU slot taken, a namespace with
//! `tap0`, a fresh SSH key and our stack serving one node.

use std::path::PathBuf;

use diskless_qemu::netns::Netns;
use diskless_qemu::ssh::SshKey;
use diskless_qemu::stack::{self, BootPath, OurNode, OurOptions, OurStack};
use diskless_qemu::{is_root, test_lock, TestLock};

/// `None` (after saying so) when not root. Bind the result as
/// `let Some((_slot, ns, key, ours)) = …` so the stack goes before the
/// namespace and the slot is freed last.
pub fn one_node(
    ns_hint: &str,
    node: &OurNode,
    kernel: impl FnOnce() -> anyhow::Result<PathBuf>,
    path: BootPath,
    uefi_loader: Option<PathBuf>,
) -> anyhow::Result<Option<(TestLock, Netns, SshKey, OurStack)>> {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, QEMU taps)");
        return Ok(None);
    }
    let init_bin = stack::init_binary()?;
    let server_bin = stack::server_binary()?;
    let slot = test_lock();
    let kernel = kernel()?;
    let key = SshKey::generate()?;
    let ns = Netns::new(ns_hint)?;
    ns.add_tap("tap0")?;
    let ours = OurStack::start(
        &ns,
        &OurOptions {
            kernel,
            nodes: vec![node.clone()],
            ssh_pubkey: key.public_key()?,
            path,
            uefi_loader,
            init_bin,
            server_bin,
        },
    )?;
    Ok(Some((slot, ns, key, ours)))
}
