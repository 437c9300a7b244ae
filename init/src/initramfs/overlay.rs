//! The writable root: a tmpfs upper layer over the read-only NFS root, one
//! per node and lost at reboot (as LTSP and xCAT statelite do), so nodes
//! never write into the shared export.

use crate::sys::{MountArgs, Sys};

pub const LOWER: &str = "/lower";
pub const RW: &str = "/rw";
pub const NEW_ROOT: &str = "/newroot";

/// Mount calls after the NFS root is on [`LOWER`]: tmpfs on [`RW`], its
/// `upper`/`work` directories, the overlay on [`NEW_ROOT`].
pub fn mount(sys: &mut dyn Sys) -> Result<(), String> {
    let tmpfs = MountArgs::new("diskless-rw", RW, "tmpfs", 0, "mode=0755");
    sys.mount(&tmpfs)
        .map_err(|e| format!("mounting tmpfs on {RW}: {e}"))?;
    for d in ["upper", "work"] {
        sys.mkdir(&format!("{RW}/{d}"), 0o755)
            .map_err(|e| format!("creating {RW}/{d}: {e}"))?;
    }
    let ov = MountArgs::new(
        "overlay",
        NEW_ROOT,
        "overlay",
        0,
        &format!("lowerdir={LOWER},upperdir={RW}/upper,workdir={RW}/work"),
    );
    sys.mount(&ov).map_err(|e| {
        format!("mounting the overlay on {NEW_ROOT}: {e} (is the overlay module in the image? boot with diskless.overlay=none to go without)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, FakeSys};

    #[test]
    fn tmpfs_then_overlay() {
        let mut s = FakeSys::new();
        mount(&mut s).unwrap();
        let m: Vec<_> = s
            .calls
            .iter()
            .filter_map(|c| match c {
                Call::Mount(a) => Some((a.fstype.as_str(), a.target.as_str(), a.data.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            m,
            [
                ("tmpfs", "/rw", "mode=0755"),
                (
                    "overlay",
                    "/newroot",
                    "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work"
                )
            ]
        );
    }

    #[test]
    fn overlay_failure_names_the_way_out() {
        let mut s = FakeSys::new();
        s.mount_errno.insert("/newroot".into(), libc::ENODEV);
        assert!(mount(&mut s).unwrap_err().contains("diskless.overlay=none"));
    }
}
