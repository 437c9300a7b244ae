//! Wire format of the report `diskless-init` sends to `diskless-server`
//! when a node's services are up (one UDP datagram to the server's HTTP
//! port number; the server answers with [`ACK`]). Text, so `socat` and
//! `tcpdump -A` show it as it is:
//!
//! ```text
//! diskless-report 1
//! stage services-up
//! host cartman
//! running 3
//! ms.init 398
//! ms.boot 4211
//! ```
//!
//! After that, the same report with `stage alive` goes every minute while
//! the node runs. Every line is `key value` and ends in `\n`; `ms.NAME` lines are timings
//! in milliseconds. Keys we do not know are skipped (newer nodes, older
//! server), but the whole datagram is bounded ([`MAX_LEN`], [`MAX_LINES`])
//! and anything malformed is an [`Error`], never a panic. No sockets here.

use std::fmt::Write as _;

/// First line of a report.
pub const MAGIC: &str = "diskless-report 1";
/// The server's whole answer to a report it accepted.
pub const ACK: &[u8] = b"diskless-report-ack 1\n";
/// Largest report, in bytes (one unfragmented datagram, and what init's
/// receive buffer holds).
pub const MAX_LEN: usize = 512;
/// Most lines after the magic line.
pub const MAX_LINES: usize = 24;
/// Most `ms.*` timings.
pub const MAX_TIMINGS: usize = 12;
const MAX_NAME: usize = 24;
const MAX_HOST: usize = 64;

/// Why bytes are not a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("report of {0} bytes is longer than {MAX_LEN}")]
    TooLong(usize),
    #[error("not a diskless report (first line is not `{MAGIC}`)")]
    Magic,
    #[error("report line {0} is not printable ASCII ending in a newline")]
    Bytes(usize),
    #[error("report line {0} is not `key value`")]
    Line(usize),
    #[error("report has more than {MAX_LINES} lines or {MAX_TIMINGS} timings")]
    TooMany,
    #[error("report repeats `{0}`")]
    Duplicate(String),
    #[error("report has no `stage` line")]
    NoStage,
    #[error("unknown stage `{0}`")]
    Stage(String),
    #[error("bad value for `{0}`")]
    Value(String),
}

/// What the node reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Every service spawned and every fstab mount tried once.
    ServicesUp,
    /// Still running: sent every minute after "services up", so the server
    /// can tell a quiet node from a dead one (and learns of nodes that came
    /// up before it started).
    Alive,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::ServicesUp => "services-up",
            Stage::Alive => "alive",
        }
    }
}

/// One report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub stage: Stage,
    /// The node's hostname as init set it.
    pub host: Option<String>,
    /// Services running at that moment.
    pub running: Option<u32>,
    /// `(name, milliseconds)`, in the order sent (e.g. `init`: init start
    /// → services up; `boot`: kernel start → services up).
    pub timings: Vec<(String, u64)>,
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn host_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_HOST
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

impl Report {
    pub fn new(stage: Stage) -> Report {
        Report {
            stage,
            host: None,
            running: None,
            timings: Vec::new(),
        }
    }

    /// The timing called `name`, if sent.
    pub fn timing(&self, name: &str) -> Option<u64> {
        self.timings
            .iter()
            .find_map(|(n, v)| (n == name).then_some(*v))
    }

    /// Parses one datagram.
    pub fn parse(bytes: &[u8]) -> Result<Report, Error> {
        if bytes.len() > MAX_LEN {
            return Err(Error::TooLong(bytes.len()));
        }
        let mut lines = bytes.split_inclusive(|b| *b == b'\n');
        if lines.next() != Some(format!("{MAGIC}\n").as_bytes()) {
            return Err(Error::Magic);
        }
        let mut stage = None;
        let mut r = Report::new(Stage::ServicesUp);
        let mut seen: Vec<&str> = Vec::new();
        for (i, raw) in lines.enumerate() {
            let n = i + 2;
            if i >= MAX_LINES {
                return Err(Error::TooMany);
            }
            let line = raw
                .strip_suffix(b"\n")
                .filter(|l| l.iter().all(|b| (0x20..0x7f).contains(b)))
                .ok_or(Error::Bytes(n))?;
            // Printable ASCII, so this cannot fail.
            let line = std::str::from_utf8(line).map_err(|_| Error::Bytes(n))?;
            let (key, value) = line.split_once(' ').ok_or(Error::Line(n))?;
            if key.is_empty() || value.is_empty() || value.contains(' ') {
                return Err(Error::Line(n));
            }
            if seen.contains(&key) {
                return Err(Error::Duplicate(key.to_string()));
            }
            seen.push(key);
            let bad = || Error::Value(key.to_string());
            match key {
                "stage" => match value {
                    "services-up" => stage = Some(Stage::ServicesUp),
                    "alive" => stage = Some(Stage::Alive),
                    _ => return Err(Error::Stage(value.to_string())),
                },
                "host" if host_ok(value) => r.host = Some(value.to_string()),
                "host" => return Err(bad()),
                "running" => r.running = Some(value.parse().map_err(|_| bad())?),
                _ => {
                    if let Some(name) = key.strip_prefix("ms.") {
                        if !name_ok(name) {
                            return Err(Error::Line(n));
                        }
                        if r.timings.len() >= MAX_TIMINGS {
                            return Err(Error::TooMany);
                        }
                        let ms = value.parse().map_err(|_| bad())?;
                        r.timings.push((name.to_string(), ms));
                    }
                    // Other keys: from a newer init; skipped.
                }
            }
        }
        r.stage = stage.ok_or(Error::NoStage)?;
        Ok(r)
    }

    /// The datagram; fails when a field would not parse back (bad hostname
    /// or timing name, too many timings, too long).
    pub fn emit(&self) -> Result<Vec<u8>, Error> {
        let mut s = String::with_capacity(128);
        let _ = writeln!(s, "{MAGIC}\nstage {}", self.stage.as_str());
        if let Some(h) = &self.host {
            if !host_ok(h) {
                return Err(Error::Value("host".into()));
            }
            let _ = writeln!(s, "host {h}");
        }
        if let Some(n) = self.running {
            let _ = writeln!(s, "running {n}");
        }
        if self.timings.len() > MAX_TIMINGS {
            return Err(Error::TooMany);
        }
        for (i, (name, ms)) in self.timings.iter().enumerate() {
            if !name_ok(name) || self.timings[..i].iter().any(|(n, _)| n == name) {
                return Err(Error::Value(format!("ms.{name}")));
            }
            let _ = writeln!(s, "ms.{name} {ms}");
        }
        if s.len() > MAX_LEN {
            return Err(Error::TooLong(s.len()));
        }
        Ok(s.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"diskless-report 1\nstage services-up\nhost cartman\nrunning 3\nms.init 398\nms.boot 4211\n";

    fn sample() -> Report {
        Report {
            stage: Stage::ServicesUp,
            host: Some("cartman".into()),
            running: Some(3),
            timings: vec![("init".into(), 398), ("boot".into(), 4211)],
        }
    }

    #[test]
    fn emit_and_parse_byte_exact() {
        assert_eq!(sample().emit().unwrap(), SAMPLE);
        let r = Report::parse(SAMPLE).unwrap();
        assert_eq!(r, sample());
        assert_eq!(r.timing("boot"), Some(4211));
        assert_eq!(r.timing("nope"), None);
        let alive = Report::new(Stage::Alive).emit().unwrap();
        assert_eq!(alive, b"diskless-report 1\nstage alive\n");
        assert_eq!(Report::parse(&alive).unwrap().stage, Stage::Alive);
        let min = Report::new(Stage::ServicesUp).emit().unwrap();
        assert_eq!(min, b"diskless-report 1\nstage services-up\n");
        assert_eq!(Report::parse(&min).unwrap(), Report::new(Stage::ServicesUp));
    }

    #[test]
    fn unknown_keys_are_skipped() {
        let r = Report::parse(b"diskless-report 1\nfuture 1\nstage services-up\n").unwrap();
        assert_eq!(r, Report::new(Stage::ServicesUp));
    }

    #[test]
    fn hostile_input_is_an_error() {
        let cases: &[(&[u8], Error)] = &[
            (b"", Error::Magic),
            (b"diskless-report 2\nstage services-up\n", Error::Magic),
            (b"GET / HTTP/1.0\r\n\r\n", Error::Magic),
            (b"diskless-report 1\n", Error::NoStage),
            (b"diskless-report 1\nstage up\n", Error::Stage("up".into())),
            (b"diskless-report 1\nstage services-up", Error::Bytes(2)),
            (b"diskless-report 1\nstage services-up\r\n", Error::Bytes(2)),
            (b"diskless-report 1\nhost \xff\n", Error::Bytes(2)),
            (b"diskless-report 1\nhost\0x y\n", Error::Bytes(2)),
            (b"diskless-report 1\nstage\n", Error::Line(2)),
            (b"diskless-report 1\n services-up\n", Error::Line(2)),
            (b"diskless-report 1\nstage a b\n", Error::Line(2)),
            (b"diskless-report 1\nms.Init 1\n", Error::Line(2)),
            (b"diskless-report 1\nms. 1\n", Error::Line(2)),
            (
                b"diskless-report 1\nstage services-up\nstage services-up\n",
                Error::Duplicate("stage".into()),
            ),
            (
                b"diskless-report 1\nrunning -1\n",
                Error::Value("running".into()),
            ),
            (
                b"diskless-report 1\nms.init 99999999999999999999\n",
                Error::Value("ms.init".into()),
            ),
            (
                b"diskless-report 1\nhost ../../etc\n",
                Error::Value("host".into()),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                Report::parse(bytes).as_ref(),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn sizes_are_bounded() {
        let mut big = b"diskless-report 1\nstage services-up\n".to_vec();
        big.resize(MAX_LEN + 1, b'x');
        assert_eq!(Report::parse(&big), Err(Error::TooLong(MAX_LEN + 1)));

        let mut many = String::from("diskless-report 1\nstage services-up\n");
        for i in 0..MAX_TIMINGS + 1 {
            many.push_str(&format!("ms.t{i} 1\n"));
        }
        assert_eq!(Report::parse(many.as_bytes()), Err(Error::TooMany));

        let mut lines = String::from("diskless-report 1\nstage services-up\n");
        for i in 0..MAX_LINES {
            lines.push_str(&format!("k{i} 1\n"));
        }
        assert_eq!(Report::parse(lines.as_bytes()), Err(Error::TooMany));

        let mut r = sample();
        r.timings = (0..=MAX_TIMINGS).map(|i| (format!("t{i}"), 1)).collect();
        assert_eq!(r.emit(), Err(Error::TooMany));
        r.timings = vec![("BAD".into(), 1)];
        assert!(r.emit().is_err());
        r.timings = vec![("a".into(), 1), ("a".into(), 2)];
        assert!(r.emit().is_err());
        r.timings.clear();
        r.host = Some("a b".into());
        assert!(r.emit().is_err());
    }
}
