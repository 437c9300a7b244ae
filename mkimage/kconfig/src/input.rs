//! Every form a kernel config arrives in, told apart by content (never by
//! file name): `.config` text, a compressed config (`/proc/config.gz`,
//! Debian's `config.*.xz`), a bzImage or vmlinux with `CONFIG_IKCONFIG`, or
//! the running system.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::decompress::{self, Format};
use crate::error::{Error, Result};
use crate::ikconfig;

/// A config and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub source: Source,
}

#[derive(Clone, Debug, Serialize)]
pub struct Source {
    pub path: PathBuf,
    /// "config text", "gzip-compressed config", "IKCONFIG in bzImage (xz payload)"…
    pub form: String,
    pub kernel_version: Option<String>,
}

pub fn load(path: &Path) -> Result<Loaded> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    if meta.is_dir() {
        return Err(Error::IsDirectory { path: path.into() });
    }
    let data = std::fs::read(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    from_bytes(path, &data)
}

/// The running kernel's config: `/proc/config.gz`, else
/// `/boot/config-$(uname -r)`.
pub fn load_running() -> Result<Loaded> {
    let proc = Path::new("/proc/config.gz");
    if proc.exists() {
        return load(proc);
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let boot = PathBuf::from(format!("/boot/config-{}", release.trim()));
    if boot.is_file() {
        return load(&boot);
    }
    Err(Error::NoRunningConfig { boot })
}

pub fn from_bytes(path: &Path, data: &[u8]) -> Result<Loaded> {
    if data.is_empty() {
        return Err(Error::Empty { path: path.into() });
    }
    let source = |form: String, kernel_version: Option<String>| Source {
        path: path.into(),
        form,
        kernel_version,
    };
    if ikconfig::is_bzimage(data) || data.starts_with(b"\x7fELF") {
        let x = ikconfig::extract(path, data)?;
        let config = parse(path, "IKCONFIG", &x.text)?;
        let form = match x.payload {
            Some(f) => format!("IKCONFIG in {} ({} payload)", x.container, f.name()),
            None => format!("IKCONFIG in {}", x.container),
        };
        return Ok(Loaded {
            config,
            source: source(form, x.version),
        });
    }
    if let Some(format) = Format::sniff(data).filter(|f| *f != Format::Lzma) {
        let raw = decompress::decompress(format, data).map_err(|detail| Error::Decompress {
            path: path.into(),
            format: format.name(),
            detail,
        })?;
        if raw.is_empty() {
            return Err(Error::NotAConfigInside {
                path: path.into(),
                format: format.name(),
                detail: "it decompresses to nothing".into(),
            });
        }
        // A compressed blob may itself be a kernel (vmlinux.gz and the like).
        if ikconfig::is_bzimage(&raw) || raw.starts_with(b"\x7fELF") {
            return from_bytes(path, &raw);
        }
        let text = String::from_utf8(raw).map_err(|_| Error::NotAConfigInside {
            path: path.into(),
            format: format.name(),
            detail: "not text".into(),
        })?;
        let config = parse(path, format.name(), &text)?;
        return Ok(Loaded {
            config,
            source: source(format!("{}-compressed config", format.name()), None),
        });
    }
    let text = std::str::from_utf8(data).map_err(|_| Error::NotRecognized {
        path: path.into(),
        detail: "binary data with no known kernel or compression header".into(),
    })?;
    let config = Config::parse(text).map_err(|e| Error::NotRecognized {
        path: path.into(),
        detail: e.to_string(),
    })?;
    Ok(Loaded {
        config,
        source: source("config text".into(), None),
    })
}

fn parse(path: &Path, format: &'static str, text: &str) -> Result<Config> {
    Config::parse(text).map_err(|e| Error::NotAConfigInside {
        path: path.into(),
        format,
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_bytes(data: &[u8]) -> Result<Loaded> {
        from_bytes(Path::new("f"), data)
    }

    #[test]
    fn text_and_gzip() {
        assert_eq!(
            load_bytes(b"CONFIG_A=y\n").unwrap().source.form,
            "config text"
        );
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"CONFIG_A=m\n").unwrap();
        let gz = e.finish().unwrap();
        let l = load_bytes(&gz).unwrap();
        assert_eq!(l.config.get("A"), crate::Tristate::M);
        assert_eq!(l.source.form, "gzip-compressed config");
        assert!(matches!(
            load_bytes(&gz[..gz.len() - 6]).unwrap_err(),
            Error::Decompress { .. }
        ));
    }

    #[test]
    fn bad_inputs() {
        assert!(matches!(load_bytes(b"").unwrap_err(), Error::Empty { .. }));
        assert!(matches!(
            load_bytes(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x99]).unwrap_err(),
            Error::NotRecognized { .. }
        ));
        assert!(matches!(
            load_bytes(b"just some words\n").unwrap_err(),
            Error::NotRecognized { .. }
        ));
    }
}
