//! `/lib/modules/VERSION/diskless.load`: what the init's initramfs stage
//! loads, in order, so it never has to parse `modules.dep`.
//!
//! ```text
//! # comment
//! core nfsv3 kernel/net/sunrpc/sunrpc.ko kernel/fs/nfs_common/grace.ko … kernel/fs/nfs/nfsv3.ko
//! nic e1000 kernel/drivers/net/ethernet/intel/e1000/e1000.ko
//! ```
//! One line per wanted module: its class, its name, then the files of its
//! dependency closure in load order (the module itself last), relative to
//! the directory holding the file. `core` lines are always loaded; `nic`
//! lines may be chosen by PCI id (via the image's `modules.alias`) or all
//! loaded. A file that appears on several lines is loaded once (the loader
//! treats EEXIST as success).

/// The class of a load group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Core,
    Nic,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Core => "core",
            Class::Nic => "nic",
        }
    }
}

/// One line of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadGroup {
    pub class: Class,
    pub name: String,
    pub paths: Vec<String>,
}

pub const FILE_NAME: &str = "diskless.load";

pub fn render(groups: &[LoadGroup]) -> String {
    let mut out = String::from(
        "# diskless.load: <class> <module> <file>... (load order, dependencies first)\n",
    );
    for g in groups {
        out.push_str(g.class.as_str());
        out.push(' ');
        out.push_str(&g.name);
        for p in &g.paths {
            out.push(' ');
            out.push_str(p);
        }
        out.push('\n');
    }
    out
}

/// Parse the file; errors name the 1-based line.
pub fn parse(text: &str) -> Result<Vec<LoadGroup>, String> {
    let mut groups = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let class = match words.next() {
            Some("core") => Class::Core,
            Some("nic") => Class::Nic,
            Some(other) => return Err(format!("line {}: unknown class `{other}`", i + 1)),
            None => continue,
        };
        let name = words
            .next()
            .ok_or_else(|| format!("line {}: missing module name", i + 1))?
            .to_string();
        let paths: Vec<String> = words.map(str::to_string).collect();
        if let Some(bad) = paths
            .iter()
            .find(|p| p.starts_with('/') || p.split('/').any(|c| c == ".."))
        {
            return Err(format!("line {}: `{bad}` is not a relative path", i + 1));
        }
        groups.push(LoadGroup { class, name, paths });
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_parse() {
        let groups = vec![
            LoadGroup {
                class: Class::Core,
                name: "overlay".into(),
                paths: vec!["kernel/fs/overlayfs/overlay.ko".into()],
            },
            LoadGroup {
                class: Class::Nic,
                name: "af_packet_builtin".into(),
                paths: vec![],
            },
        ];
        assert_eq!(parse(&render(&groups)).unwrap(), groups);
    }

    #[test]
    fn bad_lines() {
        assert!(parse("disk foo a.ko\n").unwrap_err().contains("line 1"));
        assert!(parse("\ncore\n").unwrap_err().contains("line 2"));
        assert!(parse("core x ../../etc/passwd\n").is_err());
        assert!(parse("core x /abs.ko\n").is_err());
    }
}
