//! A kernel's module index (`modules.dep`, `modules.builtin`,
//! `modules.alias`, `modules.softdep`) and dependency closures over it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One loadable module as `modules.dep` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    /// Path relative to the modules directory, as on disk (`.ko`, `.ko.xz`…).
    pub path: String,
    /// Names of the modules it needs, as listed (depmod lists the whole
    /// transitive set; the last one is loaded first).
    pub deps: Vec<String>,
}

impl Module {
    /// The path inside our image: always a plain `.ko`, because we decompress.
    pub fn image_path(&self) -> String {
        match self.path.rfind(".ko") {
            Some(i) => self.path[..i + 3].to_string(),
            None => self.path.clone(),
        }
    }
}

/// What a name refers to in this kernel.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    Module(&'a Module),
    Builtin,
    Missing,
}

#[derive(Clone, Debug, Default)]
pub struct ModuleIndex {
    pub dir: PathBuf,
    pub version: String,
    modules: BTreeMap<String, Module>,
    builtin: BTreeSet<String>,
    /// `alias PATTERN module` lines, in file order.
    aliases: Vec<(String, String)>,
    /// module → (pre, post) soft dependencies (names or aliases).
    softdeps: BTreeMap<String, (Vec<String>, Vec<String>)>,
}

/// Module name from a path or a user's spelling: basename without `.ko*`,
/// dashes as underscores (the kernel treats them alike).
pub fn normalize(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = match base.find(".ko") {
        Some(i) => &base[..i],
        None => base,
    };
    stem.replace('-', "_")
}

impl ModuleIndex {
    /// Read the index of `dir` (…/lib/modules/VERSION).
    pub fn open(dir: &Path) -> Result<Self> {
        let dep_path = dir.join("modules.dep");
        if !dep_path.is_file() {
            return Err(Error::NoModulesDep { dir: dir.into() });
        }
        let read = |name: &str, required: bool| -> Result<String> {
            let p = dir.join(name);
            match std::fs::read_to_string(&p) {
                Ok(s) => Ok(s),
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                    Ok(String::new())
                }
                Err(source) => Err(Error::Read { path: p, source }),
            }
        };
        let version = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut idx = Self::parse(
            &version,
            &read("modules.dep", true)?,
            &read("modules.builtin", false)?,
            &read("modules.alias", false)?,
            &read("modules.softdep", false)?,
        )?;
        idx.dir = dir.into();
        Ok(idx)
    }

    /// Build from file contents (no IO): the unit tests' entry point.
    pub fn parse(
        version: &str,
        dep: &str,
        builtin: &str,
        alias: &str,
        softdep: &str,
    ) -> Result<Self> {
        let mut modules = BTreeMap::new();
        for (i, line) in dep.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (path, deps) = line.split_once(':').ok_or_else(|| Error::Parse {
                file: "modules.dep".into(),
                line: i + 1,
                message: "expected `path: dependency…`".into(),
            })?;
            let path = path.trim();
            if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == "..") {
                return Err(Error::Parse {
                    file: "modules.dep".into(),
                    line: i + 1,
                    message: format!("`{path}` is not a relative module path"),
                });
            }
            let name = normalize(path);
            let deps = deps.split_whitespace().map(normalize).collect();
            modules.insert(
                name.clone(),
                Module {
                    name,
                    path: path.to_string(),
                    deps,
                },
            );
        }
        let builtin = builtin
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(normalize)
            .collect();
        let aliases = alias
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                match (w.next(), w.next(), w.next()) {
                    (Some("alias"), Some(p), Some(m)) => Some((p.to_string(), normalize(m))),
                    _ => None,
                }
            })
            .collect();
        let mut softdeps: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for line in softdep.lines() {
            let mut w = line.split_whitespace();
            if w.next() != Some("softdep") {
                continue;
            }
            let Some(m) = w.next() else { continue };
            let entry = softdeps.entry(normalize(m)).or_default();
            let mut post = false;
            for word in w {
                match word {
                    "pre:" => post = false,
                    "post:" => post = true,
                    d if post => entry.1.push(d.to_string()),
                    d => entry.0.push(d.to_string()),
                }
            }
        }
        Ok(ModuleIndex {
            dir: PathBuf::new(),
            version: version.into(),
            modules,
            builtin,
            aliases,
            softdeps,
        })
    }

    pub fn lookup(&self, name: &str) -> Lookup<'_> {
        let n = normalize(name);
        if let Some(m) = self.modules.get(&n) {
            Lookup::Module(m)
        } else if self.builtin.contains(&n) {
            Lookup::Builtin
        } else {
            Lookup::Missing
        }
    }

    pub fn get(&self, name: &str) -> Option<&Module> {
        self.modules.get(&normalize(name))
    }

    /// `name` and everything it needs, in load order (dependencies first,
    /// `name` last). Soft `pre:` dependencies that resolve to modules come
    /// before it, `post:` ones after. A builtin gives an empty list.
    pub fn closure(&self, name: &str) -> Result<Vec<String>> {
        let mut order = Vec::new();
        let mut state = BTreeMap::new();
        let mut stack = Vec::new();
        match self.lookup(name) {
            Lookup::Module(m) => self.visit(&m.name, &mut order, &mut state, &mut stack)?,
            Lookup::Builtin => {}
            Lookup::Missing => {
                return Err(Error::ModuleMissing {
                    name: name.into(),
                    dir: self.dir.clone(),
                })
            }
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        order: &mut Vec<String>,
        done: &mut BTreeMap<String, bool>,
        stack: &mut Vec<String>,
    ) -> Result<()> {
        match done.get(name) {
            Some(true) => return Ok(()),
            Some(false) => {
                stack.push(name.into());
                return Err(Error::DependencyCycle {
                    chain: stack.clone(),
                });
            }
            None => {}
        }
        let Some(m) = self.modules.get(name) else {
            // A dependency named in modules.dep but without its own line:
            // builtins are fine, anything else means a broken index.
            if self.builtin.contains(name) {
                return Ok(());
            }
            return Err(Error::ModuleMissing {
                name: name.into(),
                dir: self.dir.clone(),
            });
        };
        done.insert(name.into(), false);
        stack.push(name.into());
        let (pre, post) = self.softdeps_of(name);
        for d in pre.iter().chain(m.deps.iter().rev()) {
            self.visit(d, order, done, stack)?;
        }
        stack.pop();
        done.insert(name.into(), true);
        order.push(name.into());
        for d in post {
            self.visit(&d, order, done, stack)?;
        }
        Ok(())
    }

    /// Soft dependencies that resolve to loadable modules; unknown ones are
    /// skipped (usually builtin crypto).
    fn softdeps_of(&self, name: &str) -> (Vec<String>, Vec<String>) {
        let Some((pre, post)) = self.softdeps.get(name) else {
            return Default::default();
        };
        let resolve = |list: &Vec<String>| {
            list.iter()
                .filter_map(|d| self.resolve_alias(d))
                .collect::<Vec<_>>()
        };
        (resolve(pre), resolve(post))
    }

    /// A module name, or an exact (wildcard-free) alias of one.
    fn resolve_alias(&self, word: &str) -> Option<String> {
        let n = normalize(word);
        if self.modules.contains_key(&n) {
            return Some(n);
        }
        self.aliases
            .iter()
            .find(|(p, m)| p == word && self.modules.contains_key(m))
            .map(|(_, m)| m.clone())
    }

    /// `modules.dep` for the image: only `included`, with image paths.
    pub fn render_dep(&self, included: &BTreeSet<String>) -> String {
        let mut out = String::new();
        for name in included {
            let Some(m) = self.modules.get(name) else {
                continue;
            };
            out.push_str(&m.image_path());
            out.push(':');
            for d in m.deps.iter().filter_map(|d| self.modules.get(d)) {
                out.push(' ');
                out.push_str(&d.image_path());
            }
            out.push('\n');
        }
        out
    }

    /// `modules.alias` for the image: lines whose module is included.
    pub fn render_alias(&self, included: &BTreeSet<String>) -> String {
        let mut out = String::new();
        for (p, m) in self.aliases.iter().filter(|(_, m)| included.contains(m)) {
            out.push_str(&format!("alias {p} {m}\n"));
        }
        out
    }

    /// `modules.softdep` for the image: entries of included modules.
    pub fn render_softdep(&self, included: &BTreeSet<String>) -> String {
        let mut out = String::new();
        for (m, (pre, post)) in self.softdeps.iter().filter(|(m, _)| included.contains(*m)) {
            out.push_str(&format!("softdep {m}"));
            if !pre.is_empty() {
                out.push_str(&format!(" pre: {}", pre.join(" ")));
            }
            if !post.is_empty() {
                out.push_str(&format!(" post: {}", post.join(" ")));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/fs/nfs_common/nfs_acl.ko: kernel/net/sunrpc/sunrpc.ko
kernel/fs/nfs_common/grace.ko:
kernel/fs/nfs/nfs.ko: kernel/fs/lockd/lockd.ko kernel/fs/nfs_common/grace.ko kernel/net/sunrpc/sunrpc.ko
kernel/fs/nfs/nfsv3.ko.xz: kernel/fs/nfs_common/nfs_acl.ko kernel/fs/nfs/nfs.ko kernel/fs/lockd/lockd.ko kernel/fs/nfs_common/grace.ko kernel/net/sunrpc/sunrpc.ko
kernel/fs/lockd/lockd.ko: kernel/fs/nfs_common/grace.ko kernel/net/sunrpc/sunrpc.ko
kernel/net/sunrpc/sunrpc.ko:
kernel/drivers/net/phy/realtek.ko.zst:
kernel/drivers/net/ethernet/realtek/r8169.ko: kernel/drivers/net/phy/libphy.ko
kernel/drivers/net/phy/libphy.ko:
kernel/drivers/net/vmxnet3/vmxnet3.ko:
";

    fn idx() -> ModuleIndex {
        ModuleIndex::parse(
            "6.1.0-test",
            DEP,
            "kernel/net/packet/af_packet.ko\n",
            "alias pci:v000010ECd00008168sv*sd*bc*sc*i* r8169\nalias net-pf-17 af_packet\n",
            "softdep r8169 pre: realtek\n",
        )
        .unwrap()
    }

    fn pos(order: &[String], n: &str) -> usize {
        order.iter().position(|x| x == n).unwrap()
    }

    #[test]
    fn closure_puts_dependencies_first() {
        let order = idx().closure("nfsv3").unwrap();
        assert_eq!(order.len(), 6);
        assert_eq!(order.last().unwrap(), "nfsv3");
        for (a, b) in [
            ("sunrpc", "lockd"),
            ("grace", "lockd"),
            ("lockd", "nfs"),
            ("sunrpc", "nfs_acl"),
        ] {
            assert!(pos(&order, a) < pos(&order, b), "{a} before {b}: {order:?}");
        }
    }

    #[test]
    fn soft_pre_dependencies_are_included_first() {
        let order = idx().closure("r8169").unwrap();
        assert_eq!(order, ["realtek", "libphy", "r8169"]);
    }

    #[test]
    fn builtin_and_missing() {
        let i = idx();
        assert_eq!(i.lookup("af-packet"), Lookup::Builtin);
        assert!(i.closure("af_packet").unwrap().is_empty());
        let err = i.closure("e1000e").unwrap_err().to_string();
        assert!(err.contains("`e1000e`"), "{err}");
    }

    #[test]
    fn compressed_paths_become_plain_in_the_image() {
        let i = idx();
        assert_eq!(
            i.get("nfsv3").unwrap().image_path(),
            "kernel/fs/nfs/nfsv3.ko"
        );
        let inc: BTreeSet<String> = ["nfsv3", "sunrpc"].map(String::from).into();
        let dep = i.render_dep(&inc);
        assert!(dep.contains("kernel/fs/nfs/nfsv3.ko: kernel/fs/nfs_common/nfs_acl.ko"));
        assert!(dep.starts_with("kernel/fs/nfs/nfsv3.ko:"), "sorted by name");
    }

    #[test]
    fn alias_and_softdep_are_filtered() {
        let i = idx();
        let inc: BTreeSet<String> = ["r8169"].map(String::from).into();
        assert_eq!(
            i.render_alias(&inc),
            "alias pci:v000010ECd00008168sv*sd*bc*sc*i* r8169\n"
        );
        assert_eq!(i.render_softdep(&inc), "softdep r8169 pre: realtek\n");
    }

    #[test]
    fn cycles_and_bad_lines_are_errors() {
        let i = ModuleIndex::parse("v", "a.ko: b.ko\nb.ko: a.ko\n", "", "", "").unwrap();
        let err = i.closure("a").unwrap_err().to_string();
        assert!(err.contains("a -> b -> a"), "{err}");
        assert!(ModuleIndex::parse("v", "no colon here\n", "", "", "").is_err());
        assert!(ModuleIndex::parse("v", "../../etc/shadow:\n", "", "", "").is_err());
        assert!(ModuleIndex::parse("v", "/abs.ko:\n", "", "", "").is_err());
    }

    #[test]
    fn dependency_without_its_own_line_is_missing() {
        let i = ModuleIndex::parse("v", "a.ko: ghost.ko\n", "", "", "").unwrap();
        let err = i.closure("a").unwrap_err().to_string();
        assert!(err.contains("`ghost`"), "{err}");
    }
}
