//! Boot milestones found in a node's serial console, with the time each one
//! was first seen (relative to QEMU's start).
//!
//! The console is read live by [`crate::vm::Vm`], which stamps every chunk it
//! receives; a milestone's time is the stamp of the chunk that completed it.

use std::fmt;
use std::time::Duration;

/// Console bytes plus the arrival time of each chunk.
#[derive(Default, Clone)]
pub struct Console {
    pub bytes: Vec<u8>,
    /// `(end offset of the chunk in bytes, time since QEMU started)`.
    pub chunks: Vec<(usize, Duration)>,
}

impl Console {
    pub fn push(&mut self, data: &[u8], at: Duration) {
        self.bytes.extend_from_slice(data);
        self.chunks.push((self.bytes.len(), at));
    }

    /// Arrival time of the byte at `offset`.
    pub fn time_at(&self, offset: usize) -> Option<Duration> {
        let i = self.chunks.partition_point(|(end, _)| *end <= offset);
        self.chunks.get(i).map(|(_, t)| *t)
    }

    /// Text of the console so far (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Time at which all `parts` had appeared, in order (each searched after
    /// the end of the previous one).
    pub fn find_seq(&self, parts: &[&str]) -> Option<Duration> {
        let mut from = 0;
        let mut end = 0;
        for p in parts {
            let pos = find(&self.bytes[from..], p.as_bytes())? + from;
            end = pos + p.len();
            from = end;
        }
        self.time_at(end.saturating_sub(1))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What a milestone looks like on the console: substrings that appear in order.
pub struct Milestone {
    pub name: &'static str,
    pub parts: &'static [&'static str],
}

/// The line diskless-init (and the test bed's fixed seed `Rcinit`) prints on
/// the console once sshd, rpcbind and gmond have been started.
pub const SERVICES_UP_MARKER: &str = "diskless: services up";

/// Milestones in boot order. Only the first appearance counts.
pub const MILESTONES: &[Milestone] = &[
    Milestone {
        name: "firmware DHCP",
        parts: &["Configuring (net", "ok"],
    },
    Milestone {
        name: "loader (TFTP)",
        parts: &["PXELINUX"],
    },
    Milestone {
        name: "kernel start",
        parts: &["Linux version"],
    },
    Milestone {
        name: "IP-Config",
        parts: &["IP-Config: Complete"],
    },
    Milestone {
        name: "root mounted",
        parts: &["VFS: Mounted root"],
    },
    Milestone {
        name: "init start",
        parts: &["as init process"],
    },
    Milestone {
        name: "crng ready",
        parts: &["crng init done"],
    },
    Milestone {
        name: "services up",
        parts: &[SERVICES_UP_MARKER],
    },
];

/// One observed milestone.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub at: Duration,
}

/// The milestones seen so far, plus the SSH banner time when known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub events: Vec<Event>,
}

impl Timeline {
    /// Parses `console`. "kernel start" is corrected for the kernel buffering
    /// its early messages until the serial console registers: the estimate is
    /// the smallest `arrival - printk timestamp` over kernel lines.
    pub fn parse(console: &Console) -> Timeline {
        let mut events = Vec::new();
        for m in MILESTONES {
            if let Some(mut at) = console.find_seq(m.parts) {
                if m.name == "kernel start" {
                    if let Some(k) = kernel_start(console) {
                        at = at.min(k);
                    }
                }
                events.push(Event {
                    name: m.name.to_string(),
                    at,
                });
            }
        }
        events.sort_by_key(|e| e.at);
        Timeline { events }
    }

    /// Adds an event measured outside the console (e.g. "SSH banner").
    pub fn push(&mut self, name: &str, at: Duration) {
        self.events.push(Event {
            name: name.to_string(),
            at,
        });
    }

    pub fn get(&self, name: &str) -> Option<Duration> {
        self.events.iter().find(|e| e.name == name).map(|e| e.at)
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prev = Duration::ZERO;
        for e in &self.events {
            writeln!(
                f,
                "  {:>8.2}s  (+{:>6.2}s)  {}",
                e.at.as_secs_f64(),
                e.at.saturating_sub(prev).as_secs_f64(),
                e.name
            )?;
            prev = e.at;
        }
        Ok(())
    }
}

/// Earliest plausible kernel start: min over `[ secs.micros]` lines of the
/// line's arrival time minus its printk timestamp.
fn kernel_start(console: &Console) -> Option<Duration> {
    let mut best: Option<Duration> = None;
    let bytes = &console.bytes;
    let mut line_start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b != b'\n' {
            continue;
        }
        let line = &bytes[line_start..i];
        if let Some(ts) = printk_ts(line) {
            if let Some(arr) = console.time_at(i) {
                if let Some(k) = arr.checked_sub(ts) {
                    best = Some(best.map_or(k, |b| b.min(k)));
                }
            }
        }
        line_start = i + 1;
    }
    best
}

/// `[    1.234567] ...` → 1.234567 s.
fn printk_ts(line: &[u8]) -> Option<Duration> {
    let s = std::str::from_utf8(line).ok()?;
    let s = s.trim_start_matches(['\r', '\0']);
    let rest = s.strip_prefix('[')?;
    let end = rest.find(']')?;
    let secs: f64 = rest[..end].trim().parse().ok()?;
    Some(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn milestones_take_the_chunk_time_of_their_last_byte() {
        let mut c = Console::default();
        c.push(
            b"iPXE 1.21\r\nConfiguring (net0 52:54:00:12:34:56)...",
            ms(100),
        );
        c.push(b"... ok\r\n", ms(2500));
        c.push(b"PXELINUX 6.04 PXE\r\n", ms(3000));
        let t = Timeline::parse(&c);
        assert_eq!(t.get("firmware DHCP"), Some(ms(2500)));
        assert_eq!(t.get("loader (TFTP)"), Some(ms(3000)));
        assert_eq!(t.get("kernel start"), None);
    }

    #[test]
    fn kernel_start_is_corrected_by_printk_timestamps() {
        let mut c = Console::default();
        // The console registers at 5 s and replays the buffered lines.
        c.push(
            b"[    0.000000] Linux version 6.1\n[    0.900000] console [ttyS0] enabled\n",
            ms(5000),
        );
        c.push(b"[    1.500000] IP-Config: Complete:\n", ms(5600));
        let t = Timeline::parse(&c);
        assert_eq!(t.get("kernel start"), Some(ms(4100)));
        assert_eq!(t.get("IP-Config"), Some(ms(5600)));
    }

    #[test]
    fn garbage_console_gives_an_empty_timeline() {
        let mut c = Console::default();
        c.push(&[0xff, 0xfe, b'[', b']', b'\n', 0], ms(1));
        assert_eq!(Timeline::parse(&c), Timeline::default());
    }

    #[test]
    fn parts_must_appear_in_order() {
        let mut c = Console::default();
        c.push(b"ok then Configuring (net0", ms(10));
        assert_eq!(c.find_seq(&["Configuring (net", "ok"]), None);
    }
}
