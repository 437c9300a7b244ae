//! The config a kernel built with `CONFIG_IKCONFIG` carries: a gzip stream
//! between the markers `IKCFG_ST` and `IKCFG_ED` inside vmlinux. A bzImage
//! wraps vmlinux in a compressed payload that the setup header locates
//! (boot protocol ≥ 2.08); older images are scanned for magics the way
//! `scripts/extract-ikconfig` does.

use std::path::Path;

use serde::Serialize;

use crate::decompress::{self, Format};
use crate::error::{Error, Result};

const START: &[u8] = b"IKCFG_ST";
const END: &[u8] = b"IKCFG_ED";

/// Where a config came from inside an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Extracted {
    pub text: String,
    /// `bzImage` or `vmlinux`.
    pub container: &'static str,
    /// The bzImage payload's compression, if any.
    pub payload: Option<Format>,
    /// From the bzImage header or the `Linux version` banner.
    pub version: Option<String>,
}

pub fn is_bzimage(data: &[u8]) -> bool {
    data.get(0x202..0x206) == Some(b"HdrS") && data.get(0x1fe..0x200) == Some(b"\x55\xaa")
}

/// Extract from a bzImage, vmlinux or any blob holding the markers.
pub fn extract(path: &Path, data: &[u8]) -> Result<Extracted> {
    if is_bzimage(data) {
        from_bzimage(path, data)
    } else {
        let container = if data.starts_with(b"\x7fELF") {
            "vmlinux"
        } else {
            "image"
        };
        let version = banner_version(data);
        match find_config(path, data)? {
            Some(text) => Ok(Extracted {
                text,
                container,
                payload: None,
                version,
            }),
            None => Err(missing(path, data, version)),
        }
    }
}

fn from_bzimage(path: &Path, data: &[u8]) -> Result<Extracted> {
    let bad = |detail: &str| Error::BadBzImage {
        path: path.into(),
        detail: detail.into(),
    };
    let u16_at = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let version = header_version(data);
    let protocol = u16_at(0x206).ok_or_else(|| bad("short header"))?;
    let setup_sects = match data[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    let pm_start = (setup_sects + 1) * 512;
    let payload = if protocol >= 0x208 {
        let off = u32_at(0x248).ok_or_else(|| bad("short header"))? as usize;
        let len = u32_at(0x24c).ok_or_else(|| bad("short header"))? as usize;
        let start = pm_start
            .checked_add(off)
            .ok_or_else(|| bad("payload offset overflows"))?;
        let end = start
            .checked_add(len)
            .ok_or_else(|| bad("payload length overflows"))?;
        data.get(start..end)
            .ok_or_else(|| bad("payload runs past the end of the file (truncated?)"))?
    } else {
        data.get(pm_start..)
            .ok_or_else(|| bad("no protected-mode code"))?
    };
    let (format, start) =
        locate_payload(payload).ok_or_else(|| bad("no compressed payload found"))?;
    if format == Format::Lzo {
        return Err(Error::UnsupportedPayload {
            path: path.into(),
            format: "lzo",
        });
    }
    let vmlinux =
        decompress::decompress(format, &payload[start..]).map_err(|detail| Error::Decompress {
            path: path.into(),
            format: format.name(),
            detail,
        })?;
    let version = version.or_else(|| banner_version(&vmlinux));
    match find_config(path, &vmlinux)? {
        Some(text) => Ok(Extracted {
            text,
            container: "bzImage",
            payload: Some(format),
            version,
        }),
        None => Err(missing(path, &vmlinux, version)),
    }
}

/// The payload normally starts with the magic; scan the first bytes in case
/// a future header leaves a gap.
fn locate_payload(payload: &[u8]) -> Option<(Format, usize)> {
    if let Some(f) = Format::sniff(payload) {
        return Some((f, 0));
    }
    let window = &payload[..payload.len().min(64 << 10)];
    Format::ALL
        .into_iter()
        .filter_map(|f| memchr::memmem::find(window, f.magic()).map(|at| (at, f)))
        .min_by_key(|(at, _)| *at)
        .map(|(at, f)| (f, at))
}

/// The gzip stream between the markers, if present.
fn find_config(path: &Path, data: &[u8]) -> Result<Option<String>> {
    let Some(st) = memchr::memmem::find(data, START) else {
        return Ok(None);
    };
    let body = &data[st + START.len()..];
    let body = match memchr::memmem::find(body, END) {
        Some(ed) => &body[..ed],
        None => body,
    };
    let raw = decompress::decompress(Format::Gzip, body).map_err(|detail| Error::Decompress {
        path: path.into(),
        format: "embedded gzip config",
        detail,
    })?;
    String::from_utf8(raw)
        .map(Some)
        .map_err(|_| Error::NotAConfigInside {
            path: path.into(),
            format: "IKCONFIG",
            detail: "not UTF-8 text".into(),
        })
}

fn missing(path: &Path, image: &[u8], version: Option<String>) -> Error {
    let kernel = version.is_some() || memchr::memmem::find(image, b"Linux version ").is_some();
    if !kernel {
        return Error::NotAKernel { path: path.into() };
    }
    let release = version
        .as_deref()
        .and_then(|v| v.split_whitespace().next())
        .map(str::to_string);
    let hint = match &release {
        Some(r) => format!(", e.g. /boot/config-{r}"),
        None => " (e.g. /boot/config-VERSION)".into(),
    };
    Error::NoEmbeddedConfig {
        path: path.into(),
        version: version.unwrap_or_else(|| "unknown version".into()),
        hint,
    }
}

/// The `kernel_version` string the setup header points to.
fn header_version(data: &[u8]) -> Option<String> {
    let ptr = u16::from_le_bytes([*data.get(0x20e)?, *data.get(0x20f)?]) as usize;
    if ptr == 0 {
        return None;
    }
    cstr(data.get(ptr + 0x200..)?)
}

/// `Linux version 6.1.0 (...)` → `6.1.0 (...)`.
fn banner_version(data: &[u8]) -> Option<String> {
    let at = memchr::memmem::find(data, b"Linux version ")?;
    let s = cstr(&data[at + 14..])?;
    Some(s.lines().next()?.to_string())
}

fn cstr(data: &[u8]) -> Option<String> {
    let end = memchr::memchr(0, &data[..data.len().min(512)])?;
    let s = std::str::from_utf8(&data[..end]).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn vmlinux_with(config: &str) -> Vec<u8> {
        let mut v = b"\x7fELF....Linux version 6.1.99 (test) #1\0....".to_vec();
        v.extend_from_slice(START);
        v.extend_from_slice(&gz(config.as_bytes()));
        v.extend_from_slice(END);
        v.extend_from_slice(&[0; 64]);
        v
    }

    /// A minimal bzImage: header fields the extractor reads, gzip payload.
    fn bzimage_around(vmlinux: &[u8]) -> Vec<u8> {
        let payload = gz(vmlinux);
        let setup_sects = 1u8;
        let mut img = vec![0u8; (setup_sects as usize + 1) * 512];
        img[0x1f1] = setup_sects;
        img[0x1fe] = 0x55;
        img[0x1ff] = 0xaa;
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
        img[0x248..0x24c].copy_from_slice(&16u32.to_le_bytes());
        img[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        img.extend_from_slice(&[0u8; 16]);
        img.extend_from_slice(&payload);
        img
    }

    #[test]
    fn reads_vmlinux_and_bzimage() {
        let cfg = "CONFIG_A=y\n";
        let p = Path::new("k");
        let x = extract(p, &vmlinux_with(cfg)).unwrap();
        assert_eq!((x.text.as_str(), x.container), (cfg, "vmlinux"));
        let x = extract(p, &bzimage_around(&vmlinux_with(cfg))).unwrap();
        assert_eq!(x.container, "bzImage");
        assert_eq!(x.payload, Some(Format::Gzip));
        assert_eq!(x.version.as_deref(), Some("6.1.99 (test) #1"));
    }

    #[test]
    fn kernel_without_config_names_the_file_to_pass() {
        let img = bzimage_around(b"Linux version 6.1.0-9-amd64 (x) #1\0 code");
        let e = extract(Path::new("vmlinuz"), &img).unwrap_err().to_string();
        assert!(e.contains("/boot/config-6.1.0-9-amd64"), "{e}");
    }

    #[test]
    fn truncated_bzimage_is_an_error() {
        let img = bzimage_around(&vmlinux_with("CONFIG_A=y\n"));
        let e = extract(Path::new("k"), &img[..img.len() - 100]).unwrap_err();
        assert!(matches!(e, Error::BadBzImage { .. }), "{e}");
    }

    #[test]
    fn elf_that_is_not_a_kernel() {
        let e = extract(Path::new("ls"), b"\x7fELF\x02\x01\x01 just a program").unwrap_err();
        assert!(matches!(e, Error::NotAKernel { .. }));
    }
}
