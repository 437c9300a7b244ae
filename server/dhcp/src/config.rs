//! What the DHCP, RA and SNTP services need to know, derived from the
//! inventory plus the few settings the inventory does not (yet) carry.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use diskless_common::inventory::{DhcpMode, Inventory, Subnet};

/// An inclusive range of addresses handed to unknown MACs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolRange {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

impl PoolRange {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.start)..=u32::from(self.end)).contains(&u32::from(ip))
    }
    pub fn len(&self) -> u32 {
        u32::from(self.end).saturating_sub(u32::from(self.start)) + 1
    }
    pub fn is_empty(&self) -> bool {
        u32::from(self.end) < u32::from(self.start)
    }
}

impl std::str::FromStr for PoolRange {
    type Err = String;
    /// `172.16.1.100-172.16.1.200`
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('-').ok_or_else(|| {
            format!("`{s}` is not a pool range: write it as 172.16.1.100-172.16.1.200")
        })?;
        let start: Ipv4Addr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 address"))?;
        let end: Ipv4Addr = b
            .trim()
            .parse()
            .map_err(|_| format!("`{b}` is not an IPv4 address"))?;
        if u32::from(end) < u32::from(start) {
            return Err(format!("pool range `{s}` ends before it starts"));
        }
        Ok(PoolRange { start, end })
    }
}

/// One subnet we answer for: the boot segment itself or one behind a relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetConfig {
    pub subnet: Subnet,
    pub router: Option<Ipv4Addr>,
    pub pool: Option<PoolRange>,
    /// Name servers for this subnet; `None` = [`DhcpConfig::dns`].
    pub dns: Option<Vec<Ipv4Addr>>,
    /// Domain for this subnet; `None` = [`DhcpConfig::domain`].
    pub domain: Option<String>,
}

/// IPv6 router advertisement settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaConfig {
    pub enabled: bool,
    /// Prefix announced for SLAAC; `None` = RA without a prefix (enough to
    /// stop iPXE waiting for IPv6 autoconfiguration).
    pub prefix: Option<(Ipv6Addr, u8)>,
    /// MaxRtrAdvInterval for unsolicited advertisements, seconds (RFC 4861:
    /// 4..=1800, default 600).
    pub max_interval_secs: u32,
}

impl Default for RaConfig {
    fn default() -> Self {
        RaConfig {
            enabled: false,
            prefix: None,
            max_interval_secs: 600,
        }
    }
}

/// Errors in settings that cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("pool {start}-{end} is not inside any served subnet: put it inside {subnets}")]
    PoolOutsideSubnet {
        start: Ipv4Addr,
        end: Ipv4Addr,
        subnets: String,
    },
    #[error("pool {start}-{end} contains node {node}'s static address {ip}: shrink the pool or move the node")]
    PoolOverlapsStatic {
        start: Ipv4Addr,
        end: Ipv4Addr,
        node: String,
        ip: Ipv4Addr,
    },
    #[error("pool {start}-{end} contains the server address {ip}: shrink the pool")]
    PoolOverlapsServer {
        start: Ipv4Addr,
        end: Ipv4Addr,
        ip: Ipv4Addr,
    },
    #[error("a pool was configured but no lease file: pass a lease file path so pool leases survive restarts")]
    PoolWithoutLeaseFile,
}

fn pool_range(p: diskless_common::inventory::DhcpPool) -> PoolRange {
    PoolRange {
        start: p.start,
        end: p.end,
    }
}

/// How nodes reach our HTTP service (no `:80` for the default port).
pub fn http_base(server: Ipv4Addr, port: u16) -> String {
    if port == 80 {
        format!("http://{server}")
    } else {
        format!("http://{server}:{port}")
    }
}

/// Where pool leases are journalled unless the caller says otherwise.
pub const DEFAULT_LEASE_FILE: &str = "/var/lib/diskless/dhcp.leases";

/// Everything the DHCP state machine reads. Plain data.
#[derive(Clone, Debug)]
pub struct DhcpConfig {
    pub mode: DhcpMode,
    pub server: Ipv4Addr,
    pub interface: Option<String>,
    /// `subnets[0]` is the boot segment; the rest are reached through relays.
    pub subnets: Vec<SubnetConfig>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub loader_bios: String,
    pub loader_uefi: Option<String>,
    /// Lease time for inventory nodes, seconds.
    pub static_lease_secs: u32,
    /// Lease time for pool addresses, seconds.
    pub pool_lease_secs: u32,
    /// Append-only journal of pool leases.
    pub lease_file: Option<PathBuf>,
    /// Per-node iPXE script URL handed to clients whose user class is
    /// `iPXE`; `{name}` and `{mac}` (`aa-bb-cc-dd-ee-ff`) are substituted.
    pub ipxe_url: String,
    /// Advertise ourselves as NTP server (option 42).
    pub sntp: bool,
    /// `false`: iPXE clients get `loader_bios` (pxelinux) like plain PXE.
    pub ipxe_scripts: bool,
    pub ra: RaConfig,
}

impl DhcpConfig {
    /// The defaults an inventory implies: its mode, subnet, router, loaders.
    pub fn from_inventory(inv: &Inventory) -> Self {
        let c = &inv.cluster;
        DhcpConfig {
            mode: c.dhcp_mode,
            server: c.server,
            interface: c.interface.clone(),
            subnets: std::iter::once(SubnetConfig {
                subnet: c.subnet,
                router: c.router,
                pool: c.dhcp_pool.map(pool_range),
                dns: None,
                domain: None,
            })
            .chain(c.relay_subnets.iter().map(|r| SubnetConfig {
                subnet: r.subnet,
                router: r.router,
                pool: r.pool.map(pool_range),
                dns: r.dns.clone(),
                domain: r.domain.clone(),
            }))
            .collect(),
            dns: c.dns.clone(),
            domain: c.domain.clone(),
            loader_bios: c.loader_bios.clone(),
            loader_uefi: c.loader_uefi.clone(),
            static_lease_secs: c.lease_time,
            pool_lease_secs: c.lease_time,
            // The file is only opened when some subnet has a pool.
            lease_file: (c.dhcp_pool.is_some() || c.relay_subnets.iter().any(|r| r.pool.is_some()))
                .then(|| {
                    c.lease_file
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(DEFAULT_LEASE_FILE))
                }),
            ipxe_url: format!("{}/boot.ipxe?mac={{mac}}", http_base(c.server, c.http_port)),
            sntp: c.sntp,
            ipxe_scripts: c.ipxe_scripts,
            ra: RaConfig {
                enabled: c.router_advertisements,
                prefix: None,
                max_interval_secs: c.router_advertisement_interval,
            },
        }
    }

    /// Checks what the inventory loader cannot: pools against subnets and
    /// static addresses.
    pub fn validate(&self, inv: &Inventory) -> Result<(), ConfigError> {
        for s in &self.subnets {
            let Some(p) = s.pool else { continue };
            if self.lease_file.is_none() {
                return Err(ConfigError::PoolWithoutLeaseFile);
            }
            if !s.subnet.contains(p.start) || !s.subnet.contains(p.end) {
                let subnets = self
                    .subnets
                    .iter()
                    .map(|s| s.subnet.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ConfigError::PoolOutsideSubnet {
                    start: p.start,
                    end: p.end,
                    subnets,
                });
            }
            if p.contains(self.server) {
                return Err(ConfigError::PoolOverlapsServer {
                    start: p.start,
                    end: p.end,
                    ip: self.server,
                });
            }
            if let Some(n) = inv.nodes.iter().find(|n| p.contains(n.ip)) {
                return Err(ConfigError::PoolOverlapsStatic {
                    start: p.start,
                    end: p.end,
                    node: n.name.clone(),
                    ip: n.ip,
                });
            }
        }
        Ok(())
    }

    /// The subnet a request belongs to: the relay's (`giaddr`) or ours.
    pub fn subnet_for(&self, giaddr: Ipv4Addr) -> Option<&SubnetConfig> {
        if giaddr.is_unspecified() {
            return self.subnets.first();
        }
        self.subnets.iter().find(|s| s.subnet.contains(giaddr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_range_parses_and_rejects() {
        let p: PoolRange = "10.0.0.5-10.0.0.9".parse().unwrap();
        assert_eq!(p.len(), 5);
        assert!(p.contains("10.0.0.7".parse().unwrap()));
        assert!("10.0.0.9-10.0.0.5".parse::<PoolRange>().is_err());
        assert!("10.0.0.9"
            .parse::<PoolRange>()
            .unwrap_err()
            .contains("write it as"));
    }
}
