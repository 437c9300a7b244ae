//! Validated inventory: plain data, cheap lookups, no IO.
//!
//! Services hold an `Arc<Inventory>` and swap it atomically on SIGHUP, so
//! everything here is immutable after load.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A small multiplicative hasher for the lookup tables: their keys come from
/// the admin's inventory, not from the network, so SipHash's flood
/// resistance buys nothing and costs a tenth of the 10,000-node load time.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    /// Multiplication only carries low bits upwards, and hashbrown picks
    /// buckets from the low bits: fold the high bits down (murmur3's fmix64)
    /// or keys that differ only in their last bytes ("n00001", "n00002")
    /// all land in one bucket.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod hasher_tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn names_differing_in_last_bytes_spread_over_low_bits() {
        let b = BuildHasherDefault::<FastHasher>::default();
        let mut low: Vec<u64> = (0..1000)
            .map(|i| b.hash_one(format!("n{i:05}")) & 0x3ff)
            .collect();
        low.sort();
        low.dedup();
        assert!(low.len() > 500, "only {} distinct buckets", low.len());
    }
}

/// `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// pxelinux's per-node config name: `01-aa-bb-cc-dd-ee-ff`.
    pub fn pxelinux_name(&self) -> String {
        let b = self.0;
        format!(
            "01-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Accepts `aa:bb:cc:dd:ee:ff` and `aa-bb-cc-dd-ee-ff`, any case.
impl std::str::FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let count = s.split([':', '-']).count();
        if count != 6 {
            return Err(format!(
                "`{s}` is not a MAC address: expected six hex pairs like 00:18:f3:70:91:b9"
            ));
        }
        let mut out = [0u8; 6];
        for (i, p) in s.split([':', '-']).enumerate() {
            if p.len() != 2 {
                return Err(format!(
                    "`{s}` is not a MAC address: `{p}` is not two hex digits"
                ));
            }
            out[i] = u8::from_str_radix(p, 16)
                .map_err(|_| format!("`{s}` is not a MAC address: `{p}` is not hex"))?;
        }
        Ok(Mac(out))
    }
}

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An IPv4 subnet, `172.16.1.0/24`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn mask(&self) -> Ipv4Addr {
        let m = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        };
        Ipv4Addr::from(m)
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !u32::from(self.mask()))
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & u32::from(self.mask()) == u32::from(self.network)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl std::str::FromStr for Subnet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a subnet: write it as 172.16.1.0/24"))?;
        let network: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`/{prefix}` is not a prefix length (0..=32)"))?;
        let sub = Subnet { network, prefix };
        if u32::from(network) & !u32::from(sub.mask()) != 0 {
            return Err(format!(
                "`{s}` has host bits set: did you mean {}/{prefix}?",
                Ipv4Addr::from(u32::from(network) & u32::from(sub.mask()))
            ));
        }
        Ok(sub)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Who mounts the NFS root: the kernel itself (`root=/dev/nfs`, needs IP_PNP
/// and built-in drivers) or our initramfs (stock kernels with modules).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BootMode {
    #[default]
    Direct,
    Initramfs,
}

/// How a node's DHCP is answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DhcpMode {
    /// We are the only DHCP server on the segment.
    #[default]
    Authoritative,
    /// A site DHCP server hands out addresses; we only add boot information.
    Proxy,
    /// DHCP is served by someone else entirely.
    Off,
}

/// Boot settings after merging cluster → profile → node.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct BootSpec {
    /// Kernel path relative to the boot root.
    pub kernel: String,
    /// Initrd path relative to the boot root, if any.
    pub initrd: Option<String>,
    /// Extra kernel arguments (console=…, quiet, …) appended after the
    /// generated `root=`/`nfsroot=`/`ip=`.
    pub cmdline: String,
    pub boot_mode: BootMode,
    /// NIC driver name (e1000, virtio_net, …) for check-kernel / mkimage.
    pub nic: Option<String>,
    /// NFS root for this node; `None` = `Cluster::nfs_root`.
    #[serde(default)]
    pub nfs_root: Option<PathBuf>,
    /// Interface named in the kernel's `ip=` (`eth0` when `None`).
    #[serde(default)]
    pub ip_device: Option<String>,
    /// `init=` for the kernel command line, if not the default `/sbin/init`.
    #[serde(default)]
    pub init: Option<String>,
    /// Modules the initramfs loads before bringing the link up
    /// (`diskless.modules=`); empty = derive from `nic`.
    #[serde(default)]
    pub modules: Vec<String>,
    /// Writable tmpfs overlay over the NFS root in initramfs mode
    /// (`diskless.overlay=tmpfs`).
    #[serde(default)]
    pub overlay: bool,
}

/// One inventory node, with its profile already merged in.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Node {
    pub name: String,
    pub mac: Mac,
    pub ip: Ipv4Addr,
    pub profile: Option<String>,
    pub boot: BootSpec,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Ro,
    Rw,
}

/// One NFS export and which nodes may mount it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Export {
    /// Absolute path on the server.
    pub path: PathBuf,
    pub access: Access,
    /// Inventory node names allowed to mount it (already expanded from
    /// profiles and `*`).
    pub nodes: Vec<String>,
    /// Whether this export is the nodes' root filesystem.
    pub root: bool,
}

/// Cluster-wide settings.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Cluster {
    pub name: String,
    /// The server's own address on the boot segment.
    pub server: Ipv4Addr,
    pub subnet: Subnet,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    /// Directory served over TFTP/HTTP.
    pub boot_root: PathBuf,
    /// NFS path of the nodes' root filesystem.
    pub nfs_root: PathBuf,
    pub dhcp_mode: DhcpMode,
    /// Interface for DHCP/RA; `None` = the one holding `server`.
    pub interface: Option<String>,
    /// Boot loader file names per firmware.
    pub loader_bios: String,
    pub loader_uefi: Option<String>,
    pub tftp_port: u16,
    pub http_port: u16,
    /// NFS mount options for the root (`vers=3,tcp` by default: our NFS
    /// server speaks NFSv3, and old kernels default to v2 over UDP).
    pub nfs_options: String,
    /// Addresses handed to unknown clients (`None` = known nodes only).
    pub dhcp_pool: Option<DhcpPool>,
    /// Append-only journal of pool leases; `None` = the DHCP service's
    /// default (only used when some subnet has a pool).
    pub lease_file: Option<PathBuf>,
    /// Subnets behind DHCP relays (requests whose `giaddr` lies inside one
    /// are answered from it). Never overlap each other or `subnet`.
    pub relay_subnets: Vec<RelaySubnet>,
    /// Lease time in seconds.
    pub lease_time: u32,
    /// Send IPv6 router advertisements (without prefixes) so iPXE stops
    /// waiting ~13 s for IPv6 configuration.
    pub router_advertisements: bool,
    /// Longest wait between unsolicited router advertisements, seconds
    /// (RFC 4861 MaxRtrAdvInterval, 4..=1800; default 600).
    pub router_advertisement_interval: u32,
    /// Answer SNTP (UDP 123) so nodes set their clock from the server.
    pub sntp: bool,
    /// Hand iPXE clients their per-node iPXE script over HTTP (the fast
    /// path); `false` gives them the `loader_bios` file like plain PXE.
    pub ipxe_scripts: bool,
}

/// A subnet reached through a DHCP relay agent, with its own router,
/// optional pool and optional name servers/domain (else the cluster's).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RelaySubnet {
    pub subnet: Subnet,
    pub router: Option<Ipv4Addr>,
    pub pool: Option<DhcpPool>,
    /// `None` = the cluster's `dns`.
    pub dns: Option<Vec<Ipv4Addr>>,
    /// `None` = the cluster's `domain`.
    pub domain: Option<String>,
}

/// A dynamic address range, inclusive.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DhcpPool {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

impl DhcpPool {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.start)..=u32::from(self.end)).contains(&u32::from(ip))
    }
}

/// The validated inventory. Build it with the loader in this module; every
/// invariant (unique MAC/IP/name, IPs inside the subnet, known profiles) holds.
#[derive(Clone, Debug)]
pub struct Inventory {
    pub cluster: Cluster,
    pub nodes: Vec<Node>,
    pub exports: Vec<Export>,
    by_mac: FastMap<Mac, usize>,
    by_ip: FastMap<Ipv4Addr, usize>,
    by_name: FastMap<String, usize>,
}

impl Inventory {
    /// Assemble from already-validated parts; builds the lookup indexes.
    pub fn from_parts(cluster: Cluster, nodes: Vec<Node>, exports: Vec<Export>) -> Self {
        let mut by_mac = FastMap::with_capacity_and_hasher(nodes.len(), Default::default());
        let mut by_ip = FastMap::with_capacity_and_hasher(nodes.len(), Default::default());
        let mut by_name = FastMap::with_capacity_and_hasher(nodes.len(), Default::default());
        for (i, n) in nodes.iter().enumerate() {
            by_mac.insert(n.mac, i);
            by_ip.insert(n.ip, i);
            by_name.insert(n.name.clone(), i);
        }
        Inventory {
            cluster,
            nodes,
            exports,
            by_mac,
            by_ip,
            by_name,
        }
    }

    pub fn node_by_mac(&self, mac: &Mac) -> Option<&Node> {
        self.by_mac.get(mac).map(|&i| &self.nodes[i])
    }
    pub fn node_by_ip(&self, ip: Ipv4Addr) -> Option<&Node> {
        self.by_ip.get(&ip).map(|&i| &self.nodes[i])
    }
    pub fn node_by_name(&self, name: &str) -> Option<&Node> {
        self.by_name.get(name).map(|&i| &self.nodes[i])
    }

    /// The subnet holding `ip` and its router: the cluster's own or a relay
    /// subnet's. `None` for an address on no served network.
    pub fn network_of(&self, ip: Ipv4Addr) -> Option<(Subnet, Option<Ipv4Addr>)> {
        let c = &self.cluster;
        if c.subnet.contains(ip) {
            return Some((c.subnet, c.router));
        }
        c.relay_subnets
            .iter()
            .find(|r| r.subnet.contains(ip))
            .map(|r| (r.subnet, r.router))
    }

    /// Exports a node (by address) may mount.
    pub fn exports_for(&self, ip: Ipv4Addr) -> impl Iterator<Item = &Export> {
        let name = self.node_by_ip(ip).map(|n| n.name.as_str());
        self.exports
            .iter()
            .filter(move |e| name.is_some_and(|n| e.nodes.iter().any(|m| m == n)))
    }
}
