//! The compression formats a kernel uses for its bzImage payload (and that
//! admins use for config files): recognise by magic bytes, then decode.

use std::io::{Read, Write};

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Gzip,
    Xz,
    Lzma,
    Lz4,
    Zstd,
    Bzip2,
    Lzo,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Xz => "xz",
            Format::Lzma => "lzma",
            Format::Lz4 => "lz4",
            Format::Zstd => "zstd",
            Format::Bzip2 => "bzip2",
            Format::Lzo => "lzo",
        }
    }

    /// Every format with its magic, in the order `scripts/extract-ikconfig`
    /// tries them.
    pub const ALL: [Format; 7] = [
        Format::Gzip,
        Format::Xz,
        Format::Bzip2,
        Format::Lzma,
        Format::Lzo,
        Format::Lz4,
        Format::Zstd,
    ];

    pub fn magic(self) -> &'static [u8] {
        match self {
            Format::Gzip => b"\x1f\x8b\x08",
            Format::Xz => b"\xfd7zXZ\x00",
            Format::Bzip2 => b"BZh",
            // Properties byte 0x5d (lc=3 lp=0 pb=2) then a dictionary size
            // whose low bytes are zero: what `lzma -9` writes.
            Format::Lzma => b"\x5d\x00\x00",
            Format::Lzo => b"\x89LZO",
            Format::Lz4 => b"\x02\x21\x4c\x18",
            Format::Zstd => b"\x28\xb5\x2f\xfd",
        }
    }

    pub fn sniff(data: &[u8]) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| data.starts_with(f.magic()))
    }
}

/// Largest output we accept: a real vmlinux is < 100 MiB; this only stops
/// a decompression bomb from eating the machine.
pub const LIMIT: usize = 512 << 20;

/// Decode one stream of `format` from the start of `data`. Trailing bytes
/// (the kernel appends the uncompressed size) are ignored.
pub fn decompress(format: Format, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Limited(Vec::new());
    match format {
        Format::Gzip => copy(flate2::read::GzDecoder::new(data), &mut out)?,
        Format::Bzip2 => copy(bzip2::read::BzDecoder::new(data), &mut out)?,
        Format::Xz => xz(data, &mut out)?,
        Format::Lzma => {
            // With or without the kernel's 4-byte size word after the end marker.
            let mut r = std::io::BufReader::new(data);
            if let Err(e) = lzma_rs::lzma_decompress(&mut r, &mut out) {
                out.0.clear();
                let cut = &data[..data.len().saturating_sub(4)];
                let mut r = std::io::BufReader::new(cut);
                lzma_rs::lzma_decompress(&mut r, &mut out).map_err(|_| e.to_string())?
            }
        }
        Format::Zstd => {
            let mut data = data;
            let dec =
                ruzstd::decoding::StreamingDecoder::new(&mut data).map_err(|e| e.to_string())?;
            copy(dec, &mut out)?
        }
        Format::Lz4 => lz4_legacy(data, &mut out)?,
        Format::Lzo => return Err("lzo is not supported".into()),
    }
    Ok(out.0)
}

/// The decoder refuses bytes after the stream, so cut at the stream footer
/// (`YZ` at a 4-byte boundary) when the kernel's size word follows it.
fn xz(data: &[u8], out: &mut Limited) -> Result<(), String> {
    let tail = data.len().saturating_sub(64);
    let mut ends: Vec<usize> = memchr::memmem::rfind_iter(&data[tail..], b"YZ")
        .map(|i| tail + i + 2)
        .filter(|end| end % 4 == 0)
        .collect();
    if !ends.contains(&data.len()) {
        ends.insert(0, data.len());
    }
    let mut first_err = None;
    for end in ends {
        out.0.clear();
        // lzma-rust2 also undoes the x86 BCJ filter the kernel's xz uses.
        let r = lzma_rust2::XzReader::new(&data[..end], false);
        match copy(r, out) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| "empty xz stream".into()))
}

fn copy(mut r: impl Read, out: &mut Limited) -> Result<(), String> {
    std::io::copy(&mut r, out)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `lz4 -l` (legacy) frames: magic, then blocks of `u32le size` + data, each
/// decoding to at most 8 MiB. The stream ends at EOF, at a new magic, or at a
/// size that runs past the end (the kernel's appended length).
fn lz4_legacy(data: &[u8], out: &mut Limited) -> Result<(), String> {
    const MAGIC: u32 = 0x184c_2102;
    const BLOCK: usize = 8 << 20;
    let word = |at: usize| -> Option<u32> {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if word(0) != Some(MAGIC) {
        return Err("no lz4 legacy magic".into());
    }
    let mut at = 4;
    let mut buf = vec![0u8; BLOCK];
    let mut blocks = 0;
    while let Some(size) = word(at) {
        if size == MAGIC {
            at += 4;
            continue;
        }
        let size = size as usize;
        let Some(block) = data.get(at + 4..at + 4 + size) else {
            if blocks == 0 {
                return Err("lz4 block runs past the end of the data".into());
            }
            break;
        };
        let n = lz4_flex::block::decompress_into(block, &mut buf).map_err(|e| e.to_string())?;
        out.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        blocks += 1;
        at += 4 + size;
    }
    if blocks == 0 {
        return Err("lz4 stream has no blocks".into());
    }
    Ok(())
}

struct Limited(Vec<u8>);

impl Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > LIMIT {
            return Err(std::io::Error::other("output larger than 512 MiB"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// Compress with the real tool and the kernel's own flags, append the
    /// 4-byte size like `scripts/Makefile.lib`'s `size_append`.
    fn kernel_style(tool: &str, args: &[&str], data: &[u8]) -> Option<Vec<u8>> {
        let mut child = Command::new(tool)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut stdin = child.stdin.take().unwrap();
        let input = data.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().ok()?;
        feeder.join().unwrap().ok()?;
        let mut v = out.stdout;
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        Some(v)
    }

    fn sample() -> Vec<u8> {
        (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_kernel_format_round_trips() {
        let data = sample();
        let cases: [(Format, &str, &[&str]); 6] = [
            (Format::Gzip, "gzip", &["-n", "-9", "-c"]),
            (
                Format::Xz,
                "xz",
                &["--check=crc32", "--x86", "--lzma2=", "-c"],
            ),
            (Format::Lzma, "lzma", &["-9", "-c"]),
            (Format::Lz4, "lz4", &["-l", "-9", "-c"]),
            (Format::Zstd, "zstd", &["-19", "-c"]),
            (Format::Bzip2, "bzip2", &["-9", "-c"]),
        ];
        for (format, tool, args) in cases {
            let Some(packed) = kernel_style(tool, args, &data) else {
                eprintln!("skipping {tool}: not installed");
                continue;
            };
            assert_eq!(Format::sniff(&packed), Some(format), "{tool}");
            let out = decompress(format, &packed).unwrap_or_else(|e| panic!("{tool}: {e}"));
            assert!(out == data, "{tool}: output differs");
        }
    }

    #[test]
    fn truncated_streams_are_errors() {
        let data = sample();
        for (format, tool, args) in [
            (Format::Gzip, "gzip", &["-c"][..]),
            (Format::Xz, "xz", &["-c"][..]),
        ] {
            let Some(packed) = kernel_style(tool, args, &data) else {
                continue;
            };
            assert!(
                decompress(format, &packed[..packed.len() / 2]).is_err(),
                "{tool}"
            );
        }
    }
}
