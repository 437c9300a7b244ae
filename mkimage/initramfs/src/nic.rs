//! Wired Ethernet drivers that `--all-nics` puts in the image.
//!
//! The list favours what cluster nodes and hypervisors actually have; a
//! driver the kernel lacks is skipped, not an error. Wireless, USB and
//! InfiniBand are left out on purpose: nodes boot from wired PXE. So are the
//! big 25/100G drivers (mlx5_core alone is 3.8 MB, qede, cxgb4, bnxt_en,
//! be2net): they would triple the image for every node; name them with
//! `--nic` where a cluster boots from one.

/// Common wired NIC drivers, by module name.
pub const COMMON: &[&str] = &[
    // Intel
    "e100",
    "e1000",
    "e1000e",
    "igb",
    "igc",
    "ixgb",
    "ixgbe",
    "ixgbevf",
    "igbvf",
    "i40e",
    "iavf",
    "ice",
    // Realtek
    "r8169",
    "8139too",
    "8139cp",
    // Broadcom
    "tg3",
    "bnx2",
    "bnx2x",
    // Marvell
    "sky2",
    "skge",
    // Atheros / Qualcomm
    "atl1",
    "atl1c",
    "atl1e",
    "alx",
    // Others seen on boards and in VMs
    "forcedeth",
    "via_rhine",
    "ne2k_pci",
    "pcnet32",
    "hv_netvsc",
    "virtio_net",
    "vmxnet3",
    "xen_netfront",
];

/// Modules a driver needs to see its device but that `modules.dep` does not
/// name, because the link is a bus, not a symbol: virtio_net binds to a
/// virtio device that only exists once the PCI transport is loaded.
pub fn companions(driver: &str) -> &'static [&'static str] {
    match driver {
        "virtio_net" => &["virtio_pci"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for n in COMMON {
            assert_eq!(*n, crate::modules::normalize(n));
            assert!(seen.insert(n), "{n} twice");
        }
        for must in ["e1000", "e1000e", "igb", "ixgbe", "r8169", "virtio_net"] {
            assert!(seen.contains(&must));
        }
    }
}
