//! DHCPv4 for PXE booting (static leases from the inventory, optional pool
//! with a durable lease journal, proxyDHCP, relays), IPv6 router
//! advertisements and an SNTP responder — the address-and-time services of
//! `diskless-server`.
//!
//! Layers: dhcproto is the wire layer; [`request`] checks and reduces a
//! packet, [`policy`] (with [`proxy`], [`pool`]) decides the answer with no
//! sockets and time passed in, [`reply`] builds it; [`journal`] persists
//! pool leases; [`io`] runs it all on tokio sockets.

pub mod batch;
pub mod config;
pub mod events;
pub mod io;
pub mod journal;
pub mod policy;
pub mod pool;
pub mod proxy;
pub mod ra;
pub mod reply;
pub mod request;
pub mod sntp;

pub use config::{DhcpConfig, PoolRange, RaConfig, SubnetConfig};
pub use events::Events;
pub use policy::{Dhcp, Outcome, Port};

#[cfg(test)]
mod tests;
