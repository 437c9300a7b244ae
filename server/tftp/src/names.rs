//! Request names → a clean relative path under the boot root.
//!
//! Clients send all sorts: `/tftpboot/pxelinux.0` (the seed's dhcpd.conf),
//! `\pxelinux.cfg\default` (Windows-style), `./x`. We strip a leading copy
//! of the boot root, turn backslashes into slashes, drop empty and `.`
//! parts, keep case, and refuse `..` outright rather than resolving it.

use std::path::Path;

use thiserror::Error;

#[derive(Error, Debug, PartialEq, Eq)]
pub enum NameError {
    #[error("name is not UTF-8")]
    NotUtf8,
    #[error("name contains `..`")]
    ParentDir,
    #[error("name is empty")]
    Empty,
    #[error("name contains a NUL or control character")]
    Control,
}

/// Normalises a requested name. `roots` (the boot root, and the path the
/// clients were told, e.g. `/tftpboot`) are only stripped as a leading
/// prefix; confinement is `confine`'s job.
pub fn normalize(raw: &[u8], roots: &[&Path]) -> Result<String, NameError> {
    let s = std::str::from_utf8(raw).map_err(|_| NameError::NotUtf8)?;
    if s.chars().any(|c| c.is_control()) {
        return Err(NameError::Control);
    }
    let s = s.replace('\\', "/");
    let mut rest = s.as_str();
    for root in roots.iter().filter_map(|r| r.to_str()) {
        let root = root.trim_end_matches('/');
        if !root.is_empty() {
            if let Some(r) = rest.strip_prefix(root) {
                if r.is_empty() || r.starts_with('/') {
                    rest = r;
                    break;
                }
            }
        }
    }
    let mut parts = Vec::new();
    for p in rest.split('/') {
        match p {
            "" | "." => {}
            ".." => return Err(NameError::ParentDir),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(NameError::Empty);
    }
    Ok(parts.join("/"))
}

/// Decodes `%XX` escapes (HTTP paths). Invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<String, NameError> {
        normalize(
            s.as_bytes(),
            &[Path::new("/srv/boot"), Path::new("/tftpboot")],
        )
    }

    #[test]
    fn seed_absolute_name_is_stripped() {
        assert_eq!(n("/tftpboot/pxelinux.0").unwrap(), "pxelinux.0");
        assert_eq!(n("/srv/boot/pxelinux.0").unwrap(), "pxelinux.0");
        assert_eq!(n("/tftpboot/").unwrap_err(), NameError::Empty);
        // Only a whole component matches the root.
        assert_eq!(n("/tftpbootx/a").unwrap(), "tftpbootx/a");
    }

    #[test]
    fn slashes_dots_and_case() {
        assert_eq!(
            n("pxelinux.cfg\\01-AA-bb").unwrap(),
            "pxelinux.cfg/01-AA-bb"
        );
        assert_eq!(n("//a/./b//C").unwrap(), "a/b/C");
        assert_eq!(n("/etc/passwd").unwrap(), "etc/passwd");
    }

    #[test]
    fn parent_dirs_refused() {
        assert_eq!(n("../etc/passwd"), Err(NameError::ParentDir));
        assert_eq!(n("a/../../x"), Err(NameError::ParentDir));
        assert_eq!(n("..\\..\\etc\\passwd"), Err(NameError::ParentDir));
        assert_eq!(n("/tftpboot/../etc"), Err(NameError::ParentDir));
        assert_eq!(normalize(b"\xff", &[]), Err(NameError::NotUtf8));
        assert_eq!(n("a\nb"), Err(NameError::Control));
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("%2e%2E%2fetc"), b"../etc");
        assert_eq!(percent_decode("a%zz%4"), b"a%zz%4");
        assert_eq!(percent_decode("%41"), b"A");
    }
}
