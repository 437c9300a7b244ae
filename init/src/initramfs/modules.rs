//! Loading the image's kernel modules in `diskless.load` order: every
//! `core` group, then the `nic` groups whose module matches a PCI device in
//! sysfs (through the image's `modules.alias`), or every `nic` group when
//! nothing matches (or sysfs has no PCI bus).

use crate::sys::{errno, Sys};
use crate::{info, warn};
use diskless_initramfs::load_list::{self, Class, LoadGroup};
use std::collections::BTreeSet;

/// What the loader did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub modules_dir: String,
    pub loaded: Vec<String>,
    /// (file, error) of files that failed; the boot goes on.
    pub failed: Vec<(String, String)>,
}

/// `/lib/modules/VER` holding `diskless.load` (the first, sorted).
pub fn find_modules_dir(sys: &dyn Sys) -> Option<String> {
    let vers = sys.list_dir("/lib/modules").ok()?;
    vers.into_iter()
        .map(|v| format!("/lib/modules/{v}"))
        .find(|d| sys.exists(&format!("{d}/{}", load_list::FILE_NAME)))
}

/// `modalias` strings of the PCI devices in sysfs.
pub fn pci_modaliases(sys: &dyn Sys) -> Vec<String> {
    let base = "/sys/bus/pci/devices";
    sys.list_dir(base)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| sys.read_file(&format!("{base}/{d}/modalias")).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Shell-style `*`/`?` match, as modules.alias patterns use.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Module names (underscored) whose `modules.alias` patterns match one of
/// `aliases`.
pub fn modules_for(alias_file: &str, aliases: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in alias_file.lines() {
        let mut w = line.split_whitespace();
        let (Some("alias"), Some(pat), Some(module)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        if aliases.iter().any(|a| glob_match(pat, a)) {
            out.insert(module.replace('-', "_"));
        }
    }
    out
}

/// The groups to load, in order: core, the matching NICs (or all NICs),
/// then any group named in `extra` (`diskless.modules=`).
pub fn choose<'a>(
    groups: &'a [LoadGroup],
    matched: &BTreeSet<String>,
    extra: &[String],
) -> Vec<&'a LoadGroup> {
    let nics: Vec<&LoadGroup> = groups.iter().filter(|g| g.class == Class::Nic).collect();
    let chosen_nics: Vec<&LoadGroup> = nics
        .iter()
        .copied()
        .filter(|g| matched.contains(&g.name))
        .collect();
    let mut out: Vec<&LoadGroup> = groups.iter().filter(|g| g.class == Class::Core).collect();
    out.extend(if chosen_nics.is_empty() {
        nics
    } else {
        chosen_nics
    });
    for name in extra {
        let name = name.replace('-', "_");
        if let Some(g) = groups.iter().find(|g| g.name == name) {
            if !out.iter().any(|o| o.name == g.name) {
                out.push(g);
            }
        } else {
            warn!("diskless.modules names {name}, which this image does not hold");
        }
    }
    out
}

/// Reads `diskless.load` and loads the chosen groups. Errors only when the
/// image has no usable `diskless.load`; single modules that fail are
/// reported in [`Loaded::failed`].
pub fn load(sys: &mut dyn Sys, extra: &[String]) -> Result<Loaded, String> {
    let dir = find_modules_dir(sys).ok_or_else(|| {
        "no /lib/modules/*/diskless.load in the initramfs; rebuild it with `diskless-mkimage initramfs`".to_string()
    })?;
    let text = sys
        .read_file(&format!("{dir}/{}", load_list::FILE_NAME))
        .map_err(|e| format!("{dir}/{}: {e}", load_list::FILE_NAME))?;
    let groups =
        load_list::parse(&text).map_err(|e| format!("{dir}/{}: {e}", load_list::FILE_NAME))?;
    let aliases = pci_modaliases(sys);
    let alias_file = sys
        .read_file(&format!("{dir}/modules.alias"))
        .unwrap_or_default();
    let matched = modules_for(&alias_file, &aliases);
    let mut done = BTreeSet::new();
    let mut out = Loaded {
        modules_dir: dir.clone(),
        ..Default::default()
    };
    for g in choose(&groups, &matched, extra) {
        for rel in &g.paths {
            if !done.insert(rel.clone()) {
                continue;
            }
            let path = format!("{dir}/{rel}");
            match sys.finit_module(&path) {
                Ok(()) => out.loaded.push(rel.clone()),
                Err(e) if errno(&e) == libc::EEXIST => out.loaded.push(rel.clone()),
                Err(e) => {
                    warn!("loading {path}: {e}");
                    out.failed.push((rel.clone(), e.to_string()));
                }
            }
        }
    }
    info!(
        "loaded {} module file(s) from {dir} ({} failed)",
        out.loaded.len(),
        out.failed.len()
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, FakeSys};

    const LOAD: &str = "\
# test
core nfsv3 kernel/sunrpc.ko kernel/nfs.ko kernel/nfsv3.ko
core overlay kernel/overlay.ko
nic e1000 kernel/e1000.ko
nic virtio_net kernel/virtio.ko kernel/virtio_net.ko
";
    const D: &str = "/lib/modules/6.1.0-1-amd64";

    fn image() -> FakeSys {
        let mut s = FakeSys::new()
            .with_dir("/lib/modules")
            .with_dir(D)
            .with_file(&format!("{D}/diskless.load"), LOAD)
            .with_file(
                &format!("{D}/modules.alias"),
                "alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000\nalias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_net\n",
            )
            .with_dir("/sys/bus/pci/devices");
        for f in [
            "sunrpc",
            "nfs",
            "nfsv3",
            "overlay",
            "e1000",
            "virtio",
            "virtio_net",
        ] {
            s.files.insert(format!("{D}/kernel/{f}.ko"), String::new());
        }
        s
    }

    fn loaded(s: &FakeSys) -> Vec<String> {
        s.calls
            .iter()
            .filter_map(|c| match c {
                Call::FinitModule(p) => Some(p.rsplit('/').next().unwrap().to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn glob() {
        assert!(glob_match(
            "pci:v00008086d*sv*",
            "pci:v00008086d0000100Esv00001AF4"
        ));
        assert!(!glob_match("pci:v00008086d*", "pci:v00001AF4d0000"));
        assert!(glob_match("a?c*", "abc"));
        assert!(!glob_match("abc", "abcd"));
    }

    #[test]
    fn pci_match_picks_only_the_present_nic() {
        let mut s = image()
            .with_dir("/sys/bus/pci/devices/0000:00:03.0")
            .with_file(
                "/sys/bus/pci/devices/0000:00:03.0/modalias",
                "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00\n",
            );
        let r = load(&mut s, &[]).unwrap();
        assert_eq!(
            loaded(&s),
            ["sunrpc.ko", "nfs.ko", "nfsv3.ko", "overlay.ko", "e1000.ko"]
        );
        assert!(r.failed.is_empty());
    }

    #[test]
    fn no_match_loads_every_nic_and_eexist_is_fine() {
        let mut s = image();
        s.module_errno
            .insert(format!("{D}/kernel/sunrpc.ko"), libc::EEXIST);
        s.module_errno
            .insert(format!("{D}/kernel/virtio.ko"), libc::ENOEXEC);
        let r = load(&mut s, &[]).unwrap();
        assert_eq!(loaded(&s).len(), 7);
        assert_eq!(r.failed.len(), 1, "only ENOEXEC counts: {:?}", r.failed);
        assert_eq!(r.failed[0].0, "kernel/virtio.ko");
    }

    #[test]
    fn extra_module_added_once_and_unknown_warned() {
        let mut s = image().with_dir("/sys/bus/pci/devices/x").with_file(
            "/sys/bus/pci/devices/x/modalias",
            "pci:v00008086d0000100Esv0sd0bc02sc00i00",
        );
        load(
            &mut s,
            &["virtio-net".into(), "nope".into(), "e1000".into()],
        )
        .unwrap();
        assert_eq!(loaded(&s).len(), 7);
    }

    #[test]
    fn missing_or_broken_load_list_is_an_error() {
        let mut s = FakeSys::new().with_dir("/lib/modules");
        assert!(load(&mut s, &[]).unwrap_err().contains("diskless-mkimage"));
        let mut s = image().with_file(&format!("{D}/diskless.load"), "bogus x y\n");
        assert!(load(&mut s, &[]).unwrap_err().contains("line 1"));
    }
}
