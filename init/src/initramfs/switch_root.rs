//! Handing PID 1 to the real root: move the kernel filesystems into it,
//! delete the initramfs contents (they would pin RAM forever), make the new
//! root `/`, exec its init.

use super::overlay::NEW_ROOT;
use crate::sys::{MountArgs, MountFlags, Sys};
use crate::warn;

/// Mounts carried over into the new root.
pub const MOVED: [&str; 3] = ["/dev", "/proc", "/sys"];

/// The init to exec: `init=`, else the root's diskless-init, else
/// `/sbin/init`. Checked before anything is deleted.
pub fn choose_init(sys: &dyn Sys, init: Option<&str>) -> Result<String, String> {
    let candidates: Vec<&str> = match init {
        Some(i) => vec![i],
        None => vec!["/sbin/diskless-init", "/sbin/init"],
    };
    candidates
        .iter()
        .find(|c| sys.exists(&format!("{NEW_ROOT}{c}")))
        .map(|c| c.to_string())
        .ok_or_else(|| {
            format!(
                "the new root has no {} (is the NFS export a node root?)",
                candidates.join(" or ")
            )
        })
}

/// Only returns if the switch failed before the initramfs was deleted, or
/// the exec failed (then the error says which).
pub fn switch(sys: &mut dyn Sys, init: &str) -> String {
    for m in MOVED {
        let target = format!("{NEW_ROOT}{m}");
        if !sys.exists(&target) {
            let _ = sys.mkdir(&target, 0o755);
        }
        let mv = MountArgs::new(m, &target, "", MountFlags::MOVE, "");
        if let Err(e) = sys.mount(&mv) {
            warn!("moving {m} to {target}: {e}; the root stage mounts a fresh one");
        }
    }
    if let Err(e) = sys.remove_tree_same_fs("/") {
        warn!("cleaning the initramfs: {e}");
    }
    if let Err(e) = sys.switch_root(NEW_ROOT) {
        return format!("switching to {NEW_ROOT}: {e}");
    }
    let e = sys.exec(&[init.to_string()]);
    format!("exec {init}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, FakeSys};

    #[test]
    fn init_choice() {
        let s = FakeSys::new().with_file("/newroot/sbin/init", "");
        assert_eq!(choose_init(&s, None).unwrap(), "/sbin/init");
        let s = s.with_file("/newroot/sbin/diskless-init", "");
        assert_eq!(choose_init(&s, None).unwrap(), "/sbin/diskless-init");
        assert!(choose_init(&s, Some("/bin/bash"))
            .unwrap_err()
            .contains("/bin/bash"));
    }

    #[test]
    fn moves_cleans_chroots_execs_in_that_order() {
        let mut s = FakeSys::new().with_dir("/newroot/dev");
        let e = switch(&mut s, "/sbin/diskless-init");
        assert!(e.contains("exec /sbin/diskless-init"));
        let tail: Vec<_> = s
            .calls
            .iter()
            .filter(|c| !matches!(c, Call::Mkdir(_)))
            .cloned()
            .collect();
        let mv = |m: &str| {
            Call::Mount(MountArgs::new(
                m,
                &format!("/newroot{m}"),
                "",
                MountFlags::MOVE,
                "",
            ))
        };
        assert_eq!(
            tail,
            [
                mv("/dev"),
                mv("/proc"),
                mv("/sys"),
                Call::RemoveTree("/".into()),
                Call::SwitchRoot("/newroot".into()),
                Call::Exec(vec!["/sbin/diskless-init".into()]),
            ]
        );
        assert!(s.calls.contains(&Call::Mkdir("/newroot/proc".into())));
    }
}
