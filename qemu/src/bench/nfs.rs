//! `diskless-qemu bench nfs`: our NFSv3 server against nfs-ganesha (VFS
//! backend), same files, same client (libnfs' nfs-cat / nfs-ls / nfs-cp),
//! same run, inside a private network namespace (loopback only). The
//! iperf3 single-stream loopback limit is measured in the same run and
//! reads are reported as a fraction of it.
//!
//! Guest-side figures (a TCG node booting its root from each server: time
//! to SSH, cold and warm sequential read, `ls -lR`) come from [`guest`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::netns::{Netns, Proc};

mod guest;
mod host;

use host::median;

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
    /// Guest boots per server for the guest-side figures (0 skips them).
    #[arg(long, default_value_t = 3)]
    pub guest_runs: usize,
    /// `diskless-server` binary [default: next to this program].
    #[arg(long, value_name = "FILE")]
    pub server: Option<PathBuf>,
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

pub(crate) fn wait_port(ns: &Netns, port: u16) -> Result<()> {
    for _ in 0..150 {
        let out = ns.exec(&["ss", "-ltn"])?;
        if out.contains(&format!(":{port} ")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("nothing listens on port {port} after 15 s")
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
    std::fs::write(data.join("tiny"), b"x")?;
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

/// nfs-ganesha (VFS backend) exporting `data` on `bind`, NFS on
/// `nfs_port` and MOUNT on `nfs_port + 1`, TCP only, no grace period.
pub(crate) fn start_ganesha(
    ns: &Netns,
    work: &Path,
    data: &Path,
    bind: &str,
    nfs_port: u16,
) -> Result<Proc> {
    let conf = work.join("ganesha.conf");
    std::fs::write(
        &conf,
        format!(
            "NFS_CORE_PARAM {{ Protocols = 3; NFS_Port = {nfs_port}; MNT_Port = {mnt}; \
             Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; Bind_addr = {bind}; }}\n\
             NFSV4 {{ Graceless = true; }}\n\
             EXPORT {{ Export_Id = 1; Path = {d}; Pseudo = {d}; Access_Type = RW; \
             Squash = No_Root_Squash; Protocols = 3; Transports = TCP; SecType = sys; \
             FSAL {{ Name = VFS; }} }}\n",
            d = data.display(),
            mnt = nfs_port + 1,
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
    wait_port(ns, nfs_port).with_context(|| {
        format!(
            "nfs-ganesha did not start: {}",
            std::fs::read_to_string(work.join("ganesha.log")).unwrap_or_default()
        )
    })?;
    Ok(p)
}

fn libnfs_version() -> String {
    std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "libnfs-utils"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| "(version unknown)".into())
}

fn print_host(a: &Args, m: &host::Measured, rss: [u64; 2]) {
    let [ours, gan] = &m.servers;
    let mib = a.mib as f64 * 1048576.0;
    let wmib = a.write_mib as f64 * 1048576.0;
    let entries = a.files as f64 + (a.files as f64 / 100.0).ceil();
    let mbs = |b: f64, s: f64| b / s / 1e6;
    println!(
        "client: libnfs {} nfs-cat / nfs-ls -R / nfs-cp, one process per operation, \
         started directly in the namespace; URL options for both servers: {} \
         (libnfs defaults otherwise: no readahead, no pagecache; one call in flight)",
        libnfs_version(),
        host::URL_OPTIONS
    );
    println!(
        "limit, median of one per round: iperf3 loopback, one TCP stream (1 s, default \
         buffers) {:.0} MB/s",
        m.iperf3 / 1e6
    );
    println!(
        "libnfs on the host, medians of {} runs:\n{:<34} {:>12} {:>12}",
        a.runs, "", "ours", "ganesha"
    );
    println!(
        "{:<34} {:>9.1} ms {:>9.1} ms",
        "start-up: nfs-cat of 1 byte",
        ours.tiny_s * 1e3,
        gan.tiny_s * 1e3
    );
    println!(
        "{:<34} {:>9.0} MB/s {:>7.0} MB/s",
        format!("warm read {} MiB (nfs-cat)", a.mib),
        mbs(mib, ours.read_s),
        mbs(mib, gan.read_s)
    );
    let net = |f: &host::Figures| mbs(mib, (f.read_s - f.tiny_s).max(1e-6));
    println!(
        "{:<34} {:>9.0} MB/s {:>7.0} MB/s",
        "  net of start-up",
        net(ours),
        net(gan)
    );
    println!(
        "{:<34} {:>12.2} {:>12.2}",
        "  fraction of iperf3 (net)",
        net(ours) * 1e6 / m.iperf3,
        net(gan) * 1e6 / m.iperf3
    );
    println!(
        "{:<34} {:>7.0} ent/s {:>6.0} ent/s",
        format!("nfs-ls -R ({} entries)", entries),
        entries / ours.ls_s,
        entries / gan.ls_s
    );
    println!(
        "{:<34} {:>9.0} MB/s {:>7.0} MB/s",
        format!("write {} MiB (nfs-cp)", a.write_mib),
        mbs(wmib, ours.write_s),
        mbs(wmib, gan.write_s)
    );
    for (name, j) in [("read", 0), ("nfs-ls -R", 1), ("write", 2)] {
        println!(
            "{:<34} {:>9.0} ms {:>9.0} ms",
            format!("  server CPU per {name}"),
            ours.cpu_ms[j],
            gan.cpu_ms[j]
        );
    }
    println!(
        "{:<34} {:>9} MB {:>9} MB",
        "RSS after runs",
        rss[0] / 1024,
        rss[1] / 1024
    );
}

fn print_goals(a: &Args, m: &host::Measured, rss: [u64; 2]) {
    let [ours, gan] = &m.servers;
    let mib = a.mib as f64 * 1048576.0;
    let net = mib / (ours.read_s - ours.tiny_s).max(1e-6);
    println!("goals (ours against ganesha, same run):");
    println!(
        "  warm read / iperf3 {:.2} net of start-up, {:.2} wall (goal >= 0.95), \
         nfs-ls -R {:.2}x (goal >= 1.5), write {:.2}x (goal >= 1.5), RSS {} vs {} MB (goal <=)",
        net / m.iperf3,
        mib / ours.read_s / m.iperf3,
        gan.ls_s / ours.ls_s,
        gan.write_s / ours.write_s,
        rss[0] / 1024,
        rss[1] / 1024
    );
    let (o, g) = (mib / ours.read_s / 1e6, mib / gan.read_s / 1e6);
    println!("ours {o:.0} MB/s, ganesha {g:.0} MB/s, ratio {:.2}x", o / g);
}

/// Boots alternate between the servers so load changes hit both alike.
fn guest_figures(
    work: &Path,
    a: &Args,
    server: &Path,
) -> Result<(Vec<guest::Boot>, Vec<guest::Boot>)> {
    let setup = guest::Setup::new(&work.join("guest"), a.mib)?;
    let (mut ours, mut gan) = (Vec::new(), Vec::new());
    for n in 0..a.guest_runs {
        ours.push(guest::one_boot(&setup, guest::Peer::Ours, server, n)?);
        gan.push(guest::one_boot(&setup, guest::Peer::Ganesha, server, n)?);
    }
    Ok((ours, gan))
}

fn print_guest((ours, gan): &(Vec<guest::Boot>, Vec<guest::Boot>), mib: u64) {
    let med = |v: &[guest::Boot], f: fn(&guest::Boot) -> f64| median(v.iter().map(f).collect());
    let bytes = mib as f64 * 1048576.0;
    println!(
        "guest (TCG, custom kernel, NFS root), medians of {} boots:",
        ours.len()
    );
    println!(
        "{:<28} {:>9.2} s {:>10.2} s",
        "  boot to SSH banner",
        med(ours, |b| b.ssh_s),
        med(gan, |b| b.ssh_s)
    );
    for (name, f) in [
        (
            "  cold read (MB/s)",
            (|b: &guest::Boot| b.cold_s) as fn(&guest::Boot) -> f64,
        ),
        ("  warm read (MB/s)", |b: &guest::Boot| b.warm_s),
    ] {
        println!(
            "{:<28} {:>9.0}   {:>10.0}",
            format!("{name} {mib} MiB").replace(" (MB/s)", "") + " MB/s",
            bytes / med(ours, f) / 1e6,
            bytes / med(gan, f) / 1e6
        );
    }
    println!(
        "{:<28} {:>9.2} s {:>10.2} s",
        format!(
            "  ls -lR ({} lines)",
            ours.first().map_or(0, |b| b.ls_lines)
        ),
        med(ours, |b| b.ls_s),
        med(gan, |b| b.ls_s)
    );
    for (tag, v) in [("ours", ours), ("ganesha", gan)] {
        for b in v.iter() {
            println!(
                "    {tag}: ssh {:.2} s, cold {:.2} s, warm {:.2} s, ls {:.2} s",
                b.ssh_s, b.cold_s, b.warm_s, b.ls_s
            );
        }
    }
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
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "load average at the start: {}",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        let data = make_data(&work, &a)?;
        let ns = Netns::new("nfsbench")?;
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        let ours_p = start_ours(&ns, &work, &data, &server)?;
        let g_p = start_ganesha(&ns, &work, &data, "127.0.0.1", 2050);
        let pids = |g: u32| [ours_p.pid(), g];
        let figs = g_p.and_then(|g| {
            let upload = work.join("upload");
            let ports = [(2049, 2049), (2050, 2051)];
            let f = host::measure(&ns, a.runs, &data, &upload, pids(g.pid()), ports);
            let rss = [rss_kb(ours_p.pid()), rss_kb(g.pid())];
            drop(g);
            f.map(|f| (f, rss))
        });
        drop(ours_p);
        if let Ok(pid) = std::fs::read_to_string(work.join("rpcbind.pid")) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
        let (m, rss) = figs?;
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "load average at the end: {}",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        print_host(&a, &m, rss);
        if a.guest_runs > 0 {
            print_guest(&guest_figures(&work, &a, &server)?, a.mib);
        }
        print_goals(&a, &m, rss);
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}
