//! Types shared by the diskless binaries: the cluster inventory (the single
//! source of truth for DHCP, boot configs and exports) and the kernel command
//! line model.

pub mod cmdline;
pub mod inventory;
pub mod sntp;

pub use inventory::{Inventory, Node};
