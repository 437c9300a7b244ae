//! Kernel command line model: splitting (`args`), `ip=` (`ip`),
//! `nfsroot=` (`nfsroot`), our `diskless.*` arguments (`diskless`), the
//! per-node line (`node`) and the linter (`lint`).

pub mod args;
pub mod diskless;
pub mod ip;
pub mod lint;
pub mod nfsroot;
mod node;

pub use args::{Arg, Cmdline};
pub use diskless::{DisklessArgs, Sntp, StageArg};
pub use ip::{Autoconf, IpConfig, IpParam};
pub use nfsroot::NfsRoot;
pub use node::{node_args, node_cmdline, node_ip, node_nfsroot};
