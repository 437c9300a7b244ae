//! Types shared by the diskless binaries: the cluster inventory (the single
//! source of truth for DHCP, boot configs and exports), the kernel command
//! line model and the boot loader configs rendered from them.

#[cfg(feature = "cli")]
pub mod cli;
pub mod cmdline;
pub mod import;
pub mod inventory;
pub mod render;
pub mod report;
pub mod sntp;

pub use inventory::{Inventory, Node};
