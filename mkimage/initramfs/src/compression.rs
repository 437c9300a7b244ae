//! Image compression (what we write) and format detection by magic (what
//! we may find in other people's images and in compressed `.ko` files).

use std::io::{Read, Write};

use crate::error::{Error, Result};

/// zstd level: 3 is zstd's default, already smaller than gzip -6 and far
/// faster; higher levels cost seconds for a few percent.
const ZSTD_LEVEL: i32 = 3;

/// Compression of the images we build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    /// Plain cpio (tests, or to compress with an external tool).
    None,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "gzip" | "gz" => Ok(Compression::Gzip),
            "zstd" | "zst" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            _ => Err(format!("unknown compression `{s}`: use gzip, zstd or none")),
        }
    }
}

impl Compression {
    /// Compress each part as its own stream, in parallel, and concatenate
    /// them in order (the kernel decompresses stream after stream). The
    /// output depends only on the parts, not on thread timing.
    pub fn compress_parts(self, parts: &[Vec<u8>]) -> Result<Vec<u8>> {
        let streams: Vec<Result<Vec<u8>>> = std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .iter()
                .map(|p| s.spawn(move || self.compress(p)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("compression thread panicked"))
                .collect()
        });
        let mut out = Vec::new();
        for st in streams {
            out.extend_from_slice(&st?);
        }
        Ok(out)
    }

    /// Compress one cpio stream. Both encoders are deterministic: gzip
    /// gets mtime 0 and no file name, zstd runs single-threaded.
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>> {
        match self {
            Compression::None => Ok(data.to_vec()),
            Compression::Gzip => {
                let mut enc = flate2::GzBuilder::new().mtime(0).write(
                    Vec::with_capacity(data.len() / 2),
                    flate2::Compression::new(6),
                );
                enc.write_all(data)?;
                Ok(enc.finish()?)
            }
            Compression::Zstd => Ok(zstd::bulk::compress(data, ZSTD_LEVEL)?),
        }
    }
}

/// What the bytes at some offset look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Cpio,
    Gzip,
    Xz,
    Zstd,
    Lz4Legacy,
    Bzip2,
    Lzma,
    Lzo,
    Unknown,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Cpio => "uncompressed",
            Format::Gzip => "gzip",
            Format::Xz => "xz",
            Format::Zstd => "zstd",
            Format::Lz4Legacy => "lz4",
            Format::Bzip2 => "bzip2",
            Format::Lzma => "lzma",
            Format::Lzo => "lzo",
            Format::Unknown => "unknown",
        }
    }
}

pub fn detect(data: &[u8]) -> Format {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"070701") || starts(b"070702") {
        Format::Cpio
    } else if starts(&[0x1f, 0x8b]) {
        Format::Gzip
    } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Format::Xz
    } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Format::Zstd
    } else if starts(&[0x02, 0x21, 0x4c, 0x18]) {
        Format::Lz4Legacy
    } else if starts(b"BZh") {
        Format::Bzip2
    } else if starts(&[0x5d, 0, 0]) {
        Format::Lzma
    } else if starts(&[0x89, b'L', b'Z', b'O']) {
        Format::Lzo
    } else {
        Format::Unknown
    }
}

/// Decompress the stream at the start of `data`. Returns the plain bytes and
/// how much input the stream used (the rest of `data` when the format does not
/// say where it ends).
pub fn decompress(format: Format, data: &[u8]) -> std::result::Result<(Vec<u8>, usize), String> {
    let mut out = Vec::new();
    let used = match format {
        Format::Cpio => {
            out.extend_from_slice(data);
            data.len()
        }
        Format::Gzip => {
            let mut dec = flate2::bufread::GzDecoder::new(data);
            dec.read_to_end(&mut out).map_err(|e| e.to_string())?;
            data.len() - dec.into_inner().len()
        }
        Format::Zstd => {
            // Walk the frames so that anything after them (padding, another
            // archive) is left for the caller.
            let mut used = 0;
            while detect(&data[used..]) == Format::Zstd {
                let len = zstd::zstd_safe::find_frame_compressed_size(&data[used..])
                    .map_err(|c| zstd::zstd_safe::get_error_name(c).to_string())?;
                used += len;
            }
            let mut dec = zstd::stream::read::Decoder::with_buffer(&data[..used])
                .map_err(|e| e.to_string())?;
            dec.read_to_end(&mut out).map_err(|e| e.to_string())?;
            used
        }
        Format::Xz => {
            let mut input = data;
            lzma_rs::xz_decompress(&mut input, &mut out).map_err(|e| e.to_string())?;
            data.len() - input.len()
        }
        Format::Lzma => {
            let mut input = data;
            lzma_rs::lzma_decompress(&mut input, &mut out).map_err(|e| e.to_string())?;
            data.len()
        }
        Format::Bzip2 => {
            let mut dec = bzip2::bufread::MultiBzDecoder::new(data);
            dec.read_to_end(&mut out).map_err(|e| e.to_string())?;
            data.len()
        }
        Format::Lz4Legacy => lz4_legacy(data, &mut out)?,
        Format::Lzo => return Err("lzo is not supported; recompress the image".into()),
        Format::Unknown => return Err("unknown format".into()),
    };
    Ok((out, used))
}

/// The kernel's lz4 format (`lz4 -l`): magic, then blocks of
/// `u32 le compressed length` + data, each at most 8 MiB when expanded.
fn lz4_legacy(data: &[u8], out: &mut Vec<u8>) -> std::result::Result<usize, String> {
    const BLOCK: usize = 8 << 20;
    let mut pos = 4;
    while pos + 4 <= data.len() {
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        if len == 0x184c_2102 {
            pos += 4; // a second stream's magic
            continue;
        }
        let body = data
            .get(pos + 4..pos + 4 + len)
            .ok_or_else(|| format!("lz4 block at {pos} runs past the end"))?;
        let block = lz4_flex::block::decompress(body, BLOCK).map_err(|e| e.to_string())?;
        out.extend_from_slice(&block);
        pos += 4 + len;
    }
    Ok(data.len())
}

/// Read a kernel module, decompressing `.ko.xz` / `.ko.zst` / `.ko.gz` so the
/// image holds plain `.ko` files: kernels without MODULE_DECOMPRESS (Debian's
/// 6.1) cannot load compressed ones, and the image is compressed as a whole.
pub fn read_module(path: &std::path::Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    let name = path.to_string_lossy();
    let format = if name.ends_with(".ko") {
        return Ok(raw);
    } else {
        detect(&raw)
    };
    match format {
        Format::Xz | Format::Zstd | Format::Gzip => decompress(format, &raw)
            .map(|(plain, _)| plain)
            .map_err(|message| Error::Decompress {
                path: path.into(),
                message,
            }),
        _ => Err(Error::Decompress {
            path: path.into(),
            message: "neither a plain .ko nor xz/zstd/gzip data".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_compressions_round_trip_and_are_detected() {
        let data: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for (c, f) in [
            (Compression::Gzip, Format::Gzip),
            (Compression::Zstd, Format::Zstd),
        ] {
            let z = c.compress(&data).unwrap();
            assert_eq!(z, c.compress(&data).unwrap(), "deterministic");
            assert_eq!(detect(&z), f);
            let mut with_tail = z.clone();
            with_tail.extend_from_slice(b"\0\0\0\x00070701");
            let (plain, used) = decompress(f, &with_tail).unwrap();
            assert_eq!(plain, data);
            assert_eq!(used, z.len(), "{c:?} stops at the end of its stream");
        }
    }

    #[test]
    fn lz4_legacy_blocks() {
        let data = b"hello hello hello hello lz4".repeat(100);
        let block = lz4_flex::block::compress(&data);
        let mut stream = vec![0x02, 0x21, 0x4c, 0x18];
        stream.extend_from_slice(&(block.len() as u32).to_le_bytes());
        stream.extend_from_slice(&block);
        assert_eq!(detect(&stream), Format::Lz4Legacy);
        assert_eq!(decompress(Format::Lz4Legacy, &stream).unwrap().0, data);
        stream.truncate(stream.len() - 3);
        assert!(decompress(Format::Lz4Legacy, &stream).is_err());
    }

    #[test]
    fn corrupt_streams_are_errors() {
        for f in [Format::Gzip, Format::Xz, Format::Zstd, Format::Bzip2] {
            let mut junk = match f {
                Format::Gzip => vec![0x1f, 0x8b, 8, 0],
                Format::Xz => vec![0xfd, b'7', b'z', b'X', b'Z', 0],
                Format::Zstd => vec![0x28, 0xb5, 0x2f, 0xfd],
                _ => b"BZh9".to_vec(),
            };
            junk.extend_from_slice(&[0xAA; 40]);
            assert!(decompress(f, &junk).is_err(), "{f:?}");
        }
    }
}
