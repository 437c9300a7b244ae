//! Append-only lease file: one text line per pool lease or release.
//!
//! `L 02:00:00:00:00:01 172.16.1.100 1767225600` (lease until unix time) and
//! `R 02:00:00:00:00:01 172.16.1.100` (released). A record counts only once
//! its line, newline included, is on disk: replay ignores a torn last line,
//! so `kill -9` or a crash mid-write loses nothing that was acknowledged
//! (acks are sent only after `sync_data`). At open the file is compacted to
//! the live leases (write temp, fsync, rename).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use diskless_common::inventory::Mac;

/// One journal line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    Lease {
        mac: Mac,
        ip: Ipv4Addr,
        expires: u64,
    },
    Release {
        mac: Mac,
        ip: Ipv4Addr,
    },
}

impl Record {
    pub fn write_line(&self, out: &mut Vec<u8>) {
        // `write!` into a Vec cannot fail.
        let _ = match self {
            Record::Lease { mac, ip, expires } => writeln!(out, "L {mac} {ip} {expires}"),
            Record::Release { mac, ip } => writeln!(out, "R {mac} {ip}"),
        };
    }

    /// Parses one line without its newline; `None` for anything malformed.
    pub fn parse(line: &str) -> Option<Record> {
        let mut f = line.split(' ');
        let kind = f.next()?;
        let mac: Mac = f.next()?.parse().ok()?;
        let ip: Ipv4Addr = f.next()?.parse().ok()?;
        let rec = match kind {
            "L" => Record::Lease {
                mac,
                ip,
                expires: f.next()?.parse().ok()?,
            },
            "R" => Record::Release { mac, ip },
            _ => return None,
        };
        f.next().is_none().then_some(rec)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "cannot open lease file {path}: {source} (check the directory exists and is writable)"
    )]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot write lease file {path}: {source} (is the disk full?)")]
    Write { path: PathBuf, source: io::Error },
}

/// What replay found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replay {
    pub records: Vec<Record>,
    /// Lines that did not parse (a torn tail or foreign bytes); skipped.
    pub bad_lines: usize,
}

/// Reads every complete, well-formed record of a lease file.
pub fn replay(path: &Path) -> Result<Replay, JournalError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => f
            .read_to_end(&mut bytes)
            .map_err(|source| JournalError::Open {
                path: path.into(),
                source,
            })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Replay::default()),
        Err(source) => {
            return Err(JournalError::Open {
                path: path.into(),
                source,
            })
        }
    };
    let mut out = Replay::default();
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => &bytes[..=i],
        None => &[][..],
    };
    if complete.len() < bytes.len() {
        out.bad_lines += 1;
    }
    for line in complete.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match std::str::from_utf8(line).ok().and_then(Record::parse) {
            Some(r) => out.records.push(r),
            None => out.bad_lines += 1,
        }
    }
    Ok(out)
}

/// The open, append-only lease file.
pub struct Journal {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
}

impl Journal {
    /// Rewrites `path` to hold exactly `live` (atomically), then opens it
    /// for appending.
    pub fn create_compacted(path: &Path, live: &[Record]) -> Result<Journal, JournalError> {
        let werr = |source| JournalError::Write {
            path: path.into(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| JournalError::Open {
                path: dir.into(),
                source,
            })?;
        }
        let tmp = path.with_extension("compacting");
        let mut buf = Vec::new();
        for r in live {
            r.write_line(&mut buf);
        }
        {
            let mut f = File::create(&tmp).map_err(|source| JournalError::Open {
                path: tmp.clone(),
                source,
            })?;
            f.write_all(&buf).map_err(werr)?;
            f.sync_all().map_err(werr)?;
        }
        std::fs::rename(&tmp, path).map_err(werr)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|source| JournalError::Open {
                path: path.into(),
                source,
            })?;
        Ok(Journal {
            file,
            path: path.into(),
            buf: Vec::with_capacity(4096),
        })
    }

    /// Appends a batch and makes it durable with one `fdatasync` (group
    /// commit: every record in the batch shares the sync).
    pub fn commit(&mut self, batch: &[Record]) -> Result<(), JournalError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for r in batch {
            r.write_line(&mut self.buf);
        }
        let werr = |source| JournalError::Write {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&self.buf).map_err(werr)?;
        self.file.sync_data().map_err(werr)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        Mac([2, 0, 0, 0, 0, n])
    }

    #[test]
    fn record_lines_round_trip() {
        let recs = [
            Record::Lease {
                mac: mac(1),
                ip: Ipv4Addr::new(10, 0, 0, 5),
                expires: 1_767_225_600,
            },
            Record::Release {
                mac: mac(2),
                ip: Ipv4Addr::new(10, 0, 0, 6),
            },
        ];
        let mut buf = Vec::new();
        for r in &recs {
            r.write_line(&mut buf);
        }
        assert_eq!(
            String::from_utf8(buf.clone()).unwrap(),
            "L 02:00:00:00:00:01 10.0.0.5 1767225600\nR 02:00:00:00:00:02 10.0.0.6\n"
        );
        for (line, r) in String::from_utf8(buf).unwrap().lines().zip(recs) {
            assert_eq!(Record::parse(line), Some(r));
        }
    }

    #[test]
    fn malformed_lines_are_rejected() {
        for bad in [
            "",
            "L",
            "X 02:00:00:00:00:01 10.0.0.5",
            "L 02:00:00:00:00:01 10.0.0.5",
            "L 02:00:00:00:00:01 10.0.0.5 9 extra",
            "R zz 1.2.3.4",
        ] {
            assert_eq!(Record::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn replay_skips_torn_tail_and_garbage() {
        let dir = std::env::temp_dir().join(format!("dhcp-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("leases");
        std::fs::write(
            &path,
            b"L 02:00:00:00:00:01 10.0.0.5 100\n\0\0garbage\nL 02:00:00:00:00:02 10.0.0.6 1",
        )
        .unwrap();
        let r = replay(&path).unwrap();
        assert_eq!(r.records.len(), 1);
        assert_eq!(r.bad_lines, 2);
        let mut j = Journal::create_compacted(&path, &r.records).unwrap();
        j.commit(&[Record::Release {
            mac: mac(1),
            ip: Ipv4Addr::new(10, 0, 0, 5),
        }])
        .unwrap();
        let r2 = replay(&path).unwrap();
        assert_eq!(r2.records.len(), 2);
        assert_eq!(r2.bad_lines, 0);
        assert!(replay(&dir.join("missing")).unwrap().records.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
