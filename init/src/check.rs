//! `diskless-init --check`: validate a node root's init.toml and fstab
//! offline, the way the boot would read them.

use crate::config::{self, Config};
use crate::fstab;
use std::path::Path;

/// Findings: `errors` make the check fail, `notes` are informational.
#[derive(Debug, Default)]
pub struct Report {
    pub errors: Vec<String>,
    pub notes: Vec<String>,
}

pub fn check(root: &Path) -> Report {
    let mut r = Report::default();
    let inside = |p: &str| root.join(p.trim_start_matches('/'));
    let exists = |p: &str| inside(p).exists();
    let cfg_path = inside(config::PATH);
    let cfg = match std::fs::read_to_string(&cfg_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            r.notes.push(format!(
                "{}: absent; the built-in defaults apply",
                cfg_path.display()
            ));
            Some(Config::defaults(&exists))
        }
        Err(e) => {
            r.errors.push(format!("{}: {e}", cfg_path.display()));
            None
        }
        Ok(text) => match Config::parse(&text, &cfg_path.display().to_string(), &exists) {
            Ok(c) => Some(c),
            Err(errs) => {
                r.errors.extend(errs.iter().map(|e| e.to_string()));
                None
            }
        },
    };
    if let Some(cfg) = &cfg {
        for s in &cfg.services {
            let bin = &s.argv[0];
            if !exists(bin) {
                r.errors.push(format!(
                    "{}: service `{}`: {bin} does not exist in {}",
                    cfg_path.display(),
                    s.name,
                    root.display()
                ));
            }
        }
        let names: Vec<&str> = cfg.services.iter().map(|s| s.name.as_str()).collect();
        if names.is_empty() {
            r.notes.push(
                "no services: init.toml lists none and none of rpcbind, gmond, sshd is installed"
                    .into(),
            );
        } else {
            r.notes.push(format!("services: {}", names.join(", ")));
        }
    }
    let fstab_path = inside("/etc/fstab");
    match std::fs::read_to_string(&fstab_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            r.notes.push(format!("{}: absent", fstab_path.display()))
        }
        Err(e) => r.errors.push(format!("{}: {e}", fstab_path.display())),
        Ok(text) => {
            let tab = fstab::parse(&text);
            let f = fstab_path.display();
            r.errors.extend(
                tab.errors
                    .iter()
                    .map(|e| format!("{f}:{}: {}", e.line, e.message)),
            );
            r.notes.extend(tab.notes.iter().map(|n| format!("{f} {n}")));
            for e in &tab.entries {
                if e.is_noauto() {
                    continue;
                }
                if let Err(m) = e.mount_args(&mut r.notes) {
                    r.errors.push(format!("{f}:{}: {m}", e.line));
                }
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_reports_file_and_line() {
        let dir = std::env::temp_dir().join(format!("diskless-init-check-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc/diskless")).unwrap();
        std::fs::write(dir.join("etc/fstab"), "ok /x tmpfs defaults\nbroken line\n").unwrap();
        std::fs::write(
            dir.join("etc/diskless/init.toml"),
            "[[service]]\nname = \"x\"\ncommand = [\"/usr/bin/missing\"]\n",
        )
        .unwrap();
        let r = check(&dir);
        assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
        assert!(
            r.errors[0].contains("/usr/bin/missing does not exist"),
            "{:?}",
            r.errors
        );
        assert!(r.errors[1].contains("fstab:2:"), "{:?}", r.errors);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
