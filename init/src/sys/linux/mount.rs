//! `mount(2)` for the early mounts and the forked fstab helpers.

use super::super::MountArgs;
use super::nix_err;
use std::io;

pub fn do_mount(a: &MountArgs) -> io::Result<()> {
    let flags = nix::mount::MsFlags::from_bits_truncate(a.flags.0 as _);
    let data = if a.data.is_empty() {
        None
    } else {
        Some(a.data.as_str())
    };
    nix::mount::mount(
        Some(a.source.as_str()),
        a.target.as_str(),
        Some(a.fstype.as_str()),
        flags,
        data,
    )
    .map_err(nix_err)
}
