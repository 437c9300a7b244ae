//! Host-side figures of `bench nfs`: libnfs' tools against both servers,
//! round by round, with the limits they are judged against measured in
//! the same rounds.
//!
//! Each round runs one iperf3 stream (the loopback TCP limit), then for
//! each server in turn a one-byte `nfs-cat` (process start + mount: the
//! fixed cost of every operation), the warm `nfs-cat`, `nfs-ls -R` and
//! `nfs-cp`. A change in the machine's load thus hits every figure of a
//! round alike; which server goes first alternates, and every write
//! starts after a `sync` and a 300 ms pause, so none pays for another's
//! flush.
//!
//! Client commands run straight from a thread that joined the namespace:
//! no `ip netns exec` and no shell, whose ≈ 5 ms per command would be
//! counted as NFS time (a fifth of an `nfs-ls -R`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::netns::Netns;

/// The URL options given to both servers' clients: NFSv3 on the server's
/// ports, nothing else (no readahead, no pagecache: libnfs' defaults).
pub const URL_OPTIONS: &str = "version=3&nfsport=PORT&mountport=MOUNTPORT";

/// Medians of one server's figures (seconds, and server CPU ms).
pub struct Figures {
    pub tiny_s: f64,
    pub read_s: f64,
    pub ls_s: f64,
    pub write_s: f64,
    /// Server CPU time per read, listing, write (ms).
    pub cpu_ms: [f64; 3],
}

/// Everything one run measured.
pub struct Measured {
    pub servers: [Figures; 2],
    /// iperf3, one TCP stream, bytes/s (median of the rounds).
    pub iperf3: f64,
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `argv` to completion inside `ns`, stdout to /dev/null; wall time.
fn timed(ns: &Netns, argv: &[String]) -> Result<f64> {
    ns.run_in(|| -> Result<f64> {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let t = Instant::now();
        let out = c.output().with_context(|| format!("running {}", argv[0]))?;
        let dt = t.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "`{}` failed: {}",
                argv.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(dt)
    })?
}

/// CPU time (user + system) of process `pid` so far, in ms.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    // /proc counts in USER_HZ, 100 on Linux/x86.
    f.iter().sum::<u64>() as f64 * 10.0
}

/// One iperf3 stream over loopback for 1 s (default buffers, client to
/// server): bytes/s received.
fn iperf3_bytes_per_s(ns: &Netns) -> Result<f64> {
    let _srv = ns.spawn(&["iperf3", "-s", "-1", "-p", "5201"], None)?;
    super::wait_port(ns, 5201)?;
    let out = ns.exec(&["iperf3", "-c", "127.0.0.1", "-p", "5201", "-t", "1", "-J"])?;
    // `end.sum_received.bits_per_second` without a JSON dependency.
    let bps = out
        .rfind("\"sum_received\"")
        .and_then(|i| {
            let rest = &out[i..];
            let j = rest.find("\"bits_per_second\"")? + "\"bits_per_second\"".len();
            let num: String = rest[j..]
                .trim_start_matches([':', ' ', '\t'])
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '+')
                .collect();
            num.parse::<f64>().ok()
        })
        .context("iperf3 -J: no end.sum_received.bits_per_second")?;
    Ok(bps / 8.0)
}

/// Before a timed write: what earlier writes left dirty is flushed, so
/// each write pays for its own data only.
fn settle() {
    nix::unistd::sync();
    std::thread::sleep(std::time::Duration::from_millis(300));
}

/// Both servers (`ports[k]` = NFS and MOUNT port of server k), measured
/// alternately run by run.
pub fn measure(
    ns: &Netns,
    runs: usize,
    data: &Path,
    upload: &Path,
    pids: [u32; 2],
    ports: [(u16, u16); 2],
) -> Result<Measured> {
    let url = |k: usize, p: &str| {
        let opts = URL_OPTIONS
            .replace("MOUNTPORT", &ports[k].1.to_string())
            .replace("PORT", &ports[k].0.to_string());
        format!("nfs://127.0.0.1{}{p}?{opts}", data.display())
    };
    let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for k in 0..2 {
        // Warm-up: page cache, handle caches, connection setup.
        timed(ns, &argv(&["nfs-cat", &url(k, "/big")]))?;
        timed(ns, &argv(&["nfs-ls", "-R", &url(k, "/tree")]))?;
    }
    let mut limit = Vec::new();
    let mut per: [[Vec<f64>; 7]; 2] = Default::default();
    for i in 0..runs {
        limit.push(iperf3_bytes_per_s(ns)?);
        // Who goes first alternates: neither server always follows the
        // other's writes.
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for k in order {
            // Written files stay until the end: deleting one behind a
            // server's back makes it free the blocks during the next
            // figures (our sweep closes it within a second).
            let name = format!("w/{}-{i}", ["ours", "ganesha"][k]);
            let steps = [
                argv(&["nfs-cat", &url(k, "/tiny")]),
                argv(&["nfs-cat", &url(k, "/big")]),
                argv(&["nfs-ls", "-R", &url(k, "/tree")]),
                argv(&[
                    "nfs-cp",
                    upload.to_str().context("upload path")?,
                    &url(k, &format!("/{name}")),
                ]),
            ];
            for (j, cmd) in steps.iter().enumerate() {
                if j == 3 {
                    settle();
                }
                let c0 = cpu_ms(pids[k]);
                per[k][j].push(timed(ns, cmd)?);
                if j > 0 {
                    per[k][j + 3].push(cpu_ms(pids[k]) - c0);
                }
            }
        }
    }
    let fig = |k: usize| {
        let m = |j: usize| median(per[k][j].clone());
        Figures {
            tiny_s: m(0),
            read_s: m(1),
            ls_s: m(2),
            write_s: m(3),
            cpu_ms: [m(4), m(5), m(6)],
        }
    };
    Ok(Measured {
        servers: [fig(0), fig(1)],
        iperf3: median(limit),
    })
}
