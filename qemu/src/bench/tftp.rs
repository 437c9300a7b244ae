//! `diskless-qemu bench tftp`: our TFTP server against atftpd and dnsmasq in
//! the same run, on the loopback of a private network namespace, with one
//! client for all three ([`client`]: every simulated client on one socket
//! per thread, batched syscalls, so the client side costs as little as we
//! can make it and nothing differs between peers).
//!
//! Measured, medians of `--runs`:
//! - one 64 MiB transfer at blksize 1468: lockstep, windowsize 16 and 64
//!   (servers without RFC 7440 fall back to lockstep);
//! - iperf3 `-u -b 0 -l 1468 -w 8M` over the same loopback: the physical
//!   limit (received rate; the sender rate is printed too);
//! - a boot storm: 200 concurrent lockstep clients (blksize 1468, as PXE
//!   ROMs fetch), 16 MiB each: aggregate throughput, the slowest client,
//!   and CPU time per DATA block of the server and of the client (the
//!   load-independent cost on a shared machine).
//!
//! Every received block is compared with the file; a mismatch fails the run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::netns::{Netns, Proc};

mod ceiling;
mod client;
use ceiling::{ceiling_mbs, cpus, server_threads, Storm};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  diskless-qemu bench tftp
  diskless-qemu bench tftp --runs 5 --storm-clients 200 --storm-mib 16
  diskless-qemu bench tftp --only ours --runs 1     # quick check
  diskless-qemu bench tftp --only ours --tftp-loops 1 --mib 1 --runs 3

Build the server with --release first (cargo build --release -p diskless-server).")]
pub struct Args {
    /// Runs per measurement; medians are reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Size of the single-transfer file, MiB.
    #[arg(long, default_value_t = 64)]
    pub mib: usize,
    /// Concurrent lockstep clients in the boot storm (0 = skip).
    #[arg(long, default_value_t = 200)]
    pub storm_clients: usize,
    /// File size each storm client fetches, MiB.
    #[arg(long, default_value_t = 16)]
    pub storm_mib: usize,
    /// Boot-storm runs (medians) [default: --runs].
    #[arg(long)]
    pub storm_runs: Option<usize>,
    /// Only run these servers (ours, atftpd, dnsmasq); repeatable.
    #[arg(long)]
    pub only: Vec<String>,
    /// Event loops for our server (`serve --tftp-loops`) [default: the
    /// server's own, one per two CPUs].
    #[arg(long, value_name = "N")]
    pub tftp_loops: Option<u16>,
    /// `diskless-server` binary [default: next to this program].
    #[arg(long, value_name = "FILE")]
    pub server: Option<PathBuf>,
}

const PORT: u16 = 69;

/// Single-transfer windowsizes: lockstep, 16, 64 (servers without RFC 7440
/// fall back to lockstep).
const WINDOWS: [u16; 3] = [1, 16, 64];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn server_bin(args: &Args) -> Result<PathBuf> {
    let p = match &args.server {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("exe dir")?
            .join("diskless-server"),
    };
    if !p.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p diskless-server` or pass --server",
            p.display()
        );
    }
    Ok(p)
}

/// One server under test, running in the namespace.
struct Running {
    proc: Proc,
}

impl Running {
    /// CPU time (user + system, all threads) the server has used so far.
    fn cpu_secs(&self) -> f64 {
        cpu_secs(&self.proc.pid().to_string())
    }
}

/// CPU time of process `pid` (`self`: this one), from /proc.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is 3rd, utime 14th, stime 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // USER_HZ is 100 on Linux.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

fn start(ns: &Netns, which: &str, root: &Path, work: &Path, args: &Args) -> Result<Running> {
    let bin = server_bin(args)?;
    let log = work.join(format!("{which}.log"));
    let r = root.to_str().context("utf-8 root")?;
    let proc = match which {
        "ours" => {
            let inv = work.join("inventory.toml");
            std::fs::write(&inv, include_str!("../../../examples/seed-inventory.toml"))?;
            let mut c = ns.command(&bin);
            c.args(["serve", "--inventory"])
                .arg(&inv)
                .args(["--boot-root", r, "--listen", "127.0.0.1"])
                .args(["--tftp-port", &PORT.to_string(), "--http-port", "8080"])
                .args(["--no-nfs", "--no-dhcp"])
                .args(
                    args.tftp_loops
                        .map(|n| vec!["--tftp-loops".to_string(), n.to_string()])
                        .unwrap_or_default(),
                )
                .env("DISKLESS_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log)?)
                .stderr(std::fs::File::options().append(true).open(&log)?);
            ns.spawn_command(c)?
        }
        "atftpd" => ns.spawn(
            &[
                "atftpd",
                "--daemon",
                "--no-fork",
                "--port",
                &PORT.to_string(),
                "--bind-address",
                "127.0.0.1",
                "--maxthread",
                "1000",
                "--user",
                "root.root",
                "--logfile",
                "/dev/null",
                r,
            ],
            Some(&log),
        )?,
        "dnsmasq" => ns.spawn(
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--port=0",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--enable-tftp",
                &format!("--tftp-root={r}"),
                "--tftp-max=1000",
                "--user=root",
                "--quiet-tftp",
                "--log-facility=/dev/null",
                "--pid-file=",
            ],
            Some(&log),
        )?,
        other => bail!("unknown server {other}"),
    };
    // Ready once a small file comes back.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let got = ns.run_in(|| client::fetch_all(server_addr(), 1, "probe", 512, 1, b"probe\n"))?;
        if got.is_ok() {
            return Ok(Running { proc });
        }
        if Instant::now() > until {
            bail!(
                "{which} did not answer on 127.0.0.1:{PORT}: {:?}; log: {}",
                got.err(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn server_addr() -> SocketAddr {
    ([127, 0, 0, 1], PORT).into()
}

/// iperf3 over the namespace's loopback: (sent, received) MB/s.
fn iperf3(ns: &Netns) -> Result<(f64, f64)> {
    let _srv = ns.spawn(
        &["iperf3", "-s", "-1", "-p", "5201", "-B", "127.0.0.1"],
        None,
    )?;
    std::thread::sleep(Duration::from_millis(300));
    let out = ns.exec(&[
        "iperf3",
        "-c",
        "127.0.0.1",
        "-p",
        "5201",
        "-u",
        "-b",
        "0",
        "-l",
        "1468",
        "-t",
        "3",
        // A socket buffer big enough that the receiver, not its queue,
        // sets the rate (the default one drops most of a `-b 0` burst).
        "-w",
        "8M",
        "-J",
    ])?;
    let v: serde_json::Value = serde_json::from_str(&out).context("iperf3 JSON")?;
    // `-b 0` sends as fast as the sender can; on a busy machine the
    // receiver drops much of it. Both rates are reported; the received one
    // (goodput) is the limit compared against.
    let sent = v["end"]["sum_sent"]["bits_per_second"]
        .as_f64()
        .or_else(|| v["end"]["sum"]["bits_per_second"].as_f64())
        .context("iperf3 bits_per_second")?;
    let sum = &v["end"]["sum"];
    let lost = sum["lost_percent"].as_f64().unwrap_or(0.0);
    let got = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(sent * (1.0 - lost / 100.0));
    Ok((sent / 8.0 / 1e6, got / 8.0 / 1e6))
}

pub fn run(args: Args) -> Result<()> {
    let servers: Vec<&str> = ["ours", "atftpd", "dnsmasq"]
        .into_iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s))
        .collect();
    server_bin(&args)?;
    let work = std::env::temp_dir().join(format!("diskless-bench-tftp-{}", std::process::id()));
    let root = work.join("root");
    std::fs::create_dir_all(&root)?;
    let big = Arc::new(pattern(args.mib << 20, 1));
    let small = Arc::new(pattern(args.storm_mib << 20, 2));
    std::fs::write(root.join("big"), &*big)?;
    std::fs::write(root.join("storm"), &*small)?;
    std::fs::write(root.join("probe"), b"probe\n")?;
    // atftpd/dnsmasq may drop privileges: keep everything readable.
    let _ = std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&work)
        .status();
    let ns = Netns::new("bench-tftp")?;
    ns.exec(&["ip", "link", "set", "lo", "up"])?;

    let rates = (0..args.runs.max(1))
        .map(|_| iperf3(&ns))
        .collect::<Result<Vec<_>>>()?;
    let sent = median(rates.iter().map(|r| r.0).collect());
    let limit = median(rates.iter().map(|r| r.1).collect());
    println!(
        "iperf3 -u -b 0 -l 1468 -w 8M (loopback UDP limit): received {limit:.0} MB/s (sender {sent:.0} MB/s)"
    );

    let size_mb = big.len() as f64 / 1e6;
    let storm_runs = args.storm_runs.unwrap_or(args.runs).max(1);
    let mut results: Vec<(&str, [f64; 3], Option<Storm>)> = Vec::new();
    for which in &servers {
        let srv = start(&ns, which, &root, &work, &args)?;
        // Seconds for one transfer: lockstep, windowsize 16, windowsize 64.
        let mut times: [Vec<f64>; 3] = Default::default();
        // Server CPU per lockstep block: a lockstep transfer is bound by
        // its round trip, so this is the steadier figure on a busy box.
        let mut lockstep_cpu = Vec::new();
        let blocks = (big.len() / 1468 + 1) as f64;
        for _ in 0..args.runs.max(1) {
            for (w, out) in WINDOWS.into_iter().zip(times.iter_mut()) {
                let b = big.clone();
                let cpu0 = srv.cpu_secs();
                let t =
                    ns.run_in(move || client::fetch_all(server_addr(), 1, "big", 1468, w, &b))??;
                if w == 1 {
                    lockstep_cpu.push((srv.cpu_secs() - cpu0) * 1e6 / blocks);
                }
                out.push(t.wall);
            }
        }
        let single = times.map(median);
        println!(
            "{which:8} {} MiB blksize 1468: lockstep {:.0} MB/s, windowsize 16 {:.0} MB/s, windowsize 64 {:.0} MB/s ({:.2} of iperf3)",
            args.mib,
            size_mb / single[0],
            size_mb / single[1],
            size_mb / single[2],
            size_mb / single[2] / limit
        );
        println!(
            "{which:8} lockstep: {:.1} us per block round trip, server CPU {:.1} us per block",
            single[0] * 1e6 / blocks,
            median(lockstep_cpu)
        );
        let storm = if args.storm_clients > 0 {
            let mut agg = Vec::new();
            let mut slow = Vec::new();
            let mut cpu = Vec::new();
            let mut client_cpu = Vec::new();
            let blocks = (args.storm_clients * (small.len() / 1468 + 1)) as f64;
            for _ in 0..storm_runs {
                let s = small.clone();
                let n = args.storm_clients;
                let (cpu0, own0) = (srv.cpu_secs(), cpu_secs("self"));
                let t =
                    ns.run_in(move || client::fetch_all(server_addr(), n, "storm", 1468, 1, &s))??;
                cpu.push((srv.cpu_secs() - cpu0) * 1e6 / blocks);
                client_cpu.push((cpu_secs("self") - own0) * 1e6 / blocks);
                let slowest = t.per_client.iter().copied().fold(0.0, f64::max);
                agg.push(n as f64 * small.len() as f64 / 1e6 / t.wall);
                slow.push(slowest);
            }
            let st = Storm {
                aggregate_mbs: median(agg),
                slowest_s: median(slow),
                cpu_us_per_block: median(cpu),
                client_us_per_block: median(client_cpu),
            };
            println!(
                "{which:8} storm {} x {} MiB lockstep 1468: aggregate {:.0} MB/s, slowest client {:.1} s, CPU per block: server {:.1} us, client {:.1} us, both {:.1} us",
                args.storm_clients, args.storm_mib, st.aggregate_mbs, st.slowest_s, st.cpu_us_per_block, st.client_us_per_block,
                st.cpu_us_per_block + st.client_us_per_block
            );
            Some(st)
        } else {
            None
        };
        results.push((which, single, storm));
    }
    let _ = std::fs::remove_dir_all(&work);

    println!(
        "\nsummary (medians of {} runs; storm {} runs):",
        args.runs, storm_runs
    );
    for (w, t, s) in &results {
        let st = s
            .as_ref()
            .map(|s| {
                format!(
                    "; storm {:.0} MB/s, slowest {:.1} s, {:.1} us server CPU/block",
                    s.aggregate_mbs, s.slowest_s, s.cpu_us_per_block
                )
            })
            .unwrap_or_default();
        println!(
            "  {w:8} lockstep {:.0} MB/s, ws16 {:.0} MB/s, ws64 {:.0} MB/s ({:.0}% of iperf3 received){st}",
            size_mb / t[0],
            size_mb / t[1],
            size_mb / t[2],
            100.0 * size_mb / t[2] / limit
        );
    }
    let get = |n: &str| results.iter().find(|r| r.0 == n);
    if let Some(o) = get("ours") {
        for peer in ["atftpd", "dnsmasq"] {
            let Some(p) = get(peer) else { continue };
            let mut line = format!(
                "  ours/{peer}: lockstep {:.2}x, ws16 {:.2}x, ws64 {:.2}x",
                p.1[0] / o.1[0],
                p.1[1] / o.1[1],
                p.1[2] / o.1[2]
            );
            if let (Some(os), Some(ps)) = (&o.2, &p.2) {
                line.push_str(&format!(
                    ", storm aggregate {:.2}x, slowest client {:.2}x, server CPU/block {:.2}x",
                    os.aggregate_mbs / ps.aggregate_mbs,
                    ps.slowest_s / os.slowest_s,
                    ps.cpu_us_per_block / os.cpu_us_per_block
                ));
                // What the CPU per block allows on this machine, whatever
                // the load: the goal is 3x.
                let (co, cp) = (
                    ceiling_mbs(os, server_threads("ours", &args), cpus()),
                    ceiling_mbs(ps, server_threads(peer, &args), cpus()),
                );
                line.push_str(&format!(
                    "\n    CPU-bound storm ceiling on {} CPUs: ours {co:.0} MB/s, {peer} {cp:.0} MB/s, so at most {:.2}x",
                    cpus(),
                    co / cp
                ));
            }
            println!("{line}");
        }
    }
    if let (Some(o), Some(a)) = (get("ours"), get("atftpd")) {
        match (&o.2, &a.2) {
            (Some(os), Some(as_)) => println!(
                "ours {:.0} MB/s, atftpd {:.0} MB/s, ratio {:.2}x",
                os.aggregate_mbs,
                as_.aggregate_mbs,
                os.aggregate_mbs / as_.aggregate_mbs
            ),
            _ => println!(
                "ours {:.0} MB/s, atftpd {:.0} MB/s, ratio {:.2}x",
                size_mb / o.1[2],
                size_mb / a.1[2],
                a.1[2] / o.1[2]
            ),
        }
    }
    Ok(())
}
