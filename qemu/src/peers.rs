//! Peer stacks the benchmarks compare against. [`seed`] is the talk's stack:
//! dnsmasq (DHCP + TFTP with pxelinux), nfs-ganesha exporting the node root,
//! and the seed's bash `Rcinit` + inittab.

pub mod dracut;
pub mod mkinitramfs;
pub mod seed;
