//! What an initramfs holds, for ours and for other people's images.
//!
//! The kernel accepts a sequence of cpio archives, each either plain or
//! compressed, separated by zero padding; Debian ships an uncompressed
//! early-microcode archive followed by a compressed main one. We walk the
//! same way.

use crate::compression::{decompress, detect, Format};
use crate::cpio::{read_archive, Listed};
use crate::error::{Error, Result};

/// One stretch of the file: a plain archive or a compressed stream (which may
/// itself hold several archives).
#[derive(Clone, Debug)]
pub struct Segment {
    pub offset: u64,
    pub format: Format,
    /// Bytes this segment takes in the file.
    pub stored_len: u64,
    pub entries: Vec<Listed>,
}

pub fn list_image(data: &[u8]) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    let mut pos = 0usize;
    loop {
        pos += data[pos..].iter().take_while(|&&b| b == 0).count();
        if pos >= data.len() {
            break;
        }
        let format = detect(&data[pos..]);
        let (entries, used) = match format {
            // The kernel only takes a plain archive that starts on a 4-byte
            // boundary; elsewhere it reports "invalid magic" and stops.
            Format::Cpio if !pos.is_multiple_of(4) => {
                return Err(Error::Format {
                    offset: pos as u64,
                    message: "an uncompressed cpio archive must start on a 4-byte boundary \
                              (the kernel stops unpacking here): pad what precedes it with zeros"
                        .into(),
                })
            }
            Format::Cpio => read_archive(&data[pos..], pos as u64)?,
            Format::Unknown => {
                return Err(Error::Format {
                    offset: pos as u64,
                    message: "neither a cpio archive nor a known compression".into(),
                })
            }
            _ => {
                let (plain, used) =
                    decompress(format, &data[pos..]).map_err(|message| Error::Format {
                        offset: pos as u64,
                        message: format!("{} stream: {message}", format.name()),
                    })?;
                (read_archives(&plain, format)?, used)
            }
        };
        segments.push(Segment {
            offset: pos as u64,
            format,
            stored_len: used as u64,
            entries,
        });
        pos += used.max(1);
    }
    if segments.is_empty() {
        return Err(Error::Format {
            offset: 0,
            message: "the file is empty".into(),
        });
    }
    Ok(segments)
}

/// All archives inside one decompressed stream. Offsets in errors are
/// relative to the decompressed data.
fn read_archives(plain: &[u8], outer: Format) -> Result<Vec<Listed>> {
    let mut all = Vec::new();
    let mut pos = 0usize;
    loop {
        pos += plain[pos..].iter().take_while(|&&b| b == 0).count();
        if pos >= plain.len() {
            return Ok(all);
        }
        if detect(&plain[pos..]) != Format::Cpio {
            return Err(Error::Format {
                offset: pos as u64,
                message: format!(
                    "the {} stream does not hold a cpio archive here (offset is inside the \
                     decompressed data)",
                    outer.name()
                ),
            });
        }
        let (entries, used) = read_archive(&plain[pos..], pos as u64)?;
        all.extend(entries);
        pos += used;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::Compression;
    use crate::cpio::Archive;

    fn archive(name: &str) -> Vec<u8> {
        let mut a = Archive::new(0);
        a.file(name, 0o644, b"data".to_vec()).unwrap();
        a.to_bytes().unwrap()
    }

    #[test]
    fn debian_style_concatenation() {
        // Early microcode archive padded to a block boundary, then a zstd main one.
        let mut img = archive("kernel/x86/microcode/GenuineIntel.bin");
        assert!(img.len() < 1024);
        img.resize(1024, 0);
        let mut main = archive("init");
        main.extend(archive("etc/second"));
        img.extend(Compression::Zstd.compress(&main).unwrap());
        let segs = list_image(&img).unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].format, Format::Cpio);
        assert_eq!(segs[1].format, Format::Zstd);
        assert_eq!(segs[1].offset, 1024);
        let names: Vec<_> = segs[1].entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["init", "etc", "etc/second"]);
    }

    #[test]
    fn gzip_then_plain_then_gzip() {
        let mut img = Compression::Gzip.compress(&archive("a")).unwrap();
        img.resize(img.len().next_multiple_of(4), 0);
        img.extend(archive("b"));
        img.extend(Compression::Gzip.compress(&archive("c")).unwrap());
        let segs = list_image(&img).unwrap();
        let names: Vec<_> = segs.iter().map(|s| s.entries[0].name.clone()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn unaligned_plain_archive_is_refused_like_the_kernel_does() {
        let gz = Compression::Gzip.compress(&archive("a")).unwrap();
        // Leading zeros are skipped; choose them so that the plain archive
        // after the gzip stream starts at an offset ≡ 1 (mod 4).
        let lead = (5 - gz.len() % 4) % 4;
        let mut img = vec![0u8; lead];
        img.extend(&gz);
        assert_eq!(img.len() % 4, 1);
        img.extend(archive("b"));
        let err = list_image(&img).unwrap_err().to_string();
        assert!(err.contains("4-byte boundary"), "{err}");
    }

    #[test]
    fn junk_is_a_clear_error() {
        let err = list_image(b"\0\0\0\0hello").unwrap_err().to_string();
        assert!(err.contains("offset 4"), "{err}");
        assert!(list_image(b"").is_err());
        let mut img = Compression::Gzip.compress(b"not a cpio").unwrap();
        img.truncate(img.len());
        assert!(list_image(&img).is_err());
    }
}
