//! perfdhcp as the load generator: its report, its receive-buffer shim,
//! and the server's CPU time around a run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

/// One perfdhcp run's outcome.
#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    pub drops: u64,
    pub acks: u64,
    /// DISCOVERs perfdhcp actually sent.
    pub sent: u64,
    pub rate: f64,
    /// Server CPU seconds used during the run.
    pub cpu: f64,
}

impl Run {
    /// perfdhcp offered (nearly) the asked rate.
    pub fn generator_kept_up(&self, rate: u32, period: u32) -> bool {
        self.sent as f64 >= 0.95 * f64::from(rate) * f64::from(period)
    }
}

/// Sets a 16 MiB receive buffer on every socket perfdhcp opens (root may
/// exceed rmem_max with SO_RCVBUFFORCE; rmem_default is not per namespace
/// on this kernel, so the host's setting is left alone).
const RCVBUF_SHIM: &str = r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/socket.h>
int socket(int domain, int type, int protocol) {
    static int (*real)(int, int, int);
    if (!real) real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
    int fd = real(domain, type, protocol);
    if (fd >= 0) {
        int bytes = 16 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
    }
    return fd;
}
"#;

/// Compiles the shim; `None` (with a warning) when no C compiler exists.
pub(super) fn build_shim(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("rcvbuf.c");
    let lib = dir.join("rcvbuf.so");
    std::fs::write(&src, RCVBUF_SHIM).ok()?;
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("warning: no C compiler: perfdhcp keeps its default receive buffer, so its own stalls count as drops");
    }
    ok.then_some(lib)
}

/// utime + stime of a process (all threads), seconds.
pub(super) fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i)?.parse::<u64>().ok())
        .sum();
    // /proc reports in USER_HZ, which Linux fixes at 100 for user space.
    ticks as f64 / 100.0
}

pub(super) fn parse_perfdhcp(out: &str, period: u32) -> Result<Run> {
    let num = |section: &str, key: &str| -> Option<u64> {
        out.split(section)
            .nth(1)?
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    let drops =
        num("DISCOVER-OFFER", "drops: ").unwrap_or(0) + num("REQUEST-ACK", "drops: ").unwrap_or(0);
    let acks = num("REQUEST-ACK", "received packets: ")
        .context("no REQUEST-ACK statistics in perfdhcp output")?;
    let sent = num("DISCOVER-OFFER", "sent packets: ").unwrap_or(0);
    // perfdhcp's own "Rate:" divides by the run time including the exit
    // wait (-W), so the rate is completed exchanges over the sending period.
    Ok(Run {
        drops,
        acks,
        sent,
        rate: acks as f64 / f64::from(period.max(1)),
        cpu: 0.0,
    })
}

/// Server CPU µs per completed exchange.
pub(super) fn per_dora_us(r: &Run) -> f64 {
    if r.acks == 0 {
        0.0
    } else {
        r.cpu * 1e6 / r.acks as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_perfdhcp_report() {
        let out = "***Rate statistics***\nRate: 999.7 4-way exchanges/second, expected rate: 1000\n\n\
                   ***Statistics for: DISCOVER-OFFER***\nsent packets: 3000\nreceived packets: 3000\ndrops: 0\n\n\
                   ***Statistics for: REQUEST-ACK***\nsent packets: 3000\nreceived packets: 2998\ndrops: 2\n";
        let r = parse_perfdhcp(out, 3).unwrap();
        assert_eq!((r.drops, r.acks, r.sent), (2, 2998, 3000));
        assert!(r.generator_kept_up(1000, 3));
        assert!(!r.generator_kept_up(2000, 3));
        assert!((r.rate - 2998.0 / 3.0).abs() < 1e-9);
        assert!(parse_perfdhcp("garbage", 3).is_err());
    }
}
