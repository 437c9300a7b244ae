//! `/etc/fstab`: parsing (with line numbers for every complaint) and turning
//! an entry into the text options `mount(2)` takes, the way mount(8) and
//! mount.nfs would, minus what only userspace understands.

use crate::sys::{MountArgs, MountFlags};
use std::fmt;
use std::net::IpAddr;

/// One usable fstab line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub spec: String,
    pub target: String,
    pub fstype: String,
    pub options: Vec<String>,
}

/// A line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Result of reading an fstab: good entries, bad lines, remarks.
#[derive(Debug, Default)]
pub struct Fstab {
    pub entries: Vec<Entry>,
    pub errors: Vec<LineError>,
    pub notes: Vec<String>,
}

/// `\040` style escapes (space, tab, backslash) as in fstab(5).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse(text: &str) -> Fstab {
    let mut tab = Fstab::default();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let (start, mut line) = match pending.take() {
            Some((s, mut acc)) => {
                acc.push(' ');
                acc.push_str(raw);
                (s, acc)
            }
            None => (lineno, raw.to_string()),
        };
        // The seed splits a line with a trailing backslash; fstab(5) has no
        // continuations, but the intent is plain, so join and say so.
        if line.ends_with('\\') {
            line.pop();
            if start == lineno {
                tab.notes.push(format!(
                    "line {lineno}: joined with the next line (fstab has no '\\' continuations; put the entry on one line)"
                ));
            }
            pending = Some((start, line));
            continue;
        }
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let f: Vec<&str> = content.split_whitespace().collect();
        let err = |m: String| LineError {
            line: start,
            message: m,
        };
        if f.len() < 3 {
            tab.errors.push(err(format!(
                "expected `device mountpoint type [options [dump [pass]]]`, found {} field(s): `{content}`",
                f.len()
            )));
            continue;
        }
        if f.len() > 6 {
            tab.errors.push(err(format!(
                "{} fields, at most 6 allowed: `{content}`",
                f.len()
            )));
            continue;
        }
        let target = unescape(f[1]);
        if !target.starts_with('/') && target != "none" && target != "swap" {
            tab.errors.push(err(format!(
                "mount point `{target}` is not an absolute path"
            )));
            continue;
        }
        if target.split('/').any(|c| c == "..") {
            tab.errors
                .push(err(format!("mount point `{target}` contains `..`")));
            continue;
        }
        if let Some(bad) = f
            .get(4..)
            .into_iter()
            .flatten()
            .find(|n| n.parse::<u32>().is_err())
        {
            tab.errors
                .push(err(format!("dump/pass field `{bad}` is not a number")));
            continue;
        }
        let options = f
            .get(3)
            .map(|o| {
                o.split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_else(|| vec!["defaults".to_string()]);
        tab.entries.push(Entry {
            line: start,
            spec: unescape(f[0]),
            target,
            fstype: f[2].to_string(),
            options,
        });
    }
    if let Some((start, _)) = pending {
        tab.errors.push(LineError {
            line: start,
            message: "file ends inside a '\\' continued line".into(),
        });
    }
    tab
}

impl Entry {
    pub fn has(&self, opt: &str) -> bool {
        self.options.iter().any(|o| o == opt)
    }
    pub fn is_noauto(&self) -> bool {
        self.has("noauto")
    }
    pub fn is_nfs(&self) -> bool {
        self.fstype == "nfs" || self.fstype == "nfs4"
    }

    /// The `mount(2)` call for this entry, or why it can't be made.
    /// `notes` collects harmless oddities (obsolete options dropped).
    pub fn mount_args(&self, notes: &mut Vec<String>) -> Result<MountArgs, String> {
        let mut flags = 0u64;
        let mut data: Vec<String> = vec![];
        for o in &self.options {
            let o = o.as_str();
            match o {
                "defaults" | "rw" | "suid" | "dev" | "exec" | "async" | "atime" | "diratime"
                | "auto" | "noauto" | "nouser" | "user" | "users" | "owner" | "group"
                | "_netdev" | "nofail" | "bg" | "fg" => {}
                "ro" => flags |= MountFlags::RDONLY,
                "nosuid" => flags |= MountFlags::NOSUID,
                "nodev" => flags |= MountFlags::NODEV,
                "noexec" => flags |= MountFlags::NOEXEC,
                "sync" => flags |= MountFlags::SYNCHRONOUS,
                "dirsync" => flags |= MountFlags::DIRSYNC,
                "noatime" => flags |= MountFlags::NOATIME,
                "nodiratime" => flags |= MountFlags::NODIRATIME,
                "relatime" => flags |= MountFlags::RELATIME,
                "strictatime" => flags |= MountFlags::STRICTATIME,
                "lazytime" => flags |= MountFlags::LAZYTIME,
                "intr" | "nointr" if self.is_nfs() => notes.push(format!(
                    "fstab line {}: `{o}` is obsolete since Linux 2.6.25 and ignored",
                    self.line
                )),
                o if o.starts_with("x-")
                    || o.starts_with("comment=")
                    || o.starts_with("retry=") => {}
                o => data.push(o.to_string()),
            }
        }
        if self.is_nfs() {
            let (server, _path) = self
                .spec
                .rsplit_once(':')
                .ok_or_else(|| format!("NFS source `{}` is not `server:/path`", self.spec))?;
            let server = server.trim_start_matches('[').trim_end_matches(']');
            let ip: IpAddr = server.parse().map_err(|_| {
                format!(
                    "NFS server `{server}` is not an IP address; init resolves no names, write the address"
                )
            })?;
            fn has(data: &[String], k: &str) -> bool {
                data.iter()
                    .any(|d| d == k || d.starts_with(&format!("{k}=")))
            }
            // The kernel client learns the server address only from `addr=`
            // (mount.nfs adds it after resolving); without rpc.statd there is
            // no NLM, so locks must stay local.
            if !has(&data, "addr") {
                data.push(format!("addr={ip}"));
            }
            if !has(&data, "lock") && !has(&data, "nolock") && self.fstype == "nfs" {
                data.push("nolock".into());
            }
            if self.fstype == "nfs" && !has(&data, "vers") && !has(&data, "nfsvers") {
                data.push("vers=3".into());
            }
        }
        Ok(MountArgs {
            source: self.spec.clone(),
            target: self.target.clone(),
            fstype: self.fstype.clone(),
            flags: MountFlags(flags),
            data: data.join(","),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "proc      /proc    proc    defaults,noauto          0  0
none      /tmp     tmpfs   defaults,noauto,size=10M,nodev,nosuid 0  0
none      /sys     sysfs   defaults,noauto          0  0
none      /dev     tmpfs   defaults,noauto,size=1M,nosuid 0  0
172.16.1.1:/home/common/culc /culc nfs\\
  hard,intr,nodev,rw,defaults,proto=tcp 0  0
";

    #[test]
    fn seed_fstab() {
        let t = parse(SEED);
        assert!(t.errors.is_empty(), "{:?}", t.errors);
        assert_eq!(t.entries.len(), 5);
        assert_eq!(t.notes.len(), 1);
        let culc = &t.entries[4];
        assert_eq!(culc.line, 5);
        assert_eq!(culc.target, "/culc");
        let mut notes = vec![];
        let m = culc.mount_args(&mut notes).unwrap();
        assert_eq!(m.source, "172.16.1.1:/home/common/culc");
        assert_eq!(m.fstype, "nfs");
        assert_eq!(m.flags, MountFlags(MountFlags::NODEV));
        assert_eq!(m.data, "hard,proto=tcp,addr=172.16.1.1,nolock,vers=3");
        assert!(notes[0].contains("intr"), "{notes:?}");
        let tmp = t.entries[1].mount_args(&mut notes).unwrap();
        assert_eq!(tmp.data, "size=10M");
        assert_eq!(
            tmp.flags,
            MountFlags(MountFlags::NODEV | MountFlags::NOSUID)
        );
    }

    #[test]
    fn garbage_lines_are_errors_with_line_numbers() {
        let t = parse(
            "# comment\n\
             justonefield\n\
             a b\n\
             /dev/sda1 relative ext4 defaults 0 0\n\
             /dev/sda1 /x ext4 defaults zero 0\n\
             a /b c d 0 0 7\n\
             /dev/sdb /../etc ext4\n\
             \u{0}\u{1}binary \u{ff} junk\n\
             /dev/sda2 /ok ext4\n\
             half \\",
        );
        let lines: Vec<usize> = t.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 10], "{:?}", t.errors);
        assert_eq!(t.entries.len(), 1);
        assert_eq!(t.entries[0].target, "/ok");
        assert_eq!(t.entries[0].options, vec!["defaults"]);
    }

    #[test]
    fn nfs_by_name_is_refused() {
        let t = parse("fileserver:/x /x nfs defaults 0 0\nnoserver /y nfs ro\n");
        let mut n = vec![];
        assert!(t.entries[0]
            .mount_args(&mut n)
            .unwrap_err()
            .contains("not an IP address"));
        assert!(t.entries[1]
            .mount_args(&mut n)
            .unwrap_err()
            .contains("server:/path"));
    }

    #[test]
    fn explicit_nfs_options_kept() {
        let t = parse("10.0.0.1:/x /x nfs ro,vers=4.2,lock,addr=10.0.0.9 0 0\n");
        let m = t.entries[0].mount_args(&mut vec![]).unwrap();
        assert_eq!(m.data, "vers=4.2,lock,addr=10.0.0.9");
        assert!(m.flags.has(MountFlags::RDONLY));
    }

    #[test]
    fn octal_escapes() {
        let t = parse("/dev/sda1 /mnt/my\\040disk ext4\n");
        assert_eq!(t.entries[0].target, "/mnt/my disk");
    }
}
