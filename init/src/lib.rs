//! diskless-init: a static PID 1 for diskless NFS-root nodes.
//!
//! The boot is a plan computed from facts ([`plan`]), executed through the
//! [`sys::Sys`] trait; the [`supervisor`] is one loop that starts services,
//! runs fstab mounts in the background, reaps and shuts down. See
//! `docs/init.md`.

pub mod log;

pub mod boot;
pub mod check;
pub mod clock;
pub mod config;
pub mod fstab;
pub mod initramfs;
pub mod mount_table;
pub mod plan;
pub mod report;
pub mod service;
pub mod shutdown;
pub mod stage;
pub mod supervisor;
pub mod sys;

#[cfg(test)]
mod tests;
