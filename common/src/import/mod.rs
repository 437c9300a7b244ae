//! Import of what admins have today (ISC dhcpd.conf + pxelinux.cfg files)
//! into an inventory. Grammar lives in `dhcpd`/`pxelinux`; `walk` collects
//! subnets and hosts from the statements; `convert` turns them into inventory
//! TOML, with a `note` for everything that could not be mapped or had to be
//! corrected.

mod convert;
pub mod dhcpd;
mod note;
pub mod pxelinux;
mod walk;

pub use convert::{import, ImportError, ImportOptions, Imported, PxeFile};
pub use note::{Note, NoteKind};
