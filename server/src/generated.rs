//! Files computed from the inventory on request — nothing is written to
//! disk, so there is nothing to keep in sync:
//!
//! - `pxelinux.cfg/01-<mac>`: the node's pxelinux config;
//! - `pxelinux.cfg/<HEXIP>` (e.g. `AC10010A`): pxelinux's by-address name,
//!   answered with the same config when the address is a node's; shorter
//!   prefixes (`AC10010` … `A`) and `default` come from disk if present;
//! - `boot.ipxe` (`?mac=…` over HTTP, else by client address): the node's
//!   iPXE script.
//!
//! Anything else (and generated names for unknown nodes) falls through to
//! the boot-file tree.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use diskless_common::inventory::{Inventory, Mac, Node};
use diskless_tftp::{BootFiles, ResolveError, Resolver};

/// What the services share; swapped atomically on SIGHUP.
pub struct Shared {
    pub inventory: ArcSwap<Inventory>,
    pub files: ArcSwap<BootFiles>,
    /// `http://server:port` as nodes reach our HTTP service.
    pub http_base: ArcSwap<String>,
}

/// A generated document, if `rel` names one for a known node.
pub fn generate(
    inv: &Inventory,
    rel: &str,
    client: Option<Ipv4Addr>,
    mac: Option<Mac>,
    http_base: &str,
) -> Option<String> {
    let (dir, file) = rel.rsplit_once('/').unwrap_or(("", rel));
    if dir == "pxelinux.cfg" || dir.ends_with("/pxelinux.cfg") {
        let node = pxelinux_node(inv, file)?;
        return Some(diskless_common::render::pxelinux_config(inv, node));
    }
    if file == "boot.ipxe" {
        let node = match mac {
            Some(m) => inv.node_by_mac(&m),
            None => client.and_then(|ip| inv.node_by_ip(ip)),
        }?;
        return Some(diskless_common::render::ipxe_script(inv, node, http_base));
    }
    None
}

/// pxelinux asks for `01-<mac>` (ARP type 1 + MAC, lower case) and then
/// the address in upper-case hex; accept either case for both.
fn pxelinux_node<'a>(inv: &'a Inventory, file: &str) -> Option<&'a Node> {
    if let Some(m) = file.strip_prefix("01-") {
        return inv.node_by_mac(&m.parse().ok()?);
    }
    if file.len() == 8 && file.bytes().all(|b| b.is_ascii_hexdigit()) {
        let ip = Ipv4Addr::from(u32::from_str_radix(file, 16).ok()?);
        return inv.node_by_ip(ip);
    }
    None
}

/// Generated files first, then the boot-file tree.
pub struct BootResolver {
    pub shared: Arc<Shared>,
}

impl BootResolver {
    pub fn resolve_for(
        &self,
        client: IpAddr,
        raw: &[u8],
        mac: Option<Mac>,
    ) -> Result<(Bytes, bool), ResolveError> {
        let files = self.shared.files.load();
        let rel = files.normalize(raw)?;
        let inv = self.shared.inventory.load();
        let v4 = match client {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        };
        let base = self.shared.http_base.load();
        if let Some(text) = generate(&inv, &rel, v4, mac, &base) {
            return Ok((Bytes::from(text), true));
        }
        Ok((files.read(&rel)?, false))
    }
}

impl Resolver for BootResolver {
    fn resolve(&self, client: SocketAddr, raw: &[u8]) -> Result<Bytes, ResolveError> {
        self.resolve_for(client.ip(), raw, None).map(|(b, _)| b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/seed-inventory.toml"
        ))
        .unwrap();
        diskless_common::inventory::load_str(&text, "seed").unwrap()
    }

    #[test]
    fn pxelinux_by_mac_and_by_hex_ip_agree() {
        let inv = inv();
        let by_mac = generate(&inv, "pxelinux.cfg/01-00-18-f3-70-91-b9", None, None, "").unwrap();
        let upper = generate(&inv, "pxelinux.cfg/01-00-18-F3-70-91-B9", None, None, "").unwrap();
        let by_ip = generate(&inv, "pxelinux.cfg/AC10010A", None, None, "").unwrap();
        assert!(by_mac.contains("KERNEL linux-cls1"));
        assert_eq!(by_mac, upper);
        assert_eq!(by_mac, by_ip);
        let nested = generate(&inv, "bios/pxelinux.cfg/ac10010a", None, None, "").unwrap();
        assert_eq!(by_mac, nested);
    }

    #[test]
    fn unknown_and_partial_names_fall_through() {
        let inv = inv();
        assert!(generate(&inv, "pxelinux.cfg/01-00-00-00-00-00-01", None, None, "").is_none());
        assert!(generate(&inv, "pxelinux.cfg/AC10010", None, None, "").is_none());
        assert!(generate(&inv, "pxelinux.cfg/default", None, None, "").is_none());
        assert!(generate(&inv, "pxelinux.cfg/AC1001FF", None, None, "").is_none());
        assert!(generate(&inv, "linux-cls1", None, None, "").is_none());
    }

    #[test]
    fn ipxe_by_mac_or_client_address() {
        let inv = inv();
        let base = "http://172.16.1.1:8080";
        let mac = "00:1c:c0:12:34:56".parse().ok();
        let a = generate(&inv, "boot.ipxe", None, mac, base).unwrap();
        let b = generate(
            &inv,
            "boot.ipxe",
            Some(Ipv4Addr::new(172, 16, 1, 30)),
            None,
            base,
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(a.starts_with("#!ipxe"));
        assert!(a.contains("http://172.16.1.1:8080/linux-cls2"));
        assert!(generate(
            &inv,
            "boot.ipxe",
            Some(Ipv4Addr::new(10, 0, 0, 1)),
            None,
            base
        )
        .is_none());
    }
}
