//! Kernel config reading and checking for diskless boots.
//!
//! - [`input`]: any input form (`.config`, `config.gz`, bzImage, vmlinux, the
//!   running system) → [`Config`];
//! - [`ikconfig`]: the config a kernel image carries (`CONFIG_IKCONFIG`);
//! - [`kconfig`]: a Kconfig tree reader and evaluator that answers "why is
//!   this option missing" and plans the options a fix needs;
//! - [`rules`] and [`nic`]: what each boot path needs;
//! - [`fix`], [`report`]: the fragment and the human/JSON output.
//!
//! `.ko` files for the initramfs verdict come through
//! [`rules::ModuleResolver`]; `diskless-mkimage` backs it with the
//! initramfs crate's `modules.dep` index (one resolver for both).

pub mod config;
pub mod decompress;
pub mod error;
pub mod fix;
pub mod fragment;
pub mod ikconfig;
pub mod input;
pub mod kconfig;
pub mod nic;
pub mod report;
pub mod rules;

pub use config::{Config, Tristate, Value};
pub use error::{Error, Result};
