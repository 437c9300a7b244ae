//! Initramfs images for diskless nodes: a reproducible newc cpio writer, a
//! reader for any kernel-style (concatenated, compressed) initramfs, and the
//! kernel module resolver that picks NFS, overlay and NIC drivers with their
//! dependency closure.
//!
//! ```no_run
//! use diskless_initramfs::{build, Compression, ImageSpec};
//! let image = build(&ImageSpec {
//!     modules_dir: "/lib/modules/6.1.0-56-amd64".into(),
//!     init: "target/x86_64-unknown-linux-gnu/init/diskless-init".into(),
//!     nics: vec!["e1000".into()],
//!     all_nics: false,
//!     compression: Compression::Gzip,
//!     mtime: 0,
//! })?;
//! std::fs::write("initrd.img", &image.bytes)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod compression;
pub mod cpio;
pub mod error;
pub mod image;
pub mod listing;
pub mod load_list;
pub mod modules;
pub mod nic;

pub use compression::{Compression, Format};
pub use error::{Error, Result};
pub use image::{build, BuiltImage, ImageSpec};
pub use listing::{list_image, Segment};
pub use modules::ModuleIndex;
