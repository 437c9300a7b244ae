//! Test bed for diskless: everything end-to-end tests and benchmarks stand on.
//!
//! - [`cache`]: `~/.cache/diskless`, keyed by inputs, with progress output;
//! - [`kernel`]: the custom tinyconfig kernel and Debian's stock kernel;
//! - [`rootfs`]: the debootstrap bookworm node root (tarball, unpack, ext4 image);
//! - [`netns`]: RAII network namespaces with a bridge, taps and veths, no route out;
//! - [`vm`]: the QEMU launcher (BIOS/UEFI, PXE or direct kernel) with a console
//!   [`timeline`];
//! - [`ssh`]: per-run keys and an SSH runner inside a namespace;
//! - [`peers`]: the seed's stack (dnsmasq + pxelinux, nfs-ganesha, bash Rcinit);
//! - [`setup`]: the idempotent installer behind `diskless-qemu setup`.

pub mod bench;
pub mod cache;
pub mod cleanup;
pub mod demo;
pub mod kernel;
pub mod netns;
pub mod peers;
pub mod rootfs;
pub mod setup;
pub mod ssh;
pub mod stack;
pub mod timeline;
pub mod vm;

mod lock;

pub use lock::{test_lock, TestLock};

/// Whether we run with root's privileges (namespaces, taps, QEMU networking
/// need them); tests that need root skip themselves otherwise.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
