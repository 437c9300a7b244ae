//! init's reports: UDP datagrams on the HTTP port number (see
//! `diskless_common::report`). Accepted only from inventory node addresses
//! on the boot subnet, bounded in size, answered with a short ack; refusals
//! are logged at most a few times per interval so a flood cannot fill the
//! log.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diskless_common::report::{Report, Stage as ReportStage, ACK, MAX_LEN};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{now_ms, Status};

/// Log lines allowed per [`LOG_WINDOW`] for refused datagrams.
const LOG_BURST: u32 = 10;
const LOG_WINDOW: Duration = Duration::from_secs(60);

/// Lets `LOG_BURST` lines through per window, then counts the rest and
/// says how many were suppressed when the next window opens.
pub struct LogLimiter {
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogLimiter {
    pub fn new() -> LogLimiter {
        LogLimiter {
            window_start: None,
            logged: 0,
            suppressed: 0,
        }
    }

    /// Whether to log now; `Some(n)` also reports `n` lines suppressed in
    /// the window that just ended.
    pub fn allow(&mut self, now: Instant) -> (bool, u64) {
        let mut dropped = 0;
        if self
            .window_start
            .is_none_or(|s| now.duration_since(s) >= LOG_WINDOW)
        {
            self.window_start = Some(now);
            self.logged = 0;
            dropped = std::mem::take(&mut self.suppressed);
        }
        if self.logged < LOG_BURST {
            self.logged += 1;
            (true, dropped)
        } else {
            self.suppressed += 1;
            (false, dropped)
        }
    }
}

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter::new()
    }
}

/// What became of one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded; what to log.
    Accepted(String),
    /// A minutely "alive" report, recorded (acked, not logged).
    Alive,
    /// Not from an inventory node on the boot subnet.
    Stranger,
    /// Not a report (the parse error).
    Malformed(String),
}

/// Checks and records one datagram (no socket: unit-testable).
pub fn accept(status: &Status, from: IpAddr, bytes: &[u8], at_ms: u64) -> Outcome {
    let Some(node) = status.node_at(from) else {
        return Outcome::Stranger;
    };
    match Report::parse(bytes) {
        Ok(r) if r.stage == ReportStage::Alive => {
            status.alive(&node, &r, at_ms);
            Outcome::Alive
        }
        Ok(r) => {
            status.reported(&node, &r, at_ms);
            let ms = |k| r.timing(k).map(|v| format!("{v} ms")).unwrap_or("?".into());
            let mut line = format!(
                "{} init up (services up {} after init start, {} after kernel start)",
                node.name,
                ms("init"),
                ms("boot")
            );
            if let Some(h) = r.host.as_deref().filter(|h| *h != node.name) {
                line.push_str(&format!("; it calls itself {h:?}"));
            }
            Outcome::Accepted(line)
        }
        Err(e) => Outcome::Malformed(e.to_string()),
    }
}

/// Serves reports on `socket` until `shutdown` turns true.
pub async fn run(
    socket: UdpSocket,
    status: Arc<Status>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // One byte more than the largest report, to tell "too long" apart.
    let mut buf = vec![0u8; MAX_LEN + 1];
    let mut limiter = LogLimiter::new();
    // Accepted reports are one line per boot normally; a node that sends
    // them in a loop must not fill the log either.
    let mut accepted_log = LogLimiter::new();
    loop {
        let (n, from): (usize, SocketAddr) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => { debug!("status: report socket: {e}"); continue; }
            },
            _ = shutdown.changed() => return Ok(()),
        };
        match accept(&status, from.ip(), &buf[..n], now_ms()) {
            Outcome::Alive => {
                let _ = socket.send_to(ACK, from).await;
                debug!(client = %from, "status: alive");
            }
            Outcome::Accepted(line) => {
                let _ = socket.send_to(ACK, from).await;
                let (log, dropped) = accepted_log.allow(Instant::now());
                if dropped > 0 {
                    info!("status: {dropped} more reports were not logged");
                }
                if log {
                    info!(client = %from, "status: {line}");
                }
            }
            refused => {
                let (log, dropped) = limiter.allow(Instant::now());
                if dropped > 0 {
                    warn!("status: {dropped} more refused reports were not logged");
                }
                if log {
                    match refused {
                        Outcome::Stranger => warn!(
                            client = %from,
                            "status: report refused: not an inventory node on the boot subnet"
                        ),
                        Outcome::Malformed(why) => {
                            warn!(client = %from, "status: report refused: {why}")
                        }
                        Outcome::Accepted(_) | Outcome::Alive => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_lets_a_burst_through_then_counts() {
        let mut l = LogLimiter::new();
        let t = Instant::now();
        for _ in 0..LOG_BURST {
            assert_eq!(l.allow(t), (true, 0));
        }
        for _ in 0..5 {
            assert_eq!(l.allow(t + Duration::from_secs(1)), (false, 0));
        }
        // Next window: allowed again, and told how many were dropped.
        assert_eq!(l.allow(t + LOG_WINDOW), (true, 5));
        assert_eq!(l.allow(t + LOG_WINDOW), (true, 0));
    }
}
