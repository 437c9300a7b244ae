//! Which `.ko` files a set of modules needs, from `modules.dep`.
//!
//! Kept deliberately small: the initramfs crate has the full index
//! (aliases, softdeps); this one only answers "which files, in which order".

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Clone, Debug, Default)]
pub struct ModuleTree {
    pub dir: PathBuf,
    /// name → (path relative to `dir`, dependency names).
    modules: HashMap<String, (String, Vec<String>)>,
    builtin: HashSet<String>,
}

/// Resolution of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Paths relative to the module directory, dependencies first.
    pub files: Vec<String>,
    pub builtin: Vec<String>,
    pub missing: Vec<String>,
}

/// `kernel/fs/nfs/nfsv3.ko.xz` → `nfsv3`; dashes become underscores.
pub fn name_of(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.find(".ko").map_or(base, |i| &base[..i]);
    stem.replace('-', "_")
}

impl ModuleTree {
    pub fn open(dir: &Path) -> Result<Self> {
        let dep = dir.join("modules.dep");
        let text = match std::fs::read_to_string(&dep) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoModulesDep { dir: dir.into() })
            }
            Err(source) => return Err(Error::Read { path: dep, source }),
        };
        let builtin = std::fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
        Ok(Self::parse(dir, &text, &builtin))
    }

    pub fn parse(dir: &Path, dep: &str, builtin: &str) -> Self {
        let modules = dep
            .lines()
            .filter_map(|l| {
                let (path, deps) = l.split_once(':')?;
                let deps = deps.split_whitespace().map(name_of).collect();
                Some((name_of(path), (path.trim().to_string(), deps)))
            })
            .collect();
        let builtin = builtin.lines().map(name_of).collect();
        ModuleTree {
            dir: dir.into(),
            modules,
            builtin,
        }
    }

    /// Files for `names` and everything they depend on, each once,
    /// dependencies before their users.
    pub fn resolve(&self, names: &[&str]) -> Resolved {
        let mut r = Resolved::default();
        let mut done = HashSet::new();
        for n in names {
            let n = name_of(n);
            if self.modules.contains_key(&n) {
                self.visit(&n, &mut done, &mut r.files);
            } else if self.builtin.contains(&n) {
                r.builtin.push(n);
            } else {
                r.missing.push(n);
            }
        }
        r
    }

    fn visit(&self, name: &str, done: &mut HashSet<String>, out: &mut Vec<String>) {
        if !done.insert(name.to_string()) {
            return;
        }
        let Some((path, deps)) = self.modules.get(name) else {
            return;
        };
        // depmod lists the full closure with the last entry loaded first.
        for d in deps.iter().rev() {
            self.visit(d, done, out);
        }
        out.push(path.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_in_load_order() {
        let t = ModuleTree::parse(
            Path::new("/m"),
            "kernel/fs/nfs/nfs.ko: kernel/fs/lockd/lockd.ko kernel/net/sunrpc/sunrpc.ko\n\
             kernel/fs/nfs/nfsv3.ko: kernel/fs/nfs/nfs.ko kernel/fs/lockd/lockd.ko kernel/net/sunrpc/sunrpc.ko\n\
             kernel/fs/lockd/lockd.ko: kernel/net/sunrpc/sunrpc.ko\n\
             kernel/net/sunrpc/sunrpc.ko:\n\
             kernel/drivers/net/e1000.ko.xz:\n",
            "kernel/fs/overlayfs/overlay.ko\n",
        );
        let r = t.resolve(&["e1000", "nfsv3", "overlay", "nope"]);
        assert_eq!(
            r.files,
            [
                "kernel/drivers/net/e1000.ko.xz",
                "kernel/net/sunrpc/sunrpc.ko",
                "kernel/fs/lockd/lockd.ko",
                "kernel/fs/nfs/nfs.ko",
                "kernel/fs/nfs/nfsv3.ko"
            ]
        );
        assert_eq!(r.builtin, ["overlay"]);
        assert_eq!(r.missing, ["nope"]);
    }
}
