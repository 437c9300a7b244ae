//! The inventory's TOML shape, as written by admins. Values that need
//! checking (addresses, MACs, names) stay `Spanned<String>` here so that
//! validation can report every problem with its position, not just the
//! first one serde trips over.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

/// Boot settings that cluster, profiles and nodes may each set; later
/// levels override earlier ones (`cmdline_append` accumulates instead).
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBoot {
    pub kernel: Option<S<String>>,
    pub initrd: Option<S<String>>,
    pub cmdline: Option<S<String>>,
    pub cmdline_append: Option<S<String>>,
    pub boot_mode: Option<S<String>>,
    pub nic: Option<S<String>>,
    pub nfs_root: Option<S<String>>,
    pub ip_device: Option<S<String>>,
    pub init: Option<S<String>>,
    pub modules: Option<Vec<S<String>>>,
    pub overlay: Option<bool>,
}

// Boot overrides are boxed: most nodes set none, and a small `RawNode`
// keeps deserializing 10,000 of them from moving megabytes around.
macro_rules! with_boot {
    ($(#[$m:meta])* struct $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        pub(crate) struct $name {
            $($(#[$fm])* pub $f: $t,)*
            pub kernel: Option<Box<S<String>>>,
            pub initrd: Option<Box<S<String>>>,
            pub cmdline: Option<Box<S<String>>>,
            pub cmdline_append: Option<Box<S<String>>>,
            pub boot_mode: Option<Box<S<String>>>,
            pub nic: Option<Box<S<String>>>,
            pub nfs_root: Option<Box<S<String>>>,
            pub ip_device: Option<Box<S<String>>>,
            pub init: Option<Box<S<String>>>,
            pub modules: Option<Vec<S<String>>>,
            pub overlay: Option<bool>,
        }
        impl $name {
            #[allow(dead_code)] // RawCluster has none to check
            pub fn has_boot(&self) -> bool {
                self.kernel.is_some()
                    || self.initrd.is_some()
                    || self.cmdline.is_some()
                    || self.cmdline_append.is_some()
                    || self.boot_mode.is_some()
                    || self.nic.is_some()
                    || self.nfs_root.is_some()
                    || self.ip_device.is_some()
                    || self.init.is_some()
                    || self.modules.is_some()
                    || self.overlay.is_some()
            }

            pub fn boot(&self) -> RawBoot {
                RawBoot {
                    kernel: self.kernel.as_deref().cloned(),
                    initrd: self.initrd.as_deref().cloned(),
                    cmdline: self.cmdline.as_deref().cloned(),
                    cmdline_append: self.cmdline_append.as_deref().cloned(),
                    boot_mode: self.boot_mode.as_deref().cloned(),
                    nic: self.nic.as_deref().cloned(),
                    nfs_root: self.nfs_root.as_deref().cloned(),
                    ip_device: self.ip_device.as_deref().cloned(),
                    init: self.init.as_deref().cloned(),
                    modules: self.modules.clone(),
                    overlay: self.overlay,
                }
            }
        }
    };
}

with_boot! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawCluster {
        name: Option<S<String>>,
        server: S<String>,
        subnet: S<String>,
        router: Option<S<String>>,
        #[serde(default)]
        dns: Vec<S<String>>,
        domain: Option<S<String>>,
        boot_root: Option<S<String>>,
        nfs_options: Option<S<String>>,
        dhcp_mode: Option<S<String>>,
        dhcp_pool: Option<S<String>>,
        lease_file: Option<S<String>>,
        lease_time: Option<S<u32>>,
        interface: Option<S<String>>,
        loader_bios: Option<S<String>>,
        loader_uefi: Option<S<String>>,
        tftp_port: Option<S<u16>>,
        http_port: Option<S<u16>>,
        router_advertisements: Option<bool>,
        router_advertisement_interval: Option<S<u32>>,
        sntp: Option<bool>,
        ipxe_scripts: Option<bool>,
    }
}

with_boot! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawNode {
        name: S<String>,
        mac: S<String>,
        ip: S<String>,
        profile: Option<S<String>>,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExport {
    pub path: S<String>,
    pub access: Option<S<String>>,
    /// Node names, profile names or `*`; default `["*"]`.
    pub nodes: Option<Vec<S<String>>>,
}

/// `[[relay_subnets]]`: a subnet behind a DHCP relay.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRelaySubnet {
    pub subnet: S<String>,
    pub router: Option<S<String>>,
    pub pool: Option<S<String>>,
    pub dns: Option<Vec<S<String>>>,
    pub domain: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub cluster: S<RawCluster>,
    #[serde(default)]
    pub profiles: BTreeMap<S<String>, S<RawBoot>>,
    #[serde(default)]
    pub nodes: Vec<S<RawNode>>,
    #[serde(default)]
    pub exports: Vec<S<RawExport>>,
    #[serde(default)]
    pub relay_subnets: Vec<S<RawRelaySubnet>>,
}
