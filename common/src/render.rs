//! Boot loader configs computed from the inventory on request: the
//! per-node `pxelinux.cfg/01-<mac>` text and the iPXE script.

use crate::cmdline::node_cmdline;
use crate::inventory::{Inventory, Node};

/// pxelinux config for one node. One label, no prompt: pxelinux boots it at
/// once. `APPEND` is a single line (pxelinux does not join backslash
/// continuations, the seed's main bug).
pub fn pxelinux_config(inv: &Inventory, node: &Node) -> String {
    let b = &node.boot;
    let mut s = format!(
        "# diskless: {} {} {} (generated from the inventory; edit that instead)\n\
         DEFAULT diskless\n\
         PROMPT 0\n\
         TIMEOUT 0\n\
         \n\
         LABEL diskless\n\
         \x20 KERNEL {}\n",
        inv.cluster.name, node.name, node.mac, b.kernel
    );
    if let Some(initrd) = &b.initrd {
        s.push_str(&format!("  INITRD {initrd}\n"));
    }
    s.push_str(&format!("  APPEND {}\n", node_cmdline(inv, node)));
    s
}

/// iPXE script for one node, fetching kernel and initrd over HTTP from
/// `http_base` (e.g. `http://172.16.1.1:8080`).
pub fn ipxe_script(inv: &Inventory, node: &Node, http_base: &str) -> String {
    let base = http_base.trim_end_matches('/');
    let b = &node.boot;
    let mut s = format!(
        "#!ipxe\n# diskless: {} {} {}\n",
        inv.cluster.name, node.name, node.mac
    );
    let mut args = node_cmdline(inv, node);
    if let Some(initrd) = &b.initrd {
        // EFI kernels find the initrd by this name.
        let name = initrd.rsplit('/').next().unwrap_or(initrd);
        args = format!("initrd={name} {args}");
    }
    s.push_str(&format!("kernel {base}/{} {args}\n", b.kernel));
    if let Some(initrd) = &b.initrd {
        s.push_str(&format!("initrd {base}/{initrd}\n"));
    }
    s.push_str("boot\n");
    s
}
