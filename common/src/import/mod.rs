//! Import of what admins have today (ISC dhcpd.conf + pxelinux.cfg files)
//! into an inventory. Grammar lives in `dhcpd`/`pxelinux`; turning the
//! statements into inventory TOML, with a note for everything that could not
//! be mapped or had to be corrected, lives in `convert`.

mod convert;
pub mod dhcpd;
pub mod pxelinux;

pub use convert::{import, ImportError, ImportOptions, Imported, Note, NoteKind, PxeFile};
