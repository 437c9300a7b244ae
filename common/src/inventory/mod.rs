//! The cluster inventory: file format, validated model and lookups.
//!
//! `model` holds the plain, validated data every service reads (no IO after
//! load). The TOML file format, validation with `file:line:col` and import
//! from ISC dhcpd / pxelinux live beside it.

pub mod model;

pub use model::*;
