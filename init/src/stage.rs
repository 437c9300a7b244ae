//! Which job this process has. The same binary is the initramfs's `/init`
//! (issue 9: load modules, configure the NIC, mount the NFS root, overlay,
//! switch_root) and the node's `/sbin/init` (the root stage in [`crate::boot`]).

use diskless_common::cmdline::{Cmdline, DisklessArgs, StageArg};

/// `statfs` magic numbers of the filesystems an initramfs root can be.
pub const RAMFS_MAGIC: i64 = 0x8584_58f6;
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// PID 1 on the kernel's rootfs (an unpacked initramfs).
    Initramfs,
    /// PID 1 on the real root (NFS, or a disk in tests).
    Root,
}

/// PID 1 whose `/` is ramfs/tmpfs runs the initramfs stage; anything else
/// the root stage. `diskless.stage=root|initramfs` on the command line wins.
pub fn detect(root_fs_magic: Option<i64>, cmdline: &str) -> Stage {
    match DisklessArgs::from_cmdline(&Cmdline::parse(cmdline)).stage {
        Some(StageArg::Root) => return Stage::Root,
        Some(StageArg::Initramfs) => return Stage::Initramfs,
        None => {}
    }
    match root_fs_magic {
        Some(RAMFS_MAGIC) | Some(TMPFS_MAGIC) => Stage::Initramfs,
        _ => Stage::Root,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        assert_eq!(detect(Some(RAMFS_MAGIC), ""), Stage::Initramfs);
        assert_eq!(detect(Some(0xef53), ""), Stage::Root); // ext4
        assert_eq!(detect(Some(0x6969), ""), Stage::Root); // nfs
        assert_eq!(detect(None, ""), Stage::Root);
        assert_eq!(
            detect(Some(TMPFS_MAGIC), "x diskless.stage=root"),
            Stage::Root
        );
    }
}
