//! Network drivers: from the name an admin knows (`e1000`, `virtio_net`) to
//! the `CONFIG_` symbols that must be on and the modules that provide them.

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Nic {
    /// Driver (module) name, as `lspci -k` shows it.
    pub driver: &'static str,
    /// Every symbol that must be on for the driver to probe the card.
    pub symbols: &'static [&'static str],
    /// Module providing each symbol, in the same order.
    pub modules: &'static [&'static str],
    /// Menus the symbols sit under; a fix without `--source` sets these too.
    pub prereqs: &'static [&'static str],
    pub description: &'static str,
}

const INTEL: &[&str] = &["NET", "NETDEVICES", "ETHERNET", "NET_VENDOR_INTEL", "PCI"];

const fn nic(
    driver: &'static str,
    symbols: &'static [&'static str],
    modules: &'static [&'static str],
    prereqs: &'static [&'static str],
    description: &'static str,
) -> Nic {
    Nic {
        driver,
        symbols,
        modules,
        prereqs,
        description,
    }
}

pub static TABLE: &[Nic] = &[
    nic(
        "e1000",
        &["E1000"],
        &["e1000"],
        INTEL,
        "Intel PRO/1000 (QEMU's default NIC)",
    ),
    nic(
        "e1000e",
        &["E1000E"],
        &["e1000e"],
        INTEL,
        "Intel PRO/1000 PCIe",
    ),
    nic(
        "igb",
        &["IGB"],
        &["igb"],
        INTEL,
        "Intel 82575/82576/I350 gigabit",
    ),
    nic("igc", &["IGC"], &["igc"], INTEL, "Intel I225/I226 2.5G"),
    nic(
        "ixgbe",
        &["IXGBE"],
        &["ixgbe"],
        INTEL,
        "Intel 82598/82599 10G",
    ),
    nic("i40e", &["I40E"], &["i40e"], INTEL, "Intel X710/XL710 40G"),
    nic(
        "virtio_net",
        &["VIRTIO_NET", "VIRTIO_PCI"],
        &["virtio_net", "virtio_pci"],
        &["NET", "NETDEVICES", "NET_CORE", "PCI", "VIRTIO_MENU"],
        "virtio-net on PCI (QEMU/KVM paravirtual)",
    ),
    nic(
        "r8169",
        &["R8169"],
        &["r8169"],
        &["NET", "NETDEVICES", "ETHERNET", "NET_VENDOR_REALTEK", "PCI"],
        "Realtek 8169/8168/8101/8125",
    ),
    nic(
        "8139too",
        &["8139TOO"],
        &["8139too"],
        &["NET", "NETDEVICES", "ETHERNET", "NET_VENDOR_REALTEK", "PCI"],
        "Realtek 8139",
    ),
    nic(
        "tg3",
        &["TIGON3"],
        &["tg3"],
        &[
            "NET",
            "NETDEVICES",
            "ETHERNET",
            "NET_VENDOR_BROADCOM",
            "PCI",
        ],
        "Broadcom Tigon3",
    ),
    nic(
        "bnx2",
        &["BNX2"],
        &["bnx2"],
        &[
            "NET",
            "NETDEVICES",
            "ETHERNET",
            "NET_VENDOR_BROADCOM",
            "PCI",
        ],
        "Broadcom NetXtreme II",
    ),
    nic(
        "bnxt_en",
        &["BNXT"],
        &["bnxt_en"],
        &[
            "NET",
            "NETDEVICES",
            "ETHERNET",
            "NET_VENDOR_BROADCOM",
            "PCI",
        ],
        "Broadcom NetXtreme-C/E",
    ),
    nic(
        "mlx5_core",
        &["MLX5_CORE", "MLX5_CORE_EN"],
        &["mlx5_core", "mlx5_core"],
        &[
            "NET",
            "NETDEVICES",
            "ETHERNET",
            "NET_VENDOR_MELLANOX",
            "PCI",
        ],
        "Mellanox ConnectX-4 and later",
    ),
    nic(
        "pcnet32",
        &["PCNET32"],
        &["pcnet32"],
        &["NET", "NETDEVICES", "ETHERNET", "NET_VENDOR_AMD", "PCI"],
        "AMD PCnet32 (QEMU -nic model=pcnet)",
    ),
    nic(
        "ne2k_pci",
        &["NE2K_PCI"],
        &["ne2k_pci"],
        &["NET", "NETDEVICES", "ETHERNET", "NET_VENDOR_8390", "PCI"],
        "NE2000 PCI (QEMU -nic model=ne2k_pci)",
    ),
    nic(
        "vmxnet3",
        &["VMXNET3"],
        &["vmxnet3"],
        &["NET", "NETDEVICES", "PCI"],
        "VMware vmxnet3",
    ),
];

/// Look a driver up; `-` and `_` are the same (`virtio-net`).
pub fn find(name: &str) -> Option<&'static Nic> {
    let want = name.trim().to_ascii_lowercase().replace('-', "_");
    TABLE.iter().find(|n| n.driver == want)
}

/// The module that provides NIC symbol `sym`, if any NIC in the table uses it.
pub fn module_for(sym: &str) -> Option<&'static str> {
    TABLE.iter().find_map(|n| {
        let i = n.symbols.iter().position(|s| *s == sym)?;
        n.modules.get(i).copied()
    })
}

pub fn names() -> Vec<&'static str> {
    TABLE.iter().map(|n| n.driver).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup() {
        assert_eq!(
            find("virtio-net").unwrap().symbols,
            ["VIRTIO_NET", "VIRTIO_PCI"]
        );
        assert_eq!(find("E1000").unwrap().driver, "e1000");
        assert!(find("nonsense").is_none());
        assert_eq!(module_for("VIRTIO_PCI"), Some("virtio_pci"));
        for n in TABLE {
            assert_eq!(n.symbols.len(), n.modules.len(), "{}", n.driver);
        }
    }
}
