//! `diskless-qemu bench nfs`: our NFSv3 server against nfs-ganesha (VFS
//! backend), same files, same client (libnfs' nfs-cat / nfs-ls / nfs-cp),
//! same run, inside a private network namespace (loopback only). The
//! iperf3 single-stream loopback limit is measured in the same run and
//! reads are reported as a fraction of it.
//!
//! Guest-side figures (read in a TCG guest, `ls -lR`, time to SSH) are not
//! measured here yet.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::netns::{Netns, Proc};

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  diskless-qemu bench nfs --runs 5 --mib 256")]
pub struct Args {
    /// Runs per measurement; medians are reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Size of the sequentially read file, MiB.
    #[arg(long, default_value_t = 256)]
    pub mib: u64,
    /// Size of the written file, MiB.
    #[arg(long, default_value_t = 64)]
    pub write_mib: u64,
    /// Files in the listed tree.
    #[arg(long, default_value_t = 5000)]
    pub files: usize,
    /// `diskless-server` binary [default: next to this program].
    #[arg(long, value_name = "FILE")]
    pub server: Option<PathBuf>,
}

struct Figures {
    read_s: f64,
    ls_s: f64,
    write_s: f64,
    rss_kb: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn timed_sh(ns: &Netns, script: &str) -> Result<f64> {
    let t = Instant::now();
    let out = ns
        .command("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let dt = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(dt)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn wait_port(ns: &Netns, port: u16) -> Result<()> {
    for _ in 0..150 {
        let out = ns.exec(&["ss", "-ltn"])?;
        if out.contains(&format!(":{port} ")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("nothing listens on port {port} after 15 s")
}

fn measure(ns: &Netns, a: &Args, base: &str, data: &Path, pid: u32, tag: &str) -> Result<Figures> {
    let url = |p: &str| format!("{base}{}{}", data.display(), p);
    let q = |u: String, port: &str| format!("'{u}?version=3&{port}'");
    let (nfsport, mountport) = match tag {
        "ours" => ("nfsport=2049", "mountport=2049"),
        _ => ("nfsport=2050", "mountport=2051"),
    };
    let opts = format!("{nfsport}&{mountport}");
    let big = q(url("/big"), &opts);
    let tree = q(url("/tree"), &opts);
    // Warm-up: page cache and connection setup.
    timed_sh(ns, &format!("nfs-cat {big} > /dev/null"))?;
    let mut reads = Vec::new();
    let mut lists = Vec::new();
    let mut writes = Vec::new();
    for i in 0..a.runs {
        reads.push(timed_sh(ns, &format!("nfs-cat {big} > /dev/null"))?);
        lists.push(timed_sh(ns, &format!("nfs-ls -R {tree} > /dev/null"))?);
        let dst = q(url(&format!("/w/{tag}-{i}")), &opts);
        let src = data.parent().unwrap().join("upload");
        writes.push(timed_sh(ns, &format!("nfs-cp {} {dst}", src.display()))?);
    }
    Ok(Figures {
        read_s: median(reads),
        ls_s: median(lists),
        write_s: median(writes),
        rss_kb: rss_kb(pid),
    })
}

fn make_data(work: &Path, a: &Args) -> Result<PathBuf> {
    let data = work.join("data");
    std::fs::create_dir_all(data.join("tree"))?;
    std::fs::create_dir_all(data.join("w"))?;
    let chunk: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut f = std::fs::File::create(data.join("big"))?;
    for _ in 0..a.mib {
        std::io::Write::write_all(&mut f, &chunk)?;
    }
    let mut u = std::fs::File::create(work.join("upload"))?;
    for _ in 0..a.write_mib {
        std::io::Write::write_all(&mut u, &chunk)?;
    }
    for i in 0..a.files {
        let d = data.join(format!("tree/d{:03}", i / 100));
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(format!("f{i}")), b"x")?;
    }
    Ok(data)
}

fn start_ours(ns: &Netns, work: &Path, data: &Path, server: &Path) -> Result<Proc> {
    let inv = work.join("inventory.toml");
    std::fs::create_dir_all(work.join("boot"))?;
    std::fs::write(
        &inv,
        format!(
            "[cluster]\nname = \"bench\"\nserver = \"127.0.0.254\"\nsubnet = \"127.0.0.0/8\"\n\
             boot_root = \"{b}\"\nnfs_root = \"{b}\"\nkernel = \"bzImage\"\n\n\
             [[nodes]]\nname = \"host\"\nmac = \"52:54:00:00:00:01\"\nip = \"127.0.0.1\"\n\n\
             [[exports]]\npath = \"{d}\"\naccess = \"rw\"\nnodes = [\"host\"]\n",
            b = work.join("boot").display(),
            d = data.display()
        ),
    )?;
    let key = work.join("nfs.key");
    let argv = [
        server.to_str().context("server path")?,
        "serve",
        "--inventory",
        inv.to_str().unwrap(),
        "--no-tftp",
        "--no-http",
        "--no-dhcp",
        "--no-portmap",
        "--listen",
        "127.0.0.1",
        "--nfs-key",
        key.to_str().unwrap(),
    ];
    let p = ns.spawn(&argv, Some(&work.join("ours.log")))?;
    wait_port(ns, 2049)?;
    Ok(p)
}

fn start_ganesha(ns: &Netns, work: &Path, data: &Path) -> Result<Proc> {
    let conf = work.join("ganesha.conf");
    std::fs::write(
        &conf,
        format!(
            "NFS_CORE_PARAM {{ Protocols = 3; NFS_Port = 2050; MNT_Port = 2051; \
             Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; Bind_addr = 127.0.0.1; }}\n\
             NFSV4 {{ Graceless = true; }}\n\
             EXPORT {{ Export_Id = 1; Path = {d}; Pseudo = {d}; Access_Type = RW; \
             Squash = No_Root_Squash; Protocols = 3; Transports = TCP; SecType = sys; \
             FSAL {{ Name = VFS; }} }}\n",
            d = data.display()
        ),
    )?;
    // rpcbind (Ganesha insists on registering) and Ganesha get a private
    // /run, so /run/rpcbind.sock never meets the host's or another test's.
    let script = format!(
        "set -e; mount -t tmpfs -o mode=755 tmpfs /run; mkdir -p /run/ganesha; \
         rpcbind -f -w & echo $! > {rpid}; \
         for i in $(seq 50); do [ -S /run/rpcbind.sock ] && break; sleep 0.1; done; \
         exec ganesha.nfsd -F -L {log} -f {conf} -p /run/ganesha/ganesha.pid",
        rpid = work.join("rpcbind.pid").display(),
        log = work.join("ganesha.log").display(),
        conf = conf.display()
    );
    let argv = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ];
    let p = ns.spawn(&argv, Some(&work.join("ganesha.out")))?;
    wait_port(ns, 2050).with_context(|| {
        format!(
            "nfs-ganesha did not start: {}",
            std::fs::read_to_string(work.join("ganesha.log")).unwrap_or_default()
        )
    })?;
    Ok(p)
}

fn iperf3_bytes_per_s(ns: &Netns) -> Result<f64> {
    let _srv = ns.spawn(&["iperf3", "-s", "-1", "-p", "5201"], None)?;
    wait_port(ns, 5201)?;
    let out = ns.exec(&["iperf3", "-c", "127.0.0.1", "-p", "5201", "-t", "3", "-J"])?;
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

pub fn run(a: Args) -> Result<()> {
    let server = match &a.server {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("binary dir")?
            .join("diskless-server"),
    };
    if !server.exists() {
        bail!(
            "{} not found: build it (cargo build -p diskless-server) or pass --server",
            server.display()
        );
    }
    let work = std::env::temp_dir().join(format!("diskless-bench-nfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let result = (|| -> Result<()> {
        let data = make_data(&work, &a)?;
        let ns = Netns::new("nfsbench")?;
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        let limit = iperf3_bytes_per_s(&ns)?;
        let ours_p = start_ours(&ns, &work, &data, &server)?;
        let ours = measure(&ns, &a, "nfs://127.0.0.1", &data, ours_p.pid(), "ours")?;
        drop(ours_p);
        let g_p = start_ganesha(&ns, &work, &data)?;
        let gan = measure(&ns, &a, "nfs://127.0.0.1", &data, g_p.pid(), "ganesha");
        drop(g_p);
        if let Ok(pid) = std::fs::read_to_string(work.join("rpcbind.pid")) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
        let gan = gan?;
        let mib = a.mib as f64 * 1048576.0;
        let wmib = a.write_mib as f64 * 1048576.0;
        let entries = a.files as f64 + (a.files as f64 / 100.0).ceil();
        let mbs = |b: f64, s: f64| b / s / 1e6;
        println!("iperf3 loopback, one TCP stream: {:.0} MB/s", limit / 1e6);
        println!("{:<28} {:>12} {:>12}", "", "ours", "ganesha");
        println!(
            "{:<28} {:>9.0} MB/s {:>7.0} MB/s",
            format!("warm read {} MiB (nfs-cat)", a.mib),
            mbs(mib, ours.read_s),
            mbs(mib, gan.read_s)
        );
        println!(
            "{:<28} {:>12.2} {:>12.2}",
            "  fraction of iperf3",
            mib / ours.read_s / limit,
            mib / gan.read_s / limit
        );
        println!(
            "{:<28} {:>7.0} ent/s {:>6.0} ent/s",
            format!("nfs-ls -R ({} entries)", entries),
            entries / ours.ls_s,
            entries / gan.ls_s
        );
        println!(
            "{:<28} {:>9.0} MB/s {:>7.0} MB/s",
            format!("write {} MiB (nfs-cp)", a.write_mib),
            mbs(wmib, ours.write_s),
            mbs(wmib, gan.write_s)
        );
        println!(
            "{:<28} {:>9} MB {:>9} MB",
            "RSS after runs",
            ours.rss_kb / 1024,
            gan.rss_kb / 1024
        );
        let (o, g) = (mbs(mib, ours.read_s), mbs(mib, gan.read_s));
        println!("ours {o:.0} MB/s, ganesha {g:.0} MB/s, ratio {:.2}x", o / g);
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}
